//! The password flows: forgotten (mailed link), reset with it, changed
//! with the current one.

use super::{hash, new_password, open_account, request, spend, MailToken, HOUR};
use crate::domain::audit;
use crate::domain::error::DomainError;
use crate::domain::notices::notify;
use crate::domain::ports::{
    Accounts, LoginAttempts, MailRequest, MailRequests, OneTimeTokens, Sessions, TokenPurpose,
};
use crate::domain::throttle::check_password;
use crate::domain::tokens::Caller;
use crate::domain::values::{Email, Password, Timestamp};

/// `POST /auth/password/forgot`: throttled per source address only, then
/// queued. No account is looked up here, so every address takes one path.
pub async fn forgot_password<S: LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    email: Email,
    client: &str,
    per_source_per_hour: i64,
    now: Timestamp,
) -> Result<(), DomainError> {
    let key = format!("forgot|{client}");
    if let Some(retry_after) = spend(store, &key, per_source_per_hour, HOUR, now).await? {
        tracing::warn!(audit = "forgot_password_throttled", "audit");
        return Err(DomainError::TooManyRequests { retry_after });
    }
    request(queue, &MailRequest::PasswordReset { email }).await
}

/// `POST /auth/password/reset`. The token is read first and taken (deleted)
/// only once the new password passed its rules and is hashed, so a rejected
/// password does not use it up; of two racing resets, one takes it.
pub async fn reset_password<S: Accounts + OneTimeTokens, Q: MailRequests>(
    store: &S,
    queue: &Q,
    token: &MailToken,
    password: String,
    now: Timestamp,
) -> Result<(), DomainError> {
    let digest = token.digest();
    let purpose = TokenPurpose::PasswordReset;
    let found = store
        .find_token(&digest, purpose, now)
        .await?
        .ok_or(DomainError::MailTokenInvalid)?;
    let account = store
        .find_account(found.user_id)
        .await?
        // A link sent to an address the account no longer has is void.
        .filter(|account| account.email == found.email)
        .ok_or(DomainError::MailTokenInvalid)?;
    let hashed = hash(new_password(password, &account)?).await?;
    let taken = store
        .take_token(&digest, &[purpose], now)
        .await?
        .ok_or(DomainError::MailTokenInvalid)?;
    let ended = store
        .reset_password(taken.user_id, &hashed)
        .await?
        .ok_or(DomainError::MailTokenInvalid)?;
    audit::user_event("password_reset", &taken.user_id.to_hex());
    tracing::info!(user_id = %taken.user_id, sessions_ended = ended, "password reset");
    let notice = MailRequest::PasswordChangedNotice {
        user_id: taken.user_id,
    };
    notify(queue, notice).await;
    Ok(())
}

/// `PUT /users/{user_id}/password`: the caller's session stays, every other
/// one ends, and what is pending is void. A wrong current password counts as
/// a failed login. The session is checked before the password, so that an
/// ended session learns nothing of it.
pub async fn change_password<S: Accounts + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    caller: &Caller,
    current: Password,
    password: String,
    now: Timestamp,
) -> Result<(), DomainError> {
    let account = open_account(store, caller, now).await?;
    let password = new_password(password, &account)?;
    check_password(
        store,
        &account.email,
        &account.hashed_password,
        current,
        now,
    )
    .await?;
    let hashed = hash(password).await?;
    let ended = store
        .change_password(
            caller.user_id,
            &account.hashed_password,
            &hashed,
            caller.session_id,
            now,
        )
        .await?
        .ok_or(DomainError::SessionEnded)?;
    audit::user_event("password_changed", &caller.user_id.to_hex());
    tracing::info!(user_id = %caller.user_id, sessions_ended = ended, "password changed");
    let notice = MailRequest::PasswordChangedNotice {
        user_id: caller.user_id,
    };
    notify(queue, notice).await;
    Ok(())
}
