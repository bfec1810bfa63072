//! The OpenID Provider's use cases after the authorization request:
//! issuing a code to a signed-in person (`issue_code`), authenticating a
//! client, and the token endpoint's grants (`exchange_code`,
//! `refresh_grant`). Errors are RFC 6749 §5.2's, typed; the edge
//! (`http::oauth`) decides their status and body in one place.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::audit;
use super::authorize::AuthorizationRequest;
use super::clients::{Client, ClientRegistry, GrantType, Scope, Scopes};
use super::error::DomainError;
use super::ports::{
    AuthorizationCodes, CodeRecord, LoginAttempts, OAuthGrant, RevocationReason, SessionRecord,
    Sessions,
};
use super::records::{Authentication, ClientInfo};
use super::resources::select;
use super::sessions::{self, Issuer, TokenPair};
use super::throttle::{self, Admission};
use super::totp::constant_time_eq;
use super::values::{hex, RefreshToken, Timestamp, UserId};

/// How long a code can be exchanged (RFC 6749 §4.1.2 recommends ≤ 10 min;
/// a relying party exchanges it at once).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a spent code is remembered, so that a late replay still
/// revokes what its first use opened.
pub const CODE_REMEMBERED: Duration = Duration::from_secs(600);
/// ID tokens are read once, at sign-in.
pub const ID_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// The token endpoint's refusals (RFC 6749 §5.2); the description is for
/// the client's developer and never names a secret.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// 401 with `WWW-Authenticate`: the client is unknown, or its
    /// credentials are wrong or of the wrong kind.
    #[error("{0}")]
    InvalidClient(&'static str),
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("{0}")]
    UnauthorizedClient(&'static str),
    #[error("the grant type is not supported")]
    UnsupportedGrantType,
    #[error("{0}")]
    InvalidScope(&'static str),
    /// RFC 8707 §2: a resource that is malformed, unknown or not granted.
    #[error("{0}")]
    InvalidTarget(&'static str),
    /// RFC 7009 §2.2.1: a token this server cannot revoke (a machine token
    /// has no session to end; it lives its few minutes).
    #[error("machine tokens cannot be revoked; they expire within minutes")]
    UnsupportedTokenType,
    /// Throttled or unavailable: the domain's own errors.
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<super::records::StoreError> for OAuthError {
    fn from(error: super::records::StoreError) -> Self {
        Self::Domain(error.into())
    }
}

/// The request budgets of the token, revocation and introspection
/// endpoints (issue #22), per source address and per client, per minute:
/// beyond them `429` with `Retry-After`, before any other work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthLimits {
    pub per_source_per_minute: i64,
    pub per_client_per_minute: i64,
}

impl Default for OAuthLimits {
    fn default() -> Self {
        Self {
            per_source_per_minute: 600,
            per_client_per_minute: 1200,
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// Counts one request from `source` (an address) against its budget.
pub async fn admit_source<S: LoginAttempts>(
    store: &S,
    limits: OAuthLimits,
    source: &str,
    now: Timestamp,
) -> Result<(), OAuthError> {
    spend(
        store,
        &format!("oauth|{source}"),
        limits.per_source_per_minute,
        now,
    )
    .await
}

/// Counts one request of an authenticated client against its budget.
pub async fn admit_client<S: LoginAttempts>(
    store: &S,
    limits: OAuthLimits,
    client_id: &str,
    now: Timestamp,
) -> Result<(), OAuthError> {
    let key = format!("oauth-client|{client_id}");
    spend(store, &key, limits.per_client_per_minute, now).await
}

async fn spend<S: LoginAttempts>(
    store: &S,
    key: &str,
    limit: i64,
    now: Timestamp,
) -> Result<(), OAuthError> {
    if let Some(retry_after) =
        throttle::count_in_window(store, key, Some(limit), MINUTE, now).await?
    {
        tracing::warn!(audit = "oauth_requests_throttled", "audit");
        return Err(DomainError::TooManyRequests { retry_after }.into());
    }
    Ok(())
}

/// Who signed in, and how: what the authorize endpoint knows once the
/// browser session (or a fresh sign-in) stands behind the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: UserId,
    /// `auth_time` and `amr` of the sign-in.
    pub auth: Authentication,
}

/// A new code for `request`, stored by its digest; the caller redirects
/// to `request.code_location(&code, issuer)`.
pub async fn issue_code<S: AuthorizationCodes>(
    store: &S,
    signed_in: SignedIn,
    request: &AuthorizationRequest,
    now: Timestamp,
) -> Result<String, DomainError> {
    let code = random_token();
    let record = CodeRecord {
        digest: code_digest(&code),
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        scope: request.scopes.to_string(),
        resources: request.resources.clone(),
        user_id: signed_in.user_id,
        auth: signed_in.auth,
        valid_until: now.plus(CODE_LIFETIME),
        expires_at: now.plus(CODE_REMEMBERED),
        spent_by: None,
    };
    store.insert_code(&record).await?;
    audit::user_event("authorization_code_issued", &signed_in.user_id.to_hex());
    Ok(code)
}

/// 256 random bits, base64url.
fn random_token() -> String {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What a code is stored and found by.
pub fn code_digest(code: &str) -> String {
    hex(&Sha256::digest(code.as_bytes()))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) equals the S256 challenge,
/// for a verifier of 43 to 128 unreserved characters.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// How a client authenticated at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `client_secret_basic` or `client_secret_post`.
    Secret { client_id: String, secret: String },
    /// `none`: a public client, which proves itself with PKCE.
    None { client_id: String },
}

impl ClientCredentials {
    pub fn client_id(&self) -> &str {
        match self {
            Self::Secret { client_id, .. } | Self::None { client_id } => client_id,
        }
    }
}

/// The authenticated client. A confidential client's wrong secret is
/// charged to its hourly budget first (the API's throttle, keyed by the
/// client), so guessing stops there; a public client showing a secret, or a
/// confidential one showing none, is refused.
pub async fn authenticate<'c, S: LoginAttempts>(
    store: &S,
    clients: &'c ClientRegistry,
    credentials: &ClientCredentials,
    now: Timestamp,
) -> Result<&'c Client, OAuthError> {
    let (client_id, secret) = match credentials {
        ClientCredentials::Secret { client_id, secret } => (client_id, Some(secret)),
        ClientCredentials::None { client_id } => (client_id, None),
    };
    let client = clients
        .find(client_id)
        .ok_or(OAuthError::InvalidClient("unknown client"))?;
    match (client.is_public(), secret) {
        (true, None) => Ok(client),
        (true, Some(_)) => Err(OAuthError::InvalidClient(
            "a public client has no secret; use PKCE",
        )),
        (false, None) => Err(OAuthError::InvalidClient(
            "client authentication is required",
        )),
        (false, Some(secret)) => {
            let key = format!("client|{}", client.id);
            if let Admission::Locked { retry_after } =
                throttle::reserve_check(store, &key, now).await?
            {
                return Err(DomainError::TooManyAttempts { retry_after }.into());
            }
            if !client.secret_matches(secret) {
                tracing::info!(client_id = %client.id, "wrong client secret");
                return Err(OAuthError::InvalidClient("client authentication failed"));
            }
            throttle::release_check(store, &key).await?;
            Ok(client)
        }
    }
}

/// The `authorization_code` grant's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub code: String,
    pub redirect_uri: String,
    pub code_verifier: Option<String>,
    /// RFC 8707 `resource`s of the token request (raw): the access token's
    /// audiences, among those of the authorization request.
    pub resources: Vec<String>,
}

/// What the token endpoint answers with.
pub struct Tokens {
    pub pair: TokenPair,
    /// Only when `offline_access` was granted.
    pub refresh: bool,
    pub id_token: Option<String>,
    /// Granted to this access token.
    pub scope: Scopes,
}

/// Exchanges a code once. A second use answers `invalid_grant` and revokes
/// the session the first use opened (RFC 6749 §4.1.2). Each exchange opens
/// a session of its own, named after the client in the device list.
pub async fn exchange_code<S: AuthorizationCodes + Sessions>(
    store: &S,
    issuer: &Issuer,
    client: &Client,
    grant: &CodeGrant,
    from: ClientInfo,
    now: Timestamp,
) -> Result<Tokens, OAuthError> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient(
            "the client may not use this grant",
        ));
    }
    let digest = code_digest(&grant.code);
    let code = store
        .find_code(&digest)
        .await?
        .ok_or(OAuthError::InvalidGrant("the code is invalid or expired"))?;
    if let Some(first) = code.spent_by {
        revoke_for_reuse(store, &code, first).await?;
        return Err(OAuthError::InvalidGrant("the code was already used"));
    }
    if now >= code.valid_until {
        return Err(OAuthError::InvalidGrant("the code is invalid or expired"));
    }
    // Another client's code, or another redirect URI: refused without
    // spending it, so an attacker holding it cannot burn it for the owner.
    if code.client_id != client.id {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client",
        ));
    }
    if code.redirect_uri != grant.redirect_uri {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri differs from the request's",
        ));
    }
    match (&code.code_challenge, &grant.code_verifier) {
        (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => {}
        (Some(_), _) => return Err(OAuthError::InvalidGrant("the code_verifier is wrong")),
        // No challenge was made: a verifier now would be a downgrade.
        (None, Some(_)) => {
            return Err(OAuthError::InvalidGrant(
                "a code_verifier for a code issued without a challenge",
            ))
        }
        (None, None) if client.is_public() => {
            return Err(OAuthError::InvalidGrant("a public client must use PKCE"))
        }
        (None, None) => {}
    }
    let audience = narrowed(&grant.resources, &code.resources)?;
    let scope = Scopes::parse(&code.scope).unwrap_or_default();
    let oauth_grant = OAuthGrant {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        scope: code.scope.clone(),
        first_party: client.first_party,
        resources: code.resources.clone(),
    };
    let (mut session, _) =
        issuer.open_session_for(code.user_id, code.auth, from, Some(oauth_grant), now);
    let refresh = refreshable(client, &scope);
    if !refresh {
        // No refresh token leaves: the session ends with its access token.
        session.expires_at = now.plus(issuer.signer.access_token_ttl());
    }
    if !store.insert_session(&session).await? {
        return Err(OAuthError::InvalidGrant("the user no longer exists"));
    }
    // Stored first, then the code marked with it: a replay that finds the
    // mark always finds the session to revoke.
    if !store.spend_code(&digest, session.id).await? {
        store.end_session(session.user_id, session.id, now).await?;
        if let Some(first) = store.find_code(&digest).await?.and_then(|c| c.spent_by) {
            revoke_for_reuse(store, &code, first).await?;
        }
        return Err(OAuthError::InvalidGrant("the code was already used"));
    }
    let pair = issuer.token_pair_scoped(&session, None, Some(&audience));
    let id_token = scope
        .contains(Scope::OpenId)
        .then(|| id_token(issuer, &session, code.nonce.as_deref(), now));
    audit::user_event("authorization_code_exchanged", &session.user_id.to_hex());
    Ok(Tokens {
        pair,
        refresh,
        id_token,
        scope,
    })
}

/// The resources a token request names (raw), each among `granted`; none
/// named, all of `granted` (RFC 8707 §2.2: a token request may narrow).
fn narrowed(requested: &[String], granted: &[String]) -> Result<Vec<String>, OAuthError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    let raw: Vec<&str> = requested.iter().map(String::as_str).collect();
    select(&raw, granted).map_err(|_| {
        OAuthError::InvalidTarget("a resource was not granted, or is not one this server serves")
    })
}

fn refreshable(client: &Client, scope: &Scopes) -> bool {
    scope.contains(Scope::OfflineAccess) && client.allows(GrantType::RefreshToken)
}

async fn revoke_for_reuse<S: Sessions>(
    store: &S,
    code: &CodeRecord,
    first: super::values::SessionId,
) -> Result<(), OAuthError> {
    let ended = store
        .revoke_sessions(
            code.user_id,
            Some(first),
            RevocationReason::AuthorizationCodeReuse,
        )
        .await?;
    tracing::warn!(
        user_id = %code.user_id,
        session_id = %first,
        client_id = %code.client_id,
        ended,
        "an authorization code was used again: the session it opened is revoked"
    );
    audit::user_event("authorization_code_reuse_revoked", &code.user_id.to_hex());
    Ok(())
}

/// The `refresh_token` grant: the session's own rotation (reuse detection
/// included), for the client whose code opened the session and only if it
/// was granted `offline_access`. `scope` may narrow what the new access
/// token carries, never widen it.
#[allow(clippy::too_many_arguments)]
pub async fn refresh_grant<S: Sessions>(
    store: &S,
    issuer: &Issuer,
    client: &Client,
    refresh_token: &RefreshToken,
    scope: Option<&Scopes>,
    resources: &[String],
    from: &ClientInfo,
    now: Timestamp,
) -> Result<Tokens, OAuthError> {
    if !client.allows(GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient(
            "the client may not use this grant",
        ));
    }
    let belongs = |session: &SessionRecord| {
        session.grant.as_ref().is_some_and(|grant| {
            grant.client_id == client.id
                && Scopes::parse(&grant.scope).is_some_and(|s| s.contains(Scope::OfflineAccess))
        })
    };
    // Checked before the rotation, so a refusal changes nothing.
    if scope.is_some() || !resources.is_empty() {
        let presented = super::refresh::PresentedToken::parse(refresh_token.expose());
        if let Some(presented) = presented {
            if let Some(session) = store.find_session(presented.session_id, now).await? {
                if belongs(&session) {
                    let granted = granted(&session);
                    if scope.is_some_and(|requested| !requested.is_subset(&granted)) {
                        return Err(OAuthError::InvalidScope(
                            "a refresh may narrow the scope, never widen it",
                        ));
                    }
                    narrowed(resources, &granted_resources(&session))?;
                }
            }
        }
    }
    let session = sessions::rotate(store, issuer, refresh_token, from, now, belongs)
        .await
        .map_err(|error| match error {
            DomainError::InvalidRefreshToken => {
                OAuthError::InvalidGrant("the refresh token is invalid, expired or already used")
            }
            other => OAuthError::Domain(other),
        })?;
    let granted = granted(&session);
    let scope = scope.cloned().unwrap_or(granted);
    let audience = narrowed(resources, &granted_resources(&session))?;
    let pair = issuer.token_pair_scoped(&session, Some(scope.to_string()), Some(&audience));
    let id_token = scope
        .contains(Scope::OpenId)
        .then(|| id_token(issuer, &session, None, now));
    Ok(Tokens {
        pair,
        refresh: true,
        id_token,
        scope,
    })
}

fn granted_resources(session: &SessionRecord) -> Vec<String> {
    session
        .grant
        .as_ref()
        .map(|grant| grant.resources.clone())
        .unwrap_or_default()
}

fn granted(session: &SessionRecord) -> Scopes {
    session
        .grant
        .as_ref()
        .and_then(|grant| Scopes::parse(&grant.scope))
        .unwrap_or_default()
}

/// The ID token (OpenID Connect Core §2): for the client, short-lived,
/// naming the session (`sid`) that logout and reuse detection end.
fn id_token(
    issuer: &Issuer,
    session: &SessionRecord,
    nonce: Option<&str>,
    now: Timestamp,
) -> String {
    let client_id = session
        .grant
        .as_ref()
        .map(|grant| grant.client_id.clone())
        .unwrap_or_default();
    let issued_at = now.as_secs();
    let mut claims = json!({
        "iss": issuer.signer.issuer(),
        "sub": session.user_id.to_hex(),
        "aud": client_id,
        "azp": client_id,
        "iat": issued_at,
        "exp": issued_at + ID_TOKEN_LIFETIME.as_secs(),
        "auth_time": session.auth.auth_time,
        "amr": session.auth.amr(),
        "sid": session.id.to_hex(),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    issuer.signer.sign_id_token(&claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::authorize::{validate, AuthorizeOutcome};
    use crate::domain::clients::secret_digest;
    use crate::domain::tokens::TokenVerifier;
    use crate::memory::{test_issuer, test_verifier, MemoryStore};

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    /// Seconds from a start fixed near now: the issued tokens must verify.
    fn at(seconds: i64) -> Timestamp {
        static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| Timestamp::now().as_millis());
        Timestamp::from_millis(start + seconds * 1000)
    }

    fn clients() -> ClientRegistry {
        ClientRegistry::parse(&format!(
            r#"{{"clients": [
              {{"id": "spa", "name": "Demo SPA", "type": "public",
                "redirect_uris": ["http://localhost:8765/callback"],
                "scopes": ["openid", "profile", "email", "offline_access"],
                "grants": ["authorization_code", "refresh_token"]}},
              {{"id": "server", "name": "Server", "type": "confidential",
                "secret_sha256": "{}", "redirect_uris": ["https://app.example/cb"],
                "scopes": ["openid", "email"], "grants": ["authorization_code"]}}]}}"#,
            secret_digest("secret")
        ))
        .unwrap()
    }

    fn spa_request(scope: &str) -> AuthorizationRequest {
        let parameters: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", "http://localhost:8765/callback"),
            ("scope", scope),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        match validate(&parameters, &clients()) {
            AuthorizeOutcome::Valid(request) => request,
            other => panic!("{other:?}"),
        }
    }

    fn grant(code: &str) -> CodeGrant {
        CodeGrant {
            code: code.into(),
            redirect_uri: "http://localhost:8765/callback".into(),
            code_verifier: Some(VERIFIER.into()),
            resources: Vec::new(),
        }
    }

    async fn code_for(store: &MemoryStore, user_id: UserId, scope: &str) -> String {
        let signed_in = SignedIn {
            user_id,
            auth: Authentication::password_and_otp(at(-5)),
        };
        issue_code(store, signed_in, &spa_request(scope), at(0))
            .await
            .unwrap()
    }

    #[test]
    fn pkce_s256_per_rfc_7636_appendix_b() {
        assert!(pkce_matches(CHALLENGE, VERIFIER));
        assert!(!pkce_matches(CHALLENGE, &VERIFIER.replace('d', "e")));
        assert!(!pkce_matches(CHALLENGE, "short"));
        // `plain` is never accepted: the verifier itself is not its challenge.
        assert!(!pkce_matches(VERIFIER, VERIFIER));
    }

    #[tokio::test]
    async fn a_code_is_exchanged_once_for_tokens_of_its_client() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let client = clients().find("spa").unwrap().clone();
        let user = store.a_user();
        let code = code_for(&store, user, "openid email offline_access").await;
        assert_eq!(code.len(), 43);
        let tokens = exchange_code(
            &store,
            &issuer,
            &client,
            &grant(&code),
            ClientInfo::default(),
            at(1),
        )
        .await
        .unwrap();
        assert!(tokens.refresh);
        assert_eq!(tokens.scope.to_string(), "openid email offline_access");
        let verified = test_verifier()
            .verify_access(&tokens.pair.access.token)
            .unwrap();
        assert_eq!(verified.caller.user_id, user);
        let token_client = verified.client.unwrap();
        assert_eq!(token_client.client_id, "spa");
        assert!(!token_client.first_party);
        let id_token = tokens.id_token.unwrap();
        let claims = claims_of(&id_token);
        assert_eq!(claims["aud"], "spa");
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["sub"], user.to_hex());
        assert_eq!(claims["amr"], json!(["pwd", "otp"]));
        assert_eq!(claims["sid"], verified.caller.session_id.to_hex());
        assert!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap() <= 600);
        // An ID token is no access token.
        assert!(TokenVerifier::verify(&test_verifier(), &id_token).is_err());
        let listed = store.list_sessions(user, at(1), 10).await.unwrap();
        assert_eq!(listed[0].client_name.as_deref(), Some("Demo SPA"));
    }

    fn claims_of(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_second_use_is_refused_and_revokes_the_session_the_first_opened() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let client = clients().find("spa").unwrap().clone();
        let user = store.a_user();
        let code = code_for(&store, user, "openid offline_access").await;
        let first = exchange_code(
            &store,
            &issuer,
            &client,
            &grant(&code),
            ClientInfo::default(),
            at(1),
        )
        .await
        .unwrap();
        assert_eq!(store.open_sessions(user), 1);
        let again = exchange_code(
            &store,
            &issuer,
            &client,
            &grant(&code),
            ClientInfo::default(),
            at(2),
        )
        .await;
        assert!(matches!(again, Err(OAuthError::InvalidGrant(_))));
        assert_eq!(
            store.open_sessions(user),
            0,
            "the first use's session is revoked"
        );
        let refresh = RefreshToken::parse(first.pair.refresh_token).unwrap();
        assert!(refresh_grant(
            &store,
            &issuer,
            &client,
            &refresh,
            None,
            &[],
            &ClientInfo::default(),
            at(3)
        )
        .await
        .is_err());
        // Still recognised after its 60 s.
        let late = exchange_code(
            &store,
            &issuer,
            &client,
            &grant(&code),
            ClientInfo::default(),
            at(300),
        )
        .await;
        assert!(matches!(late, Err(OAuthError::InvalidGrant(_))));
    }

    #[tokio::test]
    async fn wrong_verifier_client_redirect_or_age_is_refused_without_spending_the_code() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let registry = clients();
        let spa = registry.find("spa").unwrap();
        let server = registry.find("server").unwrap();
        let user = store.a_user();
        let code = code_for(&store, user, "openid").await;
        let wrong_verifier = CodeGrant {
            code_verifier: Some("x".repeat(43)),
            ..grant(&code)
        };
        let no_verifier = CodeGrant {
            code_verifier: None,
            ..grant(&code)
        };
        let other_redirect = CodeGrant {
            redirect_uri: "http://localhost:9999/callback".into(),
            ..grant(&code)
        };
        for (client, attempt) in [
            (spa, &wrong_verifier),
            (spa, &no_verifier),
            (spa, &other_redirect),
            (server, &grant(&code)),
        ] {
            let outcome = exchange_code(
                &store,
                &issuer,
                client,
                attempt,
                ClientInfo::default(),
                at(1),
            )
            .await;
            assert!(
                matches!(outcome, Err(OAuthError::InvalidGrant(_))),
                "{attempt:?}"
            );
        }
        let expired = exchange_code(
            &store,
            &issuer,
            spa,
            &grant(&code),
            ClientInfo::default(),
            at(60),
        )
        .await;
        assert!(matches!(expired, Err(OAuthError::InvalidGrant(_))));
        // Still unspent: the owner's exchange within the minute works.
        exchange_code(
            &store,
            &issuer,
            spa,
            &grant(&code),
            ClientInfo::default(),
            at(59),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn without_offline_access_no_refresh_and_refresh_may_narrow_never_widen() {
        let (store, issuer) = (MemoryStore::default(), test_issuer());
        let client = clients().find("spa").unwrap().clone();
        let user = store.a_user();
        let code = code_for(&store, user, "openid").await;
        let tokens = exchange_code(
            &store,
            &issuer,
            &client,
            &grant(&code),
            ClientInfo::default(),
            at(1),
        )
        .await
        .unwrap();
        assert!(!tokens.refresh);
        let refresh = RefreshToken::parse(tokens.pair.refresh_token).unwrap();
        assert!(matches!(
            refresh_grant(
                &store,
                &issuer,
                &client,
                &refresh,
                None,
                &[],
                &ClientInfo::default(),
                at(2)
            )
            .await,
            Err(OAuthError::InvalidGrant(_))
        ));

        let code = code_for(&store, user, "openid email offline_access").await;
        let tokens = exchange_code(
            &store,
            &issuer,
            &client,
            &grant(&code),
            ClientInfo::default(),
            at(1),
        )
        .await
        .unwrap();
        let refresh = RefreshToken::parse(tokens.pair.refresh_token).unwrap();
        let wider = Scopes::parse("openid profile").unwrap();
        assert!(matches!(
            refresh_grant(
                &store,
                &issuer,
                &client,
                &refresh,
                Some(&wider),
                &[],
                &ClientInfo::default(),
                at(2)
            )
            .await,
            Err(OAuthError::InvalidScope(_))
        ));
        let narrower = Scopes::parse("openid").unwrap();
        let narrowed = refresh_grant(
            &store,
            &issuer,
            &client,
            &refresh,
            Some(&narrower),
            &[],
            &ClientInfo::default(),
            at(3),
        )
        .await
        .unwrap();
        assert_eq!(narrowed.scope.to_string(), "openid");
        let verified = test_verifier()
            .verify_access(&narrowed.pair.access.token)
            .unwrap();
        assert_eq!(verified.client.unwrap().scope, "openid");
        // The next refresh, without scope, has the whole grant again.
        let next = RefreshToken::parse(narrowed.pair.refresh_token).unwrap();
        let whole = refresh_grant(
            &store,
            &issuer,
            &client,
            &next,
            None,
            &[],
            &ClientInfo::default(),
            at(4),
        )
        .await
        .unwrap();
        assert_eq!(whole.scope.to_string(), "openid email offline_access");
        // A client's refresh token is refused at /auth/refresh, where no
        // client authenticates.
        let client_refresh = RefreshToken::parse(whole.pair.refresh_token.clone()).unwrap();
        assert!(matches!(
            sessions::refresh_from(
                &store,
                &issuer,
                &client_refresh,
                &ClientInfo::default(),
                at(5)
            )
            .await,
            Err(DomainError::InvalidRefreshToken)
        ));
        // A login session's refresh token is not a client's.
        let (session, pair) = issuer.open_session(user, at(0));
        assert!(store.insert_session(&session).await.unwrap());
        let login_refresh = RefreshToken::parse(pair.refresh_token).unwrap();
        assert!(matches!(
            refresh_grant(
                &store,
                &issuer,
                &client,
                &login_refresh,
                None,
                &[],
                &ClientInfo::default(),
                at(5)
            )
            .await,
            Err(OAuthError::InvalidGrant(_))
        ));
    }

    #[tokio::test]
    async fn client_authentication() {
        let store = MemoryStore::default();
        let registry = clients();
        let secret = |id: &str, secret: &str| ClientCredentials::Secret {
            client_id: id.into(),
            secret: secret.into(),
        };
        let none = |id: &str| ClientCredentials::None {
            client_id: id.into(),
        };
        assert_eq!(
            authenticate(&store, &registry, &secret("server", "secret"), at(0))
                .await
                .unwrap()
                .id,
            "server"
        );
        assert_eq!(
            authenticate(&store, &registry, &none("spa"), at(0))
                .await
                .unwrap()
                .id,
            "spa"
        );
        for refused in [
            secret("server", "wrong"),
            none("server"),
            secret("spa", "anything"),
            none("nobody"),
        ] {
            assert!(
                matches!(
                    authenticate(&store, &registry, &refused, at(0)).await,
                    Err(OAuthError::InvalidClient(_))
                ),
                "{refused:?}"
            );
        }
        // Wrong secrets are throttled per client.
        for _ in 0..100 {
            let _ = authenticate(&store, &registry, &secret("server", "wrong"), at(1)).await;
        }
        assert!(matches!(
            authenticate(&store, &registry, &secret("server", "secret"), at(2)).await,
            Err(OAuthError::Domain(DomainError::TooManyAttempts { .. }))
        ));
    }
}
