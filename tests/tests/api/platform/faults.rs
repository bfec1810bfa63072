//! The database process stops and starts under a warm function: 503s while it
//! is down, service again without a restart, and nothing half-deleted after a
//! crash in the middle of deletes.
//!
//! These tests run their own SecantusDB (from the project's `.venv`, which
//! `make test` installs; `SECANTUSD_BIN` overrides the path), so that they can
//! stop it without disturbing the other tests.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use api_tests::{
    free_port, spawn_server, venv_program, Event, Function, SignedUp, TestApp, PASSWORD,
};
use futures_util::future::join_all;
use mongodb::bson::{doc, oid::ObjectId};
use serde_json::json;

/// A database server of our own, killed when dropped.
struct Database {
    child: Option<Child>,
    port: u16,
    storage: PathBuf,
}

impl Database {
    fn start() -> Self {
        let port = free_port();
        let storage = std::env::temp_dir().join(format!("faults-{}", ObjectId::new().to_hex()));
        let mut database = Self {
            child: None,
            port,
            storage,
        };
        database.restart();
        database
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    fn restart(&mut self) {
        let mut command = Command::new(venv_program("secantusd-py", "SECANTUSD_BIN"));
        command
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--log-level", "ERROR", "--storage-path"])
            .arg(&self.storage);
        self.child = Some(spawn_server(command, self.port));
    }

    /// SIGTERM, and wait: the server closes its storage cleanly, so everything
    /// written so far is on disk.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// SIGKILL: the process gets no chance to finish anything.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

/// One request of each function, as the signed-up `user`.
fn one_of_each(user: &SignedUp) -> Vec<(Function, Event)> {
    let users_route = |method: &str, route: &str| {
        Event::http_api(method, route)
            .user_id(&user.user_id)
            .bearer(&user.access_token)
    };
    vec![
        (
            Function::Register,
            Event::http_api("POST", "/auth/register").json(
                json!({ "username": "later", "email": "later@example.com", "password": PASSWORD }),
            ),
        ),
        (
            Function::Login,
            Event::http_api("POST", "/auth/login")
                .json(json!({ "email": "faulty@example.com", "password": PASSWORD })),
        ),
        (
            Function::Refresh,
            Event::http_api("POST", "/auth/refresh")
                .json(json!({ "refresh_token": user.refresh_token })),
        ),
        (
            Function::LinkExternalId,
            users_route("PUT", "/users/{user_id}/link_id").json(json!({ "external_id": "crm-1" })),
        ),
        (
            Function::GetFullProfile,
            users_route("GET", "/users/{user_id}/full_profile"),
        ),
        (
            Function::LogoutAll,
            Event::http_api("POST", "/auth/logout_all").bearer(&user.access_token),
        ),
        (
            Function::Logout,
            Event::http_api("POST", "/auth/logout").bearer(&user.access_token),
        ),
        (
            Function::DeleteUser,
            users_route("DELETE", "/users/{user_id}"),
        ),
    ]
}

#[tokio::test]
async fn every_function_answers_503_while_the_database_is_down_and_recovers_warm() {
    let mut database = Database::start();
    let app = TestApp::with_uri(&database.uri()).await;
    let user = app.sign_up("faulty").await;

    database.stop();
    for (function, event) in one_of_each(&user) {
        let started = Instant::now();
        let answer = app.call(function, event).await.problem(503);
        let took = started.elapsed();
        eprintln!("database down: {function:?} answered 503 in {took:?}");
        assert!(took < Duration::from_secs(5), "{function:?} took {took:?}");
        assert_eq!(answer.body["type"], "urn:problem:database-unavailable");
    }

    // Same process, same state, same client: it must reconnect by itself.
    database.restart();
    let profile = Event::http_api("GET", "/users/{user_id}/full_profile")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    let mut answer = app.call(Function::GetFullProfile, profile).await;
    // The driver may still be waiting out its heartbeat; it has 3 s of server selection.
    if answer.status == 503 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let again = Event::http_api("GET", "/users/{user_id}/full_profile")
            .user_id(&user.user_id)
            .bearer(&user.access_token);
        answer = app.call(Function::GetFullProfile, again).await;
    }
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["username"], "faulty");
    assert_eq!(app.login("faulty@example.com", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_during_deletes_leaves_no_user_half_deleted() {
    const USERS: usize = 12;
    let mut database = Database::start();
    let app = TestApp::with_uri(&database.uri()).await;
    let mut users = Vec::new();
    for n in 0..USERS {
        let user = app.sign_up(&format!("crash{n}")).await;
        let user_id = ObjectId::parse_str(&user.user_id).unwrap();
        let link = Event::http_api("PUT", "/users/{user_id}/link_id")
            .user_id(&user.user_id)
            .bearer(&user.access_token)
            .json(json!({ "external_id": format!("crm-{n}") }));
        assert_eq!(app.call(Function::LinkExternalId, link).await.status, 200);
        app.linked()
            .insert_many([
                doc! { "_id": format!("crm-{n}"), "plan": "gold" },
                doc! { "_id": format!("note-{n}-a"), "user_id": user_id },
                doc! { "_id": format!("note-{n}-b"), "user_id": &user.user_id },
            ])
            .await
            .unwrap();
        users.push((user, user_id));
    }
    // Unsynced writes may die with a killed server; the crash below must only
    // be able to hit the deletes, not the set-up.
    database.stop();
    database.restart();
    let delete = |user: &SignedUp| {
        Event::http_api("DELETE", "/users/{user_id}")
            .user_id(&user.user_id)
            .bearer(&user.access_token)
    };

    let burst = join_all(
        users
            .iter()
            .map(|(user, _)| app.call(Function::DeleteUser, delete(user))),
    );
    // Kill the server as soon as the first delete has committed: the others
    // are then somewhere between not started and half done.
    let crash = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while app
            .users()
            .count_documents(doc! {})
            .await
            .unwrap_or(USERS as u64)
            == USERS as u64
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        database.kill();
    };
    let (answers, ()) = tokio::join!(burst, crash);
    for answer in &answers {
        assert!(
            matches!(answer.status, 200 | 503),
            "{} {}",
            answer.status,
            answer.body
        );
    }
    let completed = answers.iter().filter(|answer| answer.status == 200).count();
    eprintln!("crash during deletes: {completed} of {USERS} completed before the kill");
    assert!(
        completed < USERS,
        "the crash came after every delete had completed"
    );
    database.restart();

    // Each user is either whole or entirely gone.
    let mut remaining = Vec::new();
    for (n, (user, user_id)) in users.iter().enumerate() {
        let exists = wait_for(app.users().count_documents(doc! { "_id": user_id })).await == 1;
        let linked = wait_for(app.linked().count_documents(doc! {
            "$or": [{ "_id": format!("crm-{n}") }, { "user_id": { "$in": [user_id, &user.user_id] } }]
        }))
        .await;
        if exists {
            assert_eq!(linked, 3, "user {n} survived with part of its data");
            remaining.push(user);
        } else {
            assert_eq!(
                linked, 0,
                "user {n} is gone but {linked} of its documents are not"
            );
        }
    }
    // And every delete that did not complete can be retried to completion.
    for user in remaining {
        let answer = app.call(Function::DeleteUser, delete(user)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.linked().count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.sessions().count_documents(doc! {}).await.unwrap(), 0);
}

/// Retries a read while the restarted server is still opening its storage.
async fn wait_for<F: std::future::IntoFuture<Output = mongodb::error::Result<u64>>>(
    read: F,
) -> u64 {
    read.into_future()
        .await
        .expect("the restarted database answers")
}

/// Issue #24: the scheduled purge killed mid-batch (its database killed
/// under it) and run again: every user whole or entirely gone, never half,
/// and `UserDeleted` once per deleted user.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_killed_mid_batch_and_run_again_leaves_no_user_half_deleted() {
    use users_core::domain::deletion::GracePeriod;
    use users_core::domain::values::Timestamp;
    const USERS: usize = 12;
    let mut database = Database::start();
    let app = TestApp::with_config(&database.uri(), |config| {
        config.deletion_grace = GracePeriod::days(1).unwrap();
    })
    .await;
    let mut users = Vec::new();
    for n in 0..USERS {
        let user = app.sign_up(&format!("purge{n}")).await;
        let user_id = ObjectId::parse_str(&user.user_id).unwrap();
        let link = Event::http_api("PUT", "/users/{user_id}/link_id")
            .user_id(&user.user_id)
            .bearer(&user.access_token)
            .json(json!({ "external_id": format!("crm-{n}") }));
        assert_eq!(app.call(Function::LinkExternalId, link).await.status, 200);
        app.linked()
            .insert_many([
                doc! { "_id": format!("crm-{n}"), "plan": "gold" },
                doc! { "_id": format!("note-{n}-a"), "user_id": user_id },
                doc! { "_id": format!("note-{n}-b"), "user_id": &user.user_id },
            ])
            .await
            .unwrap();
        let delete = Event::http_api("DELETE", "/users/{user_id}")
            .user_id(&user.user_id)
            .bearer(&user.access_token);
        assert_eq!(app.call(Function::DeleteUser, delete).await.status, 202);
        users.push((user, user_id));
    }
    database.stop();
    database.restart();
    let due = Timestamp::now().plus(Duration::from_secs(2 * 86_400));

    let purge = users_core::purge::run(&app.store, app.config.links, due);
    // Kill the server as soon as the first user is gone: the others are then
    // somewhere between not started and half done.
    let crash = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while app
            .users()
            .count_documents(doc! {})
            .await
            .unwrap_or(USERS as u64)
            == USERS as u64
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        database.kill();
    };
    let (outcome, ()) = tokio::join!(purge, crash);
    assert!(
        outcome.is_err(),
        "the crash came after the whole batch: {outcome:?}"
    );
    database.restart();

    let mut deleted = 0;
    for (n, (user, user_id)) in users.iter().enumerate() {
        let exists = wait_for(app.users().count_documents(doc! { "_id": user_id })).await == 1;
        let linked = wait_for(app.linked().count_documents(doc! {
            "$or": [{ "_id": format!("crm-{n}") }, { "user_id": { "$in": [user_id, &user.user_id] } }]
        }))
        .await;
        // Its security activity: created, signed in, deletion scheduled.
        let activity = wait_for(
            app.db
                .collection::<mongodb::bson::Document>("security_activity")
                .count_documents(doc! { "user_id": user_id }),
        )
        .await;
        if exists {
            assert_eq!(linked, 3, "user {n} survived with part of its data");
            assert_eq!(activity, 3, "user {n} survived with part of its activity");
        } else {
            assert_eq!(
                linked, 0,
                "user {n} is gone but {linked} of its documents are not"
            );
            assert_eq!(activity, 0, "user {n} is gone but not its activity");
            deleted += 1;
        }
    }
    eprintln!("purge killed after {deleted} of {USERS} users");
    let outbox = app.outbox();
    let events = |kind: &'static str| outbox.count_documents(doc! { "type": kind });
    assert_eq!(wait_for(events("UserDeleted")).await, deleted);

    // Run again: it finishes, and each user's `UserDeleted` is there once.
    let summary = users_core::purge::run(&app.store, app.config.links, due)
        .await
        .unwrap();
    assert_eq!(summary.deleted, USERS as u64 - deleted);
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.linked().count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.sessions().count_documents(doc! {}).await.unwrap(), 0);
    let activity = app
        .db
        .collection::<mongodb::bson::Document>("security_activity");
    assert_eq!(activity.count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(events("UserDeleted").await.unwrap(), USERS as u64);
}
