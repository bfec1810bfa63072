//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`:
//! what API Gateway's JWT authorizer and any other verifier read to check our
//! access tokens on their own. No database; public keys only.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

use super::problem::{json_response, refused, HttpError};
use crate::domain::keys::REREAD_INTERVAL;
use crate::domain::tokens::TokenSettings;
use crate::keystore::PublishedKeys;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

pub async fn well_known(
    keys: &PublishedKeys,
    settings: &TokenSettings,
    request: Request,
) -> Result<Response<Body>, Error> {
    let path = request.uri().path().trim_end_matches('/');
    let answer = if path.ends_with(JWKS_PATH) || path.ends_with(DISCOVERY_PATH) {
        if request.method() == Method::GET {
            let body = if path.ends_with(JWKS_PATH) {
                keys.keys().await.jwks()
            } else {
                discovery(settings)
            };
            Ok(cacheable(json_response(StatusCode::OK, &body)))
        } else {
            Err(HttpError::MethodNotAllowed { allow: Method::GET })
        }
    } else {
        Err(HttpError::NotFound)
    };
    Ok(answer.unwrap_or_else(|error| refused(&error)))
}

/// What is true of this service and what verifiers read: where the keys are
/// and how tokens are signed. No authorization, token or userinfo endpoint is
/// claimed (there is none), hence no response types either.
fn discovery(settings: &TokenSettings) -> serde_json::Value {
    json!({
        "issuer": settings.issuer,
        "jwks_uri": format!("{}{JWKS_PATH}", settings.issuer),
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "iss", "aud", "exp", "nbf", "iat", "jti", "sid", "amr", "auth_time"],
    })
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
