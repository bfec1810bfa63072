//! `functions/ingest-events`' handler on SQS fixture events, against a real
//! database: versioned upserts and deletes of linked data in and out of order,
//! duplicates, poison messages, and erasure.

use api_tests::{Event, Function, TestApp};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use serde_json::json;

fn upsert(external_id: &str, version: i64, plan: &str) -> String {
    json!({
        "op": "upsert_linked",
        "external_id": external_id,
        "data": { "plan": plan, "seats": version * 10, "owner": { "name": "Ada" } },
        "version": version,
    })
    .to_string()
}

fn delete(external_id: &str, version: i64) -> String {
    json!({ "op": "delete_linked", "external_id": external_id, "version": version }).to_string()
}

fn erase(user_id: &str) -> String {
    json!({ "op": "erase_user", "user_id": user_id }).to_string()
}

async fn linked(app: &TestApp, external_id: &str) -> Option<Document> {
    app.linked()
        .find_one(doc! { "_id": external_id })
        .await
        .unwrap()
}

/// Everything in the linked collection, sorted by id: the state to compare.
async fn linked_state(app: &TestApp) -> Vec<Document> {
    use futures_util::TryStreamExt;
    let mut state: Vec<Document> = app
        .linked()
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    for record in &mut state {
        // Tombstones' times differ between runs; their presence and version do not.
        if record.remove("deleted_at").is_some() {
            record.insert("deleted_at", true);
        }
    }
    state
}

#[tokio::test]
async fn a_valid_upsert_stores_data_and_version() {
    let app = TestApp::new().await;
    let failures = app.ingest(&[("m1", &upsert("crm-1", 1, "gold"))]).await;
    assert!(failures.is_empty(), "{failures:?}");
    let stored = linked(&app, "crm-1").await.expect("stored");
    assert_eq!(
        stored,
        doc! { "_id": "crm-1", "plan": "gold", "seats": 10_i64, "owner": { "name": "Ada" }, "version": 1_i64 }
    );
    app.drop().await;
}

#[tokio::test]
async fn an_older_version_changes_nothing_whatever_the_order() {
    let app = TestApp::new().await;
    // In order in one batch, then a late, older one alone.
    let failures = app
        .ingest(&[
            ("m1", &upsert("crm-1", 1, "free")),
            ("m2", &upsert("crm-1", 3, "gold")),
            ("m3", &upsert("crm-1", 2, "silver")),
        ])
        .await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        app.ingest(&[("m4", &upsert("crm-1", 1, "free"))]).await,
        Vec::<String>::new()
    );
    let stored = linked(&app, "crm-1").await.unwrap();
    assert_eq!(stored.get_str("plan").unwrap(), "gold");
    assert_eq!(stored.get_i64("version").unwrap(), 3);

    // Reversed: the newest first. Same final state.
    let failures = app
        .ingest(&[
            ("n1", &upsert("crm-2", 3, "gold")),
            ("n2", &upsert("crm-2", 2, "silver")),
            ("n3", &upsert("crm-2", 1, "free")),
        ])
        .await;
    assert!(failures.is_empty(), "{failures:?}");
    let stored = linked(&app, "crm-2").await.unwrap();
    assert_eq!(stored.get_str("plan").unwrap(), "gold");
    assert_eq!(stored.get_i64("version").unwrap(), 3);
    app.drop().await;
}

#[tokio::test]
async fn a_delete_leaves_a_tombstone_that_keeps_older_upserts_out() {
    let app = TestApp::new().await;
    let failures = app
        .ingest(&[
            ("m1", &upsert("crm-1", 1, "free")),
            ("m2", &delete("crm-1", 2)),
            // Delivered after the delete but older: stays deleted.
            ("m3", &upsert("crm-1", 1, "free")),
            // A delete older than what is stored: no change either.
            ("m4", &upsert("crm-2", 5, "gold")),
            ("m5", &delete("crm-2", 4)),
        ])
        .await;
    assert!(failures.is_empty(), "{failures:?}");
    let tombstone = linked(&app, "crm-1").await.unwrap();
    assert_eq!(tombstone.get_i64("version").unwrap(), 2);
    assert!(tombstone.get_datetime("deleted_at").is_ok());
    assert!(!tombstone.contains_key("plan"));
    assert_eq!(
        linked(&app, "crm-2")
            .await
            .unwrap()
            .get_str("plan")
            .unwrap(),
        "gold"
    );

    // A newer upsert after the delete brings the record back.
    assert!(app
        .ingest(&[("m6", &upsert("crm-1", 3, "silver"))])
        .await
        .is_empty());
    let back = linked(&app, "crm-1").await.unwrap();
    assert_eq!(back.get_str("plan").unwrap(), "silver");
    assert!(!back.contains_key("deleted_at"));
    app.drop().await;
}

#[tokio::test]
async fn the_same_batch_twice_leaves_the_same_state() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let batch = [
        ("m1", upsert("crm-1", 2, "gold")),
        ("m2", upsert("crm-1", 1, "free")),
        ("m3", upsert("crm-2", 1, "free")),
        ("m4", delete("crm-2", 2)),
        ("m5", delete("crm-3", 1)),
        ("m6", erase(&ada.user_id)),
        ("m7", "poison".to_string()),
    ];
    let batch: Vec<(&str, &str)> = batch
        .iter()
        .map(|(id, body)| (*id, body.as_str()))
        .collect();
    assert_eq!(app.ingest(&batch).await, ["m7"]);
    let first = linked_state(&app).await;
    let users = app.users().count_documents(doc! {}).await.unwrap();
    assert_eq!(users, 0);

    assert_eq!(app.ingest(&batch).await, ["m7"]);
    assert_eq!(linked_state(&app).await, first);
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 0);
    app.drop().await;
}

#[tokio::test]
async fn poison_messages_are_reported_and_the_rest_applied() {
    let app = TestApp::new().await;
    let too_long = "x".repeat(129);
    let messages = [
        ("ok-1", upsert("crm-1", 1, "gold")),
        ("not-json", "{\"op\": \"upsert_linked\"".to_string()),
        ("not-object", "[1, 2]".to_string()),
        ("no-op", json!({ "external_id": "crm-9" }).to_string()),
        ("unknown-op", json!({ "op": "drop_database" }).to_string()),
        (
            "bad-version",
            json!({ "op": "upsert_linked", "external_id": "crm-9", "data": {}, "version": "7" })
                .to_string(),
        ),
        (
            "negative-version",
            json!({ "op": "delete_linked", "external_id": "crm-9", "version": -1 }).to_string(),
        ),
        (
            "data-not-object",
            json!({ "op": "upsert_linked", "external_id": "crm-9", "data": [1], "version": 1 })
                .to_string(),
        ),
        (
            "reserved-field",
            json!({ "op": "upsert_linked", "external_id": "crm-9", "data": { "_id": "other" }, "version": 1 })
                .to_string(),
        ),
        (
            "operator-field",
            json!({ "op": "upsert_linked", "external_id": "crm-9", "data": { "$set": { "a": 1 } }, "version": 1 })
                .to_string(),
        ),
        (
            "long-external-id",
            json!({ "op": "delete_linked", "external_id": too_long, "version": 1 }).to_string(),
        ),
        (
            "typo",
            json!({ "op": "delete_linked", "external_id": "crm-9", "versoin": 1 }).to_string(),
        ),
        (
            "bad-user-id",
            json!({ "op": "erase_user", "user_id": "ada@example.com" }).to_string(),
        ),
        ("ok-2", upsert("crm-2", 1, "silver")),
    ];
    let batch: Vec<(&str, &str)> = messages
        .iter()
        .map(|(id, body)| (*id, body.as_str()))
        .collect();
    let failures = app.ingest(&batch).await;
    let expected: Vec<&str> = messages
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !id.starts_with("ok-"))
        .collect();
    assert_eq!(failures, expected);
    assert!(linked(&app, "crm-1").await.is_some());
    assert!(linked(&app, "crm-2").await.is_some());
    assert!(linked(&app, "crm-9").await.is_none());
    assert!(linked(&app, "other").await.is_none());
    app.drop().await;
}

#[tokio::test]
async fn an_unreachable_database_fails_each_message_not_the_batch() {
    let app = TestApp::with_uri(
        "mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=200",
    )
    .await;
    let failures = app
        .ingest(&[
            ("m1", &upsert("crm-1", 1, "gold")),
            ("m2", &erase(&ObjectId::new().to_hex())),
        ])
        .await;
    assert_eq!(failures, ["m1", "m2"]);
}

/// The inbound story: the external system's record reaches the profile of
/// the user who linked its id, and an erasure request removes both.
#[tokio::test]
async fn upserted_data_shows_in_the_profile_and_erase_user_removes_user_and_data() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    assert_eq!(app.link(&ada, "crm-ada").await.status, 200);
    assert_eq!(app.link(&bob, "crm-bob").await.status, 200);
    let failures = app
        .ingest(&[
            ("m1", &upsert("crm-ada", 1, "gold")),
            ("m2", &upsert("crm-bob", 1, "free")),
            ("m3", &upsert("crm-gone", 1, "free")),
            ("m4", &delete("crm-gone", 2)),
        ])
        .await;
    assert!(failures.is_empty(), "{failures:?}");

    let profile = |user: &api_tests::SignedUp| {
        Event::http_api("GET", "/users/{user_id}/full_profile")
            .user_id(&user.user_id)
            .bearer(&user.access_token)
    };
    let shown = app.call(Function::GetFullProfile, profile(&ada)).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(
        shown.body["linked_data"],
        json!([{ "_id": "crm-ada", "plan": "gold", "seats": 10, "owner": { "name": "Ada" }, "version": 1 }])
    );

    // A tombstone never shows, even to a user who links its id.
    assert_eq!(app.link(&bob, "crm-gone").await.status, 200);
    let shown = app.call(Function::GetFullProfile, profile(&bob)).await;
    assert_eq!(shown.body["linked_data"], json!([]), "{}", shown.body);

    assert!(app.ingest(&[("m5", &erase(&ada.user_id))]).await.is_empty());
    let ada_id = ObjectId::parse_str(&ada.user_id).unwrap();
    assert_eq!(
        app.users()
            .count_documents(doc! { "_id": ada_id })
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.sessions()
            .count_documents(doc! { "user_id": ada_id })
            .await
            .unwrap(),
        0
    );
    // Her record is gone; what remains is its tombstone (id and version only).
    let left = linked(&app, "crm-ada").await.expect("a tombstone");
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        ["_id", "version", "deleted_at"]
    );
    assert_eq!(
        app.call(Function::GetFullProfile, profile(&ada))
            .await
            .status,
        401
    );
    // ... and an older upsert delivered late does not bring it back.
    assert!(app
        .ingest(&[("m6", &upsert("crm-ada", 1, "gold"))])
        .await
        .is_empty());
    assert!(!linked(&app, "crm-ada").await.unwrap().contains_key("plan"));

    // Bob is untouched; erasing Ada again, or a user who never existed, succeeds.
    assert_eq!(
        app.call(Function::GetFullProfile, profile(&bob))
            .await
            .status,
        200
    );
    let failures = app
        .ingest(&[
            ("m7", &erase(&ada.user_id)),
            ("m8", &erase(&ObjectId::new().to_hex())),
        ])
        .await;
    assert!(failures.is_empty(), "{failures:?}");
    app.drop().await;
}
