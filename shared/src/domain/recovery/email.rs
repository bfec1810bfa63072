//! The address flows: verify it, change it (confirmed by the new address
//! and, by default, the current one), cancel a change, ask for the mail again.

use super::{
    open_account, request, spend_account_mail, EmailChangeConfirmation, MailRequestPolicy,
    MailToken,
};
use crate::domain::error::DomainError;
use crate::domain::notices::notify;
use crate::domain::ports::{
    Accounts, ChangeSide, EmailChangeStep, LoginAttempts, MailRequest, MailRequests, OneTimeTokens,
    RevocationReason, Sessions, TokenPurpose,
};
use crate::domain::sessions::ensure_session_open;
use crate::domain::throttle::check_password;
use crate::domain::tokens::Caller;
use crate::domain::values::{Email, Password, Timestamp};
use crate::domain::{audit, FieldError};

/// What a followed e-mail link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailConfirmed {
    /// The account's current address is verified.
    AddressVerified,
    /// The new address is the account's now.
    ChangeApplied,
    /// This side is recorded; the change waits for the other address.
    ChangeWaiting,
}

/// `POST /auth/email/verify`: a verification token proves the current
/// address; an e-mail-change token confirms the change for its side (the
/// new address, or the current one), and the change applies once every
/// side it needs has confirmed; the address it replaces is then told.
pub async fn verify_email<S: Accounts + OneTimeTokens, Q: MailRequests>(
    store: &S,
    queue: &Q,
    token: &MailToken,
    now: Timestamp,
) -> Result<EmailConfirmed, DomainError> {
    let purposes = [
        TokenPurpose::EmailVerification,
        TokenPurpose::EmailChange,
        TokenPurpose::EmailChangeCurrent,
    ];
    let taken = store
        .take_token(&token.digest(), &purposes, now)
        .await?
        .ok_or(DomainError::MailTokenInvalid)?;
    let side = match taken.purpose {
        TokenPurpose::EmailChange => ChangeSide::New,
        TokenPurpose::EmailChangeCurrent => ChangeSide::Current,
        _ => {
            if !store
                .mark_email_verified(taken.user_id, &taken.email)
                .await?
            {
                // The address changed since the mail was sent.
                return Err(DomainError::MailTokenInvalid);
            }
            audit::user_event("email_verified", &taken.user_id.to_hex());
            return Ok(EmailConfirmed::AddressVerified);
        }
    };
    match store
        .confirm_email_change(taken.user_id, &taken.email, side)
        .await?
    {
        EmailChangeStep::NotPending => Err(DomainError::MailTokenInvalid),
        EmailChangeStep::Waiting => {
            audit::user_event("email_change_confirmed_once", &taken.user_id.to_hex());
            Ok(EmailConfirmed::ChangeWaiting)
        }
        EmailChangeStep::Applied { previous } => {
            audit::user_event("email_changed", &taken.user_id.to_hex());
            match Email::parse(&previous) {
                Ok(previous) => {
                    let user_id = taken.user_id;
                    notify(queue, MailRequest::EmailChangedNotice { user_id, previous }).await;
                }
                Err(_) => {
                    tracing::error!(user_id = %taken.user_id, "previous address unparsable: no notice")
                }
            }
            Ok(EmailConfirmed::ChangeApplied)
        }
    }
}

/// `DELETE /users/{user_id}/email/pending`: the owner cancels a pending
/// change; false when none was pending.
pub async fn cancel_email_change<S: Accounts + Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<bool, DomainError> {
    ensure_session_open(store, caller, now).await?;
    let cancelled = store.cancel_email_change(caller.user_id, None).await?;
    if cancelled {
        audit::user_event("email_change_cancelled", &caller.user_id.to_hex());
    }
    Ok(cancelled)
}

/// `POST /auth/email/cancel`: the link in the mail to the current address
/// cancels the change it was sent for, without a session (whoever asked for
/// the change may hold every session there is). With `end_sessions`, every
/// session of the account ends too; how many.
pub async fn cancel_email_change_by_link<S: Accounts + OneTimeTokens + Sessions>(
    store: &S,
    token: &MailToken,
    end_sessions: bool,
    now: Timestamp,
) -> Result<Option<u64>, DomainError> {
    let taken = store
        .take_token(&token.digest(), &[TokenPurpose::EmailChangeCancel], now)
        .await?
        .ok_or(DomainError::MailTokenInvalid)?;
    if !store
        .cancel_email_change(taken.user_id, Some(&taken.email))
        .await?
    {
        return Err(DomainError::MailTokenInvalid);
    }
    audit::user_event("email_change_cancelled", &taken.user_id.to_hex());
    if !end_sessions {
        return Ok(None);
    }
    let ended = store
        .revoke_sessions(taken.user_id, None, RevocationReason::UserRequest)
        .await?;
    tracing::info!(user_id = %taken.user_id, ended, "all sessions ended from a cancel link");
    Ok(Some(ended))
}

/// `POST /users/{user_id}/email/verification`: asks for the mail again
/// (`send-mail` sends nothing once the address is verified).
pub async fn resend_verification<S: Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    policy: &MailRequestPolicy,
    caller: &Caller,
    now: Timestamp,
) -> Result<(), DomainError> {
    ensure_session_open(store, caller, now).await?;
    spend_account_mail(store, policy, caller, now).await?;
    let mail = MailRequest::EmailVerification {
        user_id: caller.user_id,
    };
    request(queue, &mail).await
}

/// `PUT /users/{user_id}/email`: the new address is only pending until its
/// link is followed. Whether another account has it is not said here (the
/// link's redemption answers 409 then), so this reveals no registration.
pub async fn change_email<S: Accounts + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    policy: &MailRequestPolicy,
    caller: &Caller,
    password: Password,
    new_email: Email,
    now: Timestamp,
) -> Result<(), DomainError> {
    let account = open_account(store, caller, now).await?;
    check_password(
        store,
        &account.email,
        &account.hashed_password,
        password,
        now,
    )
    .await?;
    if new_email.as_str() == account.email {
        return Err(DomainError::invalid(FieldError::new(
            "new_email",
            "is already the account's address",
        )));
    }
    spend_account_mail(store, policy, caller, now).await?;
    let needs_current = policy.email_change_confirmation == EmailChangeConfirmation::Both;
    if !store
        .set_pending_email(caller.user_id, &new_email, needs_current)
        .await?
    {
        return Err(DomainError::SessionEnded);
    }
    audit::user_event("email_change_requested", &caller.user_id.to_hex());
    let mail = MailRequest::EmailChange {
        user_id: caller.user_id,
        new_email,
    };
    request(queue, &mail).await
}
