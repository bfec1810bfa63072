//! Consent to a third-party client (issue #21): remembered per user and
//! client as the union of the scopes allowed, so that a later request for
//! a subset goes straight on; `prompt=consent` asks again. First-party
//! clients (a flag in the clients document) are ours and never ask.

use super::clients::{Client, Scopes};
use super::error::DomainError;
use super::ports::Consents;
use super::values::{Timestamp, UserId};

/// Whether the consent page must be shown for `scopes`.
pub async fn needed<S: Consents>(
    store: &S,
    user_id: UserId,
    client: &Client,
    scopes: &Scopes,
    asked_again: bool,
) -> Result<bool, DomainError> {
    if client.first_party {
        return Ok(false);
    }
    if asked_again {
        return Ok(true);
    }
    let granted = store.consented_scope(user_id, &client.id).await?;
    Ok(!granted
        .as_deref()
        .and_then(Scopes::parse)
        .is_some_and(|granted| scopes.is_subset(&granted)))
}

/// Adds `scopes` to what `user_id` allowed `client_id`.
pub async fn remember<S: Consents>(
    store: &S,
    user_id: UserId,
    client_id: &str,
    scopes: &Scopes,
    now: Timestamp,
) -> Result<(), DomainError> {
    let earlier = store.consented_scope(user_id, client_id).await?;
    let union: Scopes = earlier
        .as_deref()
        .and_then(Scopes::parse)
        .unwrap_or_default()
        .iter()
        .chain(scopes.iter())
        .collect();
    store
        .record_consent(user_id, client_id, &union.to_string(), now)
        .await?;
    Ok(())
}
