//! The user-management API: everything but the functions' `main`.
//!
//! `domain` is the core (values, rules, use cases, store traits); the
//! adapters around it are `http` (API Gateway), `pages` (the HTML pages for people), `sqs` (inbound queue),
//! `eventbridge` (outbound events), `mongo` (storage) and `aws` (outgoing AWS
//! calls); `config`, `env` and `runtime` build each function's parts at cold start.

pub mod aws;
pub mod config;
pub mod domain;
pub mod env;
#[cfg(feature = "publish")]
pub mod eventbridge;
pub mod http;
pub mod key_source;
#[cfg(any(test, feature = "keygen"))]
pub mod keygen;
pub mod keystore;
pub mod mail;
#[cfg(any(test, all(feature = "memory", feature = "keygen")))]
pub mod memory;
pub mod mongo;
pub mod pages;
#[cfg(feature = "passkeys")]
pub mod passkeys;
pub mod purge;
#[cfg(feature = "keygen")]
pub mod rotation;
pub mod runtime;
pub mod sqs;
pub mod telemetry;
