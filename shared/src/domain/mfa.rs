//! The second factor: TOTP enrolment and confirmation, its removal, recovery
//! codes, and the second step of a login (`verify`).
//!
//! Codes are throttled like passwords: consecutive wrong codes lock the
//! user's code checks exponentially (`throttle::admit`, keyed per user), each
//! counts against the account's hourly budget of failed checks, and a login's
//! `mfa_token` dies after `MAX_CODE_ATTEMPTS` codes. A TOTP code is accepted
//! only for a time step later than the last accepted one (compare-and-swap
//! in the store), so a code works once; a recovery code is pulled from the
//! stored set atomically, so it works once too.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::error::DomainError;
use super::notices::notify;
use super::ports::{
    FactorChange, LoginAttempts, MailRequest, MailRequests, MfaAccount, MfaChallenge, MfaStore,
    Sessions, TotpFactor,
};
use super::records::Authentication;
use super::records::ClientInfo;
use super::sealing::SealingKey;
use super::sessions::{ensure_session_open, Issuer, TokenPair};
use super::throttle::{self, Admission};
use super::tokens::Caller;
use super::values::{hex, Password, Timestamp, UserId};
use super::{audit, qr, totp};

/// How long the second step of a login may take.
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Codes one `mfa_token` may try, right or wrong.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a recovery code (base32): 24 × 5 = 120 bits, above the
/// 112 bits below which ASVS 6.5.2 wants a slow, salted hash.
pub const RECOVERY_CODE_CHARS: usize = 24;
/// Shown in groups of four, joined by dashes.
const RECOVERY_GROUPS: usize = RECOVERY_CODE_CHARS / 4;

/// What the second-factor routes are configured with.
pub struct MfaSettings {
    pub key: SealingKey,
    /// The issuer named in authenticator apps.
    pub issuer: String,
    /// How recent a login disabling the factor or regenerating recovery codes needs.
    pub step_up_max_age: Duration,
}

/// The answer to a right password when a second factor is needed.
#[derive(Debug)]
pub struct MfaPending {
    pub mfa_token: String,
    pub expires_in: u64,
}

/// A new, pending factor, shown once.
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// What proves the second factor.
pub enum Proof {
    /// Six digits.
    Totp(String),
    /// Normalised: lower case, without separators.
    Recovery(String),
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "Totp([REDACTED])",
            Self::Recovery(_) => "Recovery([REDACTED])",
        })
    }
}

/// The challenge of a login whose password was right: its token, of which
/// only the digest is stored.
pub(super) async fn challenge<S: MfaStore>(
    store: &S,
    user_id: UserId,
    now: Timestamp,
) -> Result<MfaPending, DomainError> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let mfa_token = URL_SAFE_NO_PAD.encode(bytes);
    store
        .insert_challenge(&MfaChallenge {
            token_sha256: digest(&mfa_token),
            user_id,
            password_checked_at: now,
            expires_at: now.plus(MFA_TOKEN_TTL),
            attempts: 0,
        })
        .await?;
    Ok(MfaPending {
        mfa_token,
        expires_in: MFA_TOKEN_TTL.as_secs(),
    })
}

/// `POST /auth/mfa/verify`: the second step of a login.
pub async fn verify<S: MfaStore + Sessions + LoginAttempts>(
    store: &S,
    issuer: &Issuer,
    settings: &MfaSettings,
    mfa_token: &str,
    proof: Proof,
    client: ClientInfo,
    now: Timestamp,
) -> Result<TokenPair, DomainError> {
    let token_sha256 = digest(mfa_token);
    let challenge = store
        .charge_challenge(&token_sha256, now, MAX_CODE_ATTEMPTS)
        .await?
        .ok_or(DomainError::InvalidMfaToken)?;
    let account = store
        .mfa_account(challenge.user_id)
        .await?
        .ok_or(DomainError::InvalidMfaToken)?;
    // Disabled since the password was checked: that login starts over.
    let factor = confirmed(&account).map_err(|_| DomainError::InvalidMfaToken)?;
    let keys = admit_code(store, &account, now).await?;
    if !spend(store, settings, &account, &factor, &proof, now).await? {
        return code_failed(account.user_id);
    }
    if !store.take_challenge(&token_sha256).await? {
        return Err(DomainError::InvalidMfaToken);
    }
    let auth = Authentication::password_and_otp(challenge.password_checked_at);
    let (session, pair) = issuer.open_session_as(account.user_id, auth, client, now);
    let ((), opened) = tokio::try_join!(code_passed(store, &keys), async {
        Ok(store.insert_session(&session).await?)
    })?;
    if !opened {
        return Err(DomainError::InvalidMfaToken);
    }
    tracing::info!(user_id = %account.user_id, session_id = %session.id, "logged in with a second factor");
    Ok(pair)
}

/// `POST /users/{id}/mfa/totp`: a new pending factor, after a recent login
/// and the password; the account's address is told.
pub async fn enrol<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    settings: &MfaSettings,
    caller: &Caller,
    password: Password,
    now: Timestamp,
) -> Result<Enrolment, DomainError> {
    step_up(settings, caller, now)?;
    let account = account(store, caller, now).await?;
    if account
        .factor
        .as_ref()
        .is_some_and(|factor| factor.confirmed)
    {
        return Err(DomainError::MfaAlreadyEnabled);
    }
    check_password(store, &account, password, now).await?;
    let mut secret = [0u8; totp::SECRET_BYTES];
    OsRng.fill_bytes(&mut secret);
    let sealed = settings.key.seal(account.user_id, &secret);
    if !store.put_pending_factor(account.user_id, &sealed).await? {
        return Err(DomainError::MfaAlreadyEnabled);
    }
    let secret_base32 = totp::base32(&secret);
    let otpauth_uri = totp::otpauth_uri(&settings.issuer, &account.email, &secret_base32);
    tracing::info!(user_id = %account.user_id, "TOTP factor enrolled, pending confirmation");
    notify_factor_change(queue, account.user_id, FactorChange::Enrolled).await;
    Ok(Enrolment {
        qr_svg: qr::svg(&otpauth_uri),
        secret_base32,
        otpauth_uri,
    })
}

/// `POST /users/{id}/mfa/totp/confirm`: the first code confirms the factor,
/// after a recent login; the answer is the recovery codes, shown this once.
pub async fn confirm<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    settings: &MfaSettings,
    caller: &Caller,
    code: String,
    now: Timestamp,
) -> Result<Vec<String>, DomainError> {
    step_up(settings, caller, now)?;
    let account = account(store, caller, now).await?;
    let factor = match &account.factor {
        Some(factor) if factor.confirmed => return Err(DomainError::MfaAlreadyEnabled),
        Some(factor) => factor.clone(),
        None => return Err(DomainError::MfaNotPending),
    };
    let keys = admit_code(store, &account, now).await?;
    let secret = open(settings, &account, &factor)?;
    let Some(step) = totp::matching_step(&secret, &code, now.as_secs()) else {
        return code_failed(account.user_id);
    };
    let (codes, digests) = new_recovery_codes(account.user_id);
    if !store
        .confirm_factor(account.user_id, &factor.sealed, step as i64, &digests)
        .await?
    {
        // Replaced by a newer enrolment, or confirmed by a parallel request.
        return Err(DomainError::MfaNotPending);
    }
    code_passed(store, &keys).await?;
    audit::user_event("mfa_enabled", &account.user_id.to_hex());
    notify_factor_change(queue, account.user_id, FactorChange::Enabled).await;
    Ok(codes)
}

/// `DELETE /users/{id}/mfa/totp`: needs a recent login, the password and a
/// code (TOTP or recovery).
pub async fn disable<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    settings: &MfaSettings,
    caller: &Caller,
    password: Password,
    proof: Proof,
    now: Timestamp,
) -> Result<(), DomainError> {
    step_up(settings, caller, now)?;
    let account = account(store, caller, now).await?;
    let factor = confirmed(&account)?;
    check_password(store, &account, password, now).await?;
    let keys = admit_code(store, &account, now).await?;
    if !spend(store, settings, &account, &factor, &proof, now).await? {
        return code_failed(account.user_id);
    }
    if !store.remove_factor(account.user_id).await? {
        return Err(DomainError::MfaNotEnabled);
    }
    code_passed(store, &keys).await?;
    audit::user_event("mfa_disabled", &account.user_id.to_hex());
    notify_factor_change(queue, account.user_id, FactorChange::Disabled).await;
    Ok(())
}

/// `POST /users/{id}/mfa/recovery-codes`: a new set in place of the old,
/// with a recent login and a current TOTP code, so that a stolen access
/// token alone cannot mint itself a second factor.
pub async fn regenerate_recovery_codes<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    settings: &MfaSettings,
    caller: &Caller,
    code: String,
    now: Timestamp,
) -> Result<Vec<String>, DomainError> {
    step_up(settings, caller, now)?;
    let account = account(store, caller, now).await?;
    let factor = confirmed(&account)?;
    let keys = admit_code(store, &account, now).await?;
    if !spend(store, settings, &account, &factor, &Proof::Totp(code), now).await? {
        return code_failed(account.user_id);
    }
    let (codes, digests) = new_recovery_codes(account.user_id);
    if !store
        .replace_recovery_codes(account.user_id, &digests)
        .await?
    {
        return Err(DomainError::MfaNotEnabled);
    }
    code_passed(store, &keys).await?;
    audit::user_event("recovery_codes_regenerated", &account.user_id.to_hex());
    let change = FactorChange::RecoveryCodesRegenerated;
    notify_factor_change(queue, account.user_id, change).await;
    Ok(codes)
}

/// The account's address is told of every change of its second factor.
async fn notify_factor_change<Q: MailRequests>(queue: &Q, user_id: UserId, change: FactorChange) {
    notify(queue, MailRequest::MfaChangedNotice { user_id, change }).await;
}

/// Step-up: the caller's login must be at most `step_up_max_age` old.
fn step_up(settings: &MfaSettings, caller: &Caller, now: Timestamp) -> Result<(), DomainError> {
    if caller.auth.is_recent(now, settings.step_up_max_age) {
        Ok(())
    } else {
        Err(DomainError::ReauthenticationRequired)
    }
}

/// The caller's account, once their session has shown to be open.
async fn account<S: MfaStore + Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<MfaAccount, DomainError> {
    let (account, ()) = tokio::try_join!(
        async { Ok(store.mfa_account(caller.user_id).await?) },
        ensure_session_open(store, caller, now),
    )?;
    account.ok_or(DomainError::UnknownUser)
}

fn confirmed(account: &MfaAccount) -> Result<TotpFactor, DomainError> {
    account
        .factor
        .clone()
        .filter(|factor| factor.confirmed)
        .ok_or(DomainError::MfaNotEnabled)
}

/// Re-authentication by password, within the account's hourly budget of
/// failed checks, which a wrong one spends (as at login).
async fn check_password<S: LoginAttempts>(
    store: &S,
    account: &MfaAccount,
    password: Password,
    now: Timestamp,
) -> Result<(), DomainError> {
    throttle::check_password(
        store,
        &account.email,
        &account.hashed_password,
        password,
        now,
    )
    .await
}

/// The throttle keys of a user's code checks.
struct CodeKeys {
    /// Consecutive wrong codes of the user (exponential lock).
    code: String,
    /// The account's hourly budget, shared with passwords.
    account: String,
}

/// Admits one code check, counted as failed until it succeeds.
async fn admit_code<S: LoginAttempts>(
    store: &S,
    account: &MfaAccount,
    now: Timestamp,
) -> Result<CodeKeys, DomainError> {
    let keys = CodeKeys {
        code: format!("mfa|{}", account.user_id.to_hex()),
        account: throttle::account_key(&account.email),
    };
    // The check is reserved in the account's budget before the code is
    // compared, as for passwords: parallel guesses cannot exceed it.
    let (admission, budget) = tokio::try_join!(
        throttle::admit(store, &keys.code, now),
        throttle::reserve_check(store, &keys.account, now),
    )?;
    for refusal in [&admission, &budget] {
        if let Admission::Locked { retry_after } = *refusal {
            if matches!(budget, Admission::Allowed { .. }) {
                throttle::release_check(store, &keys.account).await?;
            }
            audit::user_event("mfa_locked", &account.user_id.to_hex());
            return Err(DomainError::TooManyAttempts { retry_after });
        }
    }
    Ok(keys)
}

/// A right code: the user's run of wrong codes ends, and the check reserved
/// in the account's budget is given back.
async fn code_passed<S: LoginAttempts>(store: &S, keys: &CodeKeys) -> Result<(), DomainError> {
    tokio::try_join!(
        async { Ok(store.clear_count(&keys.code).await?) },
        throttle::release_check(store, &keys.account),
    )?;
    Ok(())
}

/// A wrong code (already counted by its reservation): audited, refused.
fn code_failed<T>(user_id: UserId) -> Result<T, DomainError> {
    audit::user_event("mfa_code_failed", &user_id.to_hex());
    Err(DomainError::InvalidMfaCode)
}

/// Spends `proof` on the confirmed factor: a TOTP code of a step later than
/// the last accepted one, or an unused recovery code. False when refused.
async fn spend<S: MfaStore>(
    store: &S,
    settings: &MfaSettings,
    account: &MfaAccount,
    factor: &TotpFactor,
    proof: &Proof,
    now: Timestamp,
) -> Result<bool, DomainError> {
    match proof {
        Proof::Totp(code) => {
            let secret = open(settings, account, factor)?;
            match totp::matching_step(&secret, code, now.as_secs()) {
                Some(step) if step as i64 > factor.last_step => {
                    Ok(store.accept_step(account.user_id, step as i64).await?)
                }
                _ => Ok(false),
            }
        }
        Proof::Recovery(code) => Ok(store
            .use_recovery_code(account.user_id, &recovery_digest(account.user_id, code))
            .await?),
    }
}

fn open(
    settings: &MfaSettings,
    account: &MfaAccount,
    factor: &TotpFactor,
) -> Result<Vec<u8>, DomainError> {
    settings
        .key
        .open(account.user_id, &factor.sealed)
        .map_err(|error| DomainError::Internal {
            cause: format!(
                "the TOTP secret of user {} does not open: {error}",
                account.user_id
            ),
        })
}

/// Ten new codes of 120 random bits each, as six dash-joined groups of four
/// base32 characters, and their digests (what is stored).
fn new_recovery_codes(user_id: UserId) -> (Vec<String>, Vec<String>) {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_CHARS * 5 / 8];
            OsRng.fill_bytes(&mut bytes);
            let plain: String = totp::base32(&bytes)
                .to_lowercase()
                .chars()
                .take(RECOVERY_CODE_CHARS)
                .collect();
            let groups: Vec<&str> = (0..RECOVERY_GROUPS)
                .map(|group| &plain[group * 4..group * 4 + 4])
                .collect();
            let shown = groups.join("-");
            (shown, recovery_digest(user_id, &plain))
        })
        .unzip()
}

/// A recovery code as typed: six groups of four, in either case, the dashes
/// between them optional. `None` unless it has that shape.
pub fn normalise_recovery_code(raw: &str) -> Option<String> {
    let mut chars = raw.chars().peekable();
    let mut plain = String::with_capacity(RECOVERY_CODE_CHARS);
    for group in 0..RECOVERY_GROUPS {
        for _ in 0..4 {
            let c = chars.next()?.to_ascii_lowercase();
            if !(c.is_ascii_lowercase() || ('2'..='7').contains(&c)) {
                return None;
            }
            plain.push(c);
        }
        if group + 1 < RECOVERY_GROUPS && chars.peek() == Some(&'-') {
            chars.next();
        }
    }
    chars.next().is_none().then_some(plain)
}

/// Codes have 120 bits of entropy: a salted SHA-256 suffices, no slow hash
/// (ASVS 6.5.2).
/// The user id as salt keeps equal codes of two users apart.
fn recovery_digest(user_id: UserId, normalised: &str) -> String {
    hex(&Sha256::digest(format!(
        "recovery|{}|{normalised}",
        user_id.to_hex()
    )))
}

/// What is stored of an `mfa_token` (the passkey second factor binds its
/// ceremony to it).
pub(crate) fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests;
