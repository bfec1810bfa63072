//! Each cold start makes sure the indexes exist (`MongoStore::prepare`), by
//! one read of what the database records of them: the set is created when
//! the record is missing or names another set, and not again after.

use mongodb::bson::{doc, Document};
use users_core::config::DatabaseSettings;

use api_tests::{mongodb_uri, TestApp};

/// Another execution environment's store on the test's database.
async fn another_environment(app: &TestApp) -> users_core::mongo::MongoStore {
    users_core::runtime::connect(&DatabaseSettings {
        uri: mongodb_uri().into(),
        database: app.config.database.clone(),
        linked_collection: app.config.linked_collection.clone(),
        max_pool_size: 2,
    })
    .await
    .unwrap()
}

async fn session_indexes(app: &TestApp) -> Vec<String> {
    app.db
        .collection::<Document>("sessions")
        .list_index_names()
        .await
        .unwrap()
}

async fn recorded_digest(app: &TestApp) -> Option<String> {
    app.db
        .collection::<Document>("schema")
        .find_one(doc! { "_id": "indexes" })
        .await
        .unwrap()
        .map(|record| record.get_str("digest").unwrap().to_string())
}

#[tokio::test]
async fn a_cold_start_creates_the_indexes_once_then_reads_the_record() {
    let app = TestApp::new().await;
    assert_eq!(recorded_digest(&app).await, None);
    app.store.prepare().await.unwrap();
    let digest = recorded_digest(&app).await.expect("recorded");
    assert_eq!(digest.len(), 64, "a SHA-256 in hex: {digest}");
    assert!(session_indexes(&app)
        .await
        .contains(&"sessions_user_id".into()));
    let users = app.db.collection::<Document>("users");
    assert!(users
        .list_index_names()
        .await
        .unwrap()
        .contains(&"users_email_unique".into()));

    // The next environment finds the record and creates nothing: an index
    // dropped by hand stays dropped (the documented way back is below).
    app.db
        .collection::<Document>("sessions")
        .drop_index("sessions_user_id")
        .await
        .unwrap();
    another_environment(&app).await.prepare().await.unwrap();
    assert!(!session_indexes(&app)
        .await
        .contains(&"sessions_user_id".into()));

    // A record of another set (an older release's), or none, makes the next
    // cold start create them all and record this set.
    app.db
        .collection::<Document>("schema")
        .update_one(
            doc! { "_id": "indexes" },
            doc! { "$set": { "digest": "an older set" } },
        )
        .await
        .unwrap();
    another_environment(&app).await.prepare().await.unwrap();
    assert!(session_indexes(&app)
        .await
        .contains(&"sessions_user_id".into()));
    assert_eq!(recorded_digest(&app).await, Some(digest));
    app.drop().await;
}
