//! Passkeys through the JSON API, against a real database, with a software
//! authenticator (`authenticator.rs`) in the browser's place: registration,
//! passwordless sign-in, the list and removal, and each forgery a relying
//! party must refuse.

use api_tests::{Answer, Event, Function, SignedUp, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mongodb::bson::{doc, DateTime};
use serde_json::{json, Value};
use users_core::domain::ports::{FactorChange, MailRequest};

use super::authenticator::{Browser, SoftKey, ORIGIN, RP_ID};

fn options_event(user: &SignedUp) -> Event {
    Event::http_api("POST", "/users/{user_id}/passkeys/options")
        .user_id(&user.user_id)
        .bearer(&user.access_token)
}

fn add_event(user: &SignedUp, body: Value) -> Event {
    Event::http_api("POST", "/users/{user_id}/passkeys")
        .user_id(&user.user_id)
        .bearer(&user.access_token)
        .json(body)
}

fn list_event(user: &SignedUp) -> Event {
    Event::http_api("GET", "/users/{user_id}/passkeys")
        .user_id(&user.user_id)
        .bearer(&user.access_token)
}

fn remove_event(user: &SignedUp, passkey_id: &str) -> Event {
    Event::http_api(
        "DELETE",
        &format!("/users/{{user_id}}/passkeys/{passkey_id}"),
    )
    .user_id(&user.user_id)
    .bearer(&user.access_token)
}

/// Begins a registration: the options (`publicKey`) and the ceremony id.
async fn begin(app: &TestApp, user: &SignedUp) -> (Value, String) {
    let answer = app
        .call(Function::PasskeyRegisterOptions, options_event(user))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let ceremony = answer.body["ceremony"].as_str().unwrap().to_string();
    (answer.body, ceremony)
}

/// Registers `key` for `user` as `name`: the listed passkey.
pub(super) async fn register(
    app: &TestApp,
    user: &SignedUp,
    key: &mut SoftKey,
    name: &str,
) -> Value {
    let (options, ceremony) = begin(app, user).await;
    let credential = key.create(&options, Browser::default()).await;
    let body = json!({ "ceremony": ceremony, "name": name, "credential": credential });
    let added = app.call(Function::AddPasskey, add_event(user, body)).await;
    assert_eq!(added.status, 201, "{}", added.body);
    added.body
}

async fn sign_in_options(app: &TestApp) -> (Value, String) {
    let event = Event::http_api("POST", "/auth/passkey/options").json(json!({}));
    let answer = app.call(Function::PasskeySignInOptions, event).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let ceremony = answer.body["ceremony"].as_str().unwrap().to_string();
    (answer.body, ceremony)
}

async fn verify(app: &TestApp, ceremony: &str, credential: &Value) -> Answer {
    let body = json!({ "ceremony": ceremony, "credential": credential });
    let event = Event::http_api("POST", "/auth/passkey/verify").json(body);
    app.call(Function::PasskeySignIn, event).await
}

/// A whole passwordless sign-in with `key` as the browser `browser`.
async fn sign_in(app: &TestApp, key: &mut SoftKey, browser: Browser<'_>) -> Answer {
    let (options, ceremony) = sign_in_options(app).await;
    let assertion = key.get(&options, browser).await;
    verify(app, &ceremony, &assertion).await
}

pub(super) fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub(super) fn refused(answer: Answer) {
    let answer = answer.problem(401);
    assert_eq!(
        answer.body["type"], "urn:problem:passkey-refused",
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_registered_passkey_signs_in_without_password_or_email() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkada").await;
    let mut key = SoftKey::new(true);
    let (options, ceremony) = begin(&app, &user).await;
    // The options as the browser takes them: under `publicKey`, ours.
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], RP_ID);
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert_eq!(public_key["user"]["name"], "pkada@example.com");
    assert!(options["expires_in"].as_u64().unwrap() <= 300);
    let credential = key.create(&options, Browser::default()).await;
    let body = json!({ "ceremony": ceremony, "name": "  Laptop  ", "credential": credential });
    let added = app.call(Function::AddPasskey, add_event(&user, body)).await;
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.body["name"], "Laptop");
    // The software authenticator's passkeys are backup eligible: synced.
    assert_eq!(added.body["synced"], true);
    assert!(added.body["last_used_at"].is_null());

    let answer = sign_in(&app, &mut key, Browser::default()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let signed_in = claims(answer.body["access_token"].as_str().unwrap());
    assert_eq!(signed_in["sub"], user.user_id.as_str());
    assert_eq!(signed_in["amr"], json!(["pop", "swk", "mfa"]));
    let fresh = users_core::domain::tokens::unix_now() - signed_in["auth_time"].as_u64().unwrap();
    assert!(fresh < 60, "auth_time is the passkey's: {signed_in}");
    // The session's tokens work like a login's: the refresh token rotates.
    let refreshed = app
        .refresh(answer.body["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refreshed_claims = claims(refreshed.body["access_token"].as_str().unwrap());
    assert_eq!(refreshed_claims["amr"], json!(["pop", "swk", "mfa"]));

    let listed = app.call(Function::ListPasskeys, list_event(&user)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let passkeys = listed.body["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1);
    assert_eq!(passkeys[0]["id"], added.body["id"]);
    assert!(passkeys[0]["last_used_at"].is_string(), "{}", listed.body);
    // Never the key or the credential.
    assert!(passkeys[0].get("credential").is_none());

    // A notice to the account, and an event with ids only.
    assert!(app
        .mail
        .requests()
        .contains(&MailRequest::MfaChangedNotice {
            user_id: users_core::domain::values::UserId::parse(&user.user_id).unwrap(),
            change: FactorChange::PasskeyAdded,
        }));
    let event = app
        .outbox()
        .find_one(doc! { "type": "PasskeyAdded" })
        .await
        .unwrap()
        .expect("a PasskeyAdded event");
    let detail = event.get_document("detail").unwrap();
    let mut keys: Vec<&str> = detail.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["passkey_id", "user_id"]);
    assert_eq!(detail.get_str("passkey_id").unwrap(), added.body["id"]);
    app.drop().await;
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkreplay").await;
    let mut key = SoftKey::new(true);
    register(&app, &user, &mut key, "Phone").await;
    let (options, ceremony) = sign_in_options(&app).await;
    let assertion = key.get(&options, Browser::default()).await;
    assert_eq!(verify(&app, &ceremony, &assertion).await.status, 200);
    // The same assertion again: its ceremony is spent.
    refused(verify(&app, &ceremony, &assertion).await);
    // With a new ceremony: the challenge signed is not this one's.
    let (_, another) = sign_in_options(&app).await;
    refused(verify(&app, &another, &assertion).await);
    app.drop().await;
}

#[tokio::test]
async fn another_origin_or_rp_id_is_refused() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkorigin").await;
    let phishing = Browser {
        origin: "https://login.example.net",
        rp_id: RP_ID,
    };
    let elsewhere = Browser {
        origin: ORIGIN,
        rp_id: "example.net",
    };
    // Registration from another origin, or for another RP ID.
    for browser in [phishing, elsewhere] {
        let mut key = SoftKey::new(true);
        let (options, ceremony) = begin(&app, &user).await;
        let credential = key.create(&options, browser).await;
        let body = json!({ "ceremony": ceremony, "name": "Bad", "credential": credential });
        refused(app.call(Function::AddPasskey, add_event(&user, body)).await);
    }
    // Sign-in likewise, with a passkey registered properly.
    let mut key = SoftKey::new(true);
    register(&app, &user, &mut key, "Good").await;
    refused(sign_in(&app, &mut key, phishing).await);
    // The same key signing for another RP ID (its authenticator data names
    // "example.net"): refused.
    let (options, ceremony) = sign_in_options(&app).await;
    let mut passkey = key.passkey();
    passkey.rp_id = "example.net".into();
    let mut forged = SoftKey::new(true);
    forged.restore(passkey);
    let assertion = forged.get(&options, elsewhere).await;
    refused(verify(&app, &ceremony, &assertion).await);
    // The right browser still signs in.
    assert_eq!(
        sign_in(&app, &mut key, Browser::default()).await.status,
        200
    );
    app.drop().await;
}

#[tokio::test]
async fn a_ceremony_works_once_and_not_after_it_expired() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkonce").await;
    let mut key = SoftKey::new(true);
    let (options, ceremony) = begin(&app, &user).await;
    let credential = key.create(&options, Browser::default()).await;
    let body = json!({ "ceremony": ceremony, "name": "Key", "credential": credential });
    assert_eq!(
        app.call(Function::AddPasskey, add_event(&user, body.clone()))
            .await
            .status,
        201
    );
    // The same registration again: spent.
    refused(app.call(Function::AddPasskey, add_event(&user, body)).await);

    // A sign-in whose ceremony has expired (the TTL monitor has not run yet).
    let (options, ceremony) = sign_in_options(&app).await;
    let assertion = key.get(&options, Browser::default()).await;
    app.db
        .collection::<mongodb::bson::Document>("passkey_ceremonies")
        .update_many(
            doc! {},
            doc! { "$set": { "expires_at": DateTime::from_millis(DateTime::now().timestamp_millis() - 1000) } },
        )
        .await
        .unwrap();
    refused(verify(&app, &ceremony, &assertion).await);
    // An unknown ceremony id.
    refused(verify(&app, "bm90LWEtY2VyZW1vbnk", &assertion).await);
    // Every ceremony document expires within five minutes (TTL index).
    let (_, _) = sign_in_options(&app).await;
    let stored = app
        .db
        .collection::<mongodb::bson::Document>("passkey_ceremonies")
        .find_one(doc! { "expires_at": { "$gt": DateTime::now() } })
        .await
        .unwrap()
        .unwrap();
    let left = stored
        .get_datetime("expires_at")
        .unwrap()
        .timestamp_millis()
        - DateTime::now().timestamp_millis();
    assert!(left <= 300_000, "{left} ms");
    // The document keeps a digest of the ceremony id, not the id.
    assert_ne!(stored.get_str("_id").unwrap(), ceremony);
    app.drop().await;
}

#[tokio::test]
async fn another_users_credential_or_ceremony_is_refused() {
    let app = TestApp::new().await;
    let ada = app.sign_up("pkada2").await;
    let bob = app.sign_up("pkbob").await;
    let mut ada_key = SoftKey::new(true);
    register(&app, &ada, &mut ada_key, "Ada's").await;
    // A registration Ada began cannot be finished with Bob's token.
    let (options, ceremony) = begin(&app, &ada).await;
    let mut key = SoftKey::new(true);
    let credential = key.create(&options, Browser::default()).await;
    let body = json!({ "ceremony": ceremony, "name": "Stolen", "credential": credential });
    refused(app.call(Function::AddPasskey, add_event(&bob, body)).await);
    // Ada's credential presented with Bob's user handle: refused.
    let (options, ceremony) = sign_in_options(&app).await;
    let mut assertion = ada_key.get(&options, Browser::default()).await;
    let bob_id = hex(&bob.user_id);
    let mut handle = bob_id;
    handle.extend_from_slice(&[0; 4]);
    assertion["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(handle));
    refused(verify(&app, &ceremony, &assertion).await);
    // Bob cannot list or remove Ada's passkeys.
    let ada_passkey = app
        .call(Function::ListPasskeys, list_event(&ada))
        .await
        .body["passkeys"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let as_bob = Event::http_api("GET", "/users/{user_id}/passkeys")
        .user_id(&ada.user_id)
        .bearer(&bob.access_token);
    app.call(Function::ListPasskeys, as_bob).await.problem(403);
    let answer = app
        .call(Function::RemovePasskey, remove_event(&bob, &ada_passkey))
        .await
        .problem(404);
    assert_eq!(answer.body["type"], "urn:problem:passkey-not-found");
    app.drop().await;
}

fn hex(id: &str) -> Vec<u8> {
    (0..id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_signature_counter_going_back_is_refused_as_a_clone() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkclone").await;
    let mut key = SoftKey::new(true);
    register(&app, &user, &mut key, "Original").await;
    assert_eq!(
        sign_in(&app, &mut key, Browser::default()).await.status,
        200
    );
    // A copy of the authenticator as it is now...
    let copy = key.passkey();
    assert!(copy.counter.unwrap() > 0, "the authenticator counts");
    // ...falls behind while the original signs in twice more.
    assert_eq!(
        sign_in(&app, &mut key, Browser::default()).await.status,
        200
    );
    assert_eq!(
        sign_in(&app, &mut key, Browser::default()).await.status,
        200
    );
    let mut clone = SoftKey::new(true);
    clone.restore(copy);
    refused(sign_in(&app, &mut clone, Browser::default()).await);
    let stored = app
        .db
        .collection::<mongodb::bson::Document>("passkeys")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get_i64("counter").unwrap(),
        i64::from(key.passkey().counter.unwrap()),
        "the stored counter is the original's last"
    );
    app.drop().await;
}

#[tokio::test]
async fn an_authenticator_without_user_verification_is_refused() {
    let app = TestApp::new().await;
    let user = app.sign_up("pknouv").await;
    let mut key = SoftKey::new(false);
    let (options, ceremony) = begin(&app, &user).await;
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = key.create(&options, Browser::default()).await;
    let body = json!({ "ceremony": ceremony, "name": "No PIN", "credential": credential });
    refused(app.call(Function::AddPasskey, add_event(&user, body)).await);
    app.drop().await;
}

#[tokio::test]
async fn the_twenty_first_passkey_is_refused() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkmany").await;
    for n in 0..20 {
        let mut key = SoftKey::new(true);
        register(&app, &user, &mut key, &format!("Key {n}")).await;
    }
    let answer = app
        .call(Function::PasskeyRegisterOptions, options_event(&user))
        .await
        .problem(409);
    assert_eq!(answer.body["type"], "urn:problem:too-many-passkeys");
    let listed = app.call(Function::ListPasskeys, list_event(&user)).await;
    assert_eq!(listed.body["passkeys"].as_array().unwrap().len(), 20);
    app.drop().await;
}

#[tokio::test]
async fn adding_and_removing_need_a_recent_login() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkstep").await;
    let mut key = SoftKey::new(true);
    let added = register(&app, &user, &mut key, "Key").await;
    let eleven_minutes_ago = users_core::domain::tokens::unix_now() - 660;
    let old = crate::mfa::handlers::token_authenticated_at(&app, &user, eleven_minutes_ago).await;
    let stale = SignedUp {
        access_token: old,
        ..user.clone()
    };
    for answer in [
        app.call(Function::PasskeyRegisterOptions, options_event(&stale))
            .await,
        app.call(
            Function::RemovePasskey,
            remove_event(&stale, added["id"].as_str().unwrap()),
        )
        .await,
    ] {
        let answer = answer.problem(401);
        assert_eq!(answer.body["type"], "urn:problem:reauthentication-required");
    }
    // Listing needs no step-up.
    assert_eq!(
        app.call(Function::ListPasskeys, list_event(&stale))
            .await
            .status,
        200
    );
    app.drop().await;
}

#[tokio::test]
async fn a_removed_passkey_no_longer_signs_in() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkremove").await;
    let mut key = SoftKey::new(true);
    let added = register(&app, &user, &mut key, "Old phone").await;
    let id = added["id"].as_str().unwrap();
    let removed = app
        .call(Function::RemovePasskey, remove_event(&user, id))
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    app.call(Function::RemovePasskey, remove_event(&user, id))
        .await
        .problem(404);
    let listed = app.call(Function::ListPasskeys, list_event(&user)).await;
    assert_eq!(listed.body["passkeys"], json!([]));
    refused(sign_in(&app, &mut key, Browser::default()).await);
    assert!(app
        .mail
        .requests()
        .contains(&MailRequest::MfaChangedNotice {
            user_id: users_core::domain::values::UserId::parse(&user.user_id).unwrap(),
            change: FactorChange::PasskeyRemoved,
        }));
    let event = app
        .outbox()
        .find_one(doc! { "type": "PasskeyRemoved" })
        .await
        .unwrap()
        .expect("a PasskeyRemoved event");
    assert_eq!(
        event
            .get_document("detail")
            .unwrap()
            .get_str("passkey_id")
            .unwrap(),
        id
    );
    app.drop().await;
}

#[tokio::test]
async fn malformed_requests_are_validation_errors() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkbad").await;
    let (_, ceremony) = begin(&app, &user).await;
    for body in [
        json!({}),
        json!({ "ceremony": ceremony, "name": "", "credential": {} }),
        json!({ "ceremony": ceremony, "name": "x", "credential": "not an object" }),
        json!({ "ceremony": 5, "name": "x", "credential": { "id": "x" } }),
    ] {
        app.call(Function::AddPasskey, add_event(&user, body))
            .await
            .problem(422);
    }
    let event = Event::http_api("POST", "/auth/passkey/verify").json(json!({ "ceremony": "x" }));
    app.call(Function::PasskeySignIn, event).await.problem(422);
    let event = Event::http_api("DELETE", "/users/{user_id}/passkeys/not-an-id")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    app.call(Function::RemovePasskey, event).await.problem(422);
    app.drop().await;
}

async fn options_for(app: &TestApp, email: &str) -> Answer {
    let event = Event::http_api("POST", "/auth/passkey/options").json(json!({ "email": email }));
    app.call(Function::PasskeySignInOptions, event).await
}

/// The names of an object's members, sorted; of `allowCredentials`' first.
fn shape(options: &Value) -> (Vec<String>, Vec<String>) {
    let names = |value: &Value| {
        let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    let public_key = &options["publicKey"];
    (names(public_key), names(&public_key["allowCredentials"][0]))
}

#[tokio::test]
async fn the_e_mail_first_lists_the_accounts_passkeys_and_the_same_shape_for_others() {
    let app = TestApp::new().await;
    let user = app.sign_up("pkfirst").await;
    app.sign_up("pknokeys").await;
    let mut key = SoftKey::new(true);
    register(&app, &user, &mut key, "Key").await;

    // The account's passkey, allowed by id; the sign-in finishes as usual.
    let known = options_for(&app, "  PKFirst@Example.com ").await;
    assert_eq!(known.status, 200, "{}", known.body);
    let allowed = known.body["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(allowed.len(), 1, "{}", known.body);
    assert_eq!(allowed[0]["id"], key.credential_id());
    let ceremony = known.body["ceremony"].as_str().unwrap();
    let assertion = key.get(&known.body, Browser::default()).await;
    let answer = verify(&app, ceremony, &assertion).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        claims(answer.body["access_token"].as_str().unwrap())["amr"],
        json!(["pop", "swk", "mfa"])
    );
    // Replayed: the ceremony is spent.
    refused(verify(&app, ceremony, &assertion).await);

    // An account without passkeys, and no account: the same shape, made-up
    // ids, the same for the same address every time.
    let mut seen = Vec::new();
    for email in ["pknokeys@example.com", "nobody.here@example.com"] {
        let first = options_for(&app, email).await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(shape(&first.body), shape(&known.body), "{}", first.body);
        let public_key = &first.body["publicKey"];
        for member in ["rpId", "userVerification", "timeout"] {
            assert_eq!(
                public_key[member], known.body["publicKey"][member],
                "{member}"
            );
        }
        assert!(first.body["ceremony"].is_string());
        assert_eq!(first.body["expires_in"], known.body["expires_in"]);
        let ids: Vec<Value> = public_key["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|credential| credential["id"].clone())
            .collect();
        assert!((1..=3).contains(&ids.len()), "{}", first.body);
        assert!(!ids.contains(&json!(key.credential_id())));
        let again = options_for(&app, &email.to_uppercase()).await;
        let again_ids: Vec<Value> = again.body["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|credential| credential["id"].clone())
            .collect();
        assert_eq!(ids, again_ids, "stable per address");
        assert_ne!(
            first.body["publicKey"]["challenge"],
            again.body["publicKey"]["challenge"]
        );
        seen.push(ids);
    }
    assert_ne!(seen[0], seen[1], "another address, other ids");
    // A decoy's ceremony does not sign this passkey in as anyone but its
    // owner: a real discoverable passkey still names its own account.
    let decoy = options_for(&app, "nobody.here@example.com").await;
    let mut options = decoy.body.clone();
    options["publicKey"]
        .as_object_mut()
        .unwrap()
        .remove("allowCredentials");
    let assertion = key.get(&options, Browser::default()).await;
    let answer = verify(&app, decoy.body["ceremony"].as_str().unwrap(), &assertion).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        claims(answer.body["access_token"].as_str().unwrap())["sub"],
        user.user_id.as_str()
    );
    // Not an address, or null: 422.
    let answer = options_for(&app, "not an address").await.problem(422);
    assert_eq!(answer.error_fields(), ["email"]);
    let event = Event::http_api("POST", "/auth/passkey/options").json(json!({ "email": null }));
    let answer = app
        .call(Function::PasskeySignInOptions, event)
        .await
        .problem(422);
    assert_eq!(answer.error_fields(), ["email"]);
    app.drop().await;
}

#[tokio::test]
async fn an_e_mail_first_ceremony_takes_only_that_accounts_passkeys() {
    let app = TestApp::new().await;
    let ada = app.sign_up("pkfirstada").await;
    let bob = app.sign_up("pkfirstbob").await;
    let mut ada_key = SoftKey::new(true);
    let mut bob_key = SoftKey::new(true);
    register(&app, &ada, &mut ada_key, "Ada's").await;
    register(&app, &bob, &mut bob_key, "Bob's").await;
    // Bob's passkey over the ceremony begun for Ada's address: refused.
    let begun = options_for(&app, "pkfirstada@example.com").await;
    let mut options = begun.body.clone();
    options["publicKey"]
        .as_object_mut()
        .unwrap()
        .remove("allowCredentials");
    let assertion = bob_key.get(&options, Browser::default()).await;
    refused(verify(&app, begun.body["ceremony"].as_str().unwrap(), &assertion).await);
    // A copy of Ada's authenticator going back: refused as a clone.
    let saved = ada_key.passkey();
    let begun = options_for(&app, "pkfirstada@example.com").await;
    let assertion = ada_key.get(&begun.body, Browser::default()).await;
    let answer = verify(&app, begun.body["ceremony"].as_str().unwrap(), &assertion).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut clone = SoftKey::new(true);
    clone.restore(saved);
    let begun = options_for(&app, "pkfirstada@example.com").await;
    let assertion = clone.get(&begun.body, Browser::default()).await;
    refused(verify(&app, begun.body["ceremony"].as_str().unwrap(), &assertion).await);
    app.drop().await;
}

fn rename_event(user: &SignedUp, token: &str, passkey_id: &str, body: Value) -> Event {
    Event::http_api(
        "PATCH",
        &format!("/users/{{user_id}}/passkeys/{passkey_id}"),
    )
    .user_id(&user.user_id)
    .bearer(token)
    .json(body)
}

#[tokio::test]
async fn the_owner_renames_a_passkey_without_a_step_up() {
    let app = TestApp::new().await;
    let ada = app.sign_up("pkrename").await;
    let bob = app.sign_up("pkrenamebob").await;
    let mut key = SoftKey::new(true);
    let added = register(&app, &ada, &mut key, "Laptop").await;
    let id = added["id"].as_str().unwrap();
    // A login older than the step-up window still renames.
    let an_hour_ago = users_core::domain::tokens::unix_now() - 3600;
    let old = crate::mfa::handlers::token_authenticated_at(&app, &ada, an_hour_ago).await;
    let answer = app
        .call(
            Function::RenamePasskey,
            rename_event(&ada, &old, id, json!({ "name": "  Work laptop " })),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["id"], id);
    assert_eq!(answer.body["name"], "Work laptop");
    assert!(answer.body.get("credential").is_none());
    let listed = app.call(Function::ListPasskeys, list_event(&ada)).await;
    assert_eq!(listed.body["passkeys"][0]["name"], "Work laptop");
    // Bad names: 422, nothing changed.
    for name in [
        json!("   "),
        json!("x".repeat(65)),
        json!("tab\there"),
        json!(7),
    ] {
        let answer = app
            .call(
                Function::RenamePasskey,
                rename_event(&ada, &ada.access_token, id, json!({ "name": name })),
            )
            .await
            .problem(422);
        assert_eq!(answer.error_fields(), ["name"], "{name}");
    }
    // Someone else's: 403 on her path, 404 on his own.
    app.call(
        Function::RenamePasskey,
        Event::http_api("PATCH", &format!("/users/{{user_id}}/passkeys/{id}"))
            .user_id(&ada.user_id)
            .bearer(&bob.access_token)
            .json(json!({ "name": "Mine" })),
    )
    .await
    .problem(403);
    let answer = app
        .call(
            Function::RenamePasskey,
            rename_event(&bob, &bob.access_token, id, json!({ "name": "Mine" })),
        )
        .await
        .problem(404);
    assert_eq!(answer.body["type"], "urn:problem:passkey-not-found");
    let listed = app.call(Function::ListPasskeys, list_event(&ada)).await;
    assert_eq!(listed.body["passkeys"][0]["name"], "Work laptop");
    app.drop().await;
}
