//! Reading API Gateway requests: the JSON body, the bearer token, the path's
//! user id and query parameters. Every refusal is an `HttpError`.

use lambda_http::http::header;
use lambda_http::{Request, RequestExt};
use serde_json::{Map, Value};

use super::problem::HttpError;
use crate::domain::values::UserId;
use crate::domain::DomainError;

/// Largest body any route accepts; the biggest valid one is well under 1 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body as a JSON object. A missing content type is fine when the body is
/// JSON (curl and the original's clients send none); any other type is refused.
pub fn json_object(request: &Request) -> Result<Map<String, Value>, HttpError> {
    json_object_or_empty(request)?
        .ok_or_else(|| HttpError::MalformedBody("the body is empty".into()))
}

/// Like `json_object`, but an empty body is `None` rather than an error.
pub fn json_object_or_empty(request: &Request) -> Result<Option<Map<String, Value>>, HttpError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(HttpError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if request.headers().contains_key(header::CONTENT_TYPE) {
        let essence = media_type(request).unwrap_or_default();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(HttpError::UnsupportedMediaType);
        }
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(Some(object)),
        Ok(_) => Err(HttpError::MalformedBody("expected a JSON object".into())),
        Err(error) => Err(HttpError::MalformedBody(format!("invalid JSON: {error}"))),
    }
}

/// The `Content-Type`'s essence (type/subtype, lower case, parameters
/// dropped); `None` without the header or when it is not text.
pub fn media_type(request: &Request) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default();
    Some(essence.trim().to_ascii_lowercase())
}

/// The client's address as API Gateway saw it ("-" when the event has none,
/// as in direct invokes).
pub fn source_ip(request: &Request) -> String {
    use lambda_http::request::RequestContext;
    let address = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
        _ => None,
    };
    address.unwrap_or_else(|| "-".into())
}

pub fn query_parameter<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.query_string_parameters_ref()?.first(name)
}

/// The token from `Authorization: Bearer <token>`.
pub fn bearer_token(request: &Request) -> Result<&str, HttpError> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(HttpError::MissingToken)?
        .to_str()
        .map_err(|_| HttpError::MissingToken)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(HttpError::MissingToken)?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
        Ok(token)
    } else {
        Err(HttpError::MissingToken)
    }
}

/// The `{user_id}` path parameter. A malformed id is a 422 here, never a
/// query error in the database.
pub fn path_user_id(request: &Request) -> Result<UserId, HttpError> {
    let raw = path_parameter(request, "user_id", "users").ok_or(HttpError::NotFound)?;
    UserId::parse(&raw).map_err(|error| DomainError::invalid(error).into())
}

/// The path parameter `name`, else the path segment after `after`: direct
/// invokes and some proxies carry no path parameters, so the path itself is read.
pub(super) fn path_parameter(request: &Request, name: &str, after: &str) -> Option<String> {
    let from_parameters = request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first(name))
        .map(str::to_string);
    from_parameters.or_else(|| {
        let mut segments = request
            .uri()
            .path()
            .split('/')
            .skip_while(|segment| *segment != after);
        segments
            .nth(1)
            .filter(|segment| !segment.is_empty())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;
    use lambda_http::Body;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri("/auth/register");
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(Body::from(body)).unwrap()
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
            Err(HttpError::UnsupportedMediaType)
        ));
        assert!(matches!(
            json_object(&request(None, "{nope")),
            Err(HttpError::MalformedBody(_))
        ));
        assert!(matches!(
            json_object(&request(None, "[1]")),
            Err(HttpError::MalformedBody(_))
        ));
        assert!(matches!(
            json_object(&request(None, "")),
            Err(HttpError::MalformedBody(_))
        ));
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            json_object(&request(None, &big)),
            Err(HttpError::PayloadTooLarge { .. })
        ));
        assert!(json_object_or_empty(&request(None, " ")).unwrap().is_none());
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
                matches!(bearer_token(&with(bad)), Err(HttpError::MissingToken)),
                "{bad}"
            );
        }
        let without = http::Request::builder().body(Body::Empty).unwrap();
        assert!(matches!(
            bearer_token(&without),
            Err(HttpError::MissingToken)
        ));
    }

    #[test]
    fn user_id_from_path_parameters_or_raw_path() {
        let id = UserId::new();
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
        assert!(matches!(
            path_user_id(&bad),
            Err(HttpError::Domain(DomainError::Invalid(_)))
        ));
    }
}
