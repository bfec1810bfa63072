//! The operations, as plain async functions over the store.

use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::DateTime;

use crate::error::ApiError;
use crate::passwords::{self, Verification};
use crate::refresh::{self, SessionPolicy};
use crate::store::{Admission, NewUser, Profile, RevocationReason, SessionRecord, UserStore};
use crate::tokens::{AccessToken, Caller, TokenKeys};
use crate::validation::{Credentials, Registration};

/// Consecutive failures allowed before each further one locks the account.
pub const FREE_LOGIN_FAILURES: i64 = 5;
/// The longest lock: 2^(n−5) s grows to this and stays.
pub const MAX_LOGIN_LOCK: Duration = Duration::from_secs(15 * 60);

/// What login and refresh hand out.
pub struct TokenPair {
    pub access: AccessToken,
    pub refresh_token: String,
}

pub async fn register(store: &UserStore, registration: Registration) -> Result<ObjectId, ApiError> {
    let Registration {
        username,
        email,
        password,
    } = registration;
    let hashed_password = blocking(move || passwords::hash_password(&password))
        .await?
        .map_err(|error| {
            tracing::error!(%error, "hashing a new password failed");
            ApiError::Internal
        })?;
    let user_id = store
        .insert_user(NewUser {
            username,
            email,
            hashed_password,
        })
        .await?;
    tracing::info!(user_id = %user_id, "user registered");
    Ok(user_id)
}

/// Throttled per e-mail; an unknown e-mail and a wrong password give the same
/// error after the same argon2 work, so neither the answer nor its timing tells
/// whether an account exists.
pub async fn login(
    store: &UserStore,
    keys: &TokenKeys,
    policy: &SessionPolicy,
    credentials: Credentials,
) -> Result<TokenPair, ApiError> {
    let Credentials { email, password } = credentials;
    // From the fifth attempt on, admission itself locks the next ones, before
    // the password is checked; a success clears the lock and the count. The
    // credentials are read at the same time: a locked attempt just ignores them,
    // and a login waits for one round trip instead of two.
    let (admission, stored) = tokio::try_join!(
        store.admit_login_attempt(&email, FREE_LOGIN_FAILURES, login_lock),
        store.find_credentials(&email),
    )?;
    if let Admission::Locked { retry_after } = admission {
        return Err(ApiError::TooManyAttempts {
            retry_after_seconds: retry_after.as_secs_f64().ceil().max(1.0) as u64,
        });
    }

    let Some(stored) = stored else {
        blocking(move || passwords::verify_dummy(&password)).await?;
        return Err(ApiError::InvalidCredentials);
    };
    let stored_hash = stored.hashed_password.clone();
    let (verification, password) = blocking(move || {
        let verification = passwords::verify_password(&password, &stored_hash);
        (verification, password)
    })
    .await?;
    match verification {
        Verification::Mismatch => return Err(ApiError::InvalidCredentials),
        Verification::Match => {}
        Verification::MatchNeedsRehash => {
            // Best effort: the login stands even if the upgrade has to wait for the next one.
            if let Err(error) =
                upgrade_hash(store, stored.user_id, &stored.hashed_password, password).await
            {
                tracing::warn!(user_id = %stored.user_id, %error, "password re-hash failed");
            }
        }
    }

    let nonce = refresh::new_nonce();
    let refresh_token = policy.secrets.refresh_token(&nonce, 0);
    let session = SessionRecord::new(
        stored.user_id,
        nonce,
        refresh::digest(&refresh_token),
        policy.lifetime,
    );
    // Independent writes, so one round trip. If either fails the caller gets no
    // tokens; a session written without them can never be used and expires.
    tokio::try_join!(
        store.clear_login_attempts(&email),
        store.insert_session(&session),
    )?;
    tracing::info!(user_id = %stored.user_id, session_id = %session.id, "logged in");
    Ok(token_pair(keys, policy, &session))
}

/// 2^(n−5) seconds after the n-th consecutive failure, capped.
pub fn login_lock(failures: i64) -> Duration {
    let exponent = (failures - FREE_LOGIN_FAILURES).clamp(0, 20) as u32;
    Duration::from_secs(2_u64.pow(exponent)).min(MAX_LOGIN_LOCK)
}

async fn upgrade_hash(
    store: &UserStore,
    user_id: ObjectId,
    old_hash: &str,
    password: String,
) -> Result<(), String> {
    let new_hash = blocking(move || passwords::hash_password(&password))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())?;
    store
        .replace_password_hash(user_id, old_hash, &new_hash)
        .await
        .map_err(|error| error.to_string())?;
    tracing::info!(user_id = %user_id, "password hash upgraded to current parameters");
    Ok(())
}

/// Rotates a refresh token. The token just replaced still gets the same
/// successor within the grace window (two tabs refreshing at once); after it,
/// presenting a replaced token means it was copied, and the session ends.
pub async fn refresh(
    store: &UserStore,
    keys: &TokenKeys,
    policy: &SessionPolicy,
    refresh_token: &str,
) -> Result<TokenPair, ApiError> {
    let digest = refresh::digest(refresh_token);
    let session = store
        .find_session_by_refresh_digest(&digest)
        .await?
        .ok_or(ApiError::InvalidRefreshToken)?;
    if session.refresh_digest != digest {
        return replay(store, keys, policy, session, &digest).await;
    }
    let successor = policy
        .secrets
        .refresh_token(&session.nonce, session.generation + 1);
    let rotated = store
        .rotate_session(
            &session,
            &digest,
            &refresh::digest(&successor),
            policy.lifetime,
        )
        .await?;
    match rotated {
        Some(rotated) => Ok(token_pair(keys, policy, &rotated)),
        // A concurrent refresh of the same token won the rotation.
        None => {
            let session = store
                .find_session(session.id)
                .await?
                .ok_or(ApiError::InvalidRefreshToken)?;
            replay(store, keys, policy, session, &digest).await
        }
    }
}

async fn replay(
    store: &UserStore,
    keys: &TokenKeys,
    policy: &SessionPolicy,
    session: SessionRecord,
    digest: &str,
) -> Result<TokenPair, ApiError> {
    let just_replaced = session
        .retired_digests
        .last()
        .is_some_and(|last| last == digest);
    let age = Duration::from_millis(
        (DateTime::now().timestamp_millis() - session.rotated_at.timestamp_millis()).max(0) as u64,
    );
    if just_replaced && age <= policy.grace {
        return Ok(token_pair(keys, policy, &session));
    }
    store
        .revoke_sessions(
            session.user_id,
            Some(session.id),
            RevocationReason::RefreshTokenReuse,
        )
        .await?;
    tracing::warn!(
        user_id = %session.user_id,
        session_id = %session.id,
        "a replaced refresh token was presented again: session revoked"
    );
    Err(ApiError::InvalidRefreshToken)
}

/// The pair for the session's current generation; the same session state
/// always gives the same pair.
fn token_pair(keys: &TokenKeys, policy: &SessionPolicy, session: &SessionRecord) -> TokenPair {
    let caller = Caller {
        user_id: session.user_id,
        session_id: session.id,
    };
    let issued_at = (session.rotated_at.timestamp_millis() / 1000) as u64;
    let jti = policy
        .secrets
        .access_token_id(&session.nonce, session.generation);
    TokenPair {
        access: keys.issue(&caller, issued_at, jti),
        refresh_token: policy
            .secrets
            .refresh_token(&session.nonce, session.generation),
    }
}

pub async fn logout(store: &UserStore, caller: &Caller) -> Result<(), ApiError> {
    if store.end_session(caller.user_id, caller.session_id).await? {
        tracing::info!(user_id = %caller.user_id, session_id = %caller.session_id, "logged out");
        Ok(())
    } else {
        Err(ApiError::SessionEnded)
    }
}

pub async fn logout_all(store: &UserStore, caller: &Caller) -> Result<u64, ApiError> {
    ensure_session_open(store, caller).await?;
    let ended = store
        .revoke_sessions(caller.user_id, None, RevocationReason::UserRequest)
        .await?;
    tracing::info!(user_id = %caller.user_id, ended, "all sessions ended");
    Ok(ended)
}

/// Only the user a token names may act on that user.
pub fn authorize(caller: &Caller, user_id: ObjectId) -> Result<(), ApiError> {
    if caller.user_id == user_id {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

async fn ensure_session_open(store: &UserStore, caller: &Caller) -> Result<(), ApiError> {
    if store
        .session_is_open(caller.user_id, caller.session_id)
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::SessionEnded)
    }
}

/// A well-signed token is refused once its session has ended or its user is gone.
pub async fn link_external_id(
    store: &UserStore,
    caller: &Caller,
    external_id: &str,
) -> Result<(), ApiError> {
    ensure_session_open(store, caller).await?;
    if store.link_external_id(caller.user_id, external_id).await? {
        Ok(())
    } else {
        Err(ApiError::UnknownUser)
    }
}

pub async fn full_profile(store: &UserStore, caller: &Caller) -> Result<Profile, ApiError> {
    store
        .full_profile(caller.user_id, caller.session_id)
        .await?
        .ok_or(ApiError::SessionEnded)
}

pub async fn delete_user(store: &UserStore, caller: &Caller) -> Result<(), ApiError> {
    if store
        .delete_user(caller.user_id, Some(caller.session_id))
        .await?
    {
        tracing::info!(user_id = %caller.user_id, "user, linked data and sessions deleted");
        Ok(())
    } else {
        Err(ApiError::SessionEnded)
    }
}

/// `DELETE /users/{id}/` on request of another system (events::ingest): the
/// same deletion, without a session to check. Erasing a user that does not
/// exist (any more) succeeds, so a redelivered request is harmless.
pub async fn erase_user(store: &UserStore, user_id: ObjectId) -> Result<(), ApiError> {
    if store.delete_user(user_id, None).await? {
        tracing::info!(user_id = %user_id, "user, linked data and sessions erased on request");
    } else {
        tracing::info!(user_id = %user_id, "erasure requested for a user that does not exist");
    }
    Ok(())
}

/// Runs CPU-heavy work (argon2) off the async thread, so the driver's
/// connection monitoring keeps running meanwhile.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, "blocking task failed");
        ApiError::Internal
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_doubles_from_one_second_and_caps_at_fifteen_minutes() {
        let locks: Vec<u64> = (5..=16).map(|n| login_lock(n).as_secs()).collect();
        assert_eq!(locks, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(login_lock(1_000).as_secs(), 900);
    }
}
