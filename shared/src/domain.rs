//! The five operations, as plain async functions over the store.

use mongodb::bson::oid::ObjectId;

use crate::error::ApiError;
use crate::passwords::{self, Verification};
use crate::store::{NewUser, Profile, UserStore};
use crate::tokens::{AccessToken, Caller, TokenKeys};
use crate::validation::{Credentials, Registration};

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

/// Unknown e-mail and wrong password give the same error after the same argon2
/// work, so neither the answer nor its timing tells whether an account exists.
pub async fn login(
    store: &UserStore,
    keys: &TokenKeys,
    credentials: Credentials,
) -> Result<AccessToken, ApiError> {
    let Credentials { email, password } = credentials;
    let Some(stored) = store.find_credentials(&email).await? else {
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
    Ok(keys.issue(stored.user_id))
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

/// Only the user a token names may act on that user.
pub fn authorize(caller: &Caller, user_id: ObjectId) -> Result<(), ApiError> {
    if caller.user_id == user_id {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// A token whose user has gone (deleted) is refused, though its signature is still good.
pub async fn link_external_id(
    store: &UserStore,
    user_id: ObjectId,
    external_id: &str,
) -> Result<(), ApiError> {
    if store.link_external_id(user_id, external_id).await? {
        Ok(())
    } else {
        Err(ApiError::UnknownUser)
    }
}

pub async fn full_profile(store: &UserStore, user_id: ObjectId) -> Result<Profile, ApiError> {
    store
        .full_profile(user_id)
        .await?
        .ok_or(ApiError::UnknownUser)
}

pub async fn delete_user(store: &UserStore, user_id: ObjectId) -> Result<(), ApiError> {
    if store.delete_user(user_id).await? {
        tracing::info!(user_id = %user_id, "user and linked data deleted");
        Ok(())
    } else {
        Err(ApiError::UnknownUser)
    }
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
