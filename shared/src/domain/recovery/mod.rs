//! Account recovery and changes: forgotten password, e-mail verification,
//! password change and e-mail change, and the mail that carries their
//! one-time tokens.
//!
//! The HTTP side never looks an account up by address and never makes a
//! token: it records a `MailRequest` (a queue) and answers. `send_requested_mail`
//! (the `send-mail` function) does the look-up, the per-address limits and the
//! token, after the answer, so the answer and its timing are the same whether
//! or not the address has an account.

use std::time::Duration;

use super::error::DomainError;
use super::ports::{Account, Accounts, LoginAttempts, MailRequest, MailRequests, Sessions};
use super::sessions::ensure_session_open;
use super::throttle;
use super::tokens::Caller;
use super::values::{Password, Timestamp};
use super::{blocking, passwords, FieldError};

mod email;
mod password;
mod sending;
#[cfg(test)]
mod tests;

pub use email::{
    cancel_email_change, cancel_email_change_by_link, change_email, resend_verification,
    verify_email, EmailConfirmed,
};
pub use password::{change_password, forgot_password, reset_password};
pub use sending::{send_requested_mail, MailOutcome};

pub(super) const HOUR: Duration = Duration::from_secs(3600);

/// How the mail flows are tuned (`config::mail_settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub reset_ttl: Duration,
    pub verification_ttl: Duration,
    /// Mails per address, per purpose, per hour.
    pub mails_per_address_per_hour: i64,
}

/// Who must confirm an e-mail change (`EMAIL_CHANGE_CONFIRMATION`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EmailChangeConfirmation {
    /// The new address and the current one (the default): someone who knows
    /// the password but cannot read the owner's mail cannot move the
    /// account to an address of theirs.
    #[default]
    Both,
    /// The new address only.
    New,
}

impl EmailChangeConfirmation {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "both" => Some(Self::Both),
            "new" => Some(Self::New),
            _ => None,
        }
    }
}

/// How the routes that ask for mail on behalf of an account are tuned
/// (`config::mail_requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailRequestPolicy {
    /// E-mail-change and verification requests per account per hour
    /// (`MAILS_PER_ACCOUNT_PER_HOUR`), whatever the addresses.
    pub mails_per_account_per_hour: i64,
    pub email_change_confirmation: EmailChangeConfirmation,
}

impl Default for MailRequestPolicy {
    fn default() -> Self {
        Self {
            mails_per_account_per_hour: 3,
            email_change_confirmation: EmailChangeConfirmation::Both,
        }
    }
}

pub use super::mail_token::MailToken;

/// Counts one request against `key`'s budget of `limit` per window; the time
/// to wait when it is spent. A fixed window, reusing the login counts' storage.
pub(super) async fn spend<S: LoginAttempts>(
    store: &S,
    key: &str,
    limit: i64,
    window: Duration,
    now: Timestamp,
) -> Result<Option<Duration>, DomainError> {
    throttle::count_in_window(store, key, Some(limit), window, now).await
}

pub(super) async fn request<Q: MailRequests>(
    queue: &Q,
    mail: &MailRequest,
) -> Result<(), DomainError> {
    queue
        .request_mail(mail)
        .await
        .map_err(|cause| DomainError::MailUnavailable { cause })
}

/// The password rule of registration, against the account's own names,
/// reported as `new_password`.
pub(super) fn new_password(raw: String, account: &Account) -> Result<Password, DomainError> {
    Password::parse_new(raw, &account.username, &account.email)
        .map_err(|error| DomainError::invalid(FieldError::new("new_password", error.message)))
}

pub(super) async fn hash(password: Password) -> Result<String, DomainError> {
    blocking(move || passwords::hash_password(password.expose()))
        .await?
        .map_err(|error| DomainError::Internal {
            cause: error.to_string(),
        })
}

/// The caller's account, once their session has shown to be open (first,
/// so that an ended session learns nothing else).
pub(super) async fn open_account<S: Accounts + Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<Account, DomainError> {
    ensure_session_open(store, caller, now).await?;
    store
        .find_account(caller.user_id)
        .await?
        .ok_or(DomainError::SessionEnded)
}

/// Spends one of the account's mail requests for the hour, before anything
/// is queued: `TooManyRequests` when they are spent.
pub(super) async fn spend_account_mail<S: LoginAttempts>(
    store: &S,
    policy: &MailRequestPolicy,
    caller: &Caller,
    now: Timestamp,
) -> Result<(), DomainError> {
    let key = format!("mail-account|{}", caller.user_id.to_hex());
    match spend(store, &key, policy.mails_per_account_per_hour, HOUR, now).await? {
        None => Ok(()),
        Some(retry_after) => {
            tracing::warn!(audit = "account_mail_throttled", user_id = %caller.user_id, "audit");
            Err(DomainError::TooManyRequests { retry_after })
        }
    }
}
