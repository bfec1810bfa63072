//! "Apps with access" (issue #22): each OAuth client a person allowed
//! something or that holds a grant of theirs, with its scopes and when it
//! last used them; and revoking one, which ends every grant (session) of
//! that client and forgets the consent, so that it must ask again.

use std::collections::BTreeMap;

use super::error::DomainError;
use super::ports::{Consents, RevocationReason, Sessions};
use super::values::{Timestamp, UserId};

/// More apps than one page lists.
const MAX_APPS: usize = 100;
/// Sessions read to find the apps' grants (the device list's own bound).
const MAX_SESSIONS: usize = 200;

/// One client with access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAccess {
    pub client_id: String,
    /// The name its grants carry; `None` when it holds none now (then the
    /// caller names it from the clients it knows).
    pub name: Option<String>,
    /// What it was allowed (the consent), else what its grants hold.
    pub scope: String,
    /// Its grants' latest use; `None` without an open grant.
    pub last_used: Option<Timestamp>,
    /// Open grants (each a session).
    pub grants: usize,
}

/// The clients with access to `user_id`'s account, by client id.
pub async fn list<S: Sessions + Consents>(
    store: &S,
    user_id: UserId,
    now: Timestamp,
) -> Result<Vec<AppAccess>, DomainError> {
    let (sessions, consents) = tokio::try_join!(
        store.list_sessions(user_id, now, MAX_SESSIONS),
        store.list_consents(user_id, MAX_APPS),
    )?;
    let mut apps: BTreeMap<String, AppAccess> = BTreeMap::new();
    for consent in consents {
        apps.insert(
            consent.client_id.clone(),
            AppAccess {
                client_id: consent.client_id,
                name: None,
                scope: consent.scope,
                last_used: None,
                grants: 0,
            },
        );
    }
    for session in sessions {
        let Some(client_id) = session.client_id else {
            continue;
        };
        let app = apps.entry(client_id.clone()).or_insert_with(|| AppAccess {
            client_id,
            name: None,
            scope: String::new(),
            last_used: None,
            grants: 0,
        });
        app.name = app.name.take().or(session.client_name);
        app.grants += 1;
        app.last_used = app.last_used.max(Some(session.last_used_at));
    }
    Ok(apps.into_values().take(MAX_APPS).collect())
}

/// Ends every open grant of `client_id` for `user_id` and forgets the
/// consent; how many grants ended.
pub async fn revoke<S: Sessions + Consents>(
    store: &S,
    user_id: UserId,
    client_id: &str,
    now: Timestamp,
) -> Result<u64, DomainError> {
    let sessions = store.list_sessions(user_id, now, MAX_SESSIONS).await?;
    let mut ended = 0;
    for session in sessions {
        if session.client_id.as_deref() == Some(client_id)
            && store
                .revoke_session(user_id, session.id, RevocationReason::UserRequest, now)
                .await?
        {
            ended += 1;
        }
    }
    store.delete_consent(user_id, client_id).await?;
    tracing::info!(audit = "oauth_app_revoked", %user_id, client_id, ended, "audit");
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::{Authentication, ClientInfo, OAuthGrant};
    use crate::memory::{test_issuer, MemoryStore};

    #[tokio::test]
    async fn revoking_an_app_ends_its_grants_and_consent_only() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let user = store.a_user();
        let now = Timestamp::now();
        let grant = |client: &str| OAuthGrant {
            client_id: client.into(),
            client_name: format!("{client} app"),
            scope: "openid".into(),
            first_party: false,
            resources: Vec::new(),
        };
        for client in ["a", "a", "b"] {
            let (session, _) = issuer.open_session_for(
                user,
                Authentication::password(now),
                ClientInfo::default(),
                Some(grant(client)),
                now,
            );
            assert!(store.insert_session(&session).await.unwrap());
        }
        store
            .record_consent(user, "a", "openid email", now)
            .await
            .unwrap();
        store
            .record_consent(user, "c", "openid", now)
            .await
            .unwrap();
        let apps = list(&store, user, now).await.unwrap();
        let ids: Vec<&str> = apps.iter().map(|app| app.client_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(apps[0].grants, 2);
        assert_eq!(apps[0].scope, "openid email");
        assert_eq!(apps[0].name.as_deref(), Some("a app"));
        assert_eq!(apps[2].last_used, None);
        assert_eq!(revoke(&store, user, "a", now).await.unwrap(), 2);
        let apps = list(&store, user, now).await.unwrap();
        let ids: Vec<&str> = apps.iter().map(|app| app.client_id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(store.consented_scope(user, "a").await.unwrap(), None);
    }
}
