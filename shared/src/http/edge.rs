//! What every route shares, and nothing route-specific: running a route and
//! answering its failures (`answer`), the authorised caller, the client of
//! a request, and the answers that several routes give. Every route file
//! imports this one; this one imports none of them.

use std::future::Future;

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::json;

use super::cors::Cors;
use super::problem::{json_response, refused, HttpError};
use super::request::{bearer_token, path_user_id, source_ip};
use crate::domain::devices::ClientInfo;
use crate::domain::mfa::MfaPending;
use crate::domain::sessions::TokenPair;
use crate::domain::tokens::Caller;
use crate::domain::DomainError;
use crate::domain::{accounts, activity};
use crate::keystore::PublishedKeys;

pub(super) type Answer = Result<Response<Body>, HttpError>;

/// Runs `work` for a request made with `method`; `OPTIONS` is a CORS
/// preflight; any other method is a 405 naming it. Every failure is answered (and logged) here.
pub(super) async fn answer(
    request: &Request,
    method: Method,
    work: impl Future<Output = Answer>,
) -> Result<Response<Body>, Error> {
    use tracing::Instrument;
    // Every line logged while answering carries the request id and the
    // client's address: the audit trail's correlation.
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!("request", request_id, source_ip = %source_ip(request));
    // CORS is answered here for every API route (`http::cors`): a
    // preflight never reaches the work.
    let cors = Cors::api(request);
    // The security activity the work writes names this client (`domain::activity`).
    let answering = async move {
        let answer = if request.method() == method {
            work.await
        } else if request.method() == Method::OPTIONS {
            return Ok(cors.preflight());
        } else {
            Err(HttpError::MethodNotAllowed { allow: method })
        };
        Ok(cors.apply(answer.unwrap_or_else(|error| refused(&error))))
    };
    // Boxed: the answer's future is large, and the scope must not copy it on
    // the stack (a debug build's test thread has 2 MiB).
    let answering = Box::pin(answering.instrument(span));
    activity::from_client(client_info(request), answering).await
}

/// The bearer token's holder, once it has shown to be the `{user_id}` of the
/// path: 401 without a valid token, 422 for a malformed id, 403 for someone
/// else's id or for a third-party client's token (every `/users/*` route
/// comes through here, so this is the one place that rule is read).
/// Whether its session is still open is checked with the operation.
pub(super) async fn authorized_caller(
    keys: &PublishedKeys,
    request: &Request,
) -> Result<Caller, HttpError> {
    let verified = keys.verify_access(bearer_token(request)?).await?;
    if !verified.is_first_party() {
        return Err(DomainError::ThirdPartyToken.into());
    }
    accounts::authorize(&verified.caller, path_user_id(request)?)?;
    Ok(verified.caller)
}

pub(super) fn token_response(tokens: TokenPair) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": tokens.access.token,
            "token_type": "bearer",
            "expires_in": tokens.access.expires_in,
            "refresh_token": tokens.refresh_token,
        }),
    )
}

/// `201` with the new user's id and its profile's location.
pub(super) fn registered(user_id: crate::domain::values::UserId) -> Response<Body> {
    let mut response = json_response(StatusCode::CREATED, &json!({ "id": user_id.to_hex() }));
    let location = format!("/users/{user_id}/full_profile/")
        .parse()
        .expect("an id's path is a valid header value");
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// The raw `User-Agent` header; `ClientInfo::new` makes it safe to keep.
pub fn user_agent(request: &Request) -> Option<Vec<u8>> {
    request
        .headers()
        .get(header::USER_AGENT)
        .map(|value| value.as_bytes().to_vec())
}

/// The client of a request, as a session records it.
pub fn client_info(request: &Request) -> ClientInfo {
    ClientInfo::new(user_agent(request).as_deref(), &source_ip(request))
}

/// The answer to a right password for an account with a second factor: no
/// tokens yet, only what `POST /auth/mfa/verify` takes.
pub fn mfa_required(pending: MfaPending) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "mfa_required": true,
            "mfa_token": pending.mfa_token,
            "expires_in": pending.expires_in,
        }),
    )
}
