//! The integration tests, one binary: handler tests against a real MongoDB
//! wire server, the MongoDB adapter's own (transactions, standalone fallback,
//! faults), events against moto, and end to end through `cargo lambda watch`
//! (ignored unless `make test` runs them with `--include-ignored`). Shared
//! helpers live in the `api_tests` library (tests/src/lib.rs).

// By feature: each feature's handler tests beside its end-to-end story
// (`e2e`, over HTTP through the one client in `e2e_client`).
mod agents {
    mod e2e;
    mod handlers;
    mod pages;
}
mod accounts {
    mod activity;
    mod concurrency;
    mod deletion;
    mod e2e;
    mod export;
    mod handlers;
}
mod events {
    mod e2e;
    mod ingest;
    mod outbox;
    mod publish;
}
mod keys {
    mod rotation;
    mod secrets;
    mod well_known;
}
mod linking {
    pub mod handlers;
}
mod pages {
    mod handlers;
}
mod mfa {
    mod e2e;
    pub mod handlers;
}
mod oidc {
    mod authorize;
    mod handlers;
}
mod passkeys {
    mod authenticator;
    mod e2e;
    mod handlers;
    mod second_factor;
}
mod recovery {
    pub mod e2e;
    pub mod handlers;
}
mod sessions {
    mod devices;
    mod e2e;
    mod handlers;
}
// The route table, start-up, the adapter without transactions, and faults.
mod platform {
    mod cors;
    mod faults;
    mod indexes;
    mod routes;
    mod standalone;
    mod startup;
}
mod e2e_client;
// The hostile review's findings (#17), across features.
mod review;
