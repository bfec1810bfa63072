//! Sessions: what login opens, refresh rotates and logout ends.
//!
//! Refresh tokens rotate on every use. The token just replaced still gets the
//! same successor within the grace window (two tabs refreshing at once);
//! after it, presenting any replaced token means it was copied, and the whole
//! session ends.

use std::time::Duration;

use super::audit;
use super::error::DomainError;
use super::ports::{RevocationReason, SessionRecord, Sessions};
use super::records::{ClientInfo, OAuthGrant};
use super::refresh::{self, PresentedCookie, PresentedToken, SessionSecrets};
use super::tokens::{AccessToken, Authentication, Caller, TokenClient, TokenSigner, TokenVerifier};
use super::values::{RefreshToken, SessionId, Timestamp, UserId};

/// How sessions are kept: the derivation key and the lifetimes.
pub struct SessionPolicy {
    pub secrets: SessionSecrets,
    /// A session ends this long after its last refresh (sliding expiry)…
    pub lifetime: Duration,
    /// …and at the latest this long after the login that opened it.
    pub max_lifetime: Duration,
    /// How long a just-rotated refresh token still returns the same successor.
    pub grace: Duration,
}

impl SessionPolicy {
    /// When a session refreshed at `now` ends.
    fn expiry(&self, created_at: Timestamp, now: Timestamp) -> Timestamp {
        now.plus(self.lifetime)
            .min(created_at.plus(self.max_lifetime))
    }
}

/// What login and refresh issue tokens with.
pub struct Issuer {
    pub signer: TokenSigner,
    pub policy: SessionPolicy,
    /// The same key set's published halves: what reads back an
    /// `id_token_hint` the provider signed, with any of its keys.
    pub verifier: TokenVerifier,
}

/// What login and refresh hand out.
pub struct TokenPair {
    pub access: AccessToken,
    pub refresh_token: String,
}

impl Issuer {
    /// A new session of `user_id` and its first pair; the caller stores the session.
    pub fn open_session(&self, user_id: UserId, now: Timestamp) -> (SessionRecord, TokenPair) {
        self.open_session_as(
            user_id,
            Authentication::password(now),
            ClientInfo::default(),
            now,
        )
    }

    /// A new session whose login authenticated as `auth`, from `client`.
    pub fn open_session_as(
        &self,
        user_id: UserId,
        auth: Authentication,
        client: ClientInfo,
        now: Timestamp,
    ) -> (SessionRecord, TokenPair) {
        self.open_session_for(user_id, auth, client, None, now)
    }

    /// A new session, opened for `grant`'s OAuth client when there is one.
    pub fn open_session_for(
        &self,
        user_id: UserId,
        auth: Authentication,
        client: ClientInfo,
        grant: Option<OAuthGrant>,
        now: Timestamp,
    ) -> (SessionRecord, TokenPair) {
        let (id, nonce) = (SessionId::new(), refresh::new_nonce());
        let refresh_token = self.policy.secrets.refresh_token(id, &nonce, 0);
        let session = SessionRecord {
            id,
            user_id,
            nonce,
            generation: 0,
            refresh_digest: refresh::digest(&refresh_token),
            created_at: now,
            rotated_at: now,
            expires_at: self.policy.expiry(now, now),
            created_from: client.clone(),
            last_used_from: client,
            auth,
            grant,
        };
        let pair = self.token_pair(&session);
        (session, pair)
    }

    /// A session opened by a password alone, from `client`.
    pub fn open_session_from(
        &self,
        user_id: UserId,
        client: ClientInfo,
        now: Timestamp,
    ) -> (SessionRecord, TokenPair) {
        self.open_session_as(user_id, Authentication::password(now), client, now)
    }

    /// The pair of the session's current generation; the same session state
    /// always gives the same pair.
    pub fn token_pair(&self, session: &SessionRecord) -> TokenPair {
        let scope = session.grant.as_ref().map(|grant| grant.scope.clone());
        self.token_pair_scoped(session, scope, None)
    }

    /// `token_pair`, its access token limited to `scope` and `resources`
    /// (a refresh that narrows; the session keeps what was granted). The
    /// access token's `aud` is the resources, or the API without any.
    pub fn token_pair_scoped(
        &self,
        session: &SessionRecord,
        scope: Option<String>,
        resources: Option<&[String]>,
    ) -> TokenPair {
        let granted = session
            .grant
            .as_ref()
            .map(|grant| grant.resources.as_slice())
            .unwrap_or_default();
        let resources = resources.unwrap_or(granted);
        let caller = Caller {
            user_id: session.user_id,
            session_id: session.id,
            auth: session.auth,
        };
        let client = session.grant.as_ref().map(|grant| TokenClient {
            client_id: grant.client_id.clone(),
            scope: scope.unwrap_or_else(|| grant.scope.clone()),
            first_party: grant.first_party,
        });
        let secrets = &self.policy.secrets;
        let jti = secrets.access_token_id(&session.nonce, session.generation);
        TokenPair {
            access: self.signer.issue_for(
                &caller,
                client.as_ref(),
                resources,
                session.rotated_at.as_secs(),
                jti,
            ),
            refresh_token: secrets.refresh_token(session.id, &session.nonce, session.generation),
        }
    }
}

/// Rotates a refresh token. A token of the session's current generation
/// gets the next pair; the one just replaced gets that same pair again within
/// the grace window; any earlier generation, or the one just replaced after
/// the window, means the token was copied: the session ends. A rotation
/// records `client` as where the session was last used from.
pub async fn refresh_from<S: Sessions>(
    store: &S,
    issuer: &Issuer,
    refresh_token: &RefreshToken,
    client: &ClientInfo,
    now: Timestamp,
) -> Result<TokenPair, DomainError> {
    // An OAuth client's session is refreshed at the token endpoint only,
    // where the client authenticates (RFC 6749 §6): its refresh token alone
    // is not enough here.
    let session = rotate(store, issuer, refresh_token, client, now, |session| {
        session.grant.is_none()
    })
    .await?;
    Ok(issuer.token_pair(&session))
}

/// The rotation of `refresh_from`, giving the session as of the pair to
/// answer with. `belongs` decides, before anything changes, whether the
/// session may be refreshed by this caller (an OAuth client's own only):
/// a refusal is `InvalidRefreshToken` and touches nothing.
pub async fn rotate<S: Sessions>(
    store: &S,
    issuer: &Issuer,
    refresh_token: &RefreshToken,
    client: &ClientInfo,
    now: Timestamp,
    belongs: impl FnOnce(&SessionRecord) -> bool,
) -> Result<SessionRecord, DomainError> {
    let presented =
        PresentedToken::parse(refresh_token.expose()).ok_or(DomainError::InvalidRefreshToken)?;
    let session = store
        .find_session(presented.session_id, now)
        .await?
        .ok_or(DomainError::InvalidRefreshToken)?;
    if !belongs(&session) {
        return Err(DomainError::InvalidRefreshToken);
    }
    let secrets = &issuer.policy.secrets;
    // Forged, or of another session: refused without touching the session.
    if !secrets.was_issued(&presented, &session.nonce) || presented.generation > session.generation
    {
        return Err(DomainError::InvalidRefreshToken);
    }
    if presented.generation < session.generation {
        return replay(store, issuer, session, presented.generation, now).await;
    }
    let successor = secrets.refresh_token(session.id, &session.nonce, session.generation + 1);
    let rotated = store
        .rotate_session(
            &session,
            &session.refresh_digest,
            &refresh::digest(&successor),
            now,
            issuer.policy.expiry(session.created_at, now),
            client,
        )
        .await?;
    match rotated {
        Some(rotated) => Ok(rotated),
        // A concurrent refresh of the same token won the rotation.
        None => {
            let session = store
                .find_session(session.id, now)
                .await?
                .ok_or(DomainError::InvalidRefreshToken)?;
            replay(store, issuer, session, presented.generation, now).await
        }
    }
}

/// `refresh_from` an unknown client: the rotation rules' own tests.
#[cfg(test)]
async fn refresh<S: Sessions>(
    store: &S,
    issuer: &Issuer,
    refresh_token: &RefreshToken,
    now: Timestamp,
) -> Result<TokenPair, DomainError> {
    refresh_from(store, issuer, refresh_token, &ClientInfo::default(), now).await
}

/// An earlier generation presented again: the same successor within the
/// grace window for the token just replaced, else the end of the session.
async fn replay<S: Sessions>(
    store: &S,
    issuer: &Issuer,
    session: SessionRecord,
    generation: i64,
    now: Timestamp,
) -> Result<SessionRecord, DomainError> {
    let just_replaced = generation == session.generation - 1;
    if just_replaced && session.rotated_at.until(now) <= issuer.policy.grace {
        return Ok(session);
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
        presented_generation = generation,
        current_generation = session.generation,
        "a replaced refresh token was presented again: session revoked"
    );
    audit::user_event("refresh_reuse_revoked", &session.user_id.to_hex());
    Err(DomainError::InvalidRefreshToken)
}

pub async fn logout<S: Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<(), DomainError> {
    if store
        .end_session(caller.user_id, caller.session_id, now)
        .await?
    {
        tracing::info!(user_id = %caller.user_id, session_id = %caller.session_id, "logged out");
        Ok(())
    } else {
        Err(DomainError::SessionEnded)
    }
}

pub async fn logout_all<S: Sessions>(
    store: &S,
    caller: &Caller,
    now: Timestamp,
) -> Result<u64, DomainError> {
    ensure_session_open(store, caller, now).await?;
    let ended = store
        .revoke_sessions(caller.user_id, None, RevocationReason::UserRequest)
        .await?;
    tracing::info!(user_id = %caller.user_id, ended, "all sessions ended");
    Ok(ended)
}

/// A well-signed token is refused once its session has ended or its user is gone.
pub async fn ensure_session_open<S: Sessions>(
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

/// The browser session `cookie` names, as its caller, while it is open (not
/// ended, revoked or past its lifetime): `None` otherwise, and for anything
/// that is not a cookie issued for it.
pub async fn browser_caller<S: Sessions>(
    store: &S,
    secrets: &SessionSecrets,
    cookie: &str,
    now: Timestamp,
) -> Result<Option<Caller>, DomainError> {
    let Some(presented) = PresentedCookie::parse(cookie) else {
        return Ok(None);
    };
    let Some(session) = store.find_session(presented.session_id, now).await? else {
        return Ok(None);
    };
    if !secrets.cookie_was_issued(&presented, &session.nonce) {
        return Ok(None);
    }
    Ok(Some(Caller {
        user_id: session.user_id,
        session_id: session.id,
        auth: session.auth,
    }))
}

/// The browser cookie of the session a sign-in just opened (`pair` is its
/// first pair, which the pages never hand out): the session is read back for
/// its nonce. `SessionEnded` if it is gone already.
pub async fn browser_cookie_for<S: Sessions>(
    store: &S,
    secrets: &SessionSecrets,
    pair: &TokenPair,
    now: Timestamp,
) -> Result<(SessionId, String), DomainError> {
    let presented = PresentedToken::parse(&pair.refresh_token).ok_or(DomainError::SessionEnded)?;
    let session = store
        .find_session(presented.session_id, now)
        .await?
        .ok_or(DomainError::SessionEnded)?;
    // The audit line names the session, as the device list shows it.
    tracing::warn!(
        audit = "browser_session_opened",
        user_id = %session.user_id,
        session_id = %session.id,
        "audit"
    );
    Ok((
        session.id,
        secrets.browser_cookie(session.id, &session.nonce),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{test_issuer, MemoryStore};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
    }

    fn token(pair: &TokenPair) -> RefreshToken {
        RefreshToken::parse(pair.refresh_token.clone()).unwrap()
    }

    async fn opened(store: &MemoryStore, issuer: &Issuer) -> (SessionRecord, TokenPair) {
        let (session, pair) = issuer.open_session(store.a_user(), at(0));
        assert!(store.insert_session(&session).await.unwrap());
        (session, pair)
    }

    #[tokio::test]
    async fn each_refresh_rotates_to_a_new_pair() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (session, first) = opened(&store, &issuer).await;
        let second = refresh(&store, &issuer, &token(&first), at(1))
            .await
            .unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        let third = refresh(&store, &issuer, &token(&second), at(2))
            .await
            .unwrap();
        assert_ne!(third.refresh_token, second.refresh_token);
        let stored = store
            .find_session(session.id, at(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.generation, 2);
        assert_eq!(stored.expires_at, at(2).plus(issuer.policy.lifetime));
    }

    #[tokio::test]
    async fn the_just_replaced_token_gets_the_same_successor_within_the_grace_window() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (_, first) = opened(&store, &issuer).await;
        let second = refresh(&store, &issuer, &token(&first), at(100))
            .await
            .unwrap();
        let again = refresh(&store, &issuer, &token(&first), at(105))
            .await
            .unwrap();
        assert_eq!(again.refresh_token, second.refresh_token);
        assert_eq!(again.access.token, second.access.token);
    }

    #[tokio::test]
    async fn reuse_after_the_grace_window_revokes_the_session() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (session, first) = opened(&store, &issuer).await;
        let second = refresh(&store, &issuer, &token(&first), at(100))
            .await
            .unwrap();
        let late = refresh(&store, &issuer, &token(&first), at(111)).await;
        assert!(matches!(late, Err(DomainError::InvalidRefreshToken)));
        // The whole session is gone: the current token no longer works either.
        assert!(store
            .find_session(session.id, at(111))
            .await
            .unwrap()
            .is_none());
        let current = refresh(&store, &issuer, &token(&second), at(112)).await;
        assert!(matches!(current, Err(DomainError::InvalidRefreshToken)));
        assert_eq!(store.events_of_kind("SessionsRevoked"), 1);
    }

    #[tokio::test]
    async fn an_older_generation_revokes_even_within_the_grace_window() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (session, first) = opened(&store, &issuer).await;
        let second = refresh(&store, &issuer, &token(&first), at(1))
            .await
            .unwrap();
        refresh(&store, &issuer, &token(&second), at(2))
            .await
            .unwrap();
        // `first` is two generations old: not the one just replaced.
        let stale = refresh(&store, &issuer, &token(&first), at(3)).await;
        assert!(matches!(stale, Err(DomainError::InvalidRefreshToken)));
        assert!(store
            .find_session(session.id, at(3))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn unknown_and_expired_tokens_are_refused_without_revoking() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (session, first) = opened(&store, &issuer).await;
        let unknown = RefreshToken::parse("not-a-token".into()).unwrap();
        // A token in our shape naming the session, with a made-up MAC.
        let forged = {
            use base64::Engine;
            let mut bytes = session.id.bytes().to_vec();
            bytes.extend_from_slice(&5i64.to_be_bytes());
            bytes.extend_from_slice(&[0u8; 32]);
            RefreshToken::parse(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
                .unwrap()
        };
        assert!(matches!(
            refresh(&store, &issuer, &forged, at(1)).await,
            Err(DomainError::InvalidRefreshToken)
        ));
        assert!(matches!(
            refresh(&store, &issuer, &unknown, at(1)).await,
            Err(DomainError::InvalidRefreshToken)
        ));
        assert!(store
            .find_session(session.id, at(1))
            .await
            .unwrap()
            .is_some());
        let after_expiry = at(0)
            .plus(issuer.policy.lifetime)
            .plus(Duration::from_secs(1));
        assert!(matches!(
            refresh(&store, &issuer, &token(&first), after_expiry).await,
            Err(DomainError::InvalidRefreshToken)
        ));
    }

    #[tokio::test]
    async fn any_earlier_generation_revokes_however_many_rotations_ago() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (session, first) = opened(&store, &issuer).await;
        let mut latest = refresh(&store, &issuer, &token(&first), at(1))
            .await
            .unwrap();
        for n in 2..100 {
            latest = refresh(&store, &issuer, &token(&latest), at(n))
                .await
                .unwrap();
        }
        let stolen = refresh(&store, &issuer, &token(&first), at(100)).await;
        assert!(matches!(stolen, Err(DomainError::InvalidRefreshToken)));
        assert!(store
            .find_session(session.id, at(100))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (session, mut pair) = opened(&store, &issuer).await;
        let day = 86_400;
        // Refreshed every 20 days: each refresh would extend it by 30.
        for n in 1..=4 {
            pair = refresh(&store, &issuer, &token(&pair), at(n * 20 * day))
                .await
                .unwrap();
        }
        let stored = store
            .find_session(session.id, at(80 * day))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.expires_at,
            at(0).plus(issuer.policy.max_lifetime),
            "capped at 90 days"
        );
        let late = refresh(&store, &issuer, &token(&pair), at(90 * day + 1)).await;
        assert!(matches!(late, Err(DomainError::InvalidRefreshToken)));
    }

    #[tokio::test]
    async fn a_session_is_not_stored_for_a_user_that_is_gone() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let (session, _) = issuer.open_session(UserId::new(), at(0));
        assert!(!store.insert_session(&session).await.unwrap());
        assert!(store
            .find_session(session.id, at(0))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn logout_ends_one_session_and_logout_all_every_one() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let user_id = store.a_user();
        let mut callers = Vec::new();
        for _ in 0..3 {
            let (session, _) = issuer.open_session(user_id, at(0));
            assert!(store.insert_session(&session).await.unwrap());
            callers.push(Caller {
                user_id,
                session_id: session.id,
                auth: session.auth,
            });
        }
        logout(&store, &callers[0], at(1)).await.unwrap();
        assert!(matches!(
            logout(&store, &callers[0], at(1)).await,
            Err(DomainError::SessionEnded)
        ));
        assert!(matches!(
            logout_all(&store, &callers[0], at(1)).await,
            Err(DomainError::SessionEnded)
        ));
        assert_eq!(logout_all(&store, &callers[1], at(1)).await.unwrap(), 2);
        assert!(!store
            .session_is_open(user_id, callers[2].session_id, at(1))
            .await
            .unwrap());
        assert_eq!(store.events_of_kind("SessionsRevoked"), 1);
    }
}
