//! The core: values, rules and use cases, with no HTTP, AWS or MongoDB type in
//! any signature. Storage is reached through the traits of `ports`; the
//! adapters (`http`, `sqs`, `eventbridge`, `mongo`) sit around it.

pub mod accounts;
pub mod activity;
pub mod apps;
pub mod audit;
pub mod authorize;
pub mod clients;
pub mod consent;
pub mod deletion;
pub mod devices;
pub mod error;
pub mod events;
pub mod export;
pub mod field;
pub mod grants;
pub mod inbound;
pub mod keys;
pub mod linking;
pub mod login;
pub mod mail_token;
pub mod mfa;
pub mod notices;
pub mod oauth;
pub mod passkeys;
pub mod passwords;
pub mod ports;
pub mod publishing;
pub mod qr;
pub mod records;
pub mod recovery;
pub mod refresh;
pub mod registration;
pub mod resources;
pub mod rs256;
pub mod sealing;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod values;

pub use error::{DomainError, FieldError};

/// Runs CPU-heavy work (argon2) off the async thread, so the driver's
/// connection monitoring keeps running meanwhile.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DomainError> {
    blocking_from_now(work).await
}

/// `blocking`, started at the call rather than when first awaited, so that
/// other awaits run while it works.
fn blocking_from_now<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, DomainError>> {
    let running = tokio::task::spawn_blocking(work);
    async move {
        running.await.map_err(|error| DomainError::Internal {
            cause: format!("blocking task failed: {error}"),
        })
    }
}
