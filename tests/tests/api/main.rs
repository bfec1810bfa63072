//! The integration tests, one binary: handler tests against a real MongoDB
//! wire server, the MongoDB adapter's own (transactions, standalone fallback,
//! faults), events against moto, and end to end through `cargo lambda watch`
//! (ignored unless `make test` runs them with `--include-ignored`). Shared
//! helpers live in the `api_tests` library (tests/src/lib.rs).

mod concurrency;
mod devices;
mod e2e;
mod e2e_client;
mod e2e_devices;
mod e2e_events;
mod e2e_mfa;
mod e2e_recovery;
mod faults;
mod handlers;
mod ingest;
mod linking;
mod mfa;
mod outbox;
mod pages;
mod publish;
mod recovery;
mod review;
mod rotation;
mod routes;
mod secrets;
mod sessions;
mod standalone;
mod startup;
mod well_known;
