//! What clients do with tokens besides getting them for a user (issue #22):
//! machine tokens (`client_credentials`, RFC 6749 §4.4), revocation
//! (RFC 7009) and introspection (RFC 7662). A user's token answers from its
//! session: revoking either token of a grant ends the session, and with it
//! every token of that grant at once; introspection says `active` only while
//! the session is open, not merely while the signature holds.
//!
//! Neither needs a private key: an access token is checked against the
//! published keys, a refresh token against its session's stored digest
//! (only the current one matches).

use serde_json::{json, Value};

use super::clients::{Client, GrantType, Scopes};
use super::oauth::{OAuthError, Tokens};
use super::ports::{SessionRecord, Sessions};
use super::refresh::{self, PresentedToken};
use super::resources::select;
use super::sessions::{Issuer, TokenPair};
use super::tokens::{Inspected, TokenVerifier};
use super::totp::constant_time_eq;
use super::values::{SessionId, Timestamp, UserId};

/// The `client_credentials` grant: a token whose subject is the client,
/// with its entry's scopes and resources (or fewer, as asked).
pub fn client_credentials(
    issuer: &Issuer,
    client: &Client,
    scope: Option<&Scopes>,
    resources: &[String],
    now: Timestamp,
) -> Result<Tokens, OAuthError> {
    if client.is_public() || !client.allows(GrantType::ClientCredentials) {
        return Err(OAuthError::UnauthorizedClient(
            "the client may not use this grant",
        ));
    }
    let scope = match scope {
        Some(requested) if !requested.is_subset(&client.scopes) => {
            return Err(OAuthError::InvalidScope(
                "a scope is not allowed for this client",
            ))
        }
        Some(requested) => requested.clone(),
        None => client.scopes.clone(),
    };
    let audience = if resources.is_empty() {
        client.resources.clone()
    } else {
        let raw: Vec<&str> = resources.iter().map(String::as_str).collect();
        select(&raw, &client.resources)
            .map_err(|_| OAuthError::InvalidTarget("a resource is not among the client's"))?
    };
    let access =
        issuer
            .signer
            .issue_machine(&client.id, &scope.to_string(), &audience, now.as_secs());
    tracing::info!(client_id = %client.id, "machine token issued");
    Ok(Tokens {
        pair: TokenPair {
            access,
            refresh_token: String::new(),
        },
        refresh: false,
        id_token: None,
        scope,
    })
}

/// What a presented token is, read without trusting it.
enum Presented {
    /// A JWT we signed, unexpired (audience not checked).
    Access(Inspected),
    /// The current refresh token of an open session.
    Refresh(SessionRecord),
    /// Anything else: expired, forged, unknown or ended.
    Unknown,
}

async fn read<S: Sessions>(
    store: &S,
    verifier: &TokenVerifier,
    token: &str,
    now: Timestamp,
) -> Result<Presented, OAuthError> {
    // A JWT has dots; a refresh token is base64url without any.
    if token.contains('.') {
        return Ok(match verifier.inspect(token) {
            Ok(claims) => Presented::Access(claims),
            Err(_) => Presented::Unknown,
        });
    }
    let Some(presented) = PresentedToken::parse(token) else {
        return Ok(Presented::Unknown);
    };
    let Some(session) = store.find_session(presented.session_id, now).await? else {
        return Ok(Presented::Unknown);
    };
    // Only the current token's digest is stored: a replaced one (or a
    // forged one) matches nothing.
    let digest = refresh::digest(token);
    if !constant_time_eq(digest.as_bytes(), session.refresh_digest.as_bytes()) {
        return Ok(Presented::Unknown);
    }
    Ok(Presented::Refresh(session))
}

/// The user session a user's access token belongs to.
fn session_of(claims: &Inspected) -> Option<(UserId, SessionId)> {
    let sid = claims.sid.as_deref()?;
    Some((
        UserId::parse(&claims.sub).ok()?,
        SessionId::parse(sid).ok()?,
    ))
}

fn client_of(session: &SessionRecord) -> Option<&str> {
    session.grant.as_ref().map(|grant| grant.client_id.as_str())
}

/// RFC 7009: ends the grant `token` belongs to, if it is a token of
/// `client`. Anything else (unknown, expired, another client's) changes
/// nothing and answers the same, so the endpoint tells nobody whose a
/// token is. A machine token has no session: `unsupported_token_type`.
pub async fn revoke<S: Sessions>(
    store: &S,
    verifier: &TokenVerifier,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<(), OAuthError> {
    let (user_id, session_id) = match read(store, verifier, token, now).await? {
        Presented::Access(claims) if claims.client_id.as_deref() == Some(client.id.as_str()) => {
            match session_of(&claims) {
                Some(session) => session,
                None => return Err(OAuthError::UnsupportedTokenType),
            }
        }
        Presented::Refresh(session) if client_of(&session) == Some(client.id.as_str()) => {
            (session.user_id, session.id)
        }
        _ => return Ok(()),
    };
    let ended = store.end_session(user_id, session_id, now).await?;
    tracing::info!(client_id = %client.id, %user_id, %session_id, ended, "grant revoked by its client");
    super::audit::user_event("oauth_grant_revoked", &user_id.to_hex());
    Ok(())
}

/// RFC 7662 §2.2's answer for `token`, asked by a confidential `client`.
/// A client sees its own tokens, and access tokens meant for one of the
/// resources of its entry (a resource server's); to anyone else every
/// token is `{"active": false}`.
pub async fn introspect<S: Sessions>(
    store: &S,
    verifier: &TokenVerifier,
    issuer: &str,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Value, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::InvalidClient(
            "introspection is for confidential clients",
        ));
    }
    let inactive = json!({ "active": false });
    match read(store, verifier, token, now).await? {
        Presented::Access(claims) => {
            let own = claims.client_id.as_deref() == Some(client.id.as_str());
            let meant_for = client
                .resources
                .iter()
                .any(|resource| claims.aud.contains(resource));
            if !own && !meant_for {
                return Ok(inactive);
            }
            // A user's token is active while its session is; a machine
            // token has none, and is active until it expires.
            if claims.sid.is_some() {
                let Some((user_id, session_id)) = session_of(&claims) else {
                    return Ok(inactive);
                };
                if !store.session_is_open(user_id, session_id, now).await? {
                    return Ok(inactive);
                }
            }
            let mut answer = json!({
                "active": true,
                "token_type": "Bearer",
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "exp": claims.exp,
                "iat": claims.iat,
                "jti": claims.jti,
            });
            if let Some(client_id) = claims.client_id {
                answer["client_id"] = json!(client_id);
            }
            if let Some(scope) = claims.scope {
                answer["scope"] = json!(scope);
            }
            Ok(answer)
        }
        Presented::Refresh(session) => {
            let Some(grant) = session
                .grant
                .as_ref()
                .filter(|grant| grant.client_id == client.id)
            else {
                return Ok(inactive);
            };
            Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": grant.client_id,
                "scope": grant.scope,
                "sub": session.user_id.to_hex(),
                "iss": issuer,
                "exp": session.expires_at.as_secs(),
            }))
        }
        Presented::Unknown => Ok(inactive),
    }
}
