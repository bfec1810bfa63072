//! One function per HTTP route: read the request, call the use case, answer.
//! Every failure becomes a problem+json response in `answer`, and none
//! escapes to the runtime as a 500.

use std::future::Future;

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::json;

use super::bodies;
use super::devices::{client_info, user_agent};
use super::problem::{json_response, refused, HttpError};
use super::request::{
    bearer_token, json_object, json_object_or_empty, path_user_id, query_parameter, source_ip,
};
use crate::domain::linking::{self, LinkVerification};
use crate::domain::login::{LoginOutcome, LoginPolicy};
use crate::domain::ports::{LinkOffers, LoginAttempts, MfaStore, Profile, Sessions, Users};
use crate::domain::sessions::TokenPair;
use crate::domain::tokens::Caller;
use crate::domain::values::Timestamp;
use crate::domain::{accounts, login as logins, sessions};
use crate::keystore::{PublishedKeys, SigningKeys};

pub(super) type Answer = Result<Response<Body>, HttpError>;

/// `POST /auth/register`
pub async fn register<S: Users>(store: &S, request: Request) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let registration = bodies::registration(&json_object(&request)?)?;
        let user_id = accounts::register(store, registration, Timestamp::now()).await?;
        Ok(registered(user_id))
    })
    .await
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

/// `POST /auth/login`, under `REQUIRE_VERIFIED_EMAIL` (`policy`).
pub async fn login<S: Users + Sessions + LoginAttempts + MfaStore>(
    store: &S,
    keys: &SigningKeys,
    policy: LoginPolicy,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let credentials = logins::Credentials {
            user_agent: user_agent(&request),
            ..bodies::credentials(&json_object(&request)?, source_ip(&request))?
        };
        let issuer = keys.issuer().await;
        match logins::login_with(store, &issuer, credentials, policy, Timestamp::now()).await? {
            LoginOutcome::Tokens(tokens) => Ok(token_response(tokens)),
            LoginOutcome::MfaRequired(pending) => Ok(super::mfa::mfa_required(pending)),
        }
    })
    .await
}

/// `POST /auth/refresh`: a new pair for a refresh token (rotation).
pub async fn refresh<S: Sessions>(
    store: &S,
    keys: &SigningKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let refresh_token = bodies::refresh_token(&json_object(&request)?)?;
        let issuer = keys.issuer().await;
        let client = client_info(&request);
        let tokens =
            sessions::refresh_from(store, &issuer, &refresh_token, &client, Timestamp::now())
                .await?;
        Ok(token_response(tokens))
    })
    .await
}

/// `POST /auth/logout`: ends the session of the bearer token.
pub async fn logout<S: Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = keys.verify(bearer_token(&request)?).await?;
        sessions::logout(store, &caller, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Logged out" }),
        ))
    })
    .await
}

/// `POST /auth/logout_all`: ends every session of the bearer token's user.
pub async fn logout_all<S: Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = keys.verify(bearer_token(&request)?).await?;
        let ended = sessions::logout_all(store, &caller, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "All sessions ended", "sessions_ended": ended }),
        ))
    })
    .await
}

/// `PUT /users/{user_id}/link_id/`
pub async fn link_external_id<S: Users + Sessions + LoginAttempts + LinkOffers>(
    store: &S,
    keys: &PublishedKeys,
    links: LinkVerification,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::PUT, async {
        let caller = authorized_caller(keys, &request).await?;
        let body = json_object_or_empty(&request)?;
        let (external_id, code) =
            bodies::link(body.as_ref(), query_parameter(&request, "external_id"))?;
        linking::link_external_id(store, &caller, &external_id, code, links, Timestamp::now())
            .await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "message": "ID linked successfully",
                "user_id": caller.user_id.to_hex(),
                "external_id": external_id.as_str(),
            }),
        ))
    })
    .await
}

/// `GET /users/{user_id}/full_profile/`
pub async fn get_full_profile<S: Users>(
    store: &S,
    keys: &PublishedKeys,
    links: LinkVerification,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::GET, async {
        let caller = authorized_caller(keys, &request).await?;
        let profile =
            accounts::full_profile(store, &caller, Timestamp::now(), links.trust()).await?;
        Ok(json_response(StatusCode::OK, &profile_json(profile)))
    })
    .await
}

/// `DELETE /users/{user_id}/`
pub async fn delete_user<S: Users>(
    store: &S,
    keys: &PublishedKeys,
    links: LinkVerification,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::DELETE, async {
        let caller = authorized_caller(keys, &request).await?;
        accounts::delete_user(store, &caller, Timestamp::now(), links.trust()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "User and associated data deleted successfully" }),
        ))
    })
    .await
}

/// Runs `work` for a request made with `method`; any other method is a 405
/// naming it. Every failure is answered (and logged) here.
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
    async move {
        let answer = if request.method() == method {
            work.await
        } else {
            Err(HttpError::MethodNotAllowed { allow: method })
        };
        Ok(answer.unwrap_or_else(|error| refused(&error)))
    }
    .instrument(span)
    .await
}

/// The bearer token's holder, once it has shown to be the `{user_id}` of the
/// path: 401 without a valid token, 422 for a malformed id, 403 for someone
/// else's id. Whether its session is still open is checked with the operation.
pub(super) async fn authorized_caller(
    keys: &PublishedKeys,
    request: &Request,
) -> Result<Caller, HttpError> {
    let caller = keys.verify(bearer_token(request)?).await?;
    accounts::authorize(&caller, path_user_id(request)?)?;
    Ok(caller)
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

fn profile_json(profile: Profile) -> serde_json::Value {
    json!({
        "id": profile.id.to_hex(),
        "username": profile.username,
        "email": profile.email,
        "external_id": profile.external_id,
        "created_at": profile.created_at,
        "linked_data": profile.linked_data,
        "email_verified": profile.email_verified,
    })
}
