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

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::error::DomainError;
use super::notices::notify;
use super::ports::{
    Account, Accounts, ChangeSide, EmailChangeStep, FactorChange, LoginAttempts, MailRequest,
    MailRequests, MailTransport, OneTimeToken, OneTimeTokens, OutgoingMail, RevocationReason,
    Sessions, TokenPurpose,
};
use super::throttle::{self, check_password};
use super::tokens::Caller;
use super::values::{hex, Email, Password, Timestamp};
use super::{audit, blocking, passwords, FieldError};

/// Random bytes per token: 256 bits, twice ASVS's minimum.
const TOKEN_BYTES: usize = 32;
/// Ours are 43 characters; the limit keeps junk out of the digest.
const TOKEN_MAX_CHARS: usize = 128;
const HOUR: Duration = Duration::from_secs(3600);

/// How the mail flows are tuned (`config::mail_settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The web app's base URL, without a trailing slash: links point there.
    pub app_base_url: String,
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

/// A one-time token as the client sends it back. `Debug` is redacted.
pub struct MailToken(SecretString);

impl MailToken {
    /// A fresh token: `TOKEN_BYTES` from the OS, base64url.
    fn generate() -> Self {
        use rand_core::{OsRng, RngCore};
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    pub fn parse(raw: String) -> Result<Self, FieldError> {
        let shaped = (1..=TOKEN_MAX_CHARS).contains(&raw.len())
            && raw
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !shaped {
            return Err(FieldError::new(
                "token",
                format!("must be 1 to {TOKEN_MAX_CHARS} base64url characters"),
            ));
        }
        Ok(Self(raw.into()))
    }

    /// What is stored and looked up: the SHA-256, so that a database reader
    /// cannot use a token. The lookup is by this digest, an index key, not a
    /// comparison of secrets.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.0.expose_secret().as_bytes()))
    }

    fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for MailToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailToken([REDACTED])")
    }
}

/// Counts one request against `key`'s budget of `limit` per window; the time
/// to wait when it is spent. A fixed window, reusing the login counts' storage.
async fn spend<S: LoginAttempts>(
    store: &S,
    key: &str,
    limit: i64,
    window: Duration,
    now: Timestamp,
) -> Result<Option<Duration>, DomainError> {
    throttle::count_in_window(store, key, Some(limit), window, now).await
}

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

async fn request<Q: MailRequests>(queue: &Q, mail: &MailRequest) -> Result<(), DomainError> {
    queue
        .request_mail(mail)
        .await
        .map_err(|cause| DomainError::MailUnavailable { cause })
}

/// The password rule of registration, against the account's own names,
/// reported as `new_password`.
fn new_password(raw: String, account: &Account) -> Result<Password, DomainError> {
    Password::parse_new(raw, &account.username, &account.email)
        .map_err(|error| DomainError::invalid(FieldError::new("new_password", error.message)))
}

async fn hash(password: Password) -> Result<String, DomainError> {
    blocking(move || passwords::hash_password(password.expose()))
        .await?
        .map_err(|error| DomainError::Internal {
            cause: error.to_string(),
        })
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
    ensure_open(store, caller, now).await?;
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

async fn ensure_open<S: Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<(), DomainError> {
    if store
        .session_is_open(caller.user_id, caller.session_id, now)
        .await?
    {
        Ok(())
    } else {
        Err(DomainError::SessionEnded)
    }
}

/// Spends one of the account's mail requests for the hour, before anything
/// is queued: `TooManyRequests` when they are spent.
async fn spend_account_mail<S: LoginAttempts>(
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

/// `POST /users/{user_id}/email/verification`: asks for the mail again
/// (`send-mail` sends nothing once the address is verified).
pub async fn resend_verification<S: Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    policy: &MailRequestPolicy,
    caller: &Caller,
    now: Timestamp,
) -> Result<(), DomainError> {
    ensure_open(store, caller, now).await?;
    spend_account_mail(store, policy, caller, now).await?;
    let mail = MailRequest::EmailVerification {
        user_id: caller.user_id,
    };
    request(queue, &mail).await
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
    ensure_open(store, caller, now).await?;
    let account = store
        .find_account(caller.user_id)
        .await?
        .ok_or(DomainError::SessionEnded)?;
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
    ensure_open(store, caller, now).await?;
    let account = store
        .find_account(caller.user_id)
        .await?
        .ok_or(DomainError::SessionEnded)?;
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
        | MailRequest::MfaChangedNotice { user_id, .. } => store.find_account(*user_id).await?,
    };
    let Some(account) = account else {
        return Ok(MailOutcome::NoAccount);
    };
    let limit = settings.mails_per_address_per_hour;
    let (purpose, to, ttl) = match request {
        MailRequest::PasswordChangedNotice { .. } => {
            let notice = password_notice(&account.email);
            return send_notice(store, transport, limit, request, &account, notice, now).await;
        }
        MailRequest::EmailChangedNotice { previous, .. } => {
            let notice = email_changed_notice(previous.as_str());
            return send_notice(store, transport, limit, request, &account, notice, now).await;
        }
        MailRequest::MfaChangedNotice { change, .. } => {
            let notice = factor_notice(&account.email, *change);
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
    let mail = render(settings, purpose, &to, &token, ttl);
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
            let notice = change_notice(settings, &account.email, confirm.as_ref(), &cancel, ttl);
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
    notice: OutgoingMail,
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

fn lifetime(ttl: Duration) -> String {
    let minutes = ttl.as_secs() / 60;
    if minutes >= 120 && minutes.is_multiple_of(60) {
        format!("{} hours", minutes / 60)
    } else {
        format!("{minutes} minutes")
    }
}

/// The mail of `purpose`, in a text and an HTML part. Only fixed ASCII text
/// and the link: no user-supplied text is rendered into it.
fn render(
    settings: &MailSettings,
    purpose: TokenPurpose,
    to: &str,
    token: &MailToken,
    ttl: Duration,
) -> OutgoingMail {
    let (page, subject, opening, action, closing) = match purpose {
        TokenPurpose::PasswordReset => (
            "reset-password",
            "Reset your password",
            "Someone, hopefully you, asked to reset the password of the account with this e-mail address.",
            "Choose a new password",
            "If it was not you, ignore this mail: your password stays as it is.",
        ),
        TokenPurpose::EmailVerification => (
            "verify-email",
            "Confirm your e-mail address",
            "Please confirm that this is your e-mail address.",
            "Confirm the address",
            "If you did not create an account, ignore this mail.",
        ),
        TokenPurpose::EmailChange => (
            "verify-email",
            "Confirm your new e-mail address",
            "Someone, hopefully you, asked to make this the e-mail address of their account.",
            "Confirm the new address",
            "If it was not you, ignore this mail: nothing changes.",
        ),
        // Sent together in `change_notice`, never on their own; a total
        // match keeps a new purpose from compiling without its text.
        TokenPurpose::EmailChangeCurrent => (
            "confirm-email-change",
            "Confirm the change of your e-mail address",
            "A change of the e-mail address of your account was requested.",
            "Confirm the change",
            "If it was not you, ignore this mail: nothing changes without it.",
        ),
        TokenPurpose::EmailChangeCancel => (
            "cancel-email-change",
            "Cancel the change of your e-mail address",
            "A change of the e-mail address of your account was requested.",
            "Cancel the change",
            "If it was you, ignore this mail.",
        ),
    };
    let link = format!("{}/{page}?token={}", settings.app_base_url, token.expose());
    let valid = format!("The link works once, for {}.", lifetime(ttl));
    let text =
        format!("{opening}\r\n\r\n{action}:\r\n\r\n{link}\r\n\r\n{valid}\r\n\r\n{closing}\r\n");
    let link_html = html_escape(&link);
    let html = format!(
        "<!DOCTYPE html>\r\n<html><body>\r\n<p>{opening}</p>\r\n<p><a href=\"{link_html}\">{action}</a></p>\r\n<p>{valid}</p>\r\n<p>{closing}</p>\r\n</body></html>\r\n"
    );
    OutgoingMail {
        to: to.to_string(),
        subject: subject.to_string(),
        text,
        html,
    }
}

/// The mail to the current address when a change to another one is asked
/// for: a link that cancels it and, when the change needs it, a link that
/// confirms it. Neither link is spent by opening it: each leads to a page
/// whose button POSTs.
fn change_notice(
    settings: &MailSettings,
    to: &str,
    confirm: Option<&MailToken>,
    cancel: &MailToken,
    ttl: Duration,
) -> OutgoingMail {
    let link = |page: &str, token: &MailToken| {
        format!("{}/{page}?token={}", settings.app_base_url, token.expose())
    };
    let line = "A change of the e-mail address of your account to another address was requested.";
    let cancel_link = link("cancel-email-change", cancel);
    let cancel_action =
        "If it was not you, cancel the change, then change your password: whoever asked knew it";
    let mut text = format!("{line}\r\n\r\n");
    let mut html = format!("<!DOCTYPE html>\r\n<html><body>\r\n<p>{line}</p>\r\n");
    match confirm {
        Some(confirm) => {
            let confirm_link = link("confirm-email-change", confirm);
            let confirm_action =
                "It takes effect only once both addresses confirm. If it was you, confirm it here";
            text.push_str(&format!("{confirm_action}:\r\n\r\n{confirm_link}\r\n\r\n"));
            html.push_str(&format!(
                "<p><a href=\"{}\">{confirm_action}</a></p>\r\n",
                html_escape(&confirm_link)
            ));
        }
        None => {
            let pending = "It takes effect once the link sent to the new address is followed.";
            text.push_str(&format!("{pending}\r\n\r\n"));
            html.push_str(&format!("<p>{pending}</p>\r\n"));
        }
    }
    let valid = format!("The links work once, for {}.", lifetime(ttl));
    text.push_str(&format!(
        "{cancel_action}:\r\n\r\n{cancel_link}\r\n\r\n{valid}\r\n"
    ));
    html.push_str(&format!(
        "<p><a href=\"{}\">{cancel_action}</a></p>\r\n<p>{valid}</p>\r\n</body></html>\r\n",
        html_escape(&cancel_link)
    ));
    OutgoingMail {
        to: to.to_string(),
        subject: "Your e-mail address is being changed".into(),
        text,
        html,
    }
}

/// A notice with no link: `lines` as paragraphs.
fn notice(to: &str, subject: &str, lines: &[&str]) -> OutgoingMail {
    let text = lines
        .iter()
        .map(|line| format!("{line}\r\n\r\n"))
        .collect::<String>();
    let paragraphs = lines
        .iter()
        .map(|line| format!("<p>{}</p>\r\n", html_escape(line)))
        .collect::<String>();
    OutgoingMail {
        to: to.to_string(),
        subject: subject.to_string(),
        text: text.trim_end().to_string() + "\r\n",
        html: format!("<!DOCTYPE html>\r\n<html><body>\r\n{paragraphs}</body></html>\r\n"),
    }
}

fn email_changed_notice(previous: &str) -> OutgoingMail {
    notice(
        previous,
        "Your account has a new e-mail address",
        &[
            "The e-mail address of your account was changed from this address to another one: mail about the account goes there from now on.",
            "If it was not you, contact the service's support at once: whoever did it knew your password and could read the new address's mail.",
        ],
    )
}

fn factor_notice(to: &str, change: FactorChange) -> OutgoingMail {
    let (subject, line) = match change {
        FactorChange::Enrolled => (
            "A second factor is being set up",
            "An authenticator app is being set up as the second factor of your account.",
        ),
        FactorChange::Enabled => (
            "Your second factor is on",
            "A second factor is now required to sign in to your account, and a new set of recovery codes was made.",
        ),
        FactorChange::Disabled => (
            "Your second factor was turned off",
            "The second factor of your account was turned off: a password alone signs in from now on.",
        ),
        FactorChange::RecoveryCodesRegenerated => (
            "New recovery codes",
            "New recovery codes were made for your account; the old ones no longer work.",
        ),
    };
    notice(
        to,
        subject,
        &[
            line,
            "If it was not you, change your password now and end the sessions you do not know.",
        ],
    )
}

fn password_notice(to: &str) -> OutgoingMail {
    let line = "The password of your account was just reset or changed, and every other session of the account has ended.";
    let closing = "If it was not you, reset your password now with \"forgot password\", and check the e-mail address of your account.";
    OutgoingMail {
        to: to.to_string(),
        subject: "Your password was changed".into(),
        text: format!("{line}\r\n\r\n{closing}\r\n"),
        html: format!(
            "<!DOCTYPE html>\r\n<html><body>\r\n<p>{line}</p>\r\n<p>{}</p>\r\n</body></html>\r\n",
            html_escape(closing)
        ),
    }
}

fn html_escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::{register, Registration};
    use crate::domain::values::Username;
    use crate::memory::{test_issuer, MemoryMail, MemoryStore};

    const PASSWORD: &str = "correct horse battery staple";
    const NEW_PASSWORD: &str = "a brand new tolerable passphrase";

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
    }

    fn policy() -> MailRequestPolicy {
        MailRequestPolicy::default()
    }

    /// The change confirmed by the new address alone.
    fn new_only() -> MailRequestPolicy {
        MailRequestPolicy {
            email_change_confirmation: EmailChangeConfirmation::New,
            ..MailRequestPolicy::default()
        }
    }

    fn settings() -> MailSettings {
        MailSettings {
            app_base_url: "https://app.example.com".into(),
            reset_ttl: Duration::from_secs(1800),
            verification_ttl: Duration::from_secs(86_400),
            mails_per_address_per_hour: 3,
        }
    }

    async fn ada(store: &MemoryStore) -> Caller {
        let user_id = register(
            store,
            Registration {
                username: Username::parse("ada").unwrap(),
                email: Email::parse("ada@example.com").unwrap(),
                password: Password::parse_for_login(PASSWORD.into()).unwrap(),
            },
            at(0),
        )
        .await
        .unwrap();
        let (session, _) = test_issuer().open_session(user_id, at(0));
        assert!(store.insert_session(&session).await.unwrap());
        Caller {
            user_id,
            session_id: session.id,
            auth: session.auth,
        }
    }

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }

    /// Runs every queued request through `send_requested_mail`.
    async fn deliver(store: &MemoryStore, mail: &MemoryMail, now: Timestamp) -> Vec<MailOutcome> {
        let mut outcomes = Vec::new();
        for request in mail.take_requests() {
            outcomes.push(
                send_requested_mail(store, mail, &settings(), &request, now)
                    .await
                    .unwrap(),
            );
        }
        outcomes
    }

    #[tokio::test]
    async fn forgot_takes_the_same_path_for_known_and_unknown_addresses() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        ada(&store).await;
        for address in ["ada@example.com", "nobody@example.com"] {
            forgot_password(&store, &mail, email(address), "192.0.2.1", 10, at(1))
                .await
                .unwrap();
        }
        assert_eq!(mail.requests().len(), 2);
        assert_eq!(
            deliver(&store, &mail, at(2)).await,
            [MailOutcome::Sent, MailOutcome::NoAccount]
        );
        let sent = mail.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "ada@example.com");
        assert!(sent[0]
            .text
            .contains("https://app.example.com/reset-password?token="));
        assert!(sent[0].html.contains("reset-password?token="));
        assert_eq!(store.events_of_kind("PasswordReset"), 0);
    }

    #[tokio::test]
    async fn forgot_is_throttled_per_source_address() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        for _ in 0..3 {
            forgot_password(
                &store,
                &mail,
                email("x@example.com"),
                "203.0.113.9",
                3,
                at(0),
            )
            .await
            .unwrap();
        }
        let refused = forgot_password(
            &store,
            &mail,
            email("y@example.com"),
            "203.0.113.9",
            3,
            at(1),
        )
        .await;
        assert!(
            matches!(refused, Err(DomainError::TooManyRequests { retry_after }) if retry_after.as_secs() == 3599)
        );
        forgot_password(
            &store,
            &mail,
            email("y@example.com"),
            "198.51.100.1",
            3,
            at(1),
        )
        .await
        .expect("another source has its own budget");
        forgot_password(
            &store,
            &mail,
            email("y@example.com"),
            "203.0.113.9",
            3,
            at(3601),
        )
        .await
        .expect("the window passes");
    }

    #[tokio::test]
    async fn at_most_a_few_mails_per_address_and_purpose_per_hour() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        ada(&store).await;
        for _ in 0..5 {
            let request = MailRequest::PasswordReset {
                email: email("ada@example.com"),
            };
            mail.request_mail(&request).await.unwrap();
        }
        let outcomes = deliver(&store, &mail, at(1)).await;
        assert_eq!(
            outcomes,
            [
                MailOutcome::Sent,
                MailOutcome::Sent,
                MailOutcome::Sent,
                MailOutcome::Throttled,
                MailOutcome::Throttled
            ]
        );
    }

    #[tokio::test]
    async fn a_reset_works_once_ends_every_session_and_every_other_reset_token() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        for _ in 0..2 {
            forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(1))
                .await
                .unwrap();
        }
        deliver(&store, &mail, at(2)).await;
        let tokens = mail.tokens();
        assert_eq!(tokens.len(), 2);
        let first = MailToken::parse(tokens[0].clone()).unwrap();
        let weak = reset_password(&store, &mail, &first, "password".into(), at(3)).await;
        assert!(
            matches!(weak, Err(DomainError::Invalid(errors)) if errors[0].field == "new_password")
        );
        reset_password(&store, &mail, &first, NEW_PASSWORD.into(), at(3))
            .await
            .expect("a rejected password did not use the token up");
        assert_eq!(store.open_sessions(ada.user_id), 0);
        assert_eq!(store.events_of_kind("PasswordReset"), 1);
        // The owner is told, without a link.
        assert_eq!(deliver(&store, &mail, at(3)).await, [MailOutcome::Sent]);
        let notice = mail.sent().pop().unwrap();
        assert_eq!(
            (notice.to.as_str(), notice.subject.as_str()),
            ("ada@example.com", "Your password was changed")
        );
        assert!(!notice.text.contains("token="));
        for token in &tokens {
            let again = reset_password(
                &store,
                &mail,
                &MailToken::parse(token.clone()).unwrap(),
                NEW_PASSWORD.into(),
                at(4),
            )
            .await;
            assert!(matches!(again, Err(DomainError::MailTokenInvalid)));
        }
    }

    #[tokio::test]
    async fn a_reset_token_expires_after_its_lifetime() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        ada(&store).await;
        forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(0))
            .await
            .unwrap();
        deliver(&store, &mail, at(0)).await;
        let token = MailToken::parse(mail.tokens()[0].clone()).unwrap();
        let late = reset_password(&store, &mail, &token, NEW_PASSWORD.into(), at(1800)).await;
        assert!(matches!(late, Err(DomainError::MailTokenInvalid)));
    }

    #[tokio::test]
    async fn verification_marks_the_address_and_is_not_sent_again_once_verified() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        resend_verification(&store, &mail, &policy(), &ada, at(1))
            .await
            .unwrap();
        deliver(&store, &mail, at(1)).await;
        let token = MailToken::parse(mail.tokens()[0].clone()).unwrap();
        assert!(mail.sent()[0].text.contains("/verify-email?token="));
        // A reset token is no verification token.
        let wrong = reset_password(&store, &mail, &token, NEW_PASSWORD.into(), at(2)).await;
        assert!(matches!(wrong, Err(DomainError::MailTokenInvalid)));
        verify_email(&store, &mail, &token, at(2)).await.unwrap();
        assert!(
            store
                .find_account(ada.user_id)
                .await
                .unwrap()
                .unwrap()
                .email_verified
        );
        assert_eq!(store.events_of_kind("EmailVerified"), 1);
        assert!(matches!(
            verify_email(&store, &mail, &token, at(3)).await,
            Err(DomainError::MailTokenInvalid)
        ));
        resend_verification(&store, &mail, &policy(), &ada, at(4))
            .await
            .unwrap();
        assert_eq!(
            deliver(&store, &mail, at(4)).await,
            [MailOutcome::NothingToDo]
        );
    }

    #[tokio::test]
    async fn a_password_change_keeps_the_callers_session_and_a_wrong_one_counts() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        let (other, _) = test_issuer().open_session(ada.user_id, at(0));
        store.insert_session(&other).await.unwrap();
        let wrong = change_password(
            &store,
            &mail,
            &ada,
            Password::parse_for_login("not the password".into()).unwrap(),
            NEW_PASSWORD.into(),
            at(1),
        )
        .await;
        assert!(matches!(wrong, Err(DomainError::InvalidCredentials)));
        assert_eq!(
            store
                .attempt_count("account|ada@example.com")
                .unwrap()
                .failures,
            1
        );
        assert!(mail.requests().is_empty(), "no notice for a refused change");
        change_password(
            &store,
            &mail,
            &ada,
            Password::parse_for_login(PASSWORD.into()).unwrap(),
            NEW_PASSWORD.into(),
            at(2),
        )
        .await
        .unwrap();
        assert_eq!(store.open_sessions(ada.user_id), 1);
        assert!(store
            .session_is_open(ada.user_id, ada.session_id, at(3))
            .await
            .unwrap());
        assert_eq!(store.events_of_kind("PasswordChanged"), 1);
        assert_eq!(
            mail.requests(),
            [MailRequest::PasswordChangedNotice {
                user_id: ada.user_id
            }]
        );
    }

    #[tokio::test]
    async fn an_email_change_applies_only_when_its_link_is_followed_and_if_still_free() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        let password = || Password::parse_for_login(PASSWORD.into()).unwrap();
        change_email(
            &store,
            &mail,
            &new_only(),
            &ada,
            password(),
            email("ada@new.example"),
            at(1),
        )
        .await
        .unwrap();
        deliver(&store, &mail, at(1)).await;
        let sent = mail.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].to, "ada@new.example");
        assert_eq!(sent[1].to, "ada@example.com");
        assert!(
            !sent[1].text.contains("/verify-email?token="),
            "the current address gets no link that changes the address"
        );
        assert!(sent[1].text.contains("/cancel-email-change?token="));
        assert!(!sent[1].text.contains("/confirm-email-change?token="));
        let token = MailToken::parse(mail.tokens()[0].clone()).unwrap();
        // Someone else registers the address meanwhile.
        register(
            &store,
            Registration {
                username: Username::parse("eve").unwrap(),
                email: email("ada@new.example"),
                password: Password::parse_for_login(PASSWORD.into()).unwrap(),
            },
            at(2),
        )
        .await
        .unwrap();
        assert!(matches!(
            verify_email(&store, &mail, &token, at(3)).await,
            Err(DomainError::EmailTaken)
        ));
        change_email(
            &store,
            &mail,
            &new_only(),
            &ada,
            password(),
            email("ada@other.example"),
            at(4),
        )
        .await
        .unwrap();
        deliver(&store, &mail, at(4)).await;
        let token = MailToken::parse(mail.link_token("verify-email").unwrap()).unwrap();
        verify_email(&store, &mail, &token, at(5)).await.unwrap();
        let account = store.find_account(ada.user_id).await.unwrap().unwrap();
        assert_eq!(account.email, "ada@other.example");
        assert!(account.email_verified);
        assert_eq!(account.pending_email, None);
        assert_eq!(store.events_of_kind("EmailChanged"), 1);
    }

    async fn ada_again(store: &MemoryStore) -> Caller {
        ada(store).await
    }

    fn token(raw: Option<String>) -> MailToken {
        MailToken::parse(raw.expect("a mailed link")).unwrap()
    }

    /// An intruder who knows the password asks to move the account to their
    /// address; returns the links of both mails (new address, then the
    /// current address's cancel link).
    async fn intruder_asks_for_a_change(
        store: &MemoryStore,
        mail: &MemoryMail,
        intruder: &Caller,
        policy: &MailRequestPolicy,
        now: Timestamp,
    ) -> (MailToken, MailToken) {
        let password = Password::parse_for_login(PASSWORD.into()).unwrap();
        change_email(
            store,
            mail,
            policy,
            intruder,
            password,
            email("eve@evil.example"),
            now,
        )
        .await
        .unwrap();
        deliver(store, mail, now).await;
        (
            token(mail.link_token("verify-email")),
            token(mail.link_token("cancel-email-change")),
        )
    }

    /// Finding 1 (High): each of the owner's remedies voids the change an
    /// intruder started, and the intruder's link then finds nothing.
    #[tokio::test]
    async fn every_remedy_of_the_owner_voids_a_pending_email_change() {
        for remedy in ["reset", "change", "logout_all"] {
            let store = MemoryStore::default();
            let mail = MemoryMail::default();
            let owner = ada(&store).await;
            let (session, _) = test_issuer().open_session(owner.user_id, at(0));
            store.insert_session(&session).await.unwrap();
            let intruder = Caller {
                user_id: owner.user_id,
                session_id: session.id,
                auth: session.auth,
            };
            let (link, _) =
                intruder_asks_for_a_change(&store, &mail, &intruder, &new_only(), at(1)).await;
            match remedy {
                "reset" => {
                    forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(2))
                        .await
                        .unwrap();
                    deliver(&store, &mail, at(2)).await;
                    let reset = token(mail.link_token("reset-password"));
                    reset_password(&store, &mail, &reset, NEW_PASSWORD.into(), at(3))
                        .await
                        .unwrap();
                }
                "change" => {
                    let current = Password::parse_for_login(PASSWORD.into()).unwrap();
                    change_password(&store, &mail, &owner, current, NEW_PASSWORD.into(), at(3))
                        .await
                        .unwrap();
                }
                _ => {
                    crate::domain::sessions::logout_all(&store, &owner, at(3))
                        .await
                        .unwrap();
                }
            }
            let account = store.find_account(owner.user_id).await.unwrap().unwrap();
            assert_eq!(account.pending_email, None, "{remedy}");
            let late = verify_email(&store, &mail, &link, at(4)).await;
            assert!(
                matches!(late, Err(DomainError::MailTokenInvalid)),
                "{remedy}"
            );
            let account = store.find_account(owner.user_id).await.unwrap().unwrap();
            assert_eq!(account.email, "ada@example.com", "{remedy}");
        }
    }

    #[tokio::test]
    async fn under_both_the_change_waits_for_the_current_address_and_its_old_address_is_told() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        let (new_link, _) = intruder_asks_for_a_change(&store, &mail, &ada, &policy(), at(1)).await;
        let confirm = token(mail.link_token("confirm-email-change"));
        assert_eq!(
            verify_email(&store, &mail, &new_link, at(2)).await.unwrap(),
            EmailConfirmed::ChangeWaiting
        );
        let account = store.find_account(ada.user_id).await.unwrap().unwrap();
        assert_eq!(account.email, "ada@example.com", "one side is not enough");
        assert_eq!(
            verify_email(&store, &mail, &confirm, at(3)).await.unwrap(),
            EmailConfirmed::ChangeApplied
        );
        let account = store.find_account(ada.user_id).await.unwrap().unwrap();
        assert_eq!(account.email, "eve@evil.example");
        assert_eq!(
            mail.requests(),
            [MailRequest::EmailChangedNotice {
                user_id: ada.user_id,
                previous: email("ada@example.com"),
            }]
        );
        assert_eq!(deliver(&store, &mail, at(3)).await, [MailOutcome::Sent]);
        let notice = mail.sent().pop().unwrap();
        assert_eq!(notice.to, "ada@example.com");
        assert!(!notice.text.contains("token="));
    }

    #[tokio::test]
    async fn the_owner_cancels_by_the_link_or_with_a_session_and_the_links_die() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        let (new_link, cancel) =
            intruder_asks_for_a_change(&store, &mail, &ada, &new_only(), at(1)).await;
        assert_eq!(
            cancel_email_change_by_link(&store, &cancel, true, at(2))
                .await
                .unwrap(),
            Some(1),
            "and every session ended, as asked"
        );
        assert!(matches!(
            verify_email(&store, &mail, &new_link, at(3)).await,
            Err(DomainError::MailTokenInvalid)
        ));
        assert!(matches!(
            cancel_email_change_by_link(&store, &cancel, false, at(3)).await,
            Err(DomainError::MailTokenInvalid)
        ));

        let store = MemoryStore::default();
        let owner = ada_again(&store).await;
        let (new_link, _) =
            intruder_asks_for_a_change(&store, &mail, &owner, &new_only(), at(1)).await;
        assert!(cancel_email_change(&store, &owner, at(2)).await.unwrap());
        assert!(!cancel_email_change(&store, &owner, at(2)).await.unwrap());
        assert!(matches!(
            verify_email(&store, &mail, &new_link, at(3)).await,
            Err(DomainError::MailTokenInvalid)
        ));
    }

    /// Finding 4: a reset link is bound to the address it was sent to.
    #[tokio::test]
    async fn a_reset_link_dies_when_the_address_moves() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(1))
            .await
            .unwrap();
        deliver(&store, &mail, at(1)).await;
        let reset = token(mail.link_token("reset-password"));
        let (new_link, _) =
            intruder_asks_for_a_change(&store, &mail, &ada, &new_only(), at(2)).await;
        verify_email(&store, &mail, &new_link, at(3)).await.unwrap();
        let late = reset_password(&store, &mail, &reset, NEW_PASSWORD.into(), at(4)).await;
        assert!(matches!(late, Err(DomainError::MailTokenInvalid)));
    }

    /// Finding 5: a budget per account, whatever the addresses.
    #[tokio::test]
    async fn an_account_asks_for_at_most_its_budget_of_mails_an_hour() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        for n in 0..3 {
            let password = Password::parse_for_login(PASSWORD.into()).unwrap();
            let to = email(&format!("ada{n}@elsewhere.example"));
            change_email(&store, &mail, &policy(), &ada, password, to, at(1))
                .await
                .unwrap();
        }
        let password = Password::parse_for_login(PASSWORD.into()).unwrap();
        let fourth = change_email(
            &store,
            &mail,
            &policy(),
            &ada,
            password,
            email("ada3@elsewhere.example"),
            at(2),
        )
        .await;
        assert!(
            matches!(fourth, Err(DomainError::TooManyRequests { retry_after }) if retry_after.as_secs() == 3599)
        );
        let resend = resend_verification(&store, &mail, &policy(), &ada, at(2)).await;
        assert!(matches!(resend, Err(DomainError::TooManyRequests { .. })));
        assert_eq!(mail.requests().len(), 3, "nothing queued when refused");
        resend_verification(&store, &mail, &policy(), &ada, at(3601))
            .await
            .expect("the next hour");
    }

    /// Finding 3: an ended session learns nothing of the password.
    #[tokio::test]
    async fn an_ended_session_gets_the_same_answer_whatever_the_password() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let ada = ada(&store).await;
        crate::domain::sessions::logout(&store, &ada, at(1))
            .await
            .unwrap();
        for guess in [PASSWORD, "not the password"] {
            let current = Password::parse_for_login(guess.into()).unwrap();
            let answer =
                change_password(&store, &mail, &ada, current, NEW_PASSWORD.into(), at(2)).await;
            assert!(matches!(answer, Err(DomainError::SessionEnded)), "{guess}");
        }
        assert_eq!(store.attempt_count("account|ada@example.com"), None);
    }

    #[test]
    fn tokens_are_256_bits_and_only_their_digest_is_kept() {
        let token = MailToken::generate();
        assert_eq!(token.expose().len(), 43);
        assert_eq!(token.digest().len(), 64);
        assert_ne!(token.digest(), MailToken::generate().digest());
        assert!(MailToken::parse("bad token!".into()).is_err());
        assert!(MailToken::parse(String::new()).is_err());
        assert_eq!(format!("{token:?}"), "MailToken([REDACTED])");
    }
}
