//! The WebAuthn ceremonies, on webauthn-rs (the `passkeys` feature: only the
//! functions in functions/passkeys link it). Every check of a response (the
//! challenge, origin, RP ID hash, flags, signature, counter) is the
//! library's; this module keeps the state between begin and finish
//! (`domain::passkeys::PasskeyStore`), binds it to its user or holder, and
//! turns a verified assertion into a session.
//!
//! Policy: webauthn-rs's passkey ceremonies require user verification, so a
//! passkey is a whole sign-in on its own (`amr` has `mfa`). Registration
//! asks for a discoverable credential where the authenticator can make one
//! (`residentKey: preferred`), so that sign-in needs no e-mail.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, Credential, DiscoverableAuthentication,
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::config::PasskeySettings;
use crate::domain::audit;
use crate::domain::devices::ClientInfo;
use crate::domain::error::DomainError;
use crate::domain::mfa::{self, MAX_CODE_ATTEMPTS};
use crate::domain::notices::notify;
use crate::domain::passkeys::{
    self as stored, parse_name, step_up, Ceremony, CeremonyPurpose, PasskeyRecord, PasskeyStore,
    CEREMONY_TTL, MAX_PASSKEYS,
};
use crate::domain::ports::{
    Accounts, FactorChange, LoginAttempts, MailRequest, MailRequests, MfaStore, Sessions,
};
use crate::domain::records::{Authentication, PasskeyUse};
use crate::domain::sessions::{ensure_session_open, Issuer, TokenPair};
use crate::domain::throttle;
use crate::domain::tokens::Caller;
use crate::domain::values::{Email, PasskeyId, Timestamp, UserId};

/// Ceremonies one address may begin per minute (each is a stored document).
pub const BEGINS_PER_MINUTE: i64 = 60;

/// The relying party: its id, the origins it accepts, and how recent a login
/// adding or removing a passkey needs.
pub struct RelyingParty {
    webauthn: Webauthn,
    pub step_up_max_age: Duration,
}

impl RelyingParty {
    pub fn new(settings: &PasskeySettings) -> Result<Self, String> {
        let mut origins = settings
            .origins
            .iter()
            .map(|origin| Url::parse(origin).map_err(|error| format!("origin {origin}: {error}")));
        let first = origins.next().ok_or_else(|| "no origin".to_string())??;
        let mut builder = WebauthnBuilder::new(&settings.rp_id, &first)
            .map_err(|error| format!("RP ID {} and origin {first}: {error}", settings.rp_id))?
            .rp_name(&settings.rp_name);
        let rest: Vec<Url> = origins.collect::<Result<_, _>>()?;
        for origin in &rest {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(|error| error.to_string())?;
        Ok(Self {
            webauthn,
            step_up_max_age: settings.step_up_max_age,
        })
    }
}

/// The WebAuthn user handle of a user: their id's twelve bytes, zero-padded
/// to a UUID (webauthn-rs's type). An id, no personal data.
fn user_handle(user_id: UserId) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..12].copy_from_slice(&user_id.bytes());
    Uuid::from_bytes(bytes)
}

/// A begun ceremony: what the client keeps (`ceremony`) and passes to the
/// browser (`options`).
pub struct Begun<T> {
    pub ceremony: String,
    pub options: T,
    pub expires_in: u64,
}

/// A begun second factor: no ceremony id (the `mfa_token` finds it).
pub struct SecondFactorBegun {
    pub options: RequestChallengeResponse,
    pub expires_in: u64,
}

fn refused(why: &str, error: impl std::fmt::Display) -> DomainError {
    tracing::info!(%error, "passkey refused: {why}");
    DomainError::PasskeyRefused
}

fn internal(error: impl std::fmt::Display) -> DomainError {
    DomainError::Internal {
        cause: error.to_string(),
    }
}

/// Counts a begin against the address's budget.
async fn admit_begin<S: LoginAttempts>(
    store: &S,
    client: &str,
    now: Timestamp,
) -> Result<(), DomainError> {
    let key = format!("passkey-begin|{client}");
    match throttle::count_in_window(
        store,
        &key,
        Some(BEGINS_PER_MINUTE),
        Duration::from_secs(60),
        now,
    )
    .await?
    {
        None => Ok(()),
        Some(retry_after) => Err(DomainError::TooManyRequests { retry_after }),
    }
}

async fn keep<S: PasskeyStore, T>(
    store: &S,
    purpose: CeremonyPurpose,
    state: &impl serde::Serialize,
    options: T,
    now: Timestamp,
) -> Result<Begun<T>, DomainError> {
    let (ceremony, digest) = stored::new_ceremony_id();
    store
        .insert_ceremony(&Ceremony {
            digest,
            purpose,
            state: serde_json::to_string(state).map_err(internal)?,
            expires_at: now.plus(CEREMONY_TTL),
        })
        .await?;
    Ok(Begun {
        ceremony,
        options,
        expires_in: CEREMONY_TTL.as_secs(),
    })
}

/// The ceremony `id`, taken (single use), if it is for `purpose`.
async fn take<S: PasskeyStore>(
    store: &S,
    id: &str,
    purpose: &CeremonyPurpose,
    now: Timestamp,
) -> Result<Ceremony, DomainError> {
    take_digest(store, &stored::ceremony_digest(id), purpose, now).await
}

async fn take_digest<S: PasskeyStore>(
    store: &S,
    digest: &str,
    purpose: &CeremonyPurpose,
    now: Timestamp,
) -> Result<Ceremony, DomainError> {
    let ceremony = store
        .take_ceremony(digest, now)
        .await?
        .ok_or_else(|| refused("ceremony", "unknown, expired or used"))?;
    if &ceremony.purpose != purpose {
        return Err(refused("ceremony", "begun for another purpose or user"));
    }
    Ok(ceremony)
}

/// `POST /users/{id}/passkeys/options`: after a recent login, with room for one more.
pub async fn begin_registration<S: PasskeyStore + Sessions + MfaStore + LoginAttempts>(
    store: &S,
    rp: &RelyingParty,
    caller: &Caller,
    client: &str,
    now: Timestamp,
) -> Result<Begun<CreationChallengeResponse>, DomainError> {
    step_up(rp.step_up_max_age, caller, now)?;
    admit_begin(store, client, now).await?;
    let (account, existing, ()) = tokio::try_join!(
        async { Ok(store.mfa_account(caller.user_id).await?) },
        async { Ok(store.passkeys_of(caller.user_id).await?) },
        ensure_session_open(store, caller, now),
    )?;
    let account = account.ok_or(DomainError::UnknownUser)?;
    if existing.len() as u64 >= MAX_PASSKEYS {
        return Err(DomainError::TooManyPasskeys);
    }
    // The authenticator refuses to make a second credential for this account.
    let exclude = existing
        .iter()
        .filter_map(|passkey| URL_SAFE_NO_PAD.decode(&passkey.credential_id).ok())
        .collect();
    let (mut options, state) = rp
        .webauthn
        .start_passkey_registration(
            user_handle(caller.user_id),
            &account.email,
            &account.email,
            Some(exclude),
        )
        .map_err(internal)?;
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        // Discoverable where possible (usernameless sign-in); not required,
        // so security keys without room for one still register.
        selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
    }
    let purpose = CeremonyPurpose::Register(caller.user_id);
    keep(store, purpose, &state, options, now).await
}

/// `POST /users/{id}/passkeys`: the authenticator's answer to a begun registration.
#[allow(clippy::too_many_arguments)]
pub async fn finish_registration<S: PasskeyStore + Sessions, Q: MailRequests>(
    store: &S,
    queue: &Q,
    rp: &RelyingParty,
    caller: &Caller,
    ceremony: &str,
    name: &str,
    credential: RegisterPublicKeyCredential,
    now: Timestamp,
) -> Result<PasskeyRecord, DomainError> {
    step_up(rp.step_up_max_age, caller, now)?;
    let name = parse_name(name).map_err(DomainError::invalid)?;
    let purpose = CeremonyPurpose::Register(caller.user_id);
    let (ceremony, ()) = tokio::try_join!(
        take(store, ceremony, &purpose, now),
        ensure_session_open(store, caller, now),
    )?;
    let state: PasskeyRegistration = serde_json::from_str(&ceremony.state).map_err(internal)?;
    let passkey = rp
        .webauthn
        .finish_passkey_registration(&credential, &state)
        .map_err(|error| refused("registration", error))?;
    if store.count_passkeys(caller.user_id).await? >= MAX_PASSKEYS {
        return Err(DomainError::TooManyPasskeys);
    }
    let inner = Credential::from(passkey.clone());
    let record = PasskeyRecord {
        id: PasskeyId::new(),
        user_id: caller.user_id,
        credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
        name,
        credential: serde_json::to_string(&passkey).map_err(internal)?,
        counter: inner.counter,
        backup_eligible: inner.backup_eligible,
        backup_state: inner.backup_state,
        created_at: now,
        last_used_at: None,
    };
    if !store.insert_passkey(&record).await? {
        return Err(DomainError::PasskeyTaken);
    }
    audit::user_event("passkey_added", &caller.user_id.to_hex());
    let change = FactorChange::PasskeyAdded;
    notify(
        queue,
        MailRequest::MfaChangedNotice {
            user_id: caller.user_id,
            change,
        },
    )
    .await;
    Ok(record)
}

/// `POST /auth/passkey/options`: without an e-mail, a discoverable-credential
/// request (the authenticator names the account); with one, a request for
/// that account's passkeys (`allowCredentials`), for credentials that are
/// not discoverable. An address without an account (or without passkeys)
/// gets an answer of the same shape: made-up credential ids, derived from
/// the address by the deployment's decoy key, so the same every time and
/// telling nothing. The state is bound to the ceremony id the caller keeps
/// (the page's session, or the app).
pub async fn begin_sign_in<S: PasskeyStore + LoginAttempts + Accounts>(
    store: &S,
    rp: &RelyingParty,
    email: Option<&Email>,
    client: &str,
    now: Timestamp,
) -> Result<Begun<RequestChallengeResponse>, DomainError> {
    admit_begin(store, client, now).await?;
    if let Some(email) = email {
        let account = store.find_account_by_email(email).await?;
        let records = match &account {
            Some(account) => store.passkeys_of(account.user_id).await?,
            None => Vec::new(),
        };
        if let (Some(account), false) = (account, records.is_empty()) {
            let passkeys = records
                .iter()
                .map(|record| serde_json::from_str::<Passkey>(&record.credential))
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            let (mut options, state) = rp
                .webauthn
                .start_passkey_authentication(&passkeys)
                .map_err(internal)?;
            options.mediation = None;
            let purpose = CeremonyPurpose::SignInAs(account.user_id);
            return keep(store, purpose, &state, options, now).await;
        }
        // The decoy: a discoverable request (which only a real discoverable
        // passkey could finish, as without an e-mail) dressed as the
        // allow-listed one.
        let key = store.decoy_key().await?;
        let (mut options, state) = rp
            .webauthn
            .start_discoverable_authentication()
            .map_err(internal)?;
        options.mediation = None;
        options.public_key.extensions = None;
        options.public_key.allow_credentials = decoys(&key, email);
        return keep(store, CeremonyPurpose::SignIn, &state, options, now).await;
    }
    let (mut options, state) = rp
        .webauthn
        .start_discoverable_authentication()
        .map_err(internal)?;
    // The client decides how to ask (a button, or the autofill's
    // `mediation: 'conditional'`); the options are the same.
    options.mediation = None;
    keep(store, CeremonyPurpose::SignIn, &state, options, now).await
}

/// Made-up credentials for an address without passkeys: one to three, of
/// the lengths platform authenticators use, stable per address (HMAC-SHA-256
/// under the decoy key), as `start_passkey_authentication` lists real ones.
fn decoys(key: &[u8; 32], email: &Email) -> Vec<webauthn_rs_proto::AllowCredentials> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let derive =
        |label: &str| ring::hmac::sign(&key, format!("{label}|{}", email.as_str()).as_bytes());
    let shape = derive("shape");
    let shape = shape.as_ref();
    let count = 1 + usize::from(shape[0] % 3);
    (0..count)
        .map(|index| {
            let id = derive(&format!("id|{index}"));
            let length = [16, 20, 32][usize::from(shape[1 + index] % 3)];
            webauthn_rs_proto::AllowCredentials {
                type_: "public-key".into(),
                id: id.as_ref()[..length].to_vec(),
                // As the real ones: webauthn-rs keeps transports only from a
                // packed or TPM attestation, and passkey registration asks
                // for none.
                transports: None,
            }
        })
        .collect()
}

/// `POST /auth/passkey/verify`: a verified assertion opens a session.
pub async fn finish_sign_in<S: PasskeyStore + Sessions>(
    store: &S,
    issuer: &Issuer,
    rp: &RelyingParty,
    ceremony: &str,
    credential: PublicKeyCredential,
    client: ClientInfo,
    now: Timestamp,
) -> Result<TokenPair, DomainError> {
    let ceremony = store
        .take_ceremony(&stored::ceremony_digest(ceremony), now)
        .await?
        .ok_or_else(|| refused("ceremony", "unknown, expired or used"))?;
    let (used, user_verified) = match ceremony.purpose {
        CeremonyPurpose::SignIn => discoverable(store, rp, &ceremony, &credential, now).await?,
        CeremonyPurpose::SignInAs(user_id) => {
            let (used, result) =
                allowed(store, rp, &ceremony, &credential, user_id, "sign-in", now).await?;
            (used, result.user_verified())
        }
        _ => return Err(refused("ceremony", "begun for another purpose")),
    };
    let auth = Authentication::passkey(
        PasskeyUse {
            after_password: false,
            synced: used.backup_eligible,
            user_verified,
        },
        now,
    );
    let (session, pair) = issuer.open_session_as(used.user_id, auth, client, now);
    if !store.insert_session(&session).await? {
        return Err(DomainError::PasskeyRefused);
    }
    tracing::info!(user_id = %used.user_id, session_id = %session.id, "signed in with a passkey");
    Ok(pair)
}

/// A discoverable credential's assertion: its owner named by its user
/// handle; the stored use (counter by compare-and-swap), and whether the
/// user was verified.
async fn discoverable<S: PasskeyStore>(
    store: &S,
    rp: &RelyingParty,
    ceremony: &Ceremony,
    credential: &PublicKeyCredential,
    now: Timestamp,
) -> Result<(PasskeyRecord, bool), DomainError> {
    let state: DiscoverableAuthentication =
        serde_json::from_str(&ceremony.state).map_err(internal)?;
    let credential_id = URL_SAFE_NO_PAD.encode(credential.get_credential_id());
    let record = store
        .passkey_by_credential(&credential_id)
        .await?
        .ok_or_else(|| refused("sign-in", "unknown credential"))?;
    // The authenticator's user handle must name the credential's owner.
    let handle = credential
        .get_user_unique_id()
        .and_then(|bytes| Uuid::from_slice(bytes).ok());
    if handle != Some(user_handle(record.user_id)) {
        return Err(refused("sign-in", "user handle of another user"));
    }
    let passkey: Passkey = serde_json::from_str(&record.credential).map_err(internal)?;
    let result = rp
        .webauthn
        .finish_discoverable_authentication_v2(credential, state, &passkey)
        .map_err(|error| failed("sign-in", &record, error))?;
    let used = used(record.clone(), passkey, &result, now)?;
    // Compare-and-swap on the counter: two assertions racing with one value
    // cannot both pass.
    if !store.record_passkey_use(&used, record.counter).await? {
        return Err(refused("sign-in", "counter changed meanwhile"));
    }
    Ok((used, result.user_verified()))
}

/// An assertion over allow-listed credentials (`start_passkey_authentication`):
/// one of `user_id`'s passkeys, verified, its counter above the stored one
/// (the state holds the credentials as they were at the begin, and the stored
/// counter may have moved on since), the use stored by compare-and-swap.
async fn allowed<S: PasskeyStore>(
    store: &S,
    rp: &RelyingParty,
    ceremony: &Ceremony,
    credential: &PublicKeyCredential,
    user_id: UserId,
    why: &str,
    now: Timestamp,
) -> Result<(PasskeyRecord, AuthenticationResult), DomainError> {
    let state: PasskeyAuthentication = serde_json::from_str(&ceremony.state).map_err(internal)?;
    let credential_id = URL_SAFE_NO_PAD.encode(credential.get_credential_id());
    let record = store
        .passkey_by_credential(&credential_id)
        .await?
        .ok_or_else(|| refused(why, "unknown credential"))?;
    if record.user_id != user_id {
        return Err(refused(why, "credential of another user"));
    }
    let passkey: Passkey = serde_json::from_str(&record.credential).map_err(internal)?;
    let result = rp
        .webauthn
        .finish_passkey_authentication(credential, &state)
        .map_err(|error| failed(why, &record, error))?;
    if (result.counter() != 0 || record.counter != 0) && result.counter() <= record.counter {
        return Err(failed(
            why,
            &record,
            WebauthnError::CredentialPossibleCompromise,
        ));
    }
    let used = used(record.clone(), passkey, &result, now)?;
    if !store.record_passkey_use(&used, record.counter).await? {
        return Err(refused(why, "counter changed meanwhile"));
    }
    Ok((used, result))
}

/// A refused assertion; a counter that did not grow is logged as a possible clone.
fn failed(why: &str, record: &PasskeyRecord, error: WebauthnError) -> DomainError {
    match error {
        WebauthnError::CredentialPossibleCompromise => {
            tracing::warn!(
                user_id = %record.user_id,
                passkey_id = %record.id.to_hex(),
                "passkey signature counter went backwards: possible clone, refused"
            );
            DomainError::PasskeyRefused
        }
        other => refused(why, other),
    }
}

/// The ceremony of a login's second factor is found by its `mfa_token`
/// (`POST /auth/mfa/verify` brings no ceremony id): one per login, a new
/// begin replacing the earlier one.
fn second_factor_digest(mfa_token: &str) -> String {
    stored::ceremony_digest(&format!("second-factor|{mfa_token}"))
}

/// `POST /auth/mfa/passkey/options`: after a right password, a request for
/// one of the account's passkeys (`allowCredentials`), bound to the login's
/// `mfa_token`. The begin does not spend one of the token's attempts (the
/// finish does); begins are limited per address, and a token has one
/// ceremony at a time.
pub async fn begin_second_factor<S: PasskeyStore + MfaStore + LoginAttempts>(
    store: &S,
    rp: &RelyingParty,
    mfa_token: &str,
    client: &str,
    now: Timestamp,
) -> Result<SecondFactorBegun, DomainError> {
    admit_begin(store, client, now).await?;
    let token_sha256 = mfa::digest(mfa_token);
    let challenge = store
        .open_challenge(&token_sha256, now, MAX_CODE_ATTEMPTS)
        .await?
        .ok_or(DomainError::InvalidMfaToken)?;
    let passkeys = store
        .passkeys_of(challenge.user_id)
        .await?
        .iter()
        .map(|record| serde_json::from_str::<Passkey>(&record.credential))
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    if passkeys.is_empty() {
        return Err(DomainError::PasskeyNotFound);
    }
    let (mut options, state) = rp
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(internal)?;
    options.mediation = None;
    // Never outlives its login.
    let expires_at = now.plus(CEREMONY_TTL).min(challenge.expires_at);
    store
        .insert_ceremony(&Ceremony {
            digest: second_factor_digest(mfa_token),
            purpose: CeremonyPurpose::SecondFactor {
                mfa_token_sha256: token_sha256,
            },
            state: serde_json::to_string(&state).map_err(internal)?,
            expires_at,
        })
        .await?;
    Ok(SecondFactorBegun {
        options,
        expires_in: expires_at.as_secs().saturating_sub(now.as_secs()),
    })
}

/// `POST /auth/mfa/verify` with a `credential`: the passkey as the second
/// step of a password login. Each try spends one of the `mfa_token`'s
/// attempts, as a code does; the credential must be one of the account's;
/// the tokens say `pwd pop hwk|swk mfa`, authenticated when the password was.
#[allow(clippy::too_many_arguments)]
pub async fn finish_second_factor<S: PasskeyStore + MfaStore + Sessions>(
    store: &S,
    issuer: &Issuer,
    rp: &RelyingParty,
    mfa_token: &str,
    credential: PublicKeyCredential,
    client: ClientInfo,
    now: Timestamp,
) -> Result<TokenPair, DomainError> {
    let token_sha256 = mfa::digest(mfa_token);
    let challenge = store
        .charge_challenge(&token_sha256, now, MAX_CODE_ATTEMPTS)
        .await?
        .ok_or(DomainError::InvalidMfaToken)?;
    let purpose = CeremonyPurpose::SecondFactor {
        mfa_token_sha256: token_sha256.clone(),
    };
    let ceremony = take_digest(store, &second_factor_digest(mfa_token), &purpose, now).await?;
    let (used, result) = allowed(
        store,
        rp,
        &ceremony,
        &credential,
        challenge.user_id,
        "second factor",
        now,
    )
    .await?;
    if !store.take_challenge(&token_sha256).await? {
        return Err(DomainError::InvalidMfaToken);
    }
    let auth = Authentication::passkey(
        PasskeyUse {
            after_password: true,
            synced: used.backup_eligible,
            user_verified: result.user_verified(),
        },
        challenge.password_checked_at,
    );
    let (session, pair) = issuer.open_session_as(used.user_id, auth, client, now);
    if !store.insert_session(&session).await? {
        return Err(DomainError::InvalidMfaToken);
    }
    tracing::info!(user_id = %used.user_id, session_id = %session.id, "logged in with a passkey as second factor");
    Ok(pair)
}

/// The record after a verified use: new counter, flags and last use.
fn used(
    mut record: PasskeyRecord,
    mut passkey: Passkey,
    result: &AuthenticationResult,
    now: Timestamp,
) -> Result<PasskeyRecord, DomainError> {
    passkey.update_credential(result);
    let inner = Credential::from(passkey.clone());
    record.credential = serde_json::to_string(&passkey).map_err(internal)?;
    record.counter = inner.counter;
    record.backup_eligible = inner.backup_eligible;
    record.backup_state = inner.backup_state;
    record.last_used_at = Some(now);
    Ok(record)
}
