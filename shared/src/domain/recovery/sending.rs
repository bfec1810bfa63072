//! `send-mail`'s use case: for one queued request, look the account up,
//! apply the per-address limit, make the token and send the mail.

use std::time::Duration;

use super::{spend, MailSettings, MailToken, HOUR};
use crate::domain::error::DomainError;
use crate::domain::ports::{
    Account, Accounts, LoginAttempts, Mail, MailContent, MailRequest, MailTransport, OneTimeToken,
    OneTimeTokens, TokenPurpose,
};
use crate::domain::values::Timestamp;

/// What `send_requested_mail` did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailOutcome {
    Sent,
    /// No account has the address (or the user is gone): nothing to send.
    NoAccount,
    /// The address is verified already, or no longer the pending one.
    NothingToDo,
    /// The address had its mails of this purpose for the hour.
    Throttled,
}

impl MailOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::NoAccount => "no_account",
            Self::NothingToDo => "nothing_to_do",
            Self::Throttled => "throttled",
        }
    }
}

impl MailRequest {
    /// The purpose of the token the mail carries; `None` for a notice.
    pub fn purpose(&self) -> Option<TokenPurpose> {
        match self {
            Self::PasswordReset { .. } => Some(TokenPurpose::PasswordReset),
            Self::EmailVerification { .. } => Some(TokenPurpose::EmailVerification),
            Self::EmailChange { .. } => Some(TokenPurpose::EmailChange),
            Self::AccountRestore { .. } => Some(TokenPurpose::AccountRestore),
            Self::PasswordChangedNotice { .. }
            | Self::EmailChangedNotice { .. }
            | Self::MfaChangedNotice { .. } => None,
        }
    }

    /// The request's name, on the queue and in the logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::PasswordChangedNotice { .. } => "password_changed_notice",
            Self::EmailChangedNotice { .. } => "email_changed_notice",
            Self::MfaChangedNotice { .. } => "mfa_changed_notice",
            _ => self.purpose().map_or("notice", TokenPurpose::as_str),
        }
    }
}

/// `send-mail`, for one request: looks the account up, applies the
/// per-address limit, makes and stores the token (its digest), renders and
/// sends the mail. An error is worth retrying (the queue redelivers); a
/// token stored for a mail that then failed is never sent, and expires.
pub async fn send_requested_mail<S, T>(
    store: &S,
    transport: &T,
    settings: &MailSettings,
    request: &MailRequest,
    now: Timestamp,
) -> Result<MailOutcome, DomainError>
where
    S: Accounts + OneTimeTokens + LoginAttempts,
    T: MailTransport,
{
    let account = match request {
        MailRequest::PasswordReset { email } => store.find_account_by_email(email).await?,
        MailRequest::EmailVerification { user_id }
        | MailRequest::EmailChange { user_id, .. }
        | MailRequest::PasswordChangedNotice { user_id }
        | MailRequest::EmailChangedNotice { user_id, .. }
        | MailRequest::MfaChangedNotice { user_id, .. }
        | MailRequest::AccountRestore { user_id, .. } => store.find_account(*user_id).await?,
    };
    let Some(account) = account else {
        return Ok(MailOutcome::NoAccount);
    };
    let limit = settings.mails_per_address_per_hour;
    let (purpose, to, ttl) = match request {
        MailRequest::PasswordChangedNotice { .. } => {
            let notice = Mail {
                to: account.email.clone(),
                content: MailContent::PasswordChanged,
            };
            return send_notice(store, transport, limit, request, &account, notice, now).await;
        }
        MailRequest::EmailChangedNotice { previous, .. } => {
            let notice = Mail {
                to: previous.as_str().to_string(),
                content: MailContent::EmailChanged,
            };
            return send_notice(store, transport, limit, request, &account, notice, now).await;
        }
        MailRequest::MfaChangedNotice { change, .. } => {
            let notice = Mail {
                to: account.email.clone(),
                content: MailContent::FactorChanged(*change),
            };
            return send_notice(store, transport, limit, request, &account, notice, now).await;
        }
        MailRequest::PasswordReset { .. } => (
            TokenPurpose::PasswordReset,
            account.email.clone(),
            settings.reset_ttl,
        ),
        MailRequest::EmailVerification { .. } if account.email_verified => {
            return Ok(MailOutcome::NothingToDo)
        }
        MailRequest::EmailVerification { .. } => (
            TokenPurpose::EmailVerification,
            account.email.clone(),
            settings.verification_ttl,
        ),
        // Valid until the deletion it calls off: after that, nothing is left to restore.
        MailRequest::AccountRestore { until, .. } if *until <= now => {
            return Ok(MailOutcome::NothingToDo)
        }
        MailRequest::AccountRestore { until, .. } => (
            TokenPurpose::AccountRestore,
            account.email.clone(),
            now.until(*until),
        ),
        MailRequest::EmailChange { new_email, .. } => {
            if account.pending_email.as_deref() != Some(new_email.as_str()) {
                return Ok(MailOutcome::NothingToDo);
            }
            (
                TokenPurpose::EmailChange,
                new_email.as_str().to_string(),
                settings.verification_ttl,
            )
        }
    };
    let key = format!("mail|{}|{to}", purpose.as_str());
    if spend(store, &key, limit, HOUR, now).await?.is_some() {
        tracing::warn!(audit = "mail_throttled", user_id = %account.user_id, purpose = purpose.as_str(), "audit");
        return Ok(MailOutcome::Throttled);
    }
    // For a change, the token is bound to the new address; for the others,
    // to the address the mail goes to (a reset link dies with its address).
    let token = issue_token(store, &account, purpose, &to, ttl, now).await?;
    let mail = Mail {
        to: to.clone(),
        content: MailContent::Link {
            purpose,
            token,
            valid_for: ttl,
        },
    };
    let id = transport
        .send_mail(&mail)
        .await
        .map_err(|cause| DomainError::MailUnavailable { cause })?;
    tracing::info!(user_id = %account.user_id, purpose = purpose.as_str(), mail = %id, "mail sent");
    if let MailRequest::EmailChange { new_email, .. } = request {
        // The current address learns of the change and can cancel it (and,
        // under `EMAIL_CHANGE_CONFIRMATION=both`, must confirm it); at most
        // the same few per hour.
        let key = format!("mail|email_change_notice|{}", account.email);
        if spend(store, &key, limit, HOUR, now).await?.is_none() {
            let pending = new_email.as_str();
            let cancel = TokenPurpose::EmailChangeCancel;
            let cancel = issue_token(store, &account, cancel, pending, ttl, now).await?;
            let confirm = if account.pending_needs_current {
                let purpose = TokenPurpose::EmailChangeCurrent;
                Some(issue_token(store, &account, purpose, pending, ttl, now).await?)
            } else {
                None
            };
            let notice = Mail {
                to: account.email.clone(),
                content: MailContent::ChangeRequested {
                    confirm,
                    cancel,
                    valid_for: ttl,
                },
            };
            let id = transport
                .send_mail(&notice)
                .await
                .map_err(|cause| DomainError::MailUnavailable { cause })?;
            tracing::info!(user_id = %account.user_id, purpose = "email_change_notice", mail = %id, "mail sent");
        }
    }
    Ok(MailOutcome::Sent)
}

/// A fresh token for `purpose`, stored as its digest, bound to the account
/// and to `email`.
async fn issue_token<S: OneTimeTokens>(
    store: &S,
    account: &Account,
    purpose: TokenPurpose,
    email: &str,
    ttl: Duration,
    now: Timestamp,
) -> Result<MailToken, DomainError> {
    let token = MailToken::generate();
    store
        .insert_token(&OneTimeToken {
            digest: token.digest(),
            user_id: account.user_id,
            purpose,
            email: email.to_string(),
            expires_at: now.plus(ttl),
        })
        .await?;
    Ok(token)
}

/// A notice (no link), within the per-address limit of its kind.
async fn send_notice<S: LoginAttempts, T: MailTransport>(
    store: &S,
    transport: &T,
    limit: i64,
    request: &MailRequest,
    account: &Account,
    notice: Mail,
    now: Timestamp,
) -> Result<MailOutcome, DomainError> {
    let key = format!("mail|{}|{}", request.name(), notice.to);
    if spend(store, &key, limit, HOUR, now).await?.is_some() {
        return Ok(MailOutcome::Throttled);
    }
    let id = transport
        .send_mail(&notice)
        .await
        .map_err(|cause| DomainError::MailUnavailable { cause })?;
    tracing::info!(user_id = %account.user_id, purpose = request.name(), mail = %id, "mail sent");
    Ok(MailOutcome::Sent)
}
