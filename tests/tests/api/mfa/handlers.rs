//! The second factor through the handlers, against a real database: TOTP
//! codes come from pyotp, an implementation independent of ours.

use api_tests::{pyotp_code, Answer, Event, Function, SignedUp, TestApp, PASSWORD};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mongodb::bson::{doc, oid::ObjectId};
use serde_json::{json, Value};
use users_core::domain::tokens::{Authentication, Caller, TokenSigner};
use users_core::domain::values::{SessionId, UserId};

fn on_user(method: &str, route: &str, user: &SignedUp, token: &str, body: Value) -> Event {
    Event::http_api(method, route)
        .user_id(&user.user_id)
        .bearer(token)
        .json(body)
}

async fn enrol(app: &TestApp, user: &SignedUp, password: &str) -> Answer {
    let event = on_user(
        "POST",
        "/users/{user_id}/mfa/totp",
        user,
        &user.access_token,
        json!({ "password": password }),
    );
    app.call(Function::EnrolTotp, event).await
}

async fn confirm(app: &TestApp, user: &SignedUp, code: &str) -> Answer {
    let event = on_user(
        "POST",
        "/users/{user_id}/mfa/totp/confirm",
        user,
        &user.access_token,
        json!({ "code": code }),
    );
    app.call(Function::ConfirmTotp, event).await
}

async fn verify(app: &TestApp, body: Value) -> Answer {
    app.call(
        Function::VerifyMfa,
        Event::http_api("POST", "/auth/mfa/verify").json(body),
    )
    .await
}

/// The `mfa_token` of a login with the right password.
async fn mfa_token(app: &TestApp, name: &str) -> String {
    let answer = app.login(&format!("{name}@example.com"), PASSWORD).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["mfa_required"], true, "{}", answer.body);
    assert_eq!(answer.body["expires_in"], 300);
    assert!(answer.body.get("access_token").is_none(), "{}", answer.body);
    answer.body["mfa_token"].as_str().unwrap().to_string()
}

/// Signs up `name` and enables a factor: (user, secret, recovery codes).
pub(crate) async fn with_factor(app: &TestApp, name: &str) -> (SignedUp, String, Vec<String>) {
    let user = app.sign_up(name).await;
    let enrolled = enrol(app, &user, PASSWORD).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let secret = enrolled.body["secret"].as_str().unwrap().to_string();
    let confirmed = confirm(app, &user, &pyotp_code(&secret, 0)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let codes = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect();
    (user, secret, codes)
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn event_kinds(app: &TestApp) -> Vec<String> {
    app.outbox_in_order()
        .await
        .iter()
        .map(|entry| entry.get_str("type").unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn enrol_confirm_and_log_in_with_a_code_that_works_once() {
    let app = TestApp::new().await;
    let user = app.sign_up("totp").await;
    let login = claims(&user.access_token);
    assert_eq!(login["amr"], json!(["pwd"]));
    assert!(login["auth_time"].as_u64().unwrap() > 0);

    enrol(&app, &user, "not the password").await.problem(401);
    let enrolled = enrol(&app, &user, PASSWORD).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let secret = enrolled.body["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = enrolled.body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Test%20API:totp%40example.com?secret="),
        "{uri}"
    );
    assert!(uri.contains(&secret));
    assert!(enrolled.body["qr_svg"]
        .as_str()
        .unwrap()
        .starts_with("<svg"));
    // Pending: the password alone still logs in.
    assert!(app.login("totp@example.com", PASSWORD).await.body["access_token"].is_string());

    // At rest: sealed, never the secret itself.
    let stored = app
        .users()
        .find_one(doc! { "_id": ObjectId::parse_str(&user.user_id).unwrap() })
        .await
        .unwrap()
        .unwrap();
    let mfa = stored.get_document("mfa").unwrap();
    assert!(!mfa.to_string().contains(&secret), "{mfa}");
    assert!(!mfa.get_bool("confirmed").unwrap());

    confirm(&app, &user, "12345").await.problem(422);
    // Kept as sent: a code computed again later could be of the next step.
    let first = pyotp_code(&secret, 0);
    let confirmed = confirm(&app, &user, &first).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let codes = confirmed.body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let stored = app
        .users()
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap()
        .to_string();
    for code in codes {
        assert!(
            !stored.contains(code.as_str().unwrap()),
            "codes are stored hashed"
        );
    }
    confirm(&app, &user, &first).await.problem(409);

    let token = mfa_token(&app, "totp").await;
    let challenges = app
        .db
        .collection::<mongodb::bson::Document>("mfa_challenges");
    let challenge = challenges
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap()
        .to_string();
    assert!(
        !challenge.contains(&token),
        "only the token's digest is stored"
    );
    // The confirming code is spent; the next step's code (within the drift
    // window) opens the session.
    let replay = verify(&app, json!({ "mfa_token": token, "code": first })).await;
    assert_eq!(
        replay.problem(401).body["type"],
        "urn:problem:invalid-mfa-code"
    );
    let next = pyotp_code(&secret, 1);
    let answer = verify(&app, json!({ "mfa_token": token, "code": next })).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "bearer");
    let access = answer.body["access_token"].as_str().unwrap();
    let verified = claims(access);
    assert_eq!(verified["amr"], json!(["pwd", "otp"]));
    assert!(verified["auth_time"].as_u64().unwrap() <= verified["iat"].as_u64().unwrap());
    // A refreshed token keeps them.
    let refreshed = app
        .refresh(answer.body["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refreshed = claims(refreshed.body["access_token"].as_str().unwrap());
    assert_eq!(refreshed["amr"], json!(["pwd", "otp"]));
    assert_eq!(refreshed["auth_time"], verified["auth_time"]);
    // The token was single use; the code too, even with a new token.
    let used = verify(&app, json!({ "mfa_token": token, "code": next })).await;
    assert_eq!(
        used.problem(401).body["type"],
        "urn:problem:invalid-mfa-token"
    );
    let token = mfa_token(&app, "totp").await;
    let replayed = verify(&app, json!({ "mfa_token": token, "code": next })).await;
    assert_eq!(
        replayed.problem(401).body["type"],
        "urn:problem:invalid-mfa-code"
    );
    assert_eq!(
        event_kinds(&app)
            .await
            .iter()
            .filter(|k| *k == "MfaEnabled")
            .count(),
        1
    );
    app.drop().await;
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = TestApp::new().await;
    let (_, _, codes) = with_factor(&app, "recovery").await;
    let token = mfa_token(&app, "recovery").await;
    let answer = verify(
        &app,
        json!({ "mfa_token": token, "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        claims(answer.body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
    let token = mfa_token(&app, "recovery").await;
    let again = verify(
        &app,
        json!({ "mfa_token": token, "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(
        again.problem(401).body["type"],
        "urn:problem:invalid-mfa-code"
    );
    let used: Vec<_> = app
        .outbox_in_order()
        .await
        .into_iter()
        .filter(|entry| entry.get_str("type").unwrap() == "RecoveryCodeUsed")
        .collect();
    assert_eq!(used.len(), 1);
    let detail = used[0].get_document("detail").unwrap();
    assert_eq!(
        detail
            .get_i64("codes_left")
            .unwrap_or_else(|_| detail.get_i32("codes_left").unwrap().into()),
        9
    );
    assert!(!detail.to_string().contains(&codes[0][..4]), "{detail}");
    app.drop().await;
}

#[tokio::test]
async fn bad_bodies_tokens_and_callers_are_refused() {
    let app = TestApp::new().await;
    let (user, secret, _) = with_factor(&app, "refusals").await;
    let token = mfa_token(&app, "refusals").await;
    for body in [
        json!({ "mfa_token": token }),
        json!({ "mfa_token": token, "code": "12345a" }),
        json!({ "mfa_token": token, "code": "123456", "recovery_code": "abcd-efgh-ijkl-mnop-qrst-uvwx" }),
        json!({ "mfa_token": token, "recovery_code": "not a code" }),
        json!({ "code": "123456" }),
    ] {
        verify(&app, body).await.problem(422);
    }
    let unknown = verify(
        &app,
        json!({ "mfa_token": "made-up", "code": pyotp_code(&secret, 1) }),
    )
    .await;
    assert_eq!(
        unknown.problem(401).body["type"],
        "urn:problem:invalid-mfa-token"
    );
    // Five codes per token, right or wrong.
    for _ in 0..4 {
        verify(&app, json!({ "mfa_token": token, "code": "000000" }))
            .await
            .problem(401);
    }
    let fifth = verify(&app, json!({ "mfa_token": token, "code": "000000" })).await;
    assert!(matches!(fifth.status, 401 | 429), "{}", fifth.body);
    let spent = verify(
        &app,
        json!({ "mfa_token": token, "code": pyotp_code(&secret, 1) }),
    )
    .await;
    assert!(matches!(spent.status, 401 | 429), "{}", spent.body);

    let other = app.sign_up("other").await;
    let event = on_user(
        "POST",
        "/users/{user_id}/mfa/totp",
        &user,
        &other.access_token,
        json!({ "password": PASSWORD }),
    );
    app.call(Function::EnrolTotp, event).await.problem(403);
    let event = Event::http_api("POST", "/users/{user_id}/mfa/totp")
        .user_id(&user.user_id)
        .json(json!({ "password": PASSWORD }));
    app.call(Function::EnrolTotp, event).await.problem(401);
    let event = on_user(
        "POST",
        "/users/{user_id}/mfa/recovery-codes",
        &user,
        &user.access_token,
        json!({}),
    );
    app.call(Function::RegenerateRecoveryCodes, event)
        .await
        .problem(422);
    app.drop().await;
}

/// An access token for `user`'s session whose login was at `auth_time`:
/// the controlled clock of the step-up tests.
pub(crate) async fn token_authenticated_at(
    app: &TestApp,
    user: &SignedUp,
    auth_time: u64,
) -> String {
    let session = app
        .sessions()
        .find_one(doc! { "user_id": ObjectId::parse_str(&user.user_id).unwrap() })
        .await
        .unwrap()
        .unwrap();
    let caller = Caller {
        user_id: UserId::parse(&user.user_id).unwrap(),
        session_id: SessionId::from_bytes(session.get_object_id("_id").unwrap().bytes()),
        auth: Authentication {
            otp: true,
            auth_time,
            passkey: None,
        },
    };
    TokenSigner::new(&app.config.token_settings(), app.config.key_set().current())
        .issue(
            &caller,
            users_core::domain::tokens::unix_now(),
            "step-up".into(),
        )
        .token
}

#[tokio::test]
async fn disabling_and_regenerating_need_a_recent_login() {
    let app = TestApp::new().await;
    let (user, secret, codes) = with_factor(&app, "stepup").await;
    let eleven_minutes_ago = users_core::domain::tokens::unix_now() - 660;
    let stale = token_authenticated_at(&app, &user, eleven_minutes_ago).await;
    let body = json!({ "password": PASSWORD, "recovery_code": codes[0] });
    let event = on_user(
        "DELETE",
        "/users/{user_id}/mfa/totp",
        &user,
        &stale,
        body.clone(),
    );
    let refused = app.call(Function::DisableTotp, event).await.problem(401);
    assert_eq!(
        refused.body["type"],
        "urn:problem:reauthentication-required"
    );
    assert_eq!(
        refused.header("www-authenticate"),
        r#"Bearer error="insufficient_user_authentication""#
    );
    let event = on_user(
        "POST",
        "/users/{user_id}/mfa/recovery-codes",
        &user,
        &stale,
        json!({ "code": pyotp_code(&secret, 1) }),
    );
    let refused = app
        .call(Function::RegenerateRecoveryCodes, event)
        .await
        .problem(401);
    assert_eq!(
        refused.body["type"],
        "urn:problem:reauthentication-required"
    );

    let fresh =
        token_authenticated_at(&app, &user, users_core::domain::tokens::unix_now() - 60).await;
    let event = on_user(
        "POST",
        "/users/{user_id}/mfa/recovery-codes",
        &user,
        &fresh,
        json!({ "code": pyotp_code(&secret, 1) }),
    );
    let regenerated = app.call(Function::RegenerateRecoveryCodes, event).await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.body);
    let new_codes = regenerated.body["recovery_codes"]
        .as_array()
        .unwrap()
        .clone();
    // The old set is gone.
    let event = on_user("DELETE", "/users/{user_id}/mfa/totp", &user, &fresh, body);
    let old = app.call(Function::DisableTotp, event).await.problem(401);
    assert_eq!(old.body["type"], "urn:problem:invalid-mfa-code");
    let event = on_user(
        "DELETE",
        "/users/{user_id}/mfa/totp",
        &user,
        &fresh,
        json!({ "password": PASSWORD, "recovery_code": new_codes[0] }),
    );
    let disabled = app.call(Function::DisableTotp, event).await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert!(app.login("stepup@example.com", PASSWORD).await.body["access_token"].is_string());
    let kinds = event_kinds(&app).await;
    for kind in ["MfaEnabled", "RecoveryCodeUsed", "MfaDisabled"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    app.drop().await;
}
