//! The one HTTP client of the end-to-end modules: requests to the running
//! `cargo lambda watch` named by `E2E_BASE_URL`, every answer read as JSON.
//! Each module wraps it in its own `Api` with the helpers its story needs.

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

pub struct E2eClient {
    base: String,
    http: Client,
}

/// An answer: its status, `Content-Type` and JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl E2eClient {
    pub fn from_env() -> Self {
        Self::from_var("E2E_BASE_URL")
    }

    /// The watcher named by `var` (`make test` runs a second one with a
    /// deletion grace period: `E2E_GRACE_BASE_URL`).
    pub fn from_var(var: &str) -> Self {
        Self {
            base: std::env::var(var).unwrap_or_else(|_| {
                panic!("{var} must point at a running `cargo lambda watch` (run `make test`)")
            }),
            http: Client::new(),
        }
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `body` as JSON, the bearer `token` and `user_agent` when given;
    /// an answer that is not JSON fails the test, naming the path.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user_agent: Option<&str>,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(user_agent) = user_agent {
            request = request.header("user-agent", user_agent);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the local API answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{status} {path}: not JSON: {text:?}"));
        Reply {
            status,
            content_type,
            body,
        }
    }
}
