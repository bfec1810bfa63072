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

/// How one error is answered: its status, problem type, the header it adds
/// and the fields it names.
struct Mapping {
    status: StatusCode,
    kind: &'static str,
    header: Option<(header::HeaderName, HeaderValue)>,
    fields: Vec<FieldError>,
}

impl Mapping {
    fn new(status: StatusCode, kind: &'static str) -> Self {
        Self {
            status,
            kind,
            header: None,
            fields: Vec::new(),
        }
    }

    fn with_header(mut self, header: (header::HeaderName, HeaderValue)) -> Self {
        self.header = Some(header);
        self
    }

    fn naming(mut self, field: &str, message: &str) -> Self {
        self.fields = vec![FieldError::new(field, message)];
        self
    }
}

const BLANK: &str = "about:blank";
const INVALID_TOKEN: &str = "urn:problem:invalid-token";

fn retry_after(seconds: u64) -> (header::HeaderName, HeaderValue) {
    (header::RETRY_AFTER, HeaderValue::from(seconds))
}

fn bearer_challenge(value: &'static str) -> (header::HeaderName, HeaderValue) {
    (header::WWW_AUTHENTICATE, HeaderValue::from_static(value))
}

/// The one table of what each error means over HTTP. Every variant of both
/// enums is named (no `_` arm): a new error does not compile until it is
/// mapped here.
fn mapping(error: &HttpError) -> Mapping {
    use StatusCode as S;
    let domain = match error {
        HttpError::MalformedBody(_) => return Mapping::new(S::BAD_REQUEST, BLANK),
        HttpError::UnsupportedMediaType => return Mapping::new(S::UNSUPPORTED_MEDIA_TYPE, BLANK),
        HttpError::PayloadTooLarge { .. } => return Mapping::new(S::PAYLOAD_TOO_LARGE, BLANK),
        HttpError::NotFound => return Mapping::new(S::NOT_FOUND, BLANK),
        HttpError::MethodNotAllowed { allow } => {
            let allow = HeaderValue::from_str(allow.as_str()).expect("a method is a header value");
            return Mapping::new(S::METHOD_NOT_ALLOWED, BLANK).with_header((header::ALLOW, allow));
        }
        HttpError::MissingToken => {
            let challenge = bearer_challenge("Bearer");
            return Mapping::new(S::UNAUTHORIZED, INVALID_TOKEN).with_header(challenge);
        }
        HttpError::Domain(domain) => domain,
    };
    match domain {
        DomainError::Invalid(errors) => Mapping {
            fields: errors.clone(),
            ..Mapping::new(S::UNPROCESSABLE_ENTITY, "urn:problem:validation-error")
        },
        DomainError::EmailTaken => Mapping::new(S::CONFLICT, "urn:problem:email-taken")
            .naming("email", "already registered"),
        DomainError::UsernameTaken => Mapping::new(S::CONFLICT, "urn:problem:username-taken")
            .naming("username", "already taken"),
        DomainError::ExternalIdTaken => Mapping::new(S::CONFLICT, "urn:problem:external-id-taken")
            .naming("external_id", "already linked to another user"),
        DomainError::InvalidCredentials => {
            Mapping::new(S::UNAUTHORIZED, "urn:problem:invalid-credentials")
        }
        DomainError::InvalidToken(_) | DomainError::UnknownUser | DomainError::SessionEnded => {
            Mapping::new(S::UNAUTHORIZED, INVALID_TOKEN)
                .with_header(bearer_challenge(r#"Bearer error="invalid_token""#))
        }
        DomainError::ReauthenticationRequired => {
            // RFC 9470's step-up challenge.
            Mapping::new(S::UNAUTHORIZED, "urn:problem:reauthentication-required").with_header(
                bearer_challenge(r#"Bearer error="insufficient_user_authentication""#),
            )
        }
        DomainError::InvalidRefreshToken => {
            Mapping::new(S::UNAUTHORIZED, "urn:problem:invalid-refresh-token")
        }
        DomainError::InvalidMfaCode => {
            Mapping::new(S::UNAUTHORIZED, "urn:problem:invalid-mfa-code")
        }
        DomainError::InvalidMfaToken => {
            Mapping::new(S::UNAUTHORIZED, "urn:problem:invalid-mfa-token")
        }
        DomainError::TooManyAttempts { retry_after: wait } => {
            Mapping::new(S::TOO_MANY_REQUESTS, "urn:problem:too-many-attempts")
                .with_header(retry_after(retry_after_seconds(*wait)))
        }
        DomainError::TooManyRequests { retry_after: wait } => {
            Mapping::new(S::TOO_MANY_REQUESTS, "urn:problem:too-many-requests")
                .with_header(retry_after(retry_after_seconds(*wait)))
        }
        DomainError::MailTokenInvalid => {
            Mapping::new(S::BAD_REQUEST, "urn:problem:invalid-mail-token")
        }
        DomainError::EmailNotVerified => {
            Mapping::new(S::FORBIDDEN, "urn:problem:email-not-verified")
        }
        DomainError::ExportTooLarge { .. } => {
            Mapping::new(S::PAYLOAD_TOO_LARGE, "urn:problem:export-too-large")
        }
        DomainError::AccountScheduledForDeletion { .. } => {
            Mapping::new(S::FORBIDDEN, "urn:problem:account-scheduled-for-deletion")
        }
        DomainError::MailUnavailable { .. } => {
            Mapping::new(S::SERVICE_UNAVAILABLE, "urn:problem:mail-unavailable")
                .with_header(retry_after(1))
        }
        DomainError::Unavailable { .. } => {
            Mapping::new(S::SERVICE_UNAVAILABLE, "urn:problem:database-unavailable")
                .with_header(retry_after(1))
        }
        DomainError::MfaAlreadyEnabled => {
            Mapping::new(S::CONFLICT, "urn:problem:mfa-already-enabled")
        }
        DomainError::MfaNotPending => Mapping::new(S::CONFLICT, "urn:problem:mfa-not-pending"),
        DomainError::MfaNotEnabled => Mapping::new(S::CONFLICT, "urn:problem:mfa-not-enabled"),
        DomainError::TooManyPasskeys => Mapping::new(S::CONFLICT, "urn:problem:too-many-passkeys"),
        DomainError::PasskeyTaken => Mapping::new(S::CONFLICT, "urn:problem:passkey-taken"),
        DomainError::PasskeyNotFound => Mapping::new(S::NOT_FOUND, "urn:problem:passkey-not-found"),
        DomainError::PasskeyRefused => Mapping::new(S::UNAUTHORIZED, "urn:problem:passkey-refused"),
        DomainError::Forbidden => Mapping::new(S::FORBIDDEN, BLANK),
        DomainError::ThirdPartyToken => {
            Mapping::new(S::FORBIDDEN, "urn:problem:insufficient-scope")
                .with_header(bearer_challenge(r#"Bearer error="insufficient_scope""#))
        }
        DomainError::LinkCodeInvalid => Mapping::new(S::FORBIDDEN, "urn:problem:link-code-invalid"),
        DomainError::SessionNotFound => Mapping::new(S::NOT_FOUND, "urn:problem:session-not-found"),
        DomainError::Internal { .. } => Mapping::new(S::INTERNAL_SERVER_ERROR, BLANK),
    }
}

/// An RFC 9457 problem document. `detail` is what FastAPI clients of the
/// original service already read.
pub fn problem_response(error: &HttpError) -> Response<Body> {
    let mapping = mapping(error);
    let mut problem = json!({
        "type": mapping.kind,
        "title": mapping.status.canonical_reason().unwrap_or("Error"),
        "status": mapping.status.as_u16(),
        "detail": error.to_string(),
    });
    if !mapping.fields.is_empty() {
        problem["errors"] = json!(mapping.fields);
    }
    // An extension member (RFC 9457 §3.2): when the account goes.
    if let HttpError::Domain(DomainError::AccountScheduledForDeletion { until }) = error {
        problem["deletion_scheduled_for"] = json!(until.to_rfc3339());
    }
    let mut response = json_response(mapping.status, &problem);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some((name, value)) = mapping.header {
        headers.insert(name, value);
    }
    response
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
