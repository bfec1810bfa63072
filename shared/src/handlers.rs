//! One handler per Lambda function: parse the request, call the domain, answer.
//! Each public handler wraps a fallible one; every failure becomes a
//! problem+json response there, and none escapes as a 500 from the runtime.

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

use crate::domain::{self, TokenPair};
use crate::error::ApiError;
use crate::http::{
    bearer_token, json_object, json_object_or_empty, json_response, path_user_id, problem_response,
    query_parameter, require_method,
};
use crate::state::AppState;
use crate::tokens::Caller;
use crate::validation;

type Answer = Result<Response<Body>, ApiError>;

/// `POST /auth/register`
pub async fn register(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_register(state, request).await))
}

async fn try_register(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::POST, "POST")?;
    let registration =
        validation::registration(&json_object(&request)?).map_err(ApiError::Invalid)?;
    let user_id = domain::register(&state.store, registration).await?;
    let mut response = json_response(StatusCode::CREATED, &json!({ "id": user_id.to_hex() }));
    let location = format!("/users/{user_id}/full_profile/")
        .parse()
        .expect("an ObjectId path is a valid header value");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// `POST /auth/login`
pub async fn login(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_login(state, request).await))
}

async fn try_login(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::POST, "POST")?;
    let credentials =
        validation::credentials(&json_object(&request)?).map_err(ApiError::Invalid)?;
    let tokens = domain::login(&state.store, &state.tokens, &state.sessions, credentials).await?;
    Ok(token_response(tokens))
}

/// `POST /auth/refresh`: a new pair for a refresh token (rotation).
pub async fn refresh(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_refresh(state, request).await))
}

async fn try_refresh(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::POST, "POST")?;
    let refresh_token =
        validation::refresh_token(&json_object(&request)?).map_err(ApiError::Invalid)?;
    let tokens =
        domain::refresh(&state.store, &state.tokens, &state.sessions, &refresh_token).await?;
    Ok(token_response(tokens))
}

/// `POST /auth/logout`: ends the session of the bearer token.
pub async fn logout(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_logout(state, request).await))
}

async fn try_logout(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::POST, "POST")?;
    let caller = state.tokens.verify(bearer_token(&request)?)?;
    domain::logout(&state.store, &caller).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "message": "Logged out" }),
    ))
}

/// `POST /auth/logout_all`: ends every session of the bearer token's user.
pub async fn logout_all(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_logout_all(state, request).await))
}

async fn try_logout_all(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::POST, "POST")?;
    let caller = state.tokens.verify(bearer_token(&request)?)?;
    let ended = domain::logout_all(&state.store, &caller).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "message": "All sessions ended", "sessions_ended": ended }),
    ))
}

/// `PUT /users/{user_id}/link_id/`
pub async fn link_external_id(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_link_external_id(state, request).await))
}

async fn try_link_external_id(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::PUT, "PUT")?;
    let caller = authorized_caller(state, &request)?;
    let body = json_object_or_empty(&request)?;
    let external_id =
        validation::external_id(body.as_ref(), query_parameter(&request, "external_id"))
            .map_err(ApiError::Invalid)?;
    domain::link_external_id(&state.store, &caller, &external_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "message": "ID linked successfully",
            "user_id": caller.user_id.to_hex(),
            "external_id": external_id,
        }),
    ))
}

/// `GET /users/{user_id}/full_profile/`
pub async fn get_full_profile(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_get_full_profile(state, request).await))
}

async fn try_get_full_profile(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::GET, "GET")?;
    let caller = authorized_caller(state, &request)?;
    let profile = domain::full_profile(&state.store, &caller).await?;
    Ok(json_response(StatusCode::OK, &profile))
}

/// `DELETE /users/{user_id}/`
pub async fn delete_user(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(try_delete_user(state, request).await))
}

async fn try_delete_user(state: &AppState, request: Request) -> Answer {
    require_method(&request, Method::DELETE, "DELETE")?;
    let caller = authorized_caller(state, &request)?;
    domain::delete_user(&state.store, &caller).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "message": "User and associated data deleted successfully" }),
    ))
}

/// The bearer token's holder, once it has shown to be the `{user_id}` of the
/// path: 401 without a valid token, 422 for a malformed id, 403 for someone
/// else's id. Whether its session is still open is checked with the operation.
fn authorized_caller(state: &AppState, request: &Request) -> Result<Caller, ApiError> {
    let caller = state.tokens.verify(bearer_token(request)?)?;
    domain::authorize(&caller, path_user_id(request)?)?;
    Ok(caller)
}

fn token_response(tokens: TokenPair) -> Response<Body> {
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

fn respond(answer: Answer) -> Response<Body> {
    answer.unwrap_or_else(|error| {
        // Server-side failures were logged with their cause where they arose.
        if !matches!(error, ApiError::Internal | ApiError::DatabaseUnavailable) {
            tracing::info!(error = %error, "request refused");
        }
        problem_response(&error)
    })
}
