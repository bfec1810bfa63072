//! Issue #22 end to end, through `cargo lambda watch` on the real paths:
//! discovery names revocation, introspection and (the stack runs with
//! `DYNAMIC_CLIENT_REGISTRATION=open`) registration; a registration, its
//! refusals; a machine token (`client_credentials`) for a configured
//! resource, introspected active, refused revocation (no session), and
//! `invalid_target` for an unknown resource. The browser side (a registered
//! MCP client through the code flow) is tests/browser/agents_story.py.
//! `make test` runs it with `--include-ignored`, giving the machine client's
//! id and secret in `E2E_MACHINE_CLIENT` and `E2E_MACHINE_SECRET` and its
//! resource in `E2E_MCP_RESOURCE`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Stack {
    base: String,
    http: Client,
}

impl Stack {
    fn from_env() -> Self {
        Self {
            base: std::env::var("E2E_BASE_URL").expect("E2E_BASE_URL (run `make test`)"),
            http: Client::new(),
        }
    }

    async fn read(response: reqwest::Response) -> (StatusCode, Value) {
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body)
    }

    async fn form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        pairs: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            );
        if let Some((id, secret)) = basic {
            request = request.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
            );
        }
        Self::read(request.send().await.expect("the stack answers")).await
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} (run `make test`)"))
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn machine_tokens_introspection_revocation_and_registration_over_http() {
    let stack = Stack::from_env();
    let (client_id, secret, resource) = (
        env("E2E_MACHINE_CLIENT"),
        env("E2E_MACHINE_SECRET"),
        env("E2E_MCP_RESOURCE"),
    );
    let basic = Some((client_id.as_str(), secret.as_str()));

    let discovery = Stack::read(
        stack
            .http
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                stack.base
            ))
            .send()
            .await
            .unwrap(),
    )
    .await
    .1;
    let issuer = discovery["issuer"].as_str().unwrap();
    assert_eq!(
        discovery["revocation_endpoint"],
        format!("{issuer}/oauth2/revoke")
    );
    assert_eq!(
        discovery["introspection_endpoint"],
        format!("{issuer}/oauth2/introspect")
    );
    assert_eq!(
        discovery["registration_endpoint"],
        format!("{issuer}/oauth2/register")
    );

    // A machine token for the configured resource, asked for in another spelling.
    let spelled = resource.replace("http://", "HTTP://");
    let (status, tokens) = stack
        .form(
            "/oauth2/token",
            basic,
            &[("grant_type", "client_credentials"), ("resource", &spelled)],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let machine = claims(access);
    assert_eq!(machine["sub"], client_id.as_str());
    assert_eq!(machine["aud"], resource.as_str());
    assert!(tokens.get("refresh_token").is_none());

    let (status, seen) = stack
        .form("/oauth2/introspect", basic, &[("token", access)])
        .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], client_id.as_str());
    let (_, garbage) = stack
        .form("/oauth2/introspect", basic, &[("token", "garbage")])
        .await;
    assert_eq!(garbage, json!({"active": false}));

    let (status, revoked) = stack
        .form("/oauth2/revoke", basic, &[("token", access)])
        .await;
    assert_eq!(status, 400, "{revoked}");
    assert_eq!(revoked["error"], "unsupported_token_type");
    let (status, unknown) = stack
        .form("/oauth2/revoke", basic, &[("token", "unknown")])
        .await;
    assert_eq!((status, unknown), (StatusCode::OK, json!({})));

    let (status, refused) = stack
        .form(
            "/oauth2/token",
            basic,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://unknown.example"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_target");

    // Registration: a public client, and the metadata refusals.
    let register = |body: Value| {
        stack
            .http
            .post(format!("{}/oauth2/register", stack.base))
            .json(&body)
            .send()
    };
    let (status, registered) = Stack::read(
        register(json!({
            "client_name": "e2e agent",
            "redirect_uris": ["http://127.0.0.1:4242/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    assert!(registered["client_id"]
        .as_str()
        .unwrap()
        .starts_with("dyn_"));
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert!(registered.get("client_secret").is_none());
    let (status, refused) = Stack::read(
        register(json!({"redirect_uris": ["http://app.example/cb"]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_redirect_uri");
    let (status, refused) = Stack::read(
        register(json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_client_metadata");
}
