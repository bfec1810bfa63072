//! What a use case can refuse or fail with, without any HTTP in it: the edges
//! (`http::problem`, `sqs`, `eventbridge`) decide what each means to their callers.

use std::time::Duration;

pub use super::field::FieldError;
use super::records::StoreError;
use super::tokens::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("a user with this e-mail already exists")]
    EmailTaken,
    #[error("a user with this username already exists")]
    UsernameTaken,
    #[error("this external id is already linked to another user")]
    ExternalIdTaken,
    #[error("incorrect e-mail or password")]
    InvalidCredentials,
    #[error("{0}")]
    InvalidToken(TokenError),
    #[error("the token's user no longer exists")]
    UnknownUser,
    #[error("the token's session has ended; log in again")]
    SessionEnded,
    /// Unknown, already ended, or another user's: which, is not said.
    #[error("no open session of this user has this id")]
    SessionNotFound,
    #[error("the refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    #[error("too many failed logins for this e-mail; retry in {} s", retry_after_seconds(*.retry_after))]
    TooManyAttempts { retry_after: Duration },
    #[error("the token does not grant access to this user")]
    Forbidden,
    /// An OAuth client that is not ours holds the token: it may reach
    /// userinfo, never the account routes.
    #[error("a third-party client's token cannot use the account routes")]
    ThirdPartyToken,
    /// One answer for a wrong, expired or used code: which it was is not said.
    #[error("the link code is wrong, expired or already used")]
    LinkCodeInvalid,
    /// One answer for a wrong, expired or used mail token.
    #[error("the token is invalid, expired or already used")]
    MailTokenInvalid,
    #[error("the e-mail address of this account is not verified yet")]
    EmailNotVerified,
    /// Per source address, whatever the account: says nothing about one.
    #[error("too many requests from this address; retry in {} s", retry_after_seconds(*.retry_after))]
    TooManyRequests { retry_after: Duration },
    /// The cause is for the log, never for the caller.
    #[error("mail cannot be requested right now; try again shortly")]
    MailUnavailable { cause: String },
    /// A wrong or already used TOTP or recovery code.
    #[error("the code is wrong or was already used")]
    InvalidMfaCode,
    /// Wrong, expired, used up or unknown: which it was is not said.
    #[error("the mfa_token is invalid, expired or used up; log in again")]
    InvalidMfaToken,
    #[error("a second factor is already enabled; disable it first")]
    MfaAlreadyEnabled,
    #[error("no second factor is pending confirmation; enrol first")]
    MfaNotPending,
    #[error("no second factor is enabled")]
    MfaNotEnabled,
    /// The owner asked for the account's deletion (`DELETION_GRACE_DAYS`):
    /// it cannot sign in until restored by the mailed link.
    #[error("this account is scheduled for deletion on {}; the link mailed to its address restores it", .until.to_rfc3339())]
    AccountScheduledForDeletion { until: super::values::Timestamp },
    /// The account's export is larger than the documented bound.
    #[error("the export is larger than {limit} bytes; ask the operator for it")]
    ExportTooLarge { limit: usize },
    /// The account has `passkeys::MAX_PASSKEYS` already.
    #[error("this account has the most passkeys it may have; remove one first")]
    TooManyPasskeys,
    #[error("no passkey of this user has this id")]
    PasskeyNotFound,
    /// The authenticator's credential is registered already (to anyone).
    #[error("this passkey is registered already")]
    PasskeyTaken,
    /// Any failed ceremony: the state unknown, expired or spent, the
    /// credential unknown or another user's, or its verification failed
    /// (which one is logged, not said).
    #[error("the passkey was not accepted; start again")]
    PasskeyRefused,
    /// Step-up: the operation needs a login more recent than the token's.
    #[error("this operation needs a recent login: sign in again")]
    ReauthenticationRequired,
    /// The cause is for the log, never for the caller.
    #[error("the database is unavailable; try again shortly")]
    Unavailable { cause: String },
    #[error("internal error")]
    Internal { cause: String },
}

impl DomainError {
    pub fn invalid(error: FieldError) -> Self {
        Self::Invalid(vec![error])
    }

    /// Failures of ours, as opposed to refusals of the request: these are
    /// logged with their cause, and retrying may help.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Internal { .. } | Self::MailUnavailable { .. }
        )
    }

    /// The cause to log of a failure.
    pub fn cause(&self) -> Option<&str> {
        match self {
            Self::Unavailable { cause }
            | Self::Internal { cause }
            | Self::MailUnavailable { cause } => Some(cause),
            _ => None,
        }
    }
}

/// Whole seconds to wait, at least one: what `Retry-After` carries.
pub fn retry_after_seconds(retry_after: Duration) -> u64 {
    retry_after.as_secs_f64().ceil().max(1.0) as u64
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => Self::EmailTaken,
            StoreError::UsernameTaken => Self::UsernameTaken,
            StoreError::ExternalIdTaken => Self::ExternalIdTaken,
            StoreError::Unavailable(cause) => Self::Unavailable { cause },
            StoreError::Failed(cause) => Self::Internal { cause },
        }
    }
}

impl From<TokenError> for DomainError {
    fn from(error: TokenError) -> Self {
        Self::InvalidToken(error)
    }
}
