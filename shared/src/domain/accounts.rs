//! Accounts: registration, who may act on a user, the profile, deletion and
//! erasure. Linking lives in `linking`.

use super::audit;
use super::blocking;
use super::error::DomainError;
use super::passwords;
use super::ports::{LinkTrust, NewUser, Profile, Users};
use super::tokens::Caller;
use super::values::{Email, Password, Timestamp, UserId, Username};

#[derive(Debug)]
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

pub async fn register<S: Users>(
    store: &S,
    registration: Registration,
    now: Timestamp,
) -> Result<UserId, DomainError> {
    let Registration {
        username,
        email,
        password,
    } = registration;
    let hashed_password = blocking(move || passwords::hash_password(password.expose()))
        .await?
        .map_err(|error| DomainError::Internal {
            cause: error.to_string(),
        })?;
    let id = UserId::new();
    store
        .insert_user(NewUser {
            id,
            username,
            email,
            hashed_password,
            created_at: now,
        })
        .await?;
    tracing::info!(user_id = %id, "user registered");
    Ok(id)
}

/// Only the user a token names may act on that user.
pub fn authorize(caller: &Caller, user_id: UserId) -> Result<(), DomainError> {
    if caller.user_id == user_id {
        Ok(())
    } else {
        Err(DomainError::Forbidden)
    }
}

/// The store checks the session in the same round trip as the read.
pub async fn full_profile<S: Users>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
    trust: LinkTrust,
) -> Result<Profile, DomainError> {
    store
        .full_profile(caller.user_id, caller.session_id, now, trust)
        .await?
        .ok_or(DomainError::SessionEnded)
}

pub async fn delete_user<S: Users>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
    trust: LinkTrust,
) -> Result<(), DomainError> {
    if store
        .delete_user(caller.user_id, Some(caller.session_id), now, trust)
        .await?
    {
        audit::user_event("user_deleted", &caller.user_id.to_hex());
        Ok(())
    } else {
        Err(DomainError::SessionEnded)
    }
}

/// The deletion requested by another system (the inbound queue), without a
/// session to check. Erasing a user that does not exist (any more) succeeds,
/// so a redelivered request is harmless.
pub async fn erase_user<S: Users>(
    store: &S,
    user_id: UserId,
    now: Timestamp,
    trust: LinkTrust,
) -> Result<(), DomainError> {
    if store.delete_user(user_id, None, now, trust).await? {
        audit::user_event("user_erased", &user_id.to_hex());
    } else {
        tracing::info!(user_id = %user_id, "erasure requested for a user that does not exist");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::linking::LinkVerification;
    use crate::domain::ports::{LinkedData, Sessions as _};
    use crate::memory::{test_issuer, MemoryStore};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
    }

    async fn signed_up(store: &MemoryStore, name: &str) -> Caller {
        let user_id = register(
            store,
            Registration {
                username: Username::parse(name).unwrap(),
                email: Email::parse(&format!("{name}@example.com")).unwrap(),
                password: Password::parse_for_login("correct horse battery staple".into()).unwrap(),
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

    /// A link on the user's word (`LINK_VERIFICATION=off`): the store's
    /// uniqueness and events are what these tests are about.
    async fn link(
        store: &MemoryStore,
        caller: &Caller,
        id: &str,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        let id = crate::domain::values::ExternalId::parse(id).unwrap();
        crate::domain::linking::link_external_id(
            store,
            caller,
            &id,
            None,
            LinkVerification::Off,
            now,
        )
        .await
    }

    #[tokio::test]
    async fn emails_and_usernames_are_unique_regardless_of_case() {
        let store = MemoryStore::default();
        signed_up(&store, "ada").await;
        let again = |username: &str, email: &str| Registration {
            username: Username::parse(username).unwrap(),
            email: Email::parse(email).unwrap(),
            password: Password::parse_for_login("x".into()).unwrap(),
        };
        assert!(matches!(
            register(&store, again("other", "ADA@example.com"), at(1)).await,
            Err(DomainError::EmailTaken)
        ));
        assert!(matches!(
            register(&store, again("ADA", "other@example.com"), at(1)).await,
            Err(DomainError::UsernameTaken)
        ));
        assert_eq!(store.events_of_kind("UserRegistered"), 1);
    }

    #[tokio::test]
    async fn linking_is_idempotent_and_an_id_has_one_owner() {
        let store = MemoryStore::default();
        let ada = signed_up(&store, "ada").await;
        let bob = signed_up(&store, "bob").await;
        link(&store, &ada, "crm-1", at(1)).await.unwrap();
        link(&store, &ada, "crm-1", at(2)).await.unwrap();
        assert_eq!(
            store.events_of_kind("ExternalIdLinked"),
            1,
            "re-linking is no event"
        );
        assert!(matches!(
            link(&store, &bob, "crm-1", at(3)).await,
            Err(DomainError::ExternalIdTaken)
        ));
        // Switching to another id frees the first.
        link(&store, &ada, "crm-2", at(4)).await.unwrap();
        link(&store, &bob, "crm-1", at(5)).await.unwrap();
        assert_eq!(store.events_of_kind("ExternalIdLinked"), 3);
    }

    #[tokio::test]
    async fn an_ended_session_cannot_link_read_or_delete() {
        let store = MemoryStore::default();
        let ada = signed_up(&store, "ada").await;
        store
            .end_session(ada.user_id, ada.session_id, at(1))
            .await
            .unwrap();
        assert!(matches!(
            link(&store, &ada, "crm-1", at(2)).await,
            Err(DomainError::SessionEnded)
        ));
        assert!(matches!(
            full_profile(&store, &ada, at(2), LinkTrust::Any).await,
            Err(DomainError::SessionEnded)
        ));
        assert!(matches!(
            delete_user(&store, &ada, at(2), LinkTrust::Any).await,
            Err(DomainError::SessionEnded)
        ));
    }

    #[tokio::test]
    async fn the_profile_joins_linked_data_and_the_delete_cascade_removes_it() {
        let store = MemoryStore::default();
        let ada = signed_up(&store, "ada").await;
        let bob = signed_up(&store, "bob").await;
        link(&store, &ada, "crm-1", at(1)).await.unwrap();
        store
            .upsert_linked(
                &crate::domain::values::ExternalId::parse("crm-1").unwrap(),
                json!({"plan": "gold"}).as_object().unwrap().clone(),
                1,
            )
            .await
            .unwrap();
        let profile = full_profile(&store, &ada, at(2), LinkTrust::Any)
            .await
            .unwrap();
        assert_eq!(profile.external_id.as_deref(), Some("crm-1"));
        assert_eq!(profile.linked_data.len(), 1);
        assert_eq!(profile.linked_data[0]["plan"], "gold");
        assert!(full_profile(&store, &bob, at(2), LinkTrust::Any)
            .await
            .unwrap()
            .linked_data
            .is_empty());

        delete_user(&store, &ada, at(3), LinkTrust::Any)
            .await
            .unwrap();
        assert!(
            store
                .linked_record("crm-1")
                .unwrap()
                .get("deleted_at")
                .is_some(),
            "a versioned record leaves a tombstone"
        );
        assert_eq!(store.open_sessions(ada.user_id), 0);
        assert_eq!(store.events_of_kind("UserDeleted"), 1);
        // Bob is untouched; erasing Ada again is harmless.
        assert!(full_profile(&store, &bob, at(4), LinkTrust::Any)
            .await
            .is_ok());
        erase_user(&store, ada.user_id, at(4), LinkTrust::Any)
            .await
            .unwrap();
        assert_eq!(store.events_of_kind("UserDeleted"), 1);
    }

    #[test]
    fn only_the_named_user_is_authorized() {
        let caller = Caller {
            user_id: UserId::new(),
            session_id: crate::domain::values::SessionId::new(),
            auth: Default::default(),
        };
        assert!(authorize(&caller, caller.user_id).is_ok());
        assert!(matches!(
            authorize(&caller, UserId::new()),
            Err(DomainError::Forbidden)
        ));
    }
}
