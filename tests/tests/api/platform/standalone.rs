//! The same operations on a standalone server, which has no transactions: the
//! store falls back to ordered steps (linked data, then the user, then its
//! sessions; each change before its event). These tests run their own
//! SecantusDB with `--standalone`, which stops it advertising a replica set.

use std::process::{Child, Command};

use api_tests::{free_port, spawn_server, venv_program, Event, Function, TestApp};
use mongodb::bson::{doc, oid::ObjectId};

struct StandaloneDatabase {
    child: Child,
    port: u16,
    storage: std::path::PathBuf,
}

impl StandaloneDatabase {
    fn start() -> Self {
        let port = free_port();
        let storage = std::env::temp_dir().join(format!("standalone-{}", ObjectId::new().to_hex()));
        let mut command = Command::new(venv_program("secantusd-py", "SECANTUSD_BIN"));
        command
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--standalone",
            ])
            .args(["--log-level", "ERROR", "--storage-path"])
            .arg(&storage);
        let child = spawn_server(command, port);
        Self {
            child,
            port,
            storage,
        }
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }
}

impl Drop for StandaloneDatabase {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

#[tokio::test]
async fn every_operation_works_without_transactions() {
    let database = StandaloneDatabase::start();
    let app = TestApp::with_uri(&database.uri()).await;
    let hello = app
        .db
        .client()
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .await
        .unwrap();
    assert!(
        !hello.contains_key("setName"),
        "the server still advertises a replica set: {hello}"
    );

    let user = app.sign_up("solo").await;
    let user_id = ObjectId::parse_str(&user.user_id).unwrap();
    assert_eq!(app.link(&user, "crm-solo").await.status, 200);
    app.linked()
        .insert_many([
            doc! { "_id": "crm-solo", "plan": "gold" },
            doc! { "_id": "note-solo", "user_id": user_id },
        ])
        .await
        .unwrap();
    let profile = Event::http_api("GET", "/users/{user_id}/full_profile")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    let answer = app.call(Function::GetFullProfile, profile).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["linked_data"].as_array().unwrap().len(), 2);

    let delete = Event::http_api("DELETE", "/users/{user_id}")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    let answer = app.call(Function::DeleteUser, delete).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.linked().count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.sessions().count_documents(doc! {}).await.unwrap(), 0);

    // Each change wrote its event after it.
    let types: Vec<String> = app
        .outbox_in_order()
        .await
        .iter()
        .map(|entry| entry.get_str("type").unwrap().to_string())
        .collect();
    assert_eq!(types, ["UserRegistered", "ExternalIdLinked", "UserDeleted"]);
}
