//! Deletion with a grace period (issue #24) through the handlers, against a
//! real MongoDB wire server: schedule → sign-in refused with the date →
//! restore by the mailed link → sign-in works; schedule → the period elapses
//! (the purge's clock is a parameter) → the scheduled function deletes with
//! the immediate delete's cascade, `UserDeleted` once. The crash in the
//! middle of a purge is in `platform::faults`.

use std::time::Duration;

use api_tests::{Answer, Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::{doc, oid::ObjectId};
use serde_json::json;
use users_core::domain::activity::SecurityActivity as _;
use users_core::domain::deletion::GracePeriod;
use users_core::domain::ports::MailRequest;
use users_core::domain::recovery::{send_requested_mail, MailSettings};
use users_core::domain::values::{Timestamp, UserId};

const DAY: Duration = Duration::from_secs(86_400);

async fn with_grace(days: u8) -> TestApp {
    TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.deletion_grace = GracePeriod::days(days).unwrap();
    })
    .await
}

async fn delete(app: &TestApp, user: &SignedUp) -> Answer {
    let event = Event::http_api("DELETE", "/users/{user_id}")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    app.call(Function::DeleteUser, event).await
}

async fn restore(app: &TestApp, token: &str) -> Answer {
    let event = Event::http_api("POST", "/auth/account/restore").json(json!({ "token": token }));
    app.call(Function::RestoreAccount, event).await
}

/// Runs the queued mail requests through `send-mail`'s use case; the token
/// of the last restore link sent.
async fn restore_token(app: &TestApp) -> String {
    let settings = MailSettings {
        reset_ttl: Duration::from_secs(1800),
        verification_ttl: Duration::from_secs(86_400),
        mails_per_address_per_hour: 3,
    };
    for request in app.mail.take_requests() {
        send_requested_mail(&app.store, &app.mail, &settings, &request, Timestamp::now())
            .await
            .unwrap();
    }
    app.mail
        .link_token("restore-account")
        .expect("a restore link was mailed")
}

async fn events(app: &TestApp, kind: &str) -> u64 {
    app.outbox()
        .count_documents(doc! { "type": kind })
        .await
        .unwrap()
}

/// A user with an external id, its record and two records naming the user.
async fn with_linked_data(app: &TestApp, name: &str) -> (SignedUp, ObjectId) {
    let user = app.sign_up(name).await;
    let user_oid = ObjectId::parse_str(&user.user_id).unwrap();
    assert_eq!(app.link(&user, &format!("crm-{name}")).await.status, 200);
    app.linked()
        .insert_many([
            doc! { "_id": format!("crm-{name}"), "plan": "gold" },
            doc! { "_id": format!("note-{name}-a"), "user_id": user_oid },
            doc! { "_id": format!("note-{name}-b"), "user_id": &user.user_id },
        ])
        .await
        .unwrap();
    (user, user_oid)
}

async fn linked_of(app: &TestApp, name: &str, user: &SignedUp, user_oid: ObjectId) -> u64 {
    app.linked()
        .count_documents(doc! { "$or": [
            { "_id": format!("crm-{name}") },
            { "user_id": { "$in": [user_oid, &user.user_id] } },
        ] })
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_grace_period_the_original_contract_holds() {
    let app = TestApp::new().await;
    let user = app.sign_up("nograce").await;
    let answer = delete(&app, &user).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({ "message": "User and associated data deleted successfully" })
    );
    assert!(
        !app.mail
            .requests()
            .iter()
            .any(|request| matches!(request, MailRequest::AccountRestore { .. })),
        "no restore link"
    );
    assert_eq!(events(&app, "UserDeleted").await, 1);
    assert_eq!(events(&app, "UserDeletionScheduled").await, 0);
    app.drop().await;
}

#[tokio::test]
async fn scheduled_then_refused_at_sign_in_then_restored_by_the_mailed_link() {
    let app = with_grace(7).await;
    let (user, user_oid) = with_linked_data(&app, "grace").await;
    let before = Timestamp::now();
    let answer = delete(&app, &user).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let until = answer.body["deletion_scheduled_for"].as_str().unwrap();
    let until_at = Timestamp::parse_rfc3339(until).unwrap();
    assert!(until_at >= Timestamp::from_millis(before.plus(DAY * 7).as_millis() / 1000 * 1000));
    assert!(until_at <= Timestamp::now().plus(DAY * 7));
    assert!(answer.body["message"].is_string());

    // Every session ended at once: the token and the refresh token are dead.
    assert_eq!(
        app.sessions()
            .count_documents(doc! { "user_id": user_oid })
            .await
            .unwrap(),
        0
    );
    let profile = Event::http_api("GET", "/users/{user_id}/full_profile")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    app.call(Function::GetFullProfile, profile)
        .await
        .problem(401);
    app.refresh(&user.refresh_token).await.problem(401);
    // Asked again with the dead token: nothing changes.
    delete(&app, &user).await.problem(401);

    // Sign-in: the right password gets 403 with the date; a wrong one the usual 401.
    let refused = app.login("grace@example.com", PASSWORD).await.problem(403);
    assert_eq!(
        refused.body["type"],
        "urn:problem:account-scheduled-for-deletion"
    );
    assert_eq!(refused.body["deletion_scheduled_for"], until);
    app.login("grace@example.com", "not the password at all")
        .await
        .problem(401);
    // Nothing freed yet: the address and the name stay taken, the data stays.
    app.register("grace", "other@example.com")
        .await
        .problem(409);
    app.register("other", "grace@example.com")
        .await
        .problem(409);
    assert_eq!(linked_of(&app, "grace", &user, user_oid).await, 3);

    // The restore link: mailed to the account's address, valid once.
    // (After the sign-up's verification mail.)
    assert!(matches!(
        app.mail.requests().last(),
        Some(MailRequest::AccountRestore { .. })
    ));
    let token = restore_token(&app).await;
    let mail = app.mail.sent().pop().unwrap();
    assert_eq!(mail.to, "grace@example.com");
    restore(&app, "not-the-token").await.problem(400);
    let restored = restore(&app, &token).await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    restore(&app, &token).await.problem(400);
    assert_eq!(app.login("grace@example.com", PASSWORD).await.status, 200);
    // The account's activity says so, newest first (`domain::activity`).
    let activity = app
        .store
        .recent_activity(UserId::parse(&user.user_id).unwrap(), 3)
        .await
        .unwrap();
    let kinds: Vec<&str> = activity.iter().map(|entry| entry.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["signed_in", "deletion_cancelled", "deletion_scheduled"]
    );
    assert_eq!(events(&app, "UserDeletionScheduled").await, 1);
    assert_eq!(events(&app, "UserDeletionCancelled").await, 1);
    assert_eq!(events(&app, "UserDeleted").await, 0);

    // Restored: the purge leaves it alone even long after.
    let later = Timestamp::now().plus(DAY * 30);
    let summary = users_core::purge::run(&app.store, app.config.links, later)
        .await
        .unwrap();
    assert_eq!(summary.deleted, 0);
    assert_eq!(linked_of(&app, "grace", &user, user_oid).await, 3);
    app.drop().await;
}

#[tokio::test]
async fn when_the_period_has_passed_the_purge_deletes_as_the_immediate_delete_does() {
    let app = with_grace(7).await;
    let (user, user_oid) = with_linked_data(&app, "purged").await;
    let bystander = with_linked_data(&app, "bystander").await;
    // A second session, which the schedule ends too.
    assert_eq!(app.login("purged@example.com", PASSWORD).await.status, 200);
    assert_eq!(delete(&app, &user).await.status, 202);

    // Not due yet: nothing happens.
    let soon = Timestamp::now().plus(DAY * 6);
    let early = users_core::purge::run(&app.store, app.config.links, soon)
        .await
        .unwrap();
    assert_eq!((early.deleted, early.skipped), (0, 0));
    assert_eq!(
        app.users()
            .count_documents(doc! { "_id": user_oid })
            .await
            .unwrap(),
        1
    );
    // A restore link used after the deletion is due does nothing.
    let token = restore_token(&app).await;

    let due = Timestamp::now().plus(DAY * 7 + Duration::from_secs(1));
    let purged = users_core::purge::run(&app.store, app.config.links, due)
        .await
        .unwrap();
    assert_eq!((purged.deleted, purged.more), (1, false));
    assert_eq!(
        app.users()
            .count_documents(doc! { "_id": user_oid })
            .await
            .unwrap(),
        0
    );
    assert_eq!(linked_of(&app, "purged", &user, user_oid).await, 0);
    let activity = app
        .db
        .collection::<mongodb::bson::Document>("security_activity")
        .count_documents(doc! { "user_id": user_oid })
        .await
        .unwrap();
    assert_eq!(activity, 0, "the activity goes with the account");
    assert_eq!(
        app.sessions()
            .count_documents(doc! { "user_id": user_oid })
            .await
            .unwrap(),
        0
    );
    let deleted = app
        .outbox()
        .find_one(doc! { "type": "UserDeleted" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        deleted
            .get_document("detail")
            .unwrap()
            .get_str("user_id")
            .unwrap(),
        user.user_id
    );
    // Again: idempotent, `UserDeleted` stays one.
    let again = users_core::purge::run(&app.store, app.config.links, due)
        .await
        .unwrap();
    assert_eq!((again.deleted, again.skipped), (0, 0));
    assert_eq!(events(&app, "UserDeleted").await, 1);
    restore(&app, &token).await.problem(400);
    // Now the address is free; the bystander is whole.
    assert_eq!(
        app.register("purged", "purged@example.com").await.status,
        201
    );
    let (bystander, bystander_oid) = bystander;
    assert_eq!(
        linked_of(&app, "bystander", &bystander, bystander_oid).await,
        3
    );
    app.drop().await;
}

#[tokio::test]
async fn the_purge_reads_due_users_by_its_index_in_bounded_batches() {
    let app = with_grace(1).await;
    let mut users = Vec::new();
    for n in 0..5 {
        let user = app.sign_up(&format!("batch{n}")).await;
        assert_eq!(delete(&app, &user).await.status, 202);
        users.push(user);
    }
    let due = Timestamp::now().plus(DAY * 2);
    let limits = users_core::domain::deletion::PurgeLimits {
        batch: 2,
        batches: 2,
    };
    let trust = app.config.links.trust();
    let first = users_core::domain::deletion::purge_due(&app.store, due, trust, limits)
        .await
        .unwrap();
    assert_eq!((first.deleted, first.more), (4, true));
    let second = users_core::domain::deletion::purge_due(&app.store, due, trust, limits)
        .await
        .unwrap();
    assert_eq!((second.deleted, second.more), (1, false));
    assert_eq!(events(&app, "UserDeleted").await, 5);
    // The read is served by the sparse index.
    let explained = app
        .db
        .run_command(doc! {
            "explain": {
                "find": "users",
                "filter": { "deletion_scheduled_for": { "$lte": mongodb::bson::DateTime::now() } },
                "sort": { "deletion_scheduled_for": 1 },
                "limit": 100,
            },
        })
        .await
        .unwrap();
    assert!(
        explained.to_string().contains("users_deletion_due"),
        "{explained}"
    );
    app.drop().await;
}

#[tokio::test]
async fn with_a_second_factor_only_the_mailed_link_restores() {
    use users_core::domain::login::{login_with, Credentials, LoginPolicy};
    use users_core::domain::values::{Email, Password};
    use users_core::domain::DomainError;
    let app = with_grace(7).await;
    let (user, _, _) = crate::mfa::handlers::with_factor(&app, "guarded").await;
    assert_eq!(delete(&app, &user).await.status, 202);
    let issuer = app.signing.issuer().await;
    let restoring = LoginPolicy {
        restore_scheduled_deletion: true,
        ..LoginPolicy::default()
    };
    let credentials = Credentials {
        email: Email::parse_for_login("guarded@example.com").unwrap(),
        password: Password::parse_for_login(PASSWORD.into()).unwrap(),
        client: "192.0.2.1".into(),
        user_agent: None,
    };
    let refused = login_with(
        &app.store,
        &issuer,
        credentials,
        restoring,
        Timestamp::now(),
    )
    .await;
    assert!(matches!(
        refused,
        Err(DomainError::AccountScheduledForDeletion { .. })
    ));
    assert_eq!(events(&app, "UserDeletionCancelled").await, 0);
    let token = restore_token(&app).await;
    assert_eq!(restore(&app, &token).await.status, 200);
    app.drop().await;
}
