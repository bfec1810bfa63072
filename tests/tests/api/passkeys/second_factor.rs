//! A passkey as the second step of a password login (`POST
//! /auth/mfa/passkey/options`, then `POST /auth/mfa/verify` with the
//! credential), through the handlers against a real database, with the
//! software authenticator as the browser.

use api_tests::{Answer, Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::{doc, DateTime};
use serde_json::{json, Value};

use super::authenticator::{Browser, SoftKey};
use super::handlers::{claims, refused, register};
use crate::mfa::handlers::with_factor;

/// A user with a TOTP factor and a passkey in `key`.
async fn with_factor_and_passkey(app: &TestApp, name: &str, key: &mut SoftKey) -> SignedUp {
    let (user, _, _) = with_factor(app, name).await;
    register(app, &user, key, "Laptop").await;
    user
}

/// The `mfa_token` of a login of `name` with the right password.
async fn mfa_token(app: &TestApp, name: &str) -> String {
    let answer = app.login(&format!("{name}@example.com"), PASSWORD).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["mfa_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a second step: {}", answer.body))
        .to_string()
}

async fn ask_options(app: &TestApp, mfa_token: &str) -> Answer {
    let event = Event::http_api("POST", "/auth/mfa/passkey/options")
        .json(json!({ "mfa_token": mfa_token }));
    app.call(Function::PasskeyMfaOptions, event).await
}

async fn begun(app: &TestApp, mfa_token: &str) -> Value {
    let answer = ask_options(app, mfa_token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn verify(app: &TestApp, mfa_token: &str, credential: &Value) -> Answer {
    let body = json!({ "mfa_token": mfa_token, "credential": credential });
    let event = Event::http_api("POST", "/auth/mfa/verify").json(body);
    app.call(Function::VerifyMfa, event).await
}

fn invalid_token(answer: Answer) {
    let answer = answer.problem(401);
    assert_eq!(
        answer.body["type"], "urn:problem:invalid-mfa-token",
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_passkey_after_the_password_gives_tokens_with_both_factors() {
    let app = TestApp::new().await;
    let mut key = SoftKey::new(true);
    let user = with_factor_and_passkey(&app, "pkmfa", &mut key).await;
    let token = mfa_token(&app, "pkmfa").await;
    let options = begun(&app, &token).await;
    // The account's passkey is the one allowed; no ceremony id (the
    // `mfa_token` finds it); at most five minutes.
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{options}");
    assert_eq!(allowed[0]["id"], key.credential_id());
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert!(options.get("ceremony").is_none(), "{options}");
    let expires_in = options["expires_in"].as_u64().unwrap();
    assert!((1..=300).contains(&expires_in), "{options}");

    let assertion = key.get(&options, Browser::default()).await;
    let answer = verify(&app, &token, &assertion).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let signed_in = claims(answer.body["access_token"].as_str().unwrap());
    assert_eq!(signed_in["sub"], user.user_id.as_str());
    assert_eq!(signed_in["amr"], json!(["pwd", "pop", "swk", "mfa"]));
    // The refresh token carries it on.
    let refreshed = app
        .refresh(answer.body["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refreshed = claims(refreshed.body["access_token"].as_str().unwrap());
    assert_eq!(refreshed["amr"], json!(["pwd", "pop", "swk", "mfa"]));
    // The passkey's use is recorded.
    let listed = app
        .call(
            Function::ListPasskeys,
            Event::http_api("GET", "/users/{user_id}/passkeys")
                .user_id(&user.user_id)
                .bearer(&user.access_token),
        )
        .await;
    assert!(
        listed.body["passkeys"][0]["last_used_at"].is_string(),
        "{}",
        listed.body
    );
    app.drop().await;
}

#[tokio::test]
async fn a_replayed_assertion_or_a_spent_login_is_refused() {
    let app = TestApp::new().await;
    let mut key = SoftKey::new(true);
    with_factor_and_passkey(&app, "pkmfareplay", &mut key).await;
    let token = mfa_token(&app, "pkmfareplay").await;
    let options = begun(&app, &token).await;
    let assertion = key.get(&options, Browser::default()).await;
    assert_eq!(verify(&app, &token, &assertion).await.status, 200);
    // The same again: the login's second step is spent.
    invalid_token(verify(&app, &token, &assertion).await);
    invalid_token(ask_options(&app, &token).await);
    // The same assertion on a new login, with its own ceremony: the
    // challenge it signed is not this one's.
    let again = mfa_token(&app, "pkmfareplay").await;
    begun(&app, &again).await;
    refused(verify(&app, &again, &assertion).await);
    app.drop().await;
}

#[tokio::test]
async fn another_users_passkey_is_refused() {
    let app = TestApp::new().await;
    let mut ada_key = SoftKey::new(true);
    let mut bob_key = SoftKey::new(true);
    with_factor_and_passkey(&app, "pkmfaada", &mut ada_key).await;
    with_factor_and_passkey(&app, "pkmfabob", &mut bob_key).await;
    // Bob's passkey signs the challenge of Ada's login (knowing her
    // password is not enough with his own passkey).
    let token = mfa_token(&app, "pkmfaada").await;
    let mut options = begun(&app, &token).await;
    options["publicKey"]
        .as_object_mut()
        .unwrap()
        .remove("allowCredentials");
    let assertion = bob_key.get(&options, Browser::default()).await;
    refused(verify(&app, &token, &assertion).await);
    // A failed try spends the ceremony, not the login: Ada's own passkey
    // with a new begin passes.
    let options = begun(&app, &token).await;
    let assertion = ada_key.get(&options, Browser::default()).await;
    assert_eq!(verify(&app, &token, &assertion).await.status, 200);
    app.drop().await;
}

#[tokio::test]
async fn an_expired_replaced_or_missing_ceremony_is_refused() {
    let app = TestApp::new().await;
    let mut key = SoftKey::new(true);
    with_factor_and_passkey(&app, "pkmfattl", &mut key).await;
    let token = mfa_token(&app, "pkmfattl").await;
    let options = begun(&app, &token).await;
    let first = key.get(&options, Browser::default()).await;
    // A second begin replaces the first ceremony: the first challenge is void.
    let options = begun(&app, &token).await;
    refused(verify(&app, &token, &first).await);
    // That failure spent the second ceremony too (single use).
    let second = key.get(&options, Browser::default()).await;
    refused(verify(&app, &token, &second).await);
    // An expired one (the TTL monitor has not run yet).
    let options = begun(&app, &token).await;
    let third = key.get(&options, Browser::default()).await;
    app.db
        .collection::<mongodb::bson::Document>("passkey_ceremonies")
        .update_many(
            doc! {},
            doc! { "$set": { "expires_at": DateTime::from_millis(DateTime::now().timestamp_millis() - 1000) } },
        )
        .await
        .unwrap();
    refused(verify(&app, &token, &third).await);
    // Five tries spend the login's token, as five codes do: three so far.
    for _ in 0..2 {
        begun(&app, &token).await;
        refused(verify(&app, &token, &third).await);
    }
    invalid_token(ask_options(&app, &token).await);
    invalid_token(verify(&app, &token, &third).await);
    app.drop().await;
}

#[tokio::test]
async fn a_wrong_mfa_token_is_refused() {
    let app = TestApp::new().await;
    let mut ada_key = SoftKey::new(true);
    let mut bob_key = SoftKey::new(true);
    with_factor_and_passkey(&app, "pkmfatok", &mut ada_key).await;
    with_factor_and_passkey(&app, "pkmfatok2", &mut bob_key).await;
    invalid_token(ask_options(&app, "bm90LWEtdG9rZW4").await);
    // Ada's assertion over her login's ceremony, sent with Bob's login's
    // token: his login has no such ceremony, and her passkey is not his.
    let ada = mfa_token(&app, "pkmfatok").await;
    let bob = mfa_token(&app, "pkmfatok2").await;
    let options = begun(&app, &ada).await;
    let assertion = ada_key.get(&options, Browser::default()).await;
    refused(verify(&app, &bob, &assertion).await);
    begun(&app, &bob).await;
    refused(verify(&app, &bob, &assertion).await);
    invalid_token(verify(&app, "bm90LWEtdG9rZW4", &assertion).await);
    // Malformed: a token that is not one, a credential with a code.
    let answer = ask_options(&app, "not a token!").await.problem(422);
    assert_eq!(answer.error_fields(), ["mfa_token"]);
    let body = json!({ "mfa_token": ada, "credential": assertion, "code": "123456" });
    let event = Event::http_api("POST", "/auth/mfa/verify").json(body);
    let answer = app.call(Function::VerifyMfa, event).await.problem(422);
    assert_eq!(answer.error_fields(), ["code"]);
    let body = json!({ "mfa_token": ada, "credential": "nope" });
    let event = Event::http_api("POST", "/auth/mfa/verify").json(body);
    let answer = app.call(Function::VerifyMfa, event).await.problem(422);
    assert_eq!(answer.error_fields(), ["credential"]);
    app.drop().await;
}

#[tokio::test]
async fn without_a_passkey_or_without_totp() {
    let app = TestApp::new().await;
    // TOTP on, no passkey: the options say there is none.
    with_factor(&app, "pkmfanone").await;
    let token = mfa_token(&app, "pkmfanone").await;
    let answer = ask_options(&app, &token).await.problem(404);
    assert_eq!(answer.body["type"], "urn:problem:passkey-not-found");
    // A passkey and no TOTP: the password stays one factor (docs/passkeys.md).
    let user = app.sign_up("pkmfaonly").await;
    let mut key = SoftKey::new(true);
    register(&app, &user, &mut key, "Phone").await;
    let answer = app.login("pkmfaonly@example.com", PASSWORD).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        claims(answer.body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd"])
    );
    app.drop().await;
}
