//! The outbox: each lifecycle event exists if and only if its change committed,
//! and carries ids and timestamps only.
//!
//! The forced-failure tests need transactions (the default SecantusDB and any
//! replica set have them); on a standalone server the change would stay and
//! only its event be missing, which the README documents.

use api_tests::{Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use serde_json::json;

async fn events(app: &TestApp) -> Vec<Document> {
    app.outbox_in_order().await
}

/// (type, detail) of each event, in order.
async fn kinds_and_details(app: &TestApp) -> Vec<(String, Document)> {
    events(app)
        .await
        .into_iter()
        .map(|event| {
            (
                event.get_str("type").unwrap().to_string(),
                sorted(event.get_document("detail").unwrap().clone()),
            )
        })
        .collect()
}

/// The fields in name order: consumers read `detail` as JSON, where the
/// order carries nothing.
fn sorted(document: Document) -> Document {
    let fields: std::collections::BTreeMap<_, _> = document.into_iter().collect();
    fields.into_iter().collect()
}

fn delete(user: &SignedUp) -> Event {
    Event::http_api("DELETE", "/users/{user_id}")
        .user_id(&user.user_id)
        .bearer(&user.access_token)
}

#[tokio::test]
async fn register_link_and_delete_each_write_one_event_of_ids_only() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    assert_eq!(app.link(&ada, "crm-1").await.status, 200);
    // The same id again is a no-op: no event.
    assert_eq!(app.link(&ada, "crm-1").await.status, 200);
    assert_eq!(app.link(&ada, "crm-2").await.status, 200);
    assert_eq!(
        app.call(Function::DeleteUser, delete(&ada)).await.status,
        200
    );

    let id = &ada.user_id;
    assert_eq!(
        kinds_and_details(&app).await,
        [
            ("UserRegistered".to_string(), doc! { "user_id": id }),
            (
                "ExternalIdLinked".to_string(),
                sorted(
                    doc! { "user_id": id, "external_id": "crm-1", "previous_external_id": null, "proven": false }
                )
            ),
            (
                "ExternalIdLinked".to_string(),
                sorted(
                    doc! { "user_id": id, "external_id": "crm-2", "previous_external_id": "crm-1", "proven": false }
                )
            ),
            (
                "UserDeleted".to_string(),
                sorted(doc! { "user_id": id, "external_id": "crm-2" })
            ),
        ]
    );
    for event in events(&app).await {
        assert!(event.get_object_id("_id").is_ok());
        assert!(event.get_datetime("occurred_at").is_ok());
        assert!(!event.contains_key("published_at"));
        let text = event.to_string();
        for secret in [
            PASSWORD,
            "$argon2",
            "ada@example.com",
            "\"ada\"",
            &ada.access_token,
            &ada.refresh_token,
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    app.drop().await;
}

#[tokio::test]
async fn refused_changes_write_no_event() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let before = events(&app).await.len();
    assert_eq!(before, 2);

    // Duplicate e-mail and username.
    assert_eq!(app.register("ada2", "ada@example.com").await.status, 409);
    assert_eq!(app.register("ADA", "other@example.com").await.status, 409);
    // An external id linked to someone else.
    assert_eq!(app.link(&ada, "crm-1").await.status, 200);
    assert_eq!(app.link(&bob, "crm-1").await.status, 409);
    // A delete with an ended session.
    let logout = Event::http_api("POST", "/auth/logout").bearer(&bob.access_token);
    assert_eq!(app.call(Function::Logout, logout).await.status, 200);
    assert_eq!(
        app.call(Function::DeleteUser, delete(&bob)).await.status,
        401
    );
    // Erasing a user who does not exist succeeds, with nothing to announce.
    let erase = json!({ "op": "erase_user", "user_id": ObjectId::new().to_hex() }).to_string();
    assert!(app.ingest(&[("m1", &erase)]).await.is_empty());

    let kinds: Vec<String> = kinds_and_details(&app)
        .await
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(
        kinds,
        ["UserRegistered", "UserRegistered", "ExternalIdLinked"]
    );
    app.drop().await;
}

#[tokio::test]
async fn erase_user_writes_user_deleted_with_the_external_id() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    assert_eq!(app.link(&ada, "crm-1").await.status, 200);
    let erase = json!({ "op": "erase_user", "user_id": ada.user_id }).to_string();
    assert!(app
        .ingest(&[("m1", &erase), ("m1-again", &erase)])
        .await
        .is_empty());
    let last = kinds_and_details(&app).await.pop().unwrap();
    assert_eq!(
        last,
        (
            "UserDeleted".to_string(),
            doc! { "user_id": &ada.user_id, "external_id": "crm-1" }
        )
    );
    // Once: the redelivered request found nobody to delete.
    assert_eq!(
        app.outbox()
            .count_documents(doc! { "type": "UserDeleted" })
            .await
            .unwrap(),
        1
    );
    app.drop().await;
}

/// Makes the outbox refuse any further event of `kind`: a unique index on
/// `type` and one entry of that type already there. The change and its event
/// are one transaction, so the change must be rolled back with the event.
async fn refuse_events_of(app: &TestApp, kind: &str) {
    app.outbox()
        .create_index(
            IndexModel::builder()
                .keys(doc! { "type": 1 })
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name("test_one_per_type".to_string())
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    let present = app
        .outbox()
        .count_documents(doc! { "type": kind })
        .await
        .unwrap();
    if present == 0 {
        app.outbox()
            .insert_one(doc! {
                "type": kind,
                "occurred_at": DateTime::now(),
                "detail": {},
                "published_at": DateTime::now(),
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_failed_event_write_rolls_back_registration() {
    let app = TestApp::new().await;
    app.store.prepare().await.unwrap();
    refuse_events_of(&app, "UserRegistered").await;
    let answer = app.register("ada", "ada@example.com").await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.outbox().count_documents(doc! {}).await.unwrap(), 1);
    app.drop().await;
}

#[tokio::test]
async fn a_failed_event_write_rolls_back_linking_and_deletion() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let ada_id = ObjectId::parse_str(&ada.user_id).unwrap();
    assert_eq!(app.link(&ada, "crm-1").await.status, 200);
    app.linked()
        .insert_one(doc! { "_id": "crm-1", "plan": "gold" })
        .await
        .unwrap();
    refuse_events_of(&app, "ExternalIdLinked").await;
    refuse_events_of(&app, "UserDeleted").await;
    let events_before = app.outbox().count_documents(doc! {}).await.unwrap();

    assert_eq!(app.link(&ada, "crm-2").await.status, 500);
    let user = app
        .users()
        .find_one(doc! { "_id": ada_id })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.get_str("external_id").unwrap(), "crm-1");

    assert_eq!(
        app.call(Function::DeleteUser, delete(&ada)).await.status,
        500
    );
    assert_eq!(
        app.users()
            .count_documents(doc! { "_id": ada_id })
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.linked()
            .count_documents(doc! { "_id": "crm-1" })
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.sessions()
            .count_documents(doc! { "user_id": ada_id })
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.outbox().count_documents(doc! {}).await.unwrap(),
        events_before
    );
    app.drop().await;
}

#[tokio::test]
async fn logout_all_and_refresh_reuse_write_sessions_revoked() {
    let app = TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.refresh_grace = std::time::Duration::ZERO;
    })
    .await;
    let ada = app.sign_up("ada").await;
    app.login("ada@example.com", PASSWORD).await;
    let logout_all = Event::http_api("POST", "/auth/logout_all").bearer(&ada.access_token);
    assert_eq!(app.call(Function::LogoutAll, logout_all).await.status, 200);

    let bob = app.sign_up("bob").await;
    assert_eq!(app.refresh(&bob.refresh_token).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // The replaced token again, after the (zero) grace window: theft.
    assert_eq!(app.refresh(&bob.refresh_token).await.status, 401);
    // A plain logout of an ended session writes nothing more.
    let logout = Event::http_api("POST", "/auth/logout").bearer(&bob.access_token);
    assert_eq!(app.call(Function::Logout, logout).await.status, 401);

    let revoked: Vec<Document> = kinds_and_details(&app)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "SessionsRevoked")
        .map(|(_, detail)| detail)
        .collect();
    assert_eq!(
        revoked,
        [
            sorted(
                doc! { "user_id": &ada.user_id, "reason": "user_request", "sessions_ended": 2_i64 }
            ),
            sorted(
                doc! { "user_id": &bob.user_id, "reason": "refresh_token_reuse", "sessions_ended": 1_i64 }
            ),
        ]
    );
    app.drop().await;
}
