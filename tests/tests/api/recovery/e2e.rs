//! Recovery and change end to end: HTTP through `cargo lambda watch`, mail
//! requests through moto's SQS, `send-mail` invoked by scripts/mail-pump.py,
//! and the mails read back from the file transport's `.eml` files, as a
//! person would with curl and `make dev`.
//!
//! `make test` runs these with `--include-ignored` (E2E_BASE_URL,
//! E2E_MAIL_DIR). The forgotten-password timing, by hand against a running
//! stack: `cargo test -p api-tests forgot_password_timing -- --ignored --nocapture`.

use crate::e2e_client::E2eClient;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mongodb::bson::oid::ObjectId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new tolerable passphrase";

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
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let reply = self.0.call(method, path, None, token, body).await;
        (reply.status, reply.body)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, None, Some(body)).await
    }

    /// A fresh user: (id, e-mail, access token, refresh token).
    async fn sign_up(&self, prefix: &str) -> (String, String, String, String) {
        let name = format!("{prefix}{}", &ObjectId::new().to_hex()[16..]);
        let email = format!("{name}@example.com");
        let (status, registered) = self
            .post(
                "/auth/register",
                json!({ "username": name, "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, 201, "{registered}");
        let (status, tokens) = self.login(&email, PASSWORD).await;
        assert_eq!(status, 200, "{tokens}");
        let text = |field: &str| tokens[field].as_str().unwrap().to_string();
        (
            registered["id"].as_str().unwrap().to_string(),
            email,
            text("access_token"),
            text("refresh_token"),
        )
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    async fn profile(&self, id: &str, token: &str) -> (StatusCode, Value) {
        self.send(
            Method::GET,
            &format!("/users/{id}/full_profile"),
            Some(token),
            None,
        )
        .await
    }
}

fn mail_dir() -> PathBuf {
    std::env::var("E2E_MAIL_DIR")
        .expect("E2E_MAIL_DIR names the file transport's directory (run `make test`)")
        .into()
}

/// The mails to `to` so far whose subject is `subject`, oldest first
/// (the accounts' end-to-end tests read their restore mails with it too).
pub fn mails(to: &str, subject: &str) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(mail_dir())
        .unwrap()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter(|mail| {
            mail.contains(&format!("\r\nTo: {to}\r\n"))
                && mail.contains(&format!("\r\nSubject: {subject}\r\n"))
        })
        .collect()
}

/// Waits (30 s at most) until there are `count` such mails; the last one.
async fn wait_for_mail(to: &str, subject: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = mails(to, subject);
        if found.len() >= count {
            return found[count - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no mail {count} to {to} ({subject}) within 30 s in {}",
            mail_dir().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The token of the link to `/{page}?token=` in `mail`.
fn link_token(mail: &str, page: &str) -> String {
    let marker = format!("/{page}?token=");
    let (_, rest) = mail.split_once(&marker).expect("a link to the page");
    rest.split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_string()
}

fn token_in(mail: &str) -> String {
    let (_, rest) = mail.split_once("?token=").expect("a link with a token");
    rest.split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
#[ignore = "needs `cargo lambda watch` and the mail pump: run through `make test`"]
async fn registration_mails_a_verification_link_that_verifies_the_address() {
    let api = Api::from_env();
    let (id, email, token, _) = api.sign_up("verify").await;
    let (_, profile) = api.profile(&id, &token).await;
    assert_eq!(profile["email_verified"], false);
    let mail = wait_for_mail(&email, "Confirm your e-mail address", 1).await;
    assert!(mail.contains("MIME-Version: 1.0"));
    assert!(mail.contains("Content-Type: text/plain"));
    assert!(mail.contains("Content-Type: text/html"));
    assert!(mail.contains("/verify-email?token="));

    // Asked again: a second link.
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/users/{id}/email/verification"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let again = wait_for_mail(&email, "Confirm your e-mail address", 2).await;
    assert_ne!(token_in(&again), token_in(&mail));

    let (status, body) = api
        .post("/auth/email/verify", json!({ "token": token_in(&mail) }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, profile) = api.profile(&id, &token).await;
    assert_eq!(profile["email_verified"], true);
    let (status, body) = api
        .post("/auth/email/verify", json!({ "token": token_in(&mail) }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "urn:problem:invalid-mail-token");
}

#[tokio::test]
#[ignore = "needs `cargo lambda watch` and the mail pump: run through `make test`"]
async fn a_forgotten_password_is_reset_through_the_mailed_link() {
    let api = Api::from_env();
    let (id, email, token, refresh) = api.sign_up("forgot").await;
    let (status, body) = api
        .post("/auth/password/forgot", json!({ "email": email }))
        .await;
    assert_eq!(status, 202, "{body}");
    let mail = wait_for_mail(&email, "Reset your password", 1).await;
    assert!(mail.contains("/reset-password?token="));
    let reset = token_in(&mail);

    let (status, body) = api
        .post(
            "/auth/password/reset",
            json!({ "token": reset, "new_password": "forgot" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = api
        .post(
            "/auth/password/reset",
            json!({ "token": reset, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Every session ended; the token works once; the new password works.
    assert_eq!(api.profile(&id, &token).await.0, 401);
    let (status, _) = api
        .post("/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, 401);
    let (status, body) = api
        .post(
            "/auth/password/reset",
            json!({ "token": reset, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &body["type"]),
        (400, &json!("urn:problem:invalid-mail-token"))
    );
    assert_eq!(api.login(&email, PASSWORD).await.0, 401);
    assert_eq!(api.login(&email, NEW_PASSWORD).await.0, 200);
    let notice = wait_for_mail(&email, "Your password was changed", 1).await;
    assert!(!notice.contains("token="));
}

#[tokio::test]
#[ignore = "needs `cargo lambda watch` and the mail pump: run through `make test`"]
async fn a_password_change_ends_the_other_sessions_only() {
    let api = Api::from_env();
    let (id, email, token, _) = api.sign_up("change").await;
    let (_, other) = api.login(&email, PASSWORD).await;
    let path = format!("/users/{id}/password");
    let (status, body) = api
        .send(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({ "current_password": "not it at all", "new_password": NEW_PASSWORD })),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = api
        .send(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.profile(&id, &token).await.0, 200);
    let other_token = other["access_token"].as_str().unwrap();
    assert_eq!(api.profile(&id, other_token).await.0, 401);
    assert_eq!(api.login(&email, NEW_PASSWORD).await.0, 200);
    wait_for_mail(&email, "Your password was changed", 1).await;
}

#[tokio::test]
#[ignore = "needs `cargo lambda watch` and the mail pump: run through `make test`"]
async fn an_email_change_takes_effect_when_both_addresses_confirm() {
    let api = Api::from_env();
    let (id, email, token, _) = api.sign_up("move").await;
    let new_email = format!("moved.{}@example.org", &ObjectId::new().to_hex()[16..]);
    let (status, body) = api
        .send(
            Method::PUT,
            &format!("/users/{id}/email"),
            Some(&token),
            Some(json!({ "password": PASSWORD, "new_email": new_email })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let link = wait_for_mail(&new_email, "Confirm your new e-mail address", 1).await;
    let notice = wait_for_mail(&email, "Your e-mail address is being changed", 1).await;
    assert!(!notice.contains("/verify-email?token="));
    assert!(notice.contains("/cancel-email-change?token="));
    let (status, body) = api
        .post("/auth/email/verify", json!({ "token": token_in(&link) }))
        .await;
    assert_eq!(
        (status.as_u16(), &body["email_change"]),
        (200, &json!("waiting"))
    );
    let (_, profile) = api.profile(&id, &token).await;
    assert_eq!(
        profile["email"],
        email.as_str(),
        "unchanged until both confirm"
    );
    let confirm = link_token(&notice, "confirm-email-change");
    let (status, body) = api
        .post("/auth/email/verify", json!({ "token": confirm }))
        .await;
    assert_eq!(
        (status.as_u16(), &body["email_change"]),
        (200, &json!("applied"))
    );
    let (_, profile) = api.profile(&id, &token).await;
    assert_eq!(profile["email"], new_email.as_str());
    assert_eq!(profile["email_verified"], true);
    assert_eq!(api.login(&new_email, PASSWORD).await.0, 200);
    let told = wait_for_mail(&email, "Your account has a new e-mail address", 1).await;
    assert!(!told.contains("token="));
}

/// Review finding 1 (High), end to end for each of the owner's remedies:
/// an intruder with the password asks, from a session of their own, to move
/// the account to their address; the owner resets the password from the
/// mail, changes it, or logs out everywhere; the intruder's link (and, had
/// they read it, the current address's confirmation) is then refused, and
/// the account keeps its address. Before the fix: 200, and the address was
/// the intruder's.
#[tokio::test]
#[ignore = "needs `cargo lambda watch` and the mail pump: run through `make test`"]
async fn every_remedy_of_the_owner_voids_an_intruders_email_change() {
    let api = Api::from_env();
    for (n, remedy) in ["reset", "change", "logout_all"].into_iter().enumerate() {
        let (id, email, owner_token, _) = api.sign_up(&format!("victim{n}x")).await;
        let (_, intruder) = api.login(&email, PASSWORD).await;
        let intruder_token = intruder["access_token"].as_str().unwrap();
        let theirs = format!("intruder.{}@evil.example", &ObjectId::new().to_hex()[16..]);
        let (status, body) = api
            .send(
                Method::PUT,
                &format!("/users/{id}/email"),
                Some(intruder_token),
                Some(json!({ "password": PASSWORD, "new_email": theirs })),
            )
            .await;
        assert_eq!(status, 202, "{remedy}: {body}");
        let their_link = wait_for_mail(&theirs, "Confirm your new e-mail address", 1).await;
        let notice = wait_for_mail(&email, "Your e-mail address is being changed", 1).await;
        match remedy {
            "reset" => {
                let (status, _) = api
                    .post("/auth/password/forgot", json!({ "email": email }))
                    .await;
                assert_eq!(status, 202);
                let mail = wait_for_mail(&email, "Reset your password", 1).await;
                let (status, body) = api
                    .post(
                        "/auth/password/reset",
                        json!({ "token": token_in(&mail), "new_password": NEW_PASSWORD }),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
            "change" => {
                let (status, body) = api
                    .send(
                        Method::PUT,
                        &format!("/users/{id}/password"),
                        Some(&owner_token),
                        Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
            _ => {
                let (status, body) = api
                    .send(Method::POST, "/auth/logout_all", Some(&owner_token), None)
                    .await;
                assert_eq!(status, 200, "{body}");
            }
        }
        for stale in [
            token_in(&their_link),
            link_token(&notice, "confirm-email-change"),
        ] {
            let (status, body) = api
                .post("/auth/email/verify", json!({ "token": stale }))
                .await;
            assert_eq!(
                (status.as_u16(), &body["type"]),
                (400, &json!("urn:problem:invalid-mail-token")),
                "{remedy}"
            );
        }
        assert_eq!(api.login(&theirs, PASSWORD).await.0, 401, "{remedy}");
        assert_eq!(api.login(&theirs, NEW_PASSWORD).await.0, 401, "{remedy}");
        let password = if remedy == "logout_all" {
            PASSWORD
        } else {
            NEW_PASSWORD
        };
        assert_eq!(api.login(&email, password).await.0, 200, "{remedy}");
    }
}

/// The cancel link in the mail to the current address, with no session:
/// opening it changes nothing (a GET is a page's, never the token's); the
/// POST cancels the change and, as asked, ends every session.
#[tokio::test]
#[ignore = "needs `cargo lambda watch` and the mail pump: run through `make test`"]
async fn the_cancel_link_cancels_the_change_and_can_end_every_session() {
    let api = Api::from_env();
    let (id, email, token, refresh) = api.sign_up("cancel").await;
    let theirs = format!("cancel.{}@evil.example", &ObjectId::new().to_hex()[16..]);
    let (status, _) = api
        .send(
            Method::PUT,
            &format!("/users/{id}/email"),
            Some(&token),
            Some(json!({ "password": PASSWORD, "new_email": theirs })),
        )
        .await;
    assert_eq!(status, 202);
    let their_link = wait_for_mail(&theirs, "Confirm your new e-mail address", 1).await;
    let notice = wait_for_mail(&email, "Your e-mail address is being changed", 1).await;
    let cancel = link_token(&notice, "cancel-email-change");
    let (status, body) = api
        .post(
            "/auth/email/cancel",
            json!({ "token": cancel, "end_sessions": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], 1);
    let (status, _) = api
        .post("/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, 401);
    let (status, _) = api
        .post(
            "/auth/email/verify",
            json!({ "token": token_in(&their_link) }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .post("/auth/email/cancel", json!({ "token": cancel }))
        .await;
    assert_eq!(status, 400, "a link works once");
}

/// Requests for a known and an unknown address, interleaved; (known, unknown) in ms.
async fn forgot_timings(api: &Api, known: &str, rounds: usize) -> (Vec<f64>, Vec<f64>) {
    let unknown = format!("nobody.{}@example.com", ObjectId::new().to_hex());
    let (mut known_ms, mut unknown_ms) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (address, into) in [(known, &mut known_ms), (unknown.as_str(), &mut unknown_ms)] {
            let started = Instant::now();
            let (status, body) = api
                .post("/auth/password/forgot", json!({ "email": address }))
                .await;
            into.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 202, "{body}");
        }
    }
    (known_ms, unknown_ms)
}

fn summary(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    format!(
        "n={} mean={mean:.2} p50={:.2} p90={:.2} max={:.2} ms",
        samples.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    )
}

#[tokio::test]
#[ignore = "needs `cargo lambda watch` and the mail pump: run through `make test`"]
async fn forgot_password_answers_known_and_unknown_alike_and_only_the_known_gets_mail() {
    let api = Api::from_env();
    let (_, known, _, _) = api.sign_up("enum").await;
    let unknown = format!("nobody.{}@example.com", ObjectId::new().to_hex());
    let (known_status, known_body) = api
        .post("/auth/password/forgot", json!({ "email": known }))
        .await;
    let (unknown_status, unknown_body) = api
        .post("/auth/password/forgot", json!({ "email": unknown }))
        .await;
    assert_eq!((known_status, &known_body), (unknown_status, &unknown_body));
    wait_for_mail(&known, "Reset your password", 1).await;
    // The unknown address's request went the same way, a moment later: by
    // the time the pump has taken it, no mail was written for it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(mails(&unknown, "Reset your password").is_empty());
    // Timing is measured, not asserted here (shared machines): see
    // forgot_password_timing for the figures.
    let (mut known_ms, mut unknown_ms) = forgot_timings(&api, &known, 5).await;
    eprintln!("forgot-password known:   {}", summary(&mut known_ms));
    eprintln!("forgot-password unknown: {}", summary(&mut unknown_ms));
}

/// The figures the issue asks for: `--nocapture` prints them.
#[tokio::test]
#[ignore = "a measurement: run by hand against a running stack, with --nocapture"]
async fn forgot_password_timing() {
    let api = Api::from_env();
    let (_, known, _, _) = api.sign_up("timing").await;
    let rounds = std::env::var("FORGOT_TIMING_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    // Warm both paths first (the function's cold start).
    forgot_timings(&api, &known, 3).await;
    let (mut known_ms, mut unknown_ms) = forgot_timings(&api, &known, rounds).await;
    println!("forgot-password known:   {}", summary(&mut known_ms));
    println!("forgot-password unknown: {}", summary(&mut unknown_ms));
}
