//! An account's security activity (issue #24) through the handlers, against
//! a real MongoDB wire server: every sign-in and security change is one
//! entry, newest first, with the address and user agent of the request that
//! made it and no secret; the read is served by its index, entries expire by
//! their TTL index, and deleting the account deletes them.

use api_tests::{Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::{doc, oid::ObjectId, Document};
use serde_json::json;
use users_core::domain::activity::{Activity, SecurityActivity as _, RECENT, RETENTION};
use users_core::domain::values::UserId;

use crate::mfa::handlers::with_factor;

const NEW_PASSWORD: &str = "a whole new passphrase 42";

fn on_user(method: &str, route: &str, user: &SignedUp, token: &str) -> Event {
    Event::http_api(method, route)
        .user_id(&user.user_id)
        .bearer(token)
}

fn from_laptop(event: Event) -> Event {
    event
        .source_ip("203.0.113.9")
        .header("user-agent", "ActivityTest/1.0")
}

fn from_phone(event: Event) -> Event {
    event
        .source_ip("198.51.100.7")
        .header("user-agent", "ActivityTest/2.0")
}

async fn recent(app: &TestApp, user: &SignedUp) -> Vec<Activity> {
    app.store
        .recent_activity(UserId::parse(&user.user_id).unwrap(), RECENT)
        .await
        .unwrap()
}

fn kinds(entries: &[Activity]) -> Vec<&'static str> {
    entries.iter().map(|entry| entry.kind.as_str()).collect()
}

async fn stored_activity(app: &TestApp, user_oid: ObjectId) -> Vec<Document> {
    let mut cursor = app
        .db
        .collection::<Document>("security_activity")
        .find(doc! { "user_id": user_oid })
        .await
        .unwrap();
    let mut documents = Vec::new();
    while cursor.advance().await.unwrap() {
        documents.push(cursor.deserialize_current().unwrap());
    }
    documents
}

#[tokio::test]
async fn every_sign_in_and_security_change_is_an_entry_with_where_it_came_from() {
    let app = TestApp::new().await;
    let (user, secret, codes) = with_factor(&app, "watcher").await;
    let user_oid = ObjectId::parse_str(&user.user_id).unwrap();

    // A second device: the password, then a recovery code.
    let first_step = app
        .call(
            Function::Login,
            from_phone(Event::http_api("POST", "/auth/login"))
                .json(json!({ "email": "watcher@example.com", "password": PASSWORD })),
        )
        .await;
    let mfa_token = first_step.body["mfa_token"].as_str().unwrap().to_string();
    let phone = app
        .call(
            Function::VerifyMfa,
            from_phone(Event::http_api("POST", "/auth/mfa/verify"))
                .json(json!({ "mfa_token": mfa_token, "recovery_code": codes[0] })),
        )
        .await;
    assert_eq!(phone.status, 200, "{}", phone.body);

    // New recovery codes, then the factor off (with one of them).
    let regenerated = app
        .call(
            Function::RegenerateRecoveryCodes,
            on_user(
                "POST",
                "/users/{user_id}/mfa/recovery-codes",
                &user,
                &user.access_token,
            )
            .json(json!({ "code": api_tests::pyotp_code(&secret, 1) })),
        )
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.body);
    let new_code = regenerated.body["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_string();
    let disabled = app
        .call(
            Function::DisableTotp,
            on_user(
                "DELETE",
                "/users/{user_id}/mfa/totp",
                &user,
                &user.access_token,
            )
            .json(json!({ "password": PASSWORD, "recovery_code": new_code })),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);

    // A change of address asked for, then cancelled.
    let change = app
        .call(
            Function::ChangeEmail,
            on_user("PUT", "/users/{user_id}/email", &user, &user.access_token)
                .json(json!({ "password": PASSWORD, "new_email": "watcher@new.example" })),
        )
        .await;
    assert_eq!(change.status, 202, "{}", change.body);
    let cancelled = app
        .call(
            Function::CancelEmailChange,
            on_user(
                "DELETE",
                "/users/{user_id}/email/pending",
                &user,
                &user.access_token,
            ),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);

    // The phone signed out from here, the password changed from the laptop,
    // then every device signed out.
    let phone_session = app
        .sessions()
        .find_one(doc! { "user_id": user_oid, "created_from.source_ip": "198.51.100.7" })
        .await
        .unwrap()
        .unwrap()
        .get_object_id("_id")
        .unwrap()
        .to_hex();
    let ended = app
        .call(
            Function::EndSession,
            on_user(
                "DELETE",
                "/users/{user_id}/sessions/{session_id}",
                &user,
                &user.access_token,
            )
            .session_id(&phone_session),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let changed = app
        .call(
            Function::ChangePassword,
            from_laptop(on_user(
                "PUT",
                "/users/{user_id}/password",
                &user,
                &user.access_token,
            ))
            .json(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let everywhere = app
        .call(
            Function::LogoutAll,
            on_user(
                "POST",
                "/users/{user_id}/logout-all",
                &user,
                &user.access_token,
            ),
        )
        .await;
    assert_eq!(everywhere.status, 200, "{}", everywhere.body);

    // Newest first. The recovery code and the sign-in it completed are
    // written by one request, in either order.
    let entries = recent(&app, &user).await;
    let mut listed = kinds(&entries);
    if listed.len() > 9 {
        listed[8..10].sort_unstable();
    }
    assert_eq!(
        listed,
        [
            "sessions_ended",
            "password_changed",
            "session_ended",
            "email_change_cancelled",
            "email_change_requested",
            "totp_disabled",
            "recovery_code_used",
            "recovery_codes_regenerated",
            "recovery_code_used",
            "signed_in",
            "totp_enabled",
            "signed_in",
            "account_created",
        ],
        "{entries:#?}"
    );
    let change = &entries[1];
    assert_eq!(change.from.source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(change.from.user_agent.as_deref(), Some("ActivityTest/1.0"));
    let on_phone = entries
        .iter()
        .find(|entry| {
            entry.kind.as_str() == "signed_in" && entry.detail.as_deref() != Some("password")
        })
        .expect("the phone's sign-in");
    assert_eq!(on_phone.detail.as_deref(), Some("password and code"));
    assert_eq!(on_phone.from.source_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(
        on_phone.from.user_agent.as_deref(),
        Some("ActivityTest/2.0")
    );
    assert_eq!(entries[0].detail, None);
    assert!(entries.windows(2).all(|pair| pair[0].at >= pair[1].at));

    // No secret is stored: not the passwords, the factor's secret, a code,
    // a token or the `mfa_token`.
    let stored = stored_activity(&app, user_oid).await;
    assert_eq!(stored.len(), entries.len());
    let text = format!("{stored:?}");
    let mut secrets = vec![
        PASSWORD.to_string(),
        NEW_PASSWORD.to_string(),
        secret.clone(),
        mfa_token,
        user.access_token.clone(),
        user.refresh_token.clone(),
        phone.body["access_token"].as_str().unwrap().to_string(),
        phone.body["refresh_token"].as_str().unwrap().to_string(),
        "watcher@new.example".into(),
    ];
    secrets.extend(codes);
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the activity holds a secret"
        );
    }

    // Each entry expires after the retention, by the TTL index.
    let first = &stored[0];
    let at = first.get_datetime("at").unwrap().timestamp_millis();
    let expires = first.get_datetime("expires_at").unwrap().timestamp_millis();
    assert_eq!(expires - at, RETENTION.as_millis() as i64);
    let indexes = app
        .db
        .collection::<Document>("security_activity")
        .list_indexes()
        .await
        .unwrap();
    use futures_util::TryStreamExt as _;
    let indexes: Vec<_> = indexes.try_collect().await.unwrap();
    let ttl = indexes
        .iter()
        .find(|index| index.keys == doc! { "expires_at": 1 })
        .expect("a TTL index");
    assert_eq!(
        ttl.options.as_ref().unwrap().expire_after,
        Some(std::time::Duration::ZERO)
    );
    // The read (newest first, per user) is served by its index.
    let explained = app
        .db
        .run_command(doc! {
            "explain": {
                "find": "security_activity",
                "filter": { "user_id": user_oid },
                "sort": { "at": -1, "_id": -1 },
                "limit": 20,
            },
        })
        .await
        .unwrap();
    assert!(
        explained.to_string().contains("security_activity_user_at"),
        "{explained}"
    );
    app.drop().await;
}

/// The account's delete (and so the scheduled purge, which runs the same
/// cascade) takes its activity with it; another account's stays.
#[tokio::test]
async fn deleting_the_account_deletes_its_activity() {
    let app = TestApp::new().await;
    let gone = app.sign_up("leaver").await;
    let stays = app.sign_up("stayer").await;
    let gone_oid = ObjectId::parse_str(&gone.user_id).unwrap();
    let stays_oid = ObjectId::parse_str(&stays.user_id).unwrap();
    assert_eq!(stored_activity(&app, gone_oid).await.len(), 2);
    let deleted = app
        .call(
            Function::DeleteUser,
            on_user("DELETE", "/users/{user_id}", &gone, &gone.access_token),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(stored_activity(&app, gone_oid).await.is_empty());
    assert_eq!(
        kinds(&recent(&app, &stays).await),
        ["signed_in", "account_created"]
    );
    assert_eq!(stored_activity(&app, stays_oid).await.len(), 2);
    app.drop().await;
}
