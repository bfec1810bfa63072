//! CORS end to end, as a browser on another origin meets it: the functions
//! answer preflights and CORS headers themselves (shared/src/http/cors.rs),
//! since the template has no API-level CORS that would shadow them. `make
//! test` starts the watcher with `CORS_ALLOWED_ORIGINS=https://app.example`;
//! the demo public client's origin (`http://localhost:8765`) is in its
//! clients document.

use reqwest::{Client, Method, Response, StatusCode};

const API_ORIGIN: &str = "https://app.example";
const CLIENT_ORIGIN: &str = "http://localhost:8765";
const OTHER_ORIGIN: &str = "https://evil.example";

async fn send(method: Method, path: &str, origin: &str, asked: &str) -> Response {
    let base = std::env::var("E2E_BASE_URL").expect("E2E_BASE_URL (run `make test`)");
    Client::new()
        .request(method, format!("{base}{path}"))
        .header("origin", origin)
        .header("access-control-request-method", asked)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("the local API answers")
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn the_api_answers_preflights_for_its_listed_origins_only() {
    // One function's path, and a path two functions share by method.
    for (path, asked) in [
        ("/auth/login", "POST"),
        ("/users/000000000000000000000000/mfa/totp", "DELETE"),
    ] {
        let allowed = send(Method::OPTIONS, path, API_ORIGIN, asked).await;
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            header(&allowed, "access-control-allow-origin"),
            Some(API_ORIGIN)
        );
        let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
        assert!(methods.contains(asked), "{path}: {methods}");
        let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default();
        assert!(headers.contains("authorization"), "{path}: {headers}");
        assert_eq!(header(&allowed, "vary"), Some("Origin"));

        let refused = send(Method::OPTIONS, path, OTHER_ORIGIN, asked).await;
        assert_eq!(refused.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            header(&refused, "access-control-allow-origin"),
            None,
            "{path}"
        );
        assert_eq!(
            header(&refused, "access-control-allow-methods"),
            None,
            "{path}"
        );
    }
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn the_api_s_answers_errors_included_are_readable_from_a_listed_origin() {
    // No body: the problem answer must be readable by the app that sent it.
    let answer = send(Method::POST, "/auth/login", API_ORIGIN, "POST").await;
    assert!(answer.status().is_client_error(), "{}", answer.status());
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some(API_ORIGIN)
    );
    let other = send(Method::POST, "/auth/login", OTHER_ORIGIN, "POST").await;
    assert_eq!(header(&other, "access-control-allow-origin"), None);
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn the_provider_allows_its_clients_origins_and_the_key_documents_any() {
    let client = send(Method::OPTIONS, "/oauth2/token", CLIENT_ORIGIN, "POST").await;
    assert_eq!(client.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&client, "access-control-allow-origin"),
        Some(CLIENT_ORIGIN)
    );
    // The API's origin is not a client's: the token endpoint does not allow it.
    let api_only = send(Method::OPTIONS, "/oauth2/token", API_ORIGIN, "POST").await;
    assert_eq!(header(&api_only, "access-control-allow-origin"), None);
    let userinfo = send(Method::OPTIONS, "/oauth2/userinfo", CLIENT_ORIGIN, "GET").await;
    assert_eq!(
        header(&userinfo, "access-control-allow-origin"),
        Some(CLIENT_ORIGIN)
    );

    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let document = send(Method::GET, path, OTHER_ORIGIN, "GET").await;
        assert_eq!(document.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&document, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
    }
}
