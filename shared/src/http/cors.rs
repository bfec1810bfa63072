//! CORS, answered by the functions themselves. API Gateway's API-level CORS
//! setting would answer every preflight itself and drop the functions' own
//! CORS headers, so one list of origins would serve every route; but the
//! provider's token and userinfo endpoints allow the registered clients'
//! origins and the key documents allow any. So the template has no API-level
//! CORS: each route that browsers call cross-origin has an `OPTIONS` route to
//! its function (scripts/functions.py writes them for the functions that
//! need `cors`), and the function answers both from here.
//!
//! Three policies: the API's routes allow `CORS_ALLOWED_ORIGINS` (the
//! template's `CorsAllowedOrigins`; none when unset), the provider's
//! endpoints their clients' origins (`http::oauth`), the key documents `*`.

use std::sync::OnceLock;

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

/// The methods and headers a preflight allows: what the API's routes take.
const API_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "authorization, content-type";
/// How long a browser may keep a preflight's answer.
const MAX_AGE_SECONDS: &str = "600";

/// The variable naming the browser origins the API's routes allow.
pub const ALLOWED_ORIGINS_VARIABLE: &str = "CORS_ALLOWED_ORIGINS";

/// The CORS answer to one request: its `Origin` echoed if allowed.
pub struct Cors {
    origin: Option<HeaderValue>,
    methods: &'static str,
}

impl Cors {
    /// For a request whose origin `allowed` judges, to a route taking `methods`.
    pub fn of(request: &Request, methods: &'static str, allowed: impl Fn(&str) -> bool) -> Self {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .filter(|origin| origin.to_str().is_ok_and(&allowed))
            .cloned();
        Self { origin, methods }
    }

    /// For one of the API's routes: the origins of `CORS_ALLOWED_ORIGINS`.
    pub fn api(request: &Request) -> Self {
        let allowed = api_origins();
        Self::of(request, API_METHODS, |origin| {
            allowed.iter().any(|listed| listed == origin)
        })
    }

    /// `204` to a preflight: with the allowances for an allowed origin,
    /// without them (so the browser refuses) for any other.
    pub fn preflight(&self) -> Response<Body> {
        let mut response = Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::Empty)
            .expect("static response");
        if self.origin.is_some() {
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(self.methods),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECONDS),
            );
        }
        self.apply(response)
    }

    pub fn apply(&self, mut response: Response<Body>) -> Response<Body> {
        let headers = response.headers_mut();
        // The answer depends on the origin: caches must key on it.
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = &self.origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        response
    }
}

/// Public documents (the keys, discovery): any origin may read them, and
/// without credentials, so `*` and no `Vary`.
pub fn public(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `CORS_ALLOWED_ORIGINS`, read once per process: comma-separated origins,
/// blanks dropped. `*` is not honoured (it would let any site read the API
/// with a stolen token): an origin must be listed to be allowed.
fn api_origins() -> &'static [String] {
    static ORIGINS: OnceLock<Vec<String>> = OnceLock::new();
    ORIGINS
        .get_or_init(|| parse_origins(&std::env::var(ALLOWED_ORIGINS_VARIABLE).unwrap_or_default()))
}

fn parse_origins(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|origin| origin.trim().trim_end_matches('/'))
        .filter(|origin| !origin.is_empty() && *origin != "*")
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>) -> Request {
        let mut builder =
            lambda_http::http::Request::builder().uri("https://api.example/auth/login");
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn allow_app(origin: &str) -> bool {
        origin == "https://app.example"
    }

    #[test]
    fn origins_are_listed_exactly_and_star_is_ignored() {
        assert_eq!(
            parse_origins(" https://app.example/ ,,*, http://localhost:3000"),
            ["https://app.example", "http://localhost:3000"]
        );
        assert!(parse_origins("").is_empty());
    }

    #[test]
    fn an_allowed_origin_gets_the_allowances_and_is_echoed() {
        let cors = Cors::of(
            &request(Some("https://app.example")),
            API_METHODS,
            allow_app,
        );
        let response = cors.preflight();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let headers = response.headers();
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], API_METHODS);
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_HEADERS],
            ALLOWED_HEADERS
        );
        assert_eq!(headers[header::VARY], "Origin");
    }

    #[test]
    fn another_origin_or_none_gets_nothing_to_read_with() {
        for origin in [
            Some("https://evil.example"),
            Some("https://app.example.evil"),
            None,
        ] {
            let cors = Cors::of(&request(origin), API_METHODS, allow_app);
            let response = cors.apply(cors.preflight());
            let headers = response.headers();
            assert!(
                !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                "{origin:?}"
            );
            assert!(
                !headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS),
                "{origin:?}"
            );
            assert_eq!(headers[header::VARY], "Origin");
        }
    }
}
