//! Passkeys end to end over HTTP, through `cargo lambda watch` on the real
//! paths (both slash forms), with the software authenticator as the browser.
//! `make test` runs it with `--include-ignored`.

use crate::e2e_client::E2eClient;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mongodb::bson::oid::ObjectId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::authenticator::{Browser, SoftKey};

const PASSWORD: &str = "correct horse battery staple";

async fn send(
    api: &E2eClient,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let reply = api.call(method, path, None, token, body).await;
    (reply.status, reply.body)
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn register_a_passkey_sign_in_with_it_and_remove_it() {
    let api = E2eClient::from_env();
    // The stack's PUBLIC_BASE_URL is a loopback address: its RP ID and
    // origin are `localhost` (config::passkey_settings).
    let base = std::env::var("E2E_BASE_URL").unwrap();
    let origin = base.replace("127.0.0.1", "localhost");
    let browser = Browser {
        origin: &origin,
        rp_id: "localhost",
    };
    let name = format!("pk{}", &ObjectId::new().to_hex()[16..]);
    let email = format!("{name}@example.com");
    let body = json!({ "username": name, "email": email, "password": PASSWORD });
    let (status, registered) = send(&api, Method::POST, "/auth/register", None, Some(body)).await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["id"].as_str().unwrap().to_string();
    let body = json!({ "email": email, "password": PASSWORD });
    let (status, login) = send(&api, Method::POST, "/auth/login", None, Some(body)).await;
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap().to_string();

    let mut key = SoftKey::new(true);
    let (status, options) = send(
        &api,
        Method::POST,
        &format!("/users/{id}/passkeys/options/"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{options}");
    let credential = key.create(&options, browser).await;
    let body =
        json!({ "ceremony": options["ceremony"], "name": "E2E key", "credential": credential });
    let (status, added) = send(
        &api,
        Method::POST,
        &format!("/users/{id}/passkeys"),
        Some(&token),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{added}");

    let (status, options) = send(&api, Method::POST, "/auth/passkey/options/", None, None).await;
    assert_eq!(status, 200, "{options}");
    let assertion = key.get(&options, browser).await;
    let body = json!({ "ceremony": options["ceremony"], "credential": assertion });
    let (status, tokens) = send(
        &api,
        Method::POST,
        "/auth/passkey/verify",
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let signed_in = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(signed_in)["amr"], json!(["pop", "swk", "mfa"]));
    // Replayed: refused.
    let (status, replayed) = send(
        &api,
        Method::POST,
        "/auth/passkey/verify/",
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, 401, "{replayed}");
    assert_eq!(replayed["type"], "urn:problem:passkey-refused");

    // The passkey's fresh sign-in is a step-up: it lists and removes.
    let (status, listed) = send(
        &api,
        Method::GET,
        &format!("/users/{id}/passkeys/"),
        Some(signed_in),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["passkeys"][0]["name"], "E2E key");
    let passkey_id = added["id"].as_str().unwrap();
    // Renamed (PATCH, both slash forms route to rename-passkey).
    for (path, name) in [("", "Renamed"), ("/", "Renamed again")] {
        let (status, renamed) = send(
            &api,
            Method::PATCH,
            &format!("/users/{id}/passkeys/{passkey_id}{path}"),
            Some(signed_in),
            Some(json!({ "name": name })),
        )
        .await;
        assert_eq!(status, 200, "{renamed}");
        assert_eq!(renamed["name"], name);
    }
    let (status, removed) = send(
        &api,
        Method::DELETE,
        &format!("/users/{id}/passkeys/{passkey_id}/"),
        Some(signed_in),
        None,
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    let (status, listed) = send(
        &api,
        Method::GET,
        &format!("/users/{id}/passkeys"),
        Some(signed_in),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["passkeys"], json!([]));
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn a_passkey_as_the_second_factor_after_a_password() {
    let api = E2eClient::from_env();
    let base = std::env::var("E2E_BASE_URL").unwrap();
    let origin = base.replace("127.0.0.1", "localhost");
    let browser = Browser {
        origin: &origin,
        rp_id: "localhost",
    };
    let name = format!("pkm{}", &ObjectId::new().to_hex()[16..]);
    let email = format!("{name}@example.com");
    let body = json!({ "username": name, "email": email, "password": PASSWORD });
    let (status, registered) = send(&api, Method::POST, "/auth/register", None, Some(body)).await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["id"].as_str().unwrap().to_string();
    // Started before the TOTP code is made (the watcher builds a function on
    // its first request, which may take minutes): 401 without a token.
    send(
        &api,
        Method::POST,
        &format!("/users/{id}/mfa/totp/confirm"),
        None,
        Some(json!({})),
    )
    .await;
    let credentials = json!({ "email": email, "password": PASSWORD });
    let (status, login) = send(
        &api,
        Method::POST,
        "/auth/login",
        None,
        Some(credentials.clone()),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap().to_string();
    // Two-step sign-in on (TOTP, codes from pyotp), and a passkey.
    let (status, enrolled) = send(
        &api,
        Method::POST,
        &format!("/users/{id}/mfa/totp"),
        Some(&token),
        Some(json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{enrolled}");
    let code = api_tests::pyotp_code(enrolled["secret"].as_str().unwrap(), 0);
    let (status, confirmed) = send(
        &api,
        Method::POST,
        &format!("/users/{id}/mfa/totp/confirm"),
        Some(&token),
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let mut key = SoftKey::new(true);
    let (status, options) = send(
        &api,
        Method::POST,
        &format!("/users/{id}/passkeys/options"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{options}");
    let credential = key.create(&options, browser).await;
    let body = json!({ "ceremony": options["ceremony"], "name": "E2E", "credential": credential });
    let (status, added) = send(
        &api,
        Method::POST,
        &format!("/users/{id}/passkeys"),
        Some(&token),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{added}");

    // The password, then the passkey (both slash forms).
    let (status, login) = send(&api, Method::POST, "/auth/login", None, Some(credentials)).await;
    assert_eq!(status, 200, "{login}");
    let mfa_token = login["mfa_token"]
        .as_str()
        .expect("a second step")
        .to_string();
    let (status, options) = send(
        &api,
        Method::POST,
        "/auth/mfa/passkey/options/",
        None,
        Some(json!({ "mfa_token": mfa_token })),
    )
    .await;
    assert_eq!(status, 200, "{options}");
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        key.credential_id()
    );
    let assertion = key.get(&options, browser).await;
    let body = json!({ "mfa_token": mfa_token, "credential": assertion });
    let (status, tokens) = send(
        &api,
        Method::POST,
        "/auth/mfa/verify/",
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["pwd", "pop", "swk", "mfa"]));
    assert_eq!(claims(access)["sub"], id.as_str());
    // Replayed: the login's second step is spent.
    let (status, replayed) = send(&api, Method::POST, "/auth/mfa/verify", None, Some(body)).await;
    assert_eq!(status, 401, "{replayed}");
    assert_eq!(replayed["type"], "urn:problem:invalid-mfa-token");
}
