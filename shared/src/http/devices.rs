//! The routes of sessions as devices: `GET /users/{user_id}/sessions` and
//! `DELETE /users/{user_id}/sessions/{session_id}`, and the client details a
//! login or refresh records.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::{json, Value};

use super::edge::{answer, authorized_caller};
use super::problem::{json_response, HttpError};
use super::request::path_parameter;
use crate::domain::devices::{self, ClientInfo, ListedSession};
use crate::domain::ports::Sessions;
use crate::domain::values::{SessionId, Timestamp};
use crate::domain::DomainError;
use crate::keystore::PublishedKeys;

/// `GET /users/{user_id}/sessions/`: the user's open sessions, newest first.
pub async fn list_sessions<S: Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::GET, async {
        let caller = authorized_caller(keys, &request).await?;
        let (sessions, truncated) =
            devices::list_sessions(store, &caller, Timestamp::now()).await?;
        let sessions: Vec<Value> = sessions.into_iter().map(session_json).collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "sessions": sessions, "truncated": truncated }),
        ))
    })
    .await
}

/// `DELETE /users/{user_id}/sessions/{session_id}/`: ends that session.
pub async fn end_session<S: Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::DELETE, async {
        let caller = authorized_caller(keys, &request).await?;
        let session = path_session_id(&request)?;
        devices::end_session(store, &caller, session, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Session ended", "session_id": session.to_hex() }),
        ))
    })
    .await
}

fn session_json(listed: ListedSession) -> Value {
    let session = listed.session;
    json!({
        "id": session.id.to_hex(),
        "created_at": rfc3339(session.created_at),
        "last_used_at": rfc3339(session.last_used_at),
        "created_from": client_json(&session.created_from),
        "last_used_from": client_json(&session.last_used_from),
        "current": listed.current,
        "client": session.client_name,
    })
}

/// As the profile's `created_at` is written (the same formatter).
fn rfc3339(instant: Timestamp) -> String {
    mongodb::bson::DateTime::from_millis(instant.as_millis())
        .try_to_rfc3339_string()
        .unwrap_or_default()
}

fn client_json(client: &ClientInfo) -> Value {
    json!({ "user_agent": client.user_agent, "source_ip": client.source_ip })
}

/// The `{session_id}` path parameter (or the path segment after `sessions`,
/// for events without parameters); malformed is a 422.
fn path_session_id(request: &Request) -> Result<SessionId, HttpError> {
    let raw = path_parameter(request, "session_id", "sessions").ok_or(HttpError::NotFound)?;
    SessionId::parse(&raw).map_err(|error| DomainError::invalid(error).into())
}
