//! `GET /.well-known/jwks.json`, `GET /.well-known/openid-configuration`
//! and its RFC 8414 twin `GET /.well-known/oauth-authorization-server`:
//! what API Gateway's JWT authorizer, relying parties and any other verifier
//! read. No database; public keys only.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

use super::cors;
use super::problem::{json_response, refused, HttpError};
use crate::domain::keys::REREAD_INTERVAL;
use crate::domain::registration::RegistrationMode;
use crate::domain::tokens::TokenSettings;
use crate::keystore::PublishedKeys;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// RFC 8414's name for the same document.
pub const AUTHORIZATION_SERVER_PATH: &str = "/.well-known/oauth-authorization-server";

pub async fn well_known(
    keys: &PublishedKeys,
    settings: &TokenSettings,
    registration: RegistrationMode,
    request: Request,
) -> Result<Response<Body>, Error> {
    let path = request.uri().path().trim_end_matches('/');
    let discovery_document =
        path.ends_with(DISCOVERY_PATH) || path.ends_with(AUTHORIZATION_SERVER_PATH);
    let answer = if path.ends_with(JWKS_PATH) || discovery_document {
        if request.method() == Method::GET {
            let body = if path.ends_with(JWKS_PATH) {
                keys.keys().await.jwks()
            } else {
                discovery(settings, registration)
            };
            Ok(cors::public(cacheable(json_response(
                StatusCode::OK,
                &body,
            ))))
        } else {
            Err(HttpError::MethodNotAllowed { allow: Method::GET })
        }
    } else {
        Err(HttpError::NotFound)
    };
    Ok(answer.unwrap_or_else(|error| refused(&error)))
}

/// What is true of this provider, and only that (OpenID Connect Discovery
/// 1.0 §3, RFC 8414 §2): the code flow with PKCE S256, the three grants,
/// revocation and introspection (issue #22), the
/// client authentication methods, the scopes and claims served, and
/// RP-Initiated Logout (served by the pages function). No request
/// objects, no `phone` or `address` scope, no front- or back-channel logout.
fn discovery(settings: &TokenSettings, registration: RegistrationMode) -> serde_json::Value {
    let issuer = &settings.issuer;
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "azp",
            "preferred_username", "email", "email_verified"
        ],
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    // RFC 8414 §2: only when anyone may register (issue #22).
    if registration == RegistrationMode::Open {
        document["registration_endpoint"] = json!(format!("{issuer}/oauth2/register"));
    }
    document
}

/// Verifiers may keep the answer as long as the functions keep their keys.
fn cacheable(mut response: Response<Body>) -> Response<Body> {
    let max_age = format!("public, max-age={}", REREAD_INTERVAL.as_secs());
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&max_age).expect("a number is a header value"),
    );
    response
}
