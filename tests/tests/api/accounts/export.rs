//! The self-service export (issue #24) through its handler, against a real
//! MongoDB wire server: the document against what the user did, with no
//! secret the test knows anywhere in it (passkeys and the security activity
//! among its contents); the owner only; a recent sign-in;
//! 3 an hour; the size bound; the audit event.

use api_tests::{Answer, Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::{doc, oid::ObjectId};
use serde_json::{json, Value};
use users_core::domain::passkeys::{PasskeyRecord, PasskeyStore as _};
use users_core::domain::ports::{Accounts as _, Consents as _};
use users_core::domain::values::{Email, PasskeyId, Timestamp, UserId};

use crate::mfa::handlers::{token_authenticated_at, with_factor};

async fn export(app: &TestApp, user_id: &str, token: &str) -> Answer {
    let event = Event::http_api("GET", "/users/{user_id}/export")
        .user_id(user_id)
        .bearer(token);
    app.call(Function::ExportAccount, event).await
}

fn ids(items: &Value) -> Vec<String> {
    let mut ids: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_export_is_what_the_user_did_and_holds_no_secret() {
    let app = TestApp::new().await;
    let (user, secret, codes) = with_factor(&app, "exporter").await;
    let user_oid = ObjectId::parse_str(&user.user_id).unwrap();
    let user_id = UserId::parse(&user.user_id).unwrap();
    assert_eq!(app.link(&user, "crm-exporter").await.status, 200);
    app.linked()
        .insert_many([
            doc! { "_id": "crm-exporter", "plan": "gold" },
            doc! { "_id": "note-a", "user_id": user_oid, "text": "first" },
            doc! { "_id": "note-b", "user_id": &user.user_id, "text": "second" },
        ])
        .await
        .unwrap();
    // A second device (a login with a recovery code), an app allowed, an
    // address change pending.
    let device = |event: Event| {
        event
            .source_ip("198.51.100.7")
            .header("user-agent", "ExportTest/2.0")
    };
    let first_step = app
        .call(
            Function::Login,
            device(Event::http_api("POST", "/auth/login"))
                .json(json!({ "email": "exporter@example.com", "password": PASSWORD })),
        )
        .await;
    let mfa_token = first_step.body["mfa_token"].as_str().unwrap().to_string();
    let second = app
        .call(
            Function::VerifyMfa,
            device(Event::http_api("POST", "/auth/mfa/verify"))
                .json(json!({ "mfa_token": mfa_token, "recovery_code": codes[0] })),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    app.store
        .record_consent(user_id, "spa", "openid email", Timestamp::now())
        .await
        .unwrap();
    app.store
        .set_pending_email(user_id, &Email::parse("new@example.com").unwrap(), true)
        .await
        .unwrap();
    // A passkey: the export shows its name, dates and flags, never the
    // credential (its public key) or the credential id.
    let passkey = PasskeyRecord {
        id: PasskeyId::new(),
        user_id,
        credential_id: "Y3JlZGVudGlhbC1pZC1vZi10aGUtdGVzdA".into(),
        name: "Work laptop".into(),
        credential: r#"{"cred":{"key":"cHVibGljLWtleS1vZi10aGUtdGVzdA"}}"#.into(),
        counter: 7,
        backup_eligible: true,
        backup_state: false,
        created_at: Timestamp::from_millis(1_767_225_600_000),
        last_used_at: None,
    };
    assert!(app.store.insert_passkey(&passkey).await.unwrap());

    let answer = app
        .respond(
            Function::ExportAccount,
            Event::http_api("GET", "/users/{user_id}/export")
                .user_id(&user.user_id)
                .bearer(&user.access_token),
        )
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let text = String::from_utf8(answer.body().to_vec()).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();

    assert_eq!(document["format"], "user-management-api/account-export");
    assert_eq!(document["version"], 1);
    let profile = &document["profile"];
    assert_eq!(profile["id"], user.user_id);
    assert_eq!(profile["username"], "exporter");
    assert_eq!(profile["email"], "exporter@example.com");
    assert_eq!(profile["pending_email"], "new@example.com");
    assert_eq!(profile["external_id"], "crm-exporter");
    assert_eq!(profile["deletion_scheduled_for"], Value::Null);
    assert_eq!(
        ids(&document["linked_data"]),
        ["crm-exporter", "note-a", "note-b"]
    );
    let sessions = document["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["created_from"]["source_ip"], "198.51.100.7");
    assert_eq!(sessions[0]["created_from"]["user_agent"], "ExportTest/2.0");
    assert_eq!(
        document["second_factor"],
        json!({ "type": "totp", "confirmed": true, "recovery_codes_left": codes.len() - 1 })
    );
    assert_eq!(
        document["passkeys"],
        json!([{
            "name": "Work laptop",
            "created_at": "2026-01-01T00:00:00Z",
            "last_used_at": null,
            "backup_eligible": true,
            "backup_state": false,
        }])
    );
    // The security activity, newest first: what this test did, with the
    // second device's address on its sign-in and its recovery code.
    let activity = document["security_activity"].as_array().unwrap();
    let kinds: Vec<&str> = activity
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"passkey_added"), "{activity:#?}");
    for kind in [
        "email_change_requested",
        "recovery_code_used",
        "signed_in",
        "totp_enabled",
        "account_created",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"account_created"));
    let second_sign_in = activity
        .iter()
        .find(|entry| entry["detail"] == "password and code")
        .expect("the second device's sign-in");
    assert_eq!(second_sign_in["source_ip"], "198.51.100.7");
    assert_eq!(second_sign_in["user_agent"], "ExportTest/2.0");
    assert_eq!(document["consents"][0]["client_id"], "spa");
    assert_eq!(document["consents"][0]["scope"], "openid email");
    assert!(document["consents"][0]["granted_at"].is_string());

    // No secret the test knows, nor any stored one, is anywhere in it.
    let stored = app
        .users()
        .find_one(doc! { "_id": user_oid })
        .await
        .unwrap()
        .unwrap();
    let mut secrets = vec![
        PASSWORD.to_string(),
        mfa_token.clone(),
        secret.clone(),
        user.access_token.clone(),
        user.refresh_token.clone(),
        second.body["access_token"].as_str().unwrap().to_string(),
        second.body["refresh_token"].as_str().unwrap().to_string(),
        stored.get_str("hashed_password").unwrap().to_string(),
        passkey.credential_id.clone(),
        "cHVibGljLWtleS1vZi10aGUtdGVzdA".into(),
    ];
    secrets.extend(codes.iter().cloned());
    let mfa = stored.get_document("mfa").unwrap();
    for code in mfa.get_array("recovery_codes").unwrap() {
        secrets.push(code.as_str().unwrap().to_string());
    }
    let mut cursor = app
        .sessions()
        .find(doc! { "user_id": user_oid })
        .await
        .unwrap();
    while cursor.advance().await.unwrap() {
        let session = cursor.deserialize_current().unwrap();
        for field in ["refresh_digest", "nonce"] {
            secrets.push(session.get_str(field).unwrap().to_string());
        }
    }
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "the export holds a secret");
    }
    for key in [
        "hashed_password",
        "refresh_digest",
        "nonce",
        "sealed",
        "recovery_codes\"",
        "credential",
        "counter",
    ] {
        assert!(!text.contains(key), "the export names {key}");
    }

    // Audited: an `AccountExported` event with its size.
    let event = app
        .outbox()
        .find_one(doc! { "type": "AccountExported" })
        .await
        .unwrap()
        .unwrap();
    let detail = event.get_document("detail").unwrap();
    assert_eq!(detail.get_str("user_id").unwrap(), user.user_id);
    assert_eq!(detail.get_i64("bytes").unwrap(), text.len() as i64);
    app.drop().await;
}

#[tokio::test]
async fn only_the_owner_after_a_recent_sign_in_three_times_an_hour() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada_export").await;
    let bob = app.sign_up("bob_export").await;
    // Another user's id: 403, and nothing counted or recorded.
    export(&app, &bob.user_id, &ada.access_token)
        .await
        .problem(403);
    // A sign-in eleven minutes ago is not recent enough.
    let stale =
        token_authenticated_at(&app, &ada, users_core::domain::tokens::unix_now() - 660).await;
    let refused = export(&app, &ada.user_id, &stale).await.problem(401);
    assert_eq!(
        refused.body["type"],
        "urn:problem:reauthentication-required"
    );
    for _ in 0..3 {
        assert_eq!(
            export(&app, &ada.user_id, &ada.access_token).await.status,
            200
        );
    }
    let throttled = export(&app, &ada.user_id, &ada.access_token)
        .await
        .problem(429);
    assert_eq!(throttled.body["type"], "urn:problem:too-many-requests");
    assert!(throttled.header("retry-after").parse::<u64>().unwrap() > 0);
    // Bob's budget is his own.
    assert_eq!(
        export(&app, &bob.user_id, &bob.access_token).await.status,
        200
    );
    let exported = app
        .outbox()
        .count_documents(doc! { "type": "AccountExported" })
        .await
        .unwrap();
    assert_eq!(exported, 4);
    // A logged-out session's token exports nothing.
    let logout = Event::http_api("POST", "/auth/logout").bearer(&bob.access_token);
    assert_eq!(app.call(Function::Logout, logout).await.status, 200);
    export(&app, &bob.user_id, &bob.access_token)
        .await
        .problem(401);
    app.drop().await;
}

#[tokio::test]
async fn an_export_past_the_bound_is_413() {
    let app = TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.export_max_bytes = 64 * 1024;
    })
    .await;
    let user: SignedUp = app.sign_up("large_export").await;
    let user_oid = ObjectId::parse_str(&user.user_id).unwrap();
    let filler = "x".repeat(1024);
    let records: Vec<_> = (0..100)
        .map(|n| doc! { "_id": format!("big-{n}"), "user_id": user_oid, "filler": &filler })
        .collect();
    app.linked().insert_many(records).await.unwrap();
    let refused = export(&app, &user.user_id, &user.access_token)
        .await
        .problem(413);
    assert_eq!(refused.body["type"], "urn:problem:export-too-large");
    assert_eq!(
        app.outbox()
            .count_documents(doc! { "type": "AccountExported" })
            .await
            .unwrap(),
        0
    );
    app.drop().await;
}
