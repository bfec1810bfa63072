//! Passkeys as stored, and what needs no WebAuthn verification: listing and
//! removing them, and the ceremony state kept between a begin and a finish.
//! The ceremonies themselves (webauthn-rs) are in `crate::passkeys`, behind
//! the `passkeys` feature, so that only their functions link the crate.

use std::future::Future;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::error::DomainError;
use super::notices::notify;
use super::ports::{FactorChange, MailRequest, MailRequests, Sessions};
use super::records::Stored;
use super::sessions::ensure_session_open;
use super::tokens::Caller;
use super::values::{PasskeyId, Timestamp, UserId};
use super::{audit, FieldError};

/// Passkeys one account may have (the 21st is refused).
pub const MAX_PASSKEYS: u64 = 20;
/// How long a begun ceremony may wait for its finish.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);
/// A passkey's name, as its owner gives it.
pub const MAX_NAME_CHARS: usize = 64;

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    pub id: PasskeyId,
    pub user_id: UserId,
    /// The authenticator's credential id, base64url: unique across users.
    pub credential_id: String,
    pub name: String,
    /// The relying party library's credential (public key, counter, flags),
    /// as its own JSON; only `crate::passkeys` reads it.
    pub credential: String,
    pub counter: u32,
    /// Backup eligible: a synced (multi-device) passkey.
    pub backup_eligible: bool,
    /// Backed up at its last use.
    pub backup_state: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// What a begun ceremony is for, and so who may finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CeremonyPurpose {
    /// Registering a passkey for this user (its finish needs their token).
    Register(UserId),
    /// Passwordless sign-in: whoever holds the ceremony id (the browser
    /// session or the app that began it) finishes it.
    SignIn,
    /// Passwordless sign-in with the e-mail first: only this user's
    /// passkeys (`allowCredentials`), for credentials that are not discoverable.
    SignInAs(UserId),
    /// The second step of a password login: bound to that login's `mfa_token`.
    SecondFactor { mfa_token_sha256: String },
}

/// A ceremony's state between begin and finish: single use (taken by its
/// finish), expiring after `CEREMONY_TTL` (a TTL index removes it).
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// SHA-256 of the ceremony id the client holds.
    pub digest: String,
    pub purpose: CeremonyPurpose,
    /// The relying party library's state (the challenge), as its own JSON.
    pub state: String,
    pub expires_at: Timestamp,
}

/// The storage of passkeys and ceremonies.
pub trait PasskeyStore: Sync {
    fn count_passkeys(&self, user_id: UserId) -> impl Future<Output = Stored<u64>> + Send;

    /// Inserts with a `PasskeyAdded` event; false if the credential id is
    /// registered already.
    fn insert_passkey(&self, passkey: &PasskeyRecord) -> impl Future<Output = Stored<bool>> + Send;

    fn passkeys_of(
        &self,
        user_id: UserId,
    ) -> impl Future<Output = Stored<Vec<PasskeyRecord>>> + Send;

    fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> impl Future<Output = Stored<Option<PasskeyRecord>>> + Send;

    /// Records a use if the stored counter is still `seen_counter` (so that
    /// two uses racing with one counter value cannot both pass).
    fn record_passkey_use(
        &self,
        used: &PasskeyRecord,
        seen_counter: u32,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Removes with a `PasskeyRemoved` event; false if there is none.
    fn remove_passkey(
        &self,
        user_id: UserId,
        passkey_id: PasskeyId,
    ) -> impl Future<Output = Stored<bool>> + Send;

    fn rename_passkey(
        &self,
        user_id: UserId,
        passkey_id: PasskeyId,
        name: &str,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Stores the ceremony, in place of one with the same digest.
    fn insert_ceremony(&self, ceremony: &Ceremony) -> impl Future<Output = Stored<()>> + Send;

    /// This deployment's key for the e-mail-first sign-in's decoys (random,
    /// made on first use, kept in the database): the same address always
    /// gets the same made-up credential ids.
    fn decoy_key(&self) -> impl Future<Output = Stored<[u8; 32]>> + Send;

    /// The ceremony, deleted as it is read: a second take finds nothing.
    fn take_ceremony(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<Ceremony>>> + Send;
}

/// A new ceremony id (what the client holds) and its digest (what is stored).
pub fn new_ceremony_id() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let id = URL_SAFE_NO_PAD.encode(bytes);
    let digest = ceremony_digest(&id);
    (id, digest)
}

pub fn ceremony_digest(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(id.as_bytes()))
}

/// A passkey's name: trimmed, 1 to `MAX_NAME_CHARS` characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "must be 1 to 64 characters, without control characters",
        ));
    }
    Ok(name.to_string())
}

/// `GET /users/{id}/passkeys`: the caller's passkeys, oldest first.
pub async fn list<S: PasskeyStore + Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<Vec<PasskeyRecord>, DomainError> {
    let (passkeys, ()) = tokio::try_join!(
        async { Ok(store.passkeys_of(caller.user_id).await?) },
        ensure_session_open(store, caller, now),
    )?;
    Ok(passkeys)
}

/// `DELETE /users/{id}/passkeys/{passkey_id}`: after a recent login (as
/// adding one); the account's address is told.
pub async fn remove<S: PasskeyStore + Sessions, Q: MailRequests>(
    store: &S,
    queue: &Q,
    step_up_max_age: Duration,
    caller: &Caller,
    passkey_id: PasskeyId,
    now: Timestamp,
) -> Result<(), DomainError> {
    step_up(step_up_max_age, caller, now)?;
    ensure_session_open(store, caller, now).await?;
    if !store.remove_passkey(caller.user_id, passkey_id).await? {
        return Err(DomainError::PasskeyNotFound);
    }
    audit::user_event("passkey_removed", &caller.user_id.to_hex());
    let change = FactorChange::PasskeyRemoved;
    notify(
        queue,
        MailRequest::MfaChangedNotice {
            user_id: caller.user_id,
            change,
        },
    )
    .await;
    Ok(())
}

/// A new name for one of the caller's passkeys: the passkey as renamed.
pub async fn rename<S: PasskeyStore + Sessions>(
    store: &S,
    caller: &Caller,
    passkey_id: PasskeyId,
    name: &str,
    now: Timestamp,
) -> Result<PasskeyRecord, DomainError> {
    let name = parse_name(name).map_err(DomainError::invalid)?;
    ensure_session_open(store, caller, now).await?;
    if !store
        .rename_passkey(caller.user_id, passkey_id, &name)
        .await?
    {
        return Err(DomainError::PasskeyNotFound);
    }
    store
        .passkeys_of(caller.user_id)
        .await?
        .into_iter()
        .find(|passkey| passkey.id == passkey_id)
        // Removed in between.
        .ok_or(DomainError::PasskeyNotFound)
}

/// Step-up: the caller's login must be at most `max_age` old.
pub fn step_up(max_age: Duration, caller: &Caller, now: Timestamp) -> Result<(), DomainError> {
    if caller.auth.is_recent(now, max_age) {
        Ok(())
    } else {
        Err(DomainError::ReauthenticationRequired)
    }
}
