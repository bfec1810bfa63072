//! Every refusal and failure of an HTTP route, and the one place that turns
//! it into an RFC 9457 problem+json response and logs it.

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::json;

use crate::domain::error::retry_after_seconds;
use crate::domain::tokens::TokenError;
use crate::domain::{DomainError, FieldError};

/// What the HTTP edge adds to the domain's errors: how the request itself was
/// malformed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the body is not a JSON object: {0}")]
    MalformedBody(String),
    #[error("the body must be JSON: send content-type: application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("this route does not allow that method")]
    MethodNotAllowed { allow: Method },
    #[error("no route matches this path")]
    NotFound,
    #[error("a bearer token is required")]
    MissingToken,
}

impl From<TokenError> for HttpError {
    fn from(error: TokenError) -> Self {
        Self::Domain(DomainError::InvalidToken(error))
    }
}

impl From<Vec<FieldError>> for HttpError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Domain(DomainError::Invalid(errors))
    }
}

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).expect("response types serialise to JSON");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body))
        .expect("static headers are valid")
}

/// The response to a failed request, logged once: a failure of ours at error
/// level with its cause (never shown to the caller), a refusal at info.
pub fn refused(error: &HttpError) -> Response<Body> {
    match error {
        HttpError::Domain(domain) if domain.is_failure() => {
            tracing::error!(cause = domain.cause().unwrap_or_default(), error = %domain, "request failed");
        }
        _ => tracing::info!(%error, "request refused"),
    }
    problem_response(error)
}

/// An RFC 9457 problem document. `detail` is what FastAPI clients of the
/// original service already read.
pub fn problem_response(error: &HttpError) -> Response<Body> {
    let status = status_of(error);
    let mut problem = json!({
        "type": problem_type(error),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": error.to_string(),
    });
    let field_errors = match error {
        HttpError::Domain(DomainError::Invalid(errors)) => errors.clone(),
        HttpError::Domain(DomainError::EmailTaken) => {
            vec![FieldError::new("email", "already registered")]
        }
        HttpError::Domain(DomainError::UsernameTaken) => {
            vec![FieldError::new("username", "already taken")]
        }
        HttpError::Domain(DomainError::ExternalIdTaken) => vec![FieldError::new(
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
        HttpError::MissingToken => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        HttpError::Domain(
            DomainError::InvalidToken(_) | DomainError::UnknownUser | DomainError::SessionEnded,
        ) => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        HttpError::Domain(DomainError::ReauthenticationRequired) => {
            // RFC 9470's step-up challenge.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="insufficient_user_authentication""#),
            );
        }
        HttpError::MethodNotAllowed { allow } => {
            headers.insert(
                header::ALLOW,
                HeaderValue::from_str(allow.as_str()).expect("a method is a header value"),
            );
        }
        HttpError::Domain(
            DomainError::Unavailable { .. } | DomainError::MailUnavailable { .. },
        ) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        HttpError::Domain(
            DomainError::TooManyAttempts { retry_after }
            | DomainError::TooManyRequests { retry_after },
        ) => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(*retry_after)),
            );
        }
        _ => {}
    }
    response
}

fn status_of(error: &HttpError) -> StatusCode {
    match error {
        HttpError::MalformedBody(_) => StatusCode::BAD_REQUEST,
        HttpError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        HttpError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        HttpError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        HttpError::NotFound => StatusCode::NOT_FOUND,
        HttpError::MissingToken => StatusCode::UNAUTHORIZED,
        HttpError::Domain(error) => match error {
            DomainError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DomainError::EmailTaken | DomainError::UsernameTaken | DomainError::ExternalIdTaken => {
                StatusCode::CONFLICT
            }
            DomainError::InvalidCredentials
            | DomainError::InvalidMfaCode
            | DomainError::InvalidMfaToken
            | DomainError::ReauthenticationRequired
            | DomainError::InvalidRefreshToken
            | DomainError::InvalidToken(_)
            | DomainError::UnknownUser
            | DomainError::SessionEnded => StatusCode::UNAUTHORIZED,
            DomainError::TooManyAttempts { .. } | DomainError::TooManyRequests { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            DomainError::MailTokenInvalid => StatusCode::BAD_REQUEST,
            DomainError::EmailNotVerified => StatusCode::FORBIDDEN,
            DomainError::MailUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            DomainError::MfaAlreadyEnabled
            | DomainError::MfaNotPending
            | DomainError::MfaNotEnabled => StatusCode::CONFLICT,
            DomainError::Forbidden | DomainError::LinkCodeInvalid => StatusCode::FORBIDDEN,
            DomainError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            DomainError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            DomainError::SessionNotFound => StatusCode::NOT_FOUND,
        },
    }
}

fn problem_type(error: &HttpError) -> &'static str {
    match error {
        HttpError::MissingToken => "urn:problem:invalid-token",
        HttpError::Domain(error) => match error {
            DomainError::Invalid(_) => "urn:problem:validation-error",
            DomainError::EmailTaken => "urn:problem:email-taken",
            DomainError::UsernameTaken => "urn:problem:username-taken",
            DomainError::ExternalIdTaken => "urn:problem:external-id-taken",
            DomainError::InvalidCredentials => "urn:problem:invalid-credentials",
            DomainError::InvalidToken(_) | DomainError::UnknownUser | DomainError::SessionEnded => {
                "urn:problem:invalid-token"
            }
            DomainError::InvalidRefreshToken => "urn:problem:invalid-refresh-token",
            DomainError::TooManyAttempts { .. } => "urn:problem:too-many-attempts",
            DomainError::Unavailable { .. } => "urn:problem:database-unavailable",
            DomainError::LinkCodeInvalid => "urn:problem:link-code-invalid",
            DomainError::SessionNotFound => "urn:problem:session-not-found",
            DomainError::MailTokenInvalid => "urn:problem:invalid-mail-token",
            DomainError::EmailNotVerified => "urn:problem:email-not-verified",
            DomainError::TooManyRequests { .. } => "urn:problem:too-many-requests",
            DomainError::MailUnavailable { .. } => "urn:problem:mail-unavailable",
            DomainError::InvalidMfaCode => "urn:problem:invalid-mfa-code",
            DomainError::InvalidMfaToken => "urn:problem:invalid-mfa-token",
            DomainError::ReauthenticationRequired => "urn:problem:reauthentication-required",
            DomainError::MfaAlreadyEnabled => "urn:problem:mfa-already-enabled",
            DomainError::MfaNotPending => "urn:problem:mfa-not-pending",
            DomainError::MfaNotEnabled => "urn:problem:mfa-not-enabled",
            DomainError::Forbidden | DomainError::Internal { .. } => "about:blank",
        },
        _ => "about:blank",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lambda_http::http;
    use serde_json::Value;

    use super::*;

    fn read(response: Response<Body>) -> (StatusCode, Value, http::HeaderMap) {
        let status = response.status();
        let headers = response.headers().clone();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap();
        (status, body, headers)
    }

    #[test]
    fn problems_are_rfc9457_json() {
        let invalid = HttpError::from(vec![FieldError::new("email", "bad")]);
        let (status, body, headers) = read(problem_response(&invalid));
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

        let (status, _, headers) = read(problem_response(&HttpError::MissingToken));
        assert_eq!(status, 401);
        assert_eq!(headers["www-authenticate"], "Bearer");

        let (status, _, headers) = read(problem_response(&HttpError::MethodNotAllowed {
            allow: Method::POST,
        }));
        assert_eq!(status, 405);
        assert_eq!(headers["allow"], "POST");

        let (status, body, _) = read(problem_response(&DomainError::EmailTaken.into()));
        assert_eq!(status, 409);
        assert_eq!(body["errors"][0]["field"], "email");

        let locked = DomainError::TooManyAttempts {
            retry_after: Duration::from_millis(1500),
        };
        let (status, _, headers) = read(problem_response(&locked.into()));
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], "2");
    }

    #[test]
    fn a_failure_never_shows_its_cause() {
        let failure = DomainError::Unavailable {
            cause: "connection refused to db.internal:27017 as admin".into(),
        };
        let (status, body, headers) = read(refused(&failure.into()));
        assert_eq!(status, 503);
        assert_eq!(headers["retry-after"], "1");
        assert!(!body.to_string().contains("db.internal"), "{body}");
    }
}
