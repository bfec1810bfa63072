//! Sessions as devices: where each session was opened and last refreshed
//! from, listed for its owner, and ended one at a time from any other.

use super::error::DomainError;
use super::ports::{RevocationReason, SessionView, Sessions};
use super::sessions::ensure_session_open;
use super::tokens::Caller;
use super::values::{SessionId, Timestamp};

/// The most sessions one listing shows (newest first). Every login opens one
/// and a user may log in without limit, so the answer is bounded here rather
/// than by the user's habits; `truncated` says when there were more.
pub const MAX_LISTED_SESSIONS: usize = 100;

pub use super::records::{ClientInfo, USER_AGENT_MAX_CHARS};

/// One entry of the listing, with whether it is the caller's own session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSession {
    pub session: SessionView,
    pub current: bool,
}

/// The caller's open sessions, newest first, at most `MAX_LISTED_SESSIONS`;
/// true when there were more. The caller's own session must be open.
pub async fn list_sessions<S: Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<(Vec<ListedSession>, bool), DomainError> {
    let mut sessions = store
        .list_sessions(caller.user_id, now, MAX_LISTED_SESSIONS + 1)
        .await?;
    let truncated = sessions.len() > MAX_LISTED_SESSIONS;
    sessions.truncate(MAX_LISTED_SESSIONS);
    // The listing itself shows whether the caller's session is open; only
    // when it may lie beyond the limit does that take another read.
    if !sessions
        .iter()
        .any(|session| session.id == caller.session_id)
    {
        if truncated {
            ensure_session_open(store, caller, now).await?;
        } else {
            return Err(DomainError::SessionEnded);
        }
    }
    let listed = sessions
        .into_iter()
        .map(|session| ListedSession {
            current: session.id == caller.session_id,
            session,
        })
        .collect();
    Ok((listed, truncated))
}

/// Ends `session` of the caller's user, with a `SessionEnded` event: its
/// access tokens are refused at once and its refresh token no longer works.
/// The caller's own session is allowed (a logout). An unknown id, one already
/// ended and another user's all get the same `SessionNotFound`.
pub async fn end_session<S: Sessions>(
    store: &S,
    caller: &Caller,
    session: SessionId,
    now: Timestamp,
) -> Result<(), DomainError> {
    ensure_session_open(store, caller, now).await?;
    if store
        .revoke_session(caller.user_id, session, RevocationReason::UserRequest, now)
        .await?
    {
        tracing::info!(
            user_id = %caller.user_id,
            session_id = %session,
            by_session = %caller.session_id,
            "session ended by its owner"
        );
        Ok(())
    } else {
        Err(DomainError::SessionNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ports::SessionRecord;
    use crate::domain::sessions::{refresh_from as rotate, Issuer};
    use crate::domain::values::{RefreshToken, UserId};
    use crate::memory::{test_issuer, MemoryStore};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
    }

    fn client(agent: &str, ip: &str) -> ClientInfo {
        ClientInfo::new(Some(agent.as_bytes()), ip)
    }

    async fn open(
        store: &MemoryStore,
        issuer: &Issuer,
        user_id: UserId,
        from: ClientInfo,
        now: Timestamp,
    ) -> (SessionRecord, Caller, String) {
        let (session, pair) = issuer.open_session_from(user_id, from, now);
        assert!(store.insert_session(&session).await.unwrap());
        let caller = Caller {
            user_id,
            session_id: session.id,
            auth: session.auth,
        };
        (session, caller, pair.refresh_token)
    }

    #[test]
    fn user_agents_lose_control_characters_and_are_cut() {
        let info = ClientInfo::new(Some(b"curl/8.5\r\n\x1b[31mX\x00"), "198.51.100.7");
        assert_eq!(info.user_agent.as_deref(), Some("curl/8.5[31mX"));
        assert_eq!(info.source_ip.as_deref(), Some("198.51.100.7"));
        let long = "é".repeat(1000);
        let info = ClientInfo::new(Some(long.as_bytes()), "-");
        assert_eq!(
            info.user_agent.unwrap().chars().count(),
            USER_AGENT_MAX_CHARS
        );
        assert_eq!(info.source_ip, None);
        assert_eq!(ClientInfo::new(Some(b" \t "), "").user_agent, None);
        assert_eq!(ClientInfo::new(None, "-"), ClientInfo::default());
        // Not UTF-8: kept readable rather than refused.
        let info = ClientInfo::new(Some(b"agent\xff"), "192.0.2.1");
        assert_eq!(info.user_agent.as_deref(), Some("agent\u{fffd}"));
    }

    #[tokio::test]
    async fn listing_shows_open_sessions_newest_first_with_the_current_one_marked() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let user_id = store.a_user();
        let (first, phone_caller, refresh_token) = open(
            &store,
            &issuer,
            user_id,
            client("phone", "192.0.2.1"),
            at(0),
        )
        .await;
        let (second, caller, _) = open(
            &store,
            &issuer,
            user_id,
            client("laptop", "192.0.2.2"),
            at(10),
        )
        .await;
        // Another user's session never shows.
        let other = store.a_user();
        open(&store, &issuer, other, client("x", "192.0.2.9"), at(20)).await;
        // The phone refreshes from elsewhere.
        let token = RefreshToken::parse(refresh_token).unwrap();
        rotate(
            &store,
            &issuer,
            &token,
            &client("phone/2", "203.0.113.5"),
            at(30),
        )
        .await
        .unwrap();

        let (listed, truncated) = list_sessions(&store, &caller, at(40)).await.unwrap();
        assert!(!truncated);
        let ids: Vec<_> = listed.iter().map(|l| l.session.id).collect();
        assert_eq!(ids, [second.id, first.id]);
        assert_eq!(
            listed.iter().map(|l| l.current).collect::<Vec<_>>(),
            [true, false]
        );
        let phone = &listed[1].session;
        assert_eq!(phone.created_at, at(0));
        assert_eq!(phone.last_used_at, at(30));
        assert_eq!(phone.created_from, client("phone", "192.0.2.1"));
        assert_eq!(phone.last_used_from, client("phone/2", "203.0.113.5"));
        assert_eq!(listed[0].session.last_used_at, at(10));
        assert_eq!(
            listed[0].session.last_used_from,
            client("laptop", "192.0.2.2")
        );

        // Expired sessions are not listed, and an expired caller is refused.
        let late = at(20).plus(issuer.policy.lifetime);
        let (listed, _) = list_sessions(&store, &phone_caller, late).await.unwrap();
        let ids: Vec<_> = listed.iter().map(|l| (l.session.id, l.current)).collect();
        assert_eq!(ids, [(first.id, true)], "only the refreshed phone is open");
        assert!(matches!(
            list_sessions(&store, &caller, late).await,
            Err(DomainError::SessionEnded)
        ));
    }

    #[tokio::test]
    async fn the_listing_is_bounded_and_says_so() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let user_id = store.a_user();
        let (_, oldest, _) = open(&store, &issuer, user_id, client("a", "-"), at(0)).await;
        for n in 1..=MAX_LISTED_SESSIONS as i64 {
            open(&store, &issuer, user_id, client("a", "-"), at(n)).await;
        }
        // The caller's session is the oldest, beyond the limit: still allowed.
        let (listed, truncated) = list_sessions(&store, &oldest, at(1000)).await.unwrap();
        assert!(truncated);
        assert_eq!(listed.len(), MAX_LISTED_SESSIONS);
        assert!(listed.iter().all(|l| !l.current));
        assert_eq!(listed[0].session.created_at, at(MAX_LISTED_SESSIONS as i64));
        store
            .end_session(user_id, oldest.session_id, at(1000))
            .await
            .unwrap();
        assert!(matches!(
            list_sessions(&store, &oldest, at(1000)).await,
            Err(DomainError::SessionEnded)
        ));
    }

    #[tokio::test]
    async fn ending_a_session_refuses_its_tokens_and_emits_one_event() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let user_id = store.a_user();
        let (_, phone, phone_refresh) =
            open(&store, &issuer, user_id, client("phone", "-"), at(0)).await;
        let (_, laptop, _) = open(&store, &issuer, user_id, client("laptop", "-"), at(1)).await;
        end_session(&store, &laptop, phone.session_id, at(2))
            .await
            .unwrap();
        assert!(!store
            .session_is_open(user_id, phone.session_id, at(2))
            .await
            .unwrap());
        let token = RefreshToken::parse(phone_refresh).unwrap();
        assert!(matches!(
            rotate(&store, &issuer, &token, &ClientInfo::default(), at(3)).await,
            Err(DomainError::InvalidRefreshToken)
        ));
        assert_eq!(store.events_of_kind("SessionEnded"), 1);
        assert_eq!(store.events_of_kind("SessionsRevoked"), 0);
        // Again: already ended, the same 404 as an unknown id.
        for unknown in [phone.session_id, SessionId::new()] {
            assert!(matches!(
                end_session(&store, &laptop, unknown, at(3)).await,
                Err(DomainError::SessionNotFound)
            ));
        }
        assert_eq!(store.events_of_kind("SessionEnded"), 1);
    }

    #[tokio::test]
    async fn another_users_session_is_not_found_and_stays_open() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (mallory_id, ada_id) = (store.a_user(), store.a_user());
        let (_, mallory, _) = open(&store, &issuer, mallory_id, client("m", "-"), at(0)).await;
        let (_, ada, _) = open(&store, &issuer, ada_id, client("a", "-"), at(0)).await;
        assert!(matches!(
            end_session(&store, &mallory, ada.session_id, at(1)).await,
            Err(DomainError::SessionNotFound)
        ));
        assert!(store
            .session_is_open(ada_id, ada.session_id, at(1))
            .await
            .unwrap());
        assert_eq!(store.events_of_kind("SessionEnded"), 0);
    }

    #[tokio::test]
    async fn ending_ones_own_session_is_a_logout_and_an_ended_caller_is_refused() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let user_id = store.a_user();
        let (_, me, _) = open(&store, &issuer, user_id, client("me", "-"), at(0)).await;
        let (_, other, _) = open(&store, &issuer, user_id, client("other", "-"), at(0)).await;
        end_session(&store, &me, me.session_id, at(1))
            .await
            .unwrap();
        assert!(matches!(
            end_session(&store, &me, other.session_id, at(1)).await,
            Err(DomainError::SessionEnded)
        ));
        assert!(store
            .session_is_open(user_id, other.session_id, at(1))
            .await
            .unwrap());
    }
}
