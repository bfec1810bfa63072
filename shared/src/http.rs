//! The HTTP edge: reading requests and writing JSON and problem+json responses.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use mongodb::bson::oid::ObjectId;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::validation::FieldError;

/// Largest body any route accepts; the biggest valid one is well under 1 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).expect("response types serialise to JSON");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .expect("static headers are valid")
}

/// An RFC 9457 problem document. `detail` is what FastAPI clients of the
/// original service already read.
pub fn problem_response(error: &ApiError) -> Response<Body> {
    let status = status_of(error);
    let mut problem = json!({
        "type": problem_type(error),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": error.to_string(),
    });
    let field_errors = match error {
        ApiError::Invalid(errors) => errors.clone(),
        ApiError::EmailTaken => vec![FieldError::new("email", "already registered")],
        ApiError::UsernameTaken => vec![FieldError::new("username", "already taken")],
        ApiError::ExternalIdTaken => vec![FieldError::new(
            "external_id",
            "already linked to another user",
        )],
        _ => Vec::new(),
    };
    if !field_errors.is_empty() {
        problem["errors"] = json!(field_errors);
    }
    let mut response = json_response(status, &problem);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    match error {
        ApiError::MissingToken => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ApiError::InvalidToken(_) | ApiError::UnknownUser | ApiError::SessionEnded => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        ApiError::MethodNotAllowed { allow } => {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        ApiError::DatabaseUnavailable => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        ApiError::TooManyAttempts {
            retry_after_seconds,
        } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        _ => {}
    }
    response
}

fn status_of(error: &ApiError) -> StatusCode {
    match error {
        ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::MalformedBody(_) => StatusCode::BAD_REQUEST,
        ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::NotFound => StatusCode::NOT_FOUND,
        ApiError::EmailTaken | ApiError::UsernameTaken | ApiError::ExternalIdTaken => {
            StatusCode::CONFLICT
        }
        ApiError::InvalidCredentials
        | ApiError::InvalidRefreshToken
        | ApiError::MissingToken
        | ApiError::InvalidToken(_)
        | ApiError::UnknownUser
        | ApiError::SessionEnded => StatusCode::UNAUTHORIZED,
        ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Forbidden => StatusCode::FORBIDDEN,
        ApiError::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn problem_type(error: &ApiError) -> &'static str {
    match error {
        ApiError::Invalid(_) => "urn:problem:validation-error",
        ApiError::EmailTaken => "urn:problem:email-taken",
        ApiError::UsernameTaken => "urn:problem:username-taken",
        ApiError::ExternalIdTaken => "urn:problem:external-id-taken",
        ApiError::InvalidCredentials => "urn:problem:invalid-credentials",
        ApiError::MissingToken
        | ApiError::InvalidToken(_)
        | ApiError::UnknownUser
        | ApiError::SessionEnded => "urn:problem:invalid-token",
        ApiError::InvalidRefreshToken => "urn:problem:invalid-refresh-token",
        ApiError::TooManyAttempts { .. } => "urn:problem:too-many-attempts",
        ApiError::DatabaseUnavailable => "urn:problem:database-unavailable",
        _ => "about:blank",
    }
}

/// Refuses any method but `expected`; `allow` is what the Allow header lists.
pub fn require_method(
    request: &Request,
    expected: Method,
    allow: &'static str,
) -> Result<(), ApiError> {
    if request.method() == expected {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

/// The body as a JSON object. A missing content type is fine when the body is
/// JSON (curl and the original's clients send none); any other type is refused.
pub fn json_object(request: &Request) -> Result<Map<String, Value>, ApiError> {
    json_object_or_empty(request)?
        .ok_or_else(|| ApiError::MalformedBody("the body is empty".into()))
}

/// Like `json_object`, but an empty body is `None` rather than an error.
pub fn json_object_or_empty(request: &Request) -> Result<Option<Map<String, Value>>, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(Some(object)),
        Ok(_) => Err(ApiError::MalformedBody("expected a JSON object".into())),
        Err(error) => Err(ApiError::MalformedBody(format!("invalid JSON: {error}"))),
    }
}

pub fn query_parameter<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.query_string_parameters_ref()?.first(name)
}

/// The token from `Authorization: Bearer <token>`.
pub fn bearer_token(request: &Request) -> Result<&str, ApiError> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::MissingToken)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(ApiError::MissingToken)?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
        Ok(token)
    } else {
        Err(ApiError::MissingToken)
    }
}

/// The `{user_id}` path parameter as an ObjectId. A malformed id is a 422 here,
/// never a query error in MongoDB.
pub fn path_user_id(request: &Request) -> Result<ObjectId, ApiError> {
    let from_parameters = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first("user_id"))
        .map(str::to_string);
    // Direct invokes and some proxies carry no path parameters: read the path itself.
    let raw = from_parameters.or_else(|| {
        let mut segments = request
            .uri()
            .path()
            .split('/')
            .skip_while(|segment| *segment != "users");
        segments
            .nth(1)
            .filter(|segment| !segment.is_empty())
            .map(str::to_string)
    });
    let raw = raw.ok_or(ApiError::NotFound)?;
    ObjectId::parse_str(&raw).map_err(|_| {
        ApiError::Invalid(vec![FieldError::new(
            "user_id",
            "must be a 24-character hexadecimal id",
        )])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri("/auth/register");
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(Body::from(body)).unwrap()
    }

    fn read(response: Response<Body>) -> (StatusCode, Value, http::HeaderMap) {
        let status = response.status();
        let headers = response.headers().clone();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap();
        (status, body, headers)
    }

    #[test]
    fn json_bodies_with_or_without_content_type() {
        for content_type in [
            None,
            Some("application/json"),
            Some("application/json; charset=utf-8"),
            Some("application/merge-patch+json"),
        ] {
            let object = json_object(&request(content_type, r#"{"a":1}"#)).unwrap();
            assert_eq!(object["a"], 1);
        }
    }

    #[test]
    fn bad_bodies_are_refused_with_the_right_error() {
        assert!(matches!(
            json_object(&request(Some("text/plain"), "{}")),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            json_object(&request(None, "{nope")),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            json_object(&request(None, "[1]")),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            json_object(&request(None, "")),
            Err(ApiError::MalformedBody(_))
        ));
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            json_object(&request(None, &big)),
            Err(ApiError::PayloadTooLarge { .. })
        ));
        assert!(json_object_or_empty(&request(None, " ")).unwrap().is_none());
    }

    #[test]
    fn problems_are_rfc9457_json() {
        let (status, body, headers) =
            read(problem_response(&ApiError::Invalid(vec![FieldError::new(
                "email", "bad",
            )])));
        assert_eq!(status, 422);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["status"], 422);
        assert_eq!(body["type"], "urn:problem:validation-error");
        assert_eq!(body["title"], "Unprocessable Entity");
        assert_eq!(
            body["errors"],
            json!([{"field": "email", "message": "bad"}])
        );
        assert!(body["detail"].is_string());

        let (status, _, headers) = read(problem_response(&ApiError::MissingToken));
        assert_eq!(status, 401);
        assert_eq!(headers["www-authenticate"], "Bearer");

        let (status, _, headers) = read(problem_response(&ApiError::MethodNotAllowed {
            allow: "POST",
        }));
        assert_eq!(status, 405);
        assert_eq!(headers["allow"], "POST");

        let (status, body, _) = read(problem_response(&ApiError::EmailTaken));
        assert_eq!(status, 409);
        assert_eq!(body["errors"][0]["field"], "email");
    }

    #[test]
    fn bearer_token_parsing() {
        let with = |value: &str| {
            http::Request::builder()
                .header("authorization", value)
                .body(Body::Empty)
                .unwrap()
        };
        assert_eq!(bearer_token(&with("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&with("bearer  abc ")).unwrap(), "abc");
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            assert!(
                matches!(bearer_token(&with(bad)), Err(ApiError::MissingToken)),
                "{bad}"
            );
        }
        let without = http::Request::builder().body(Body::Empty).unwrap();
        assert!(matches!(
            bearer_token(&without),
            Err(ApiError::MissingToken)
        ));
    }

    #[test]
    fn user_id_from_path_parameters_or_raw_path() {
        let id = ObjectId::new();
        let request = Request::default().with_path_parameters(
            [("user_id".to_string(), id.to_hex())]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        assert_eq!(path_user_id(&request).unwrap(), id);
        let raw = http::Request::builder()
            .uri(format!("/users/{id}/full_profile/"))
            .body(Body::Empty)
            .unwrap();
        assert_eq!(path_user_id(&raw).unwrap(), id);
        let bad = http::Request::builder()
            .uri("/users/123/")
            .body(Body::Empty)
            .unwrap();
        assert!(matches!(path_user_id(&bad), Err(ApiError::Invalid(_))));
    }
}
