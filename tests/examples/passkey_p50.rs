//! Begin and finish p50 of the passkey ceremonies against a running stack
//! (`make dev`), with the tests' software authenticator as the browser:
//!
//!     cargo run -p api-tests --example passkey_p50 -- http://localhost:9000 25
//!
//! Registration, passwordless sign-in (discoverable, and with the e-mail
//! first), and the passkey as the second step after a password (the last
//! account turns TOTP on, with a pyotp code: the project's .venv).
//!
//! Wall time per HTTP request, client side (the local router and a debug
//! build unless `make dev-release`): for comparing, not for capacity.

// Its forging helpers are the tests', unused here.
#[allow(dead_code)]
#[path = "../tests/api/passkeys/authenticator.rs"]
mod authenticator;

use std::time::{Duration, Instant};

use authenticator::{Browser, SoftKey};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

struct Stack {
    base: String,
    http: reqwest::Client,
}

impl Stack {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (Value, Duration) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let response = request.send().await.expect("the stack answers");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        let took = started.elapsed();
        assert!(status.is_success(), "{path}: {status} {body}");
        (body, took)
    }
}

fn p50(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://localhost:9000".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(25);
    let origin = base.replace("127.0.0.1", "localhost");
    let browser = Browser {
        origin: &origin,
        rp_id: "localhost",
    };
    let stack = Stack {
        base: base.clone(),
        http: reqwest::Client::new(),
    };
    let tag = format!("{:x}", std::process::id());
    let (mut begin_reg, mut finish_reg, mut begin_in, mut finish_in) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut begin_email, mut begin_mfa, mut finish_mfa) = (Vec::new(), Vec::new(), Vec::new());
    let mut key = SoftKey::new(true);
    let mut last = (String::new(), String::new(), String::new());
    // Registration: one passkey per account (at most 20 per account).
    for run in 0..runs {
        let name = format!("p50{tag}x{run}");
        let email = format!("{name}@example.com");
        let (registered, _) = stack
            .post(
                "/auth/register",
                None,
                json!({ "username": name, "email": email, "password": PASSWORD }),
            )
            .await;
        let id = registered["id"].as_str().unwrap().to_string();
        let (login, _) = stack
            .post(
                "/auth/login",
                None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        let token = login["access_token"].as_str().unwrap().to_string();
        key = SoftKey::new(true);
        let (options, took) = stack
            .post(
                &format!("/users/{id}/passkeys/options"),
                Some(&token),
                json!({}),
            )
            .await;
        begin_reg.push(took);
        let credential = key.create(&options, browser).await;
        let body =
            json!({ "ceremony": options["ceremony"], "name": "p50", "credential": credential });
        let (_, took) = stack
            .post(&format!("/users/{id}/passkeys"), Some(&token), body)
            .await;
        finish_reg.push(took);
        last = (id, email, token);
    }
    // Sign-in: the last key, again and again (its counter goes up each time).
    for _ in 0..runs {
        let (options, took) = stack.post("/auth/passkey/options", None, json!({})).await;
        begin_in.push(took);
        let assertion = key.get(&options, browser).await;
        let body = json!({ "ceremony": options["ceremony"], "credential": assertion });
        let (_, took) = stack.post("/auth/passkey/verify", None, body).await;
        finish_in.push(took);
    }
    // The e-mail first: the last account's passkey, allowed by id.
    let (id, email, token) = last;
    for _ in 0..runs {
        let (options, took) = stack
            .post("/auth/passkey/options", None, json!({ "email": email }))
            .await;
        begin_email.push(took);
        let assertion = key.get(&options, browser).await;
        let body = json!({ "ceremony": options["ceremony"], "credential": assertion });
        stack.post("/auth/passkey/verify", None, body).await;
    }
    // The second factor: TOTP on, then password + passkey, again and again.
    let (enrolled, _) = stack
        .post(
            &format!("/users/{id}/mfa/totp"),
            Some(&token),
            json!({ "password": PASSWORD }),
        )
        .await;
    let code = api_tests::pyotp_code(enrolled["secret"].as_str().unwrap(), 0);
    stack
        .post(
            &format!("/users/{id}/mfa/totp/confirm"),
            Some(&token),
            json!({ "code": code }),
        )
        .await;
    for _ in 0..runs {
        let (login, _) = stack
            .post(
                "/auth/login",
                None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        let mfa_token = login["mfa_token"]
            .as_str()
            .expect("a second step")
            .to_string();
        let (options, took) = stack
            .post(
                "/auth/mfa/passkey/options",
                None,
                json!({ "mfa_token": mfa_token }),
            )
            .await;
        begin_mfa.push(took);
        let assertion = key.get(&options, browser).await;
        let body = json!({ "mfa_token": mfa_token, "credential": assertion });
        let (_, took) = stack.post("/auth/mfa/verify", None, body).await;
        finish_mfa.push(took);
    }
    println!("{runs} runs against {base}: p50 in ms");
    println!(
        "  POST /users/{{id}}/passkeys/options  {:.1}",
        p50(begin_reg)
    );
    println!(
        "  POST /users/{{id}}/passkeys          {:.1}",
        p50(finish_reg)
    );
    println!("  POST /auth/passkey/options          {:.1}", p50(begin_in));
    println!(
        "  POST /auth/passkey/verify           {:.1}",
        p50(finish_in)
    );
    println!(
        "  POST /auth/passkey/options {{email}}  {:.1}",
        p50(begin_email)
    );
    println!(
        "  POST /auth/mfa/passkey/options      {:.1}",
        p50(begin_mfa)
    );
    println!(
        "  POST /auth/mfa/verify (passkey)     {:.1}",
        p50(finish_mfa)
    );
}
