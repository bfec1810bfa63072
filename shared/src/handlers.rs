//! One handler per Lambda function: parse the request, call the domain, answer.
//! Every failure becomes a problem+json response here; none escapes as a 500
//! from the runtime.

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use mongodb::bson::oid::ObjectId;
use serde_json::json;

use crate::domain;
use crate::error::ApiError;
use crate::http::{
    bearer_token, json_object, json_object_or_empty, json_response, path_user_id, problem_response,
    query_parameter, require_method,
};
use crate::state::AppState;
use crate::validation;

/// `POST /auth/register`
pub async fn register(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(
        async {
            require_method(&request, Method::POST, "POST")?;
            let registration =
                validation::registration(&json_object(&request)?).map_err(ApiError::Invalid)?;
            let user_id = domain::register(&state.store, registration).await?;
            let mut response =
                json_response(StatusCode::CREATED, &json!({ "id": user_id.to_hex() }));
            let location = format!("/users/{user_id}/full_profile/")
                .parse()
                .expect("an ObjectId path is a valid header value");
            response.headers_mut().insert(header::LOCATION, location);
            Ok(response)
        }
        .await,
    ))
}

/// `POST /auth/login`
pub async fn login(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(
        async {
            require_method(&request, Method::POST, "POST")?;
            let credentials =
                validation::credentials(&json_object(&request)?).map_err(ApiError::Invalid)?;
            let token = domain::login(&state.store, &state.tokens, credentials).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "access_token": token.token,
                    "token_type": "bearer",
                    "expires_in": token.expires_in,
                }),
            ))
        }
        .await,
    ))
}

/// `PUT /users/{user_id}/link_id/`
pub async fn link_external_id(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(
        async {
            require_method(&request, Method::PUT, "PUT")?;
            let user_id = authorized_user(state, &request)?;
            let body = json_object_or_empty(&request)?;
            let external_id =
                validation::external_id(body.as_ref(), query_parameter(&request, "external_id"))
                    .map_err(ApiError::Invalid)?;
            domain::link_external_id(&state.store, user_id, &external_id).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "message": "ID linked successfully",
                    "user_id": user_id.to_hex(),
                    "external_id": external_id,
                }),
            ))
        }
        .await,
    ))
}

/// `GET /users/{user_id}/full_profile/`
pub async fn get_full_profile(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(
        async {
            require_method(&request, Method::GET, "GET")?;
            let user_id = authorized_user(state, &request)?;
            let profile = domain::full_profile(&state.store, user_id).await?;
            Ok(json_response(StatusCode::OK, &profile))
        }
        .await,
    ))
}

/// `DELETE /users/{user_id}/`
pub async fn delete_user(state: &AppState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(
        async {
            require_method(&request, Method::DELETE, "DELETE")?;
            let user_id = authorized_user(state, &request)?;
            domain::delete_user(&state.store, user_id).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "message": "User and associated data deleted successfully" }),
            ))
        }
        .await,
    ))
}

/// The `{user_id}` of the path, once the bearer token has shown that its holder
/// is that user: 401 without a valid token, 422 for a malformed id, 403 for
/// someone else's id.
fn authorized_user(state: &AppState, request: &Request) -> Result<ObjectId, ApiError> {
    let caller = state.tokens.verify(bearer_token(request)?)?;
    let user_id = path_user_id(request)?;
    domain::authorize(&caller, user_id)?;
    Ok(user_id)
}

fn respond(outcome: Result<Response<Body>, ApiError>) -> Response<Body> {
    outcome.unwrap_or_else(|error| {
        match &error {
            ApiError::Internal | ApiError::DatabaseUnavailable => {
                tracing::error!(error = %error, "request failed")
            }
            _ => tracing::info!(error = %error, "request refused"),
        }
        problem_response(&error)
    })
}
