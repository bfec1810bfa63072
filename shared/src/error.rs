//! Everything a request can fail with, typed until `http` turns it into a response.

use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("the body is not a JSON object: {0}")]
    MalformedBody(String),
    #[error("the body must be JSON: send content-type: application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("this route does not allow that method")]
    MethodNotAllowed { allow: &'static str },
    #[error("no route matches this path")]
    NotFound,
    #[error("a user with this e-mail already exists")]
    EmailTaken,
    #[error("a user with this username already exists")]
    UsernameTaken,
    #[error("this external id is already linked to another user")]
    ExternalIdTaken,
    #[error("incorrect e-mail or password")]
    InvalidCredentials,
    #[error("a bearer token is required")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(TokenError),
    #[error("the token's user no longer exists")]
    UnknownUser,
    #[error("the token's session has ended; log in again")]
    SessionEnded,
    #[error("the refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    #[error("too many failed logins for this e-mail; retry in {retry_after_seconds} s")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error("the token does not grant access to this user")]
    Forbidden,
    #[error("the database is unavailable; try again shortly")]
    DatabaseUnavailable,
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => Self::EmailTaken,
            StoreError::UsernameTaken => Self::UsernameTaken,
            StoreError::ExternalIdTaken => Self::ExternalIdTaken,
            // The one log line of a failed request: it knows the cause, the response does not.
            StoreError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                Self::DatabaseUnavailable
            }
            StoreError::Database(cause) => {
                tracing::error!(error = %cause, "database operation failed");
                Self::Internal
            }
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        Self::InvalidToken(error)
    }
}
