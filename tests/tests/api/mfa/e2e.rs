//! The second factor end to end over HTTP, through `cargo lambda watch` on the
//! real paths, with codes from pyotp (an implementation independent of ours).
//! `make test` runs it with `--include-ignored` (see e2e.rs for a manual run).

use crate::e2e_client::E2eClient;
use api_tests::pyotp_code;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mongodb::bson::oid::ObjectId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

struct Api(E2eClient);

impl Api {
    fn from_env() -> Self {
        Self(E2eClient::from_env())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let body = (!body.is_null()).then_some(body);
        let reply = self.0.call(method, path, None, token, body).await;
        (reply.status, reply.body)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, token, body).await
    }
}

/// The RFC 6238 time step of now (30 s), as the server counts it.
fn time_step() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_secs() / 30
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn enrol_log_in_with_a_code_use_a_recovery_code_and_disable() {
    let api = Api::from_env();
    let name = format!("mfa{}", &ObjectId::new().to_hex()[16..]);
    let email = format!("{name}@example.com");
    let (status, registered) = api
        .post(
            "/auth/register",
            None,
            json!({ "username": name, "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["id"].as_str().unwrap().to_string();
    // The watcher builds each function on its first request, which may wait
    // minutes behind another build: started now, without a token (401), so
    // that no TOTP code below expires while its function is built.
    for (method, path) in [
        (Method::POST, format!("/users/{id}/mfa/totp/confirm")),
        (Method::POST, "/auth/mfa/verify".to_string()),
        (Method::POST, format!("/users/{id}/mfa/recovery-codes")),
        (Method::DELETE, format!("/users/{id}/mfa/totp")),
    ] {
        api.send(method, &path, None, json!({})).await;
    }
    let credentials = json!({ "email": email, "password": PASSWORD });
    let (status, login) = api.post("/auth/login", None, credentials.clone()).await;
    assert_eq!(status, 200, "{login}");
    let token = login["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&token)["amr"], json!(["pwd"]));

    // Enrol (both slash forms are routed), then confirm with pyotp's code.
    let (status, enrolled) = api
        .post(
            &format!("/users/{id}/mfa/totp/"),
            Some(&token),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, 200, "{enrolled}");
    let secret = enrolled["secret"].as_str().unwrap().to_string();
    assert!(enrolled["otpauth_uri"].as_str().unwrap().contains(&secret));
    assert!(enrolled["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let (status, confirmed) = api
        .post(
            &format!("/users/{id}/mfa/totp/confirm"),
            Some(&token),
            json!({ "code": pyotp_code(&secret, 0) }),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);

    // The password alone no longer logs in: an mfa_token, no tokens.
    let (status, first) = api.post("/auth/login", None, credentials.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["mfa_required"], true, "{first}");
    assert!(first.get("access_token").is_none());
    let mfa_token = first["mfa_token"].as_str().unwrap();
    let next = pyotp_code(&secret, 1);
    // The step `next` belongs to is at most this one; later codes must pass it.
    let next_step = time_step() + 1;
    let (status, verified) = api
        .post(
            "/auth/mfa/verify",
            None,
            json!({ "mfa_token": mfa_token, "code": next }),
        )
        .await;
    assert_eq!(status, 200, "{verified}");
    let mfa_access = verified["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&mfa_access)["amr"], json!(["pwd", "otp"]));
    assert!(claims(&mfa_access)["auth_time"].as_u64().unwrap() > 0);

    // The same code again, with a new mfa_token: refused.
    let (_, second) = api.post("/auth/login", None, credentials.clone()).await;
    let second_token = second["mfa_token"].as_str().unwrap().to_string();
    let (status, replay) = api
        .post(
            "/auth/mfa/verify",
            None,
            json!({ "mfa_token": second_token, "code": next }),
        )
        .await;
    assert_eq!(status, 401, "{replay}");
    assert_eq!(replay["type"], "urn:problem:invalid-mfa-code");

    // A recovery code works once.
    let (status, recovered) = api
        .post(
            "/auth/mfa/verify",
            None,
            json!({ "mfa_token": second_token, "recovery_code": codes[0] }),
        )
        .await;
    assert_eq!(status, 200, "{recovered}");
    let (_, third) = api.post("/auth/login", None, credentials.clone()).await;
    let (status, reused) = api
        .post(
            "/auth/mfa/verify",
            None,
            json!({ "mfa_token": third["mfa_token"], "recovery_code": codes[0] }),
        )
        .await;
    assert_eq!(status, 401, "{reused}");
    assert_eq!(reused["type"], "urn:problem:invalid-mfa-code");

    // New recovery codes (step-up, and a TOTP code of a step after the one
    // `next` spent: wait for the clock to reach that step, then take the next).
    while time_step() < next_step {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let (status, regenerated) = api
        .post(
            &format!("/users/{id}/mfa/recovery-codes"),
            Some(&mfa_access),
            json!({ "code": pyotp_code(&secret, 1) }),
        )
        .await;
    assert_eq!(status, 200, "{regenerated}");
    let fresh: Vec<String> = regenerated["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|code| !codes.contains(code)));

    // Disable with step-up: the login just made is recent. The old set no
    // longer works; the new one does.
    let disable =
        |recovery_code: &str| json!({ "password": PASSWORD, "recovery_code": recovery_code });
    let path = format!("/users/{id}/mfa/totp");
    let (status, refused) = api
        .send(Method::DELETE, &path, Some(&mfa_access), disable(&codes[1]))
        .await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["type"], "urn:problem:invalid-mfa-code");
    let (status, disabled) = api
        .send(Method::DELETE, &path, Some(&mfa_access), disable(&fresh[0]))
        .await;
    assert_eq!(status, 200, "{disabled}");
    let (status, plain) = api.post("/auth/login", None, credentials).await;
    assert_eq!(status, 200, "{plain}");
    assert!(plain["access_token"].is_string(), "{plain}");

    let (status, profile) = api
        .send(
            Method::GET,
            &format!("/users/{id}/full_profile/"),
            Some(&mfa_access),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["email"], email);
}
