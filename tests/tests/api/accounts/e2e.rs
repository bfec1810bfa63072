//! End to end over HTTP, through `cargo lambda watch` on the real paths.
//!
//! `make test` starts its own watcher and database and runs these with
//! `--include-ignored`; by hand: `E2E_BASE_URL=http://127.0.0.1:9000
//! E2E_MONGODB_DB=user_management MONGODB_URI=... cargo test --test e2e -- --ignored`.

use crate::e2e_client::E2eClient;
use mongodb::bson::{doc, oid::ObjectId, Document};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

struct Api(E2eClient);

impl Api {
    fn from_env() -> Self {
        Self(E2eClient::from_env())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let reply = self.0.call(method, path, None, token, body).await;
        (reply.status, reply.content_type, reply.body)
    }
}

impl Api {
    /// Registers and logs in a fresh user on the given paths; (user id, e-mail, login answer).
    async fn sign_up(&self, prefix: &str, register: &str, login: &str) -> (String, String, Value) {
        let name = format!("{prefix}{}", &ObjectId::new().to_hex()[16..]);
        let email = format!("{name}@example.com");
        let body = json!({ "username": name, "email": email, "password": PASSWORD });
        let (status, _, registered) = self.send(Method::POST, register, None, Some(body)).await;
        assert_eq!(status, 201, "{registered}");
        let credentials = json!({ "email": email, "password": PASSWORD });
        let (status, _, logged_in) = self
            .send(Method::POST, login, None, Some(credentials))
            .await;
        assert_eq!(status, 200, "{logged_in}");
        let id = registered["id"].as_str().unwrap().to_string();
        (id, email, logged_in)
    }
}

async fn collection(name: &str) -> mongodb::Collection<Document> {
    collection_of("E2E_MONGODB_DB", name).await
}

/// `name` in the database named by `db_var` (each watcher has its own).
async fn collection_of(db_var: &str, name: &str) -> mongodb::Collection<Document> {
    let uri =
        std::env::var("MONGODB_URI").expect("MONGODB_URI names the watcher's database server");
    let db = std::env::var(db_var)
        .unwrap_or_else(|_| panic!("{db_var} names the watcher's database (run `make test`)"));
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    client.database(&db).collection(name)
}

async fn linked_collection() -> mongodb::Collection<Document> {
    collection("linked_collection").await
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn the_whole_story_over_http() {
    let api = Api::from_env();
    let (id, email, body) = api.sign_up("e2e", "/auth/register", "/auth/login").await;
    assert_eq!(body["token_type"], "bearer");
    let first_access = body["access_token"].as_str().unwrap().to_string();
    let first_refresh = body["refresh_token"].as_str().unwrap().to_string();

    let (status, _, body) = api
        .send(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({ "refresh_token": first_refresh })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let stored_hash = collection("users")
        .await
        .find_one(doc! { "_id": ObjectId::parse_str(&id).unwrap() })
        .await
        .unwrap()
        .unwrap()
        .get_str("hashed_password")
        .unwrap()
        .to_string();

    let (status, _, body) = api
        .send(
            Method::PUT,
            &format!("/users/{id}/link_id/"),
            Some(&token),
            Some(json!({ "external_id": format!("crm-{id}") })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "ID linked successfully");

    linked_collection()
        .await
        .insert_many([
            doc! { "_id": format!("crm-{id}"), "plan": "gold" },
            doc! { "_id": format!("note-{id}"), "user_id": ObjectId::parse_str(&id).unwrap(), "text": "hello" },
        ])
        .await
        .unwrap();

    let (status, _, profile) = api
        .send(
            Method::GET,
            &format!("/users/{id}/full_profile/"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["email"], email);
    assert_eq!(
        profile["linked_data"].as_array().unwrap().len(),
        2,
        "{profile}"
    );
    assert!(profile.get("hashed_password").is_none());

    let (status, _, body) = api
        .send(Method::DELETE, &format!("/users/{id}/"), Some(&token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["message"],
        "User and associated data deleted successfully"
    );

    let (status, content_type, body) = api
        .send(
            Method::GET,
            &format!("/users/{id}/full_profile/"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(content_type, "application/problem+json");
    let left = linked_collection()
        .await
        .count_documents(doc! { "_id": { "$in": [format!("crm-{id}"), format!("note-{id}")] } })
        .await
        .unwrap();
    assert_eq!(left, 0);
    let (status, _, _) = api
        .send(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({ "refresh_token": refresh })),
        )
        .await;
    assert_eq!(status, 401);

    // Nothing secret reached any function's log on the way.
    let log_path = std::env::var("E2E_WATCH_LOG")
        .expect("E2E_WATCH_LOG names the functions' log (run `make test`)");
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains(&id),
        "the log at {log_path} does not cover this story"
    );
    let hash_body = stored_hash.rsplit('$').next().unwrap();
    for (what, secret) in [
        ("password", PASSWORD),
        ("access token", first_access.as_str()),
        ("refreshed access token", token.as_str()),
        ("refresh token", first_refresh.as_str()),
        ("rotated refresh token", refresh.as_str()),
        ("password hash", hash_body),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in {log_path}");
    }
    // A JWT's signature alone would also be a leak of a usable token.
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !logs.contains(signature),
        "a token signature appears in {log_path}"
    );
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn both_slash_forms_and_errors_over_http() {
    let api = Api::from_env();
    let (id, email, body) = api.sign_up("e2f", "/auth/register/", "/auth/login/").await;
    let token = body["access_token"].as_str().unwrap().to_string();

    let (status, _, _) = api
        .send(
            Method::PUT,
            &format!("/users/{id}/link_id"),
            Some(&token),
            Some(json!({ "external_id": format!("x-{id}") })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = api
        .send(
            Method::GET,
            &format!("/users/{id}/full_profile"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);

    let (status, content_type, _) = api
        .send(
            Method::GET,
            &format!("/users/{id}/full_profile"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::UNAUTHORIZED, "application/problem+json")
    );
    let (status, _, _) = api
        .send(
            Method::GET,
            "/users/not-an-id/full_profile/",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 422);
    let (status, _, _) = api.send(Method::GET, "/auth/register", None, None).await;
    assert_eq!(status, 405);
    let (status, _, body) = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "email": email, "password": "wrong password" })),
        )
        .await;
    assert_eq!(status, 401, "{body}");

    let (status, _, _) = api
        .send(Method::DELETE, &format!("/users/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
}

/// Issue #24 over HTTP, as `make test`'s first watcher serves it
/// (`DELETION_GRACE_DAYS` unset: 0): the delete keeps the original's `200`
/// and body, and the restore route answers a wrong, malformed or missing
/// token as a problem. The grace period's story over HTTP is
/// `the_grace_period_over_http_...` below (the second watcher); its pages in
/// `pages::handlers`, a purge killed mid-batch in `platform::faults`.
#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn the_default_delete_keeps_the_contract_and_restore_refuses_bad_tokens_over_http() {
    let api = Api::from_env();
    let (id, email, login) = api.sign_up("keeps", "/auth/register", "/auth/login").await;
    let token = login["access_token"].as_str().unwrap().to_string();
    let activity_of = || async {
        collection("security_activity")
            .await
            .count_documents(doc! { "user_id": ObjectId::parse_str(&id).unwrap() })
            .await
            .unwrap()
    };
    assert_eq!(activity_of().await, 2, "created, signed in");
    let (status, _, body) = api
        .send(Method::DELETE, &format!("/users/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "message": "User and associated data deleted successfully" })
    );
    let (status, _, body) = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, 401, "deleted at once: {body}");
    // Its security activity went with it (the one delete cascade).
    assert_eq!(activity_of().await, 0);

    for (token, expected) in [
        (json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 400),
        (json!("not a token!"), 422),
        (json!(7), 422),
    ] {
        let (status, content_type, body) = api
            .send(
                Method::POST,
                "/auth/account/restore",
                None,
                Some(json!({ "token": token })),
            )
            .await;
        assert_eq!(status, expected, "{body}");
        assert_eq!(content_type, "application/problem+json");
    }
    let (status, _, body) = api
        .send(Method::POST, "/auth/account/restore", None, None)
        .await;
    assert!(
        matches!(status.as_u16(), 400 | 415 | 422),
        "{status} {body}"
    );
}

/// Issue #24's export over HTTP: the document answers what the user did,
/// Python's `jsonschema` (an implementation independent of ours) finds it
/// valid against docs/export.schema.json, it holds no secret the test
/// knows, and another user's id is 403.
#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn the_export_over_http_matches_its_schema_and_holds_no_secret() {
    let api = Api::from_env();
    let (id, email, login) = api.sign_up("export", "/auth/register", "/auth/login").await;
    let token = login["access_token"].as_str().unwrap().to_string();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    let external_id = format!("crm-{}", ObjectId::new().to_hex());
    let (status, _, body) = api
        .send(
            Method::PUT,
            &format!("/users/{id}/link_id/"),
            Some(&token),
            Some(json!({ "external_id": external_id })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    linked_collection()
        .await
        .insert_one(doc! { "_id": &external_id, "plan": "gold" })
        .await
        .unwrap();

    let reply = api
        .0
        .call(
            Method::GET,
            &format!("/users/{id}/export"),
            None,
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "application/json");
    let document = reply.body;
    assert_eq!(document["profile"]["email"], email);
    assert_eq!(document["profile"]["external_id"], external_id);
    assert_eq!(document["linked_data"][0]["plan"], "gold");
    assert_eq!(document["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(document["passkeys"], json!([]));
    // The security activity, newest first: the sign-up's sign-in, then the
    // account's creation, each with the address the watcher saw.
    let activity = document["security_activity"].as_array().unwrap();
    let kinds: Vec<&str> = activity
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["signed_in", "account_created"], "{activity:#?}");
    assert_eq!(activity[0]["detail"], "password");
    assert!(activity[0]["source_ip"].is_string(), "{activity:#?}");

    let text = document.to_string();
    let stored = collection("users")
        .await
        .find_one(doc! { "_id": ObjectId::parse_str(&id).unwrap() })
        .await
        .unwrap()
        .unwrap();
    for secret in [
        PASSWORD,
        token.as_str(),
        refresh.as_str(),
        stored.get_str("hashed_password").unwrap(),
    ] {
        assert!(!text.contains(secret), "the export holds a secret");
    }

    let schema =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/export.schema.json");
    let python = api_tests::venv_program("python", "PYTHON_BIN");
    let mut check = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, jsonschema; \
             jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(sys.stdin))",
        ])
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = check.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the export does not match docs/export.schema.json: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Another user's id: 403.
    let (other, _, _) = api.sign_up("export", "/auth/register", "/auth/login").await;
    let (status, _, body) = api
        .send(
            Method::GET,
            &format!("/users/{other}/export"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

/// The second watcher of `make test`: `DELETION_GRACE_DAYS=7`, its own
/// database (`E2E_GRACE_MONGODB_DB`) and mail queue, its restore links
/// written to the same `E2E_MAIL_DIR`.
const GRACE_URL: &str = "E2E_GRACE_BASE_URL";
const GRACE_DB: &str = "E2E_GRACE_MONGODB_DB";
const RESTORE_SUBJECT: &str = "Your account is scheduled for deletion";

/// Waits (30 s at most) for the `count`th restore mail to `to`; the token
/// of its link, which must lead to `base`'s restore page.
async fn restore_link_token(base: &str, to: &str, count: usize) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mail = loop {
        let found = crate::recovery::e2e::mails(to, RESTORE_SUBJECT);
        if found.len() >= count {
            break found[count - 1].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no restore mail {count} to {to} within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let marker = format!("{base}/restore-account?token=");
    let (_, rest) = mail
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no link to {marker} in {mail}"));
    rest.split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_string()
}

/// Runs `purge-deletions` once through the watcher's Lambda invoke API,
/// with what EventBridge Scheduler sends; its summary.
async fn invoke_purge(base: &str) -> Value {
    let event = json!({
        "version": "0",
        "id": ObjectId::new().to_hex(),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2026-12-07T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/purge-deletions"],
        "detail": "{}",
    });
    let response = reqwest::Client::new()
        .post(format!(
            "{base}/2015-03-31/functions/purge-deletions/invocations"
        ))
        .json(&event)
        .send()
        .await
        .expect("the watcher's invoke API answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "purge-deletions: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("purge-deletions: not JSON: {text}"))
}

/// Issue #24's grace period end to end, over HTTP through the second
/// `cargo lambda watch` (`DELETION_GRACE_DAYS=7`), mails through the queue
/// and `send-mail`, the purge through the invoke API: schedule → sessions
/// ended → sign-in refused with the date → restored by the mailed link →
/// sign-in works; schedule again → the period elapses → `purge-deletions`
/// deletes the profile, its linked data, sessions and activity, with
/// `UserDeleted` in the outbox once, and a second run changes nothing.
/// (A purge killed mid-batch: `platform::faults`, which kills the database
/// under it; here the database is shared with the running tests.)
#[tokio::test]
#[ignore = "needs `make test`'s second `cargo lambda watch` (DELETION_GRACE_DAYS=7) and the mail pump"]
async fn the_grace_period_over_http_schedule_restore_then_purge() {
    use std::time::Duration;
    use users_core::domain::values::Timestamp;
    const WEEK: Duration = Duration::from_secs(7 * 86_400);
    let api = Api(E2eClient::from_var(GRACE_URL));
    let base = api.0.base().to_string();
    let (id, email, login) = api.sign_up("grace", "/auth/register", "/auth/login").await;
    let user_oid = ObjectId::parse_str(&id).unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let refresh = login["refresh_token"].as_str().unwrap().to_string();
    // Linked data: the external id's record and one naming the user.
    let external_id = format!("crm-{id}");
    let (status, _, body) = api
        .send(
            Method::PUT,
            &format!("/users/{id}/link_id/"),
            Some(&token),
            Some(json!({ "external_id": external_id })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let linked = collection_of(GRACE_DB, "linked_collection").await;
    linked
        .insert_many([
            doc! { "_id": &external_id, "plan": "gold" },
            doc! { "_id": format!("note-{id}"), "user_id": user_oid },
        ])
        .await
        .unwrap();
    let linked_left = || async {
        collection_of(GRACE_DB, "linked_collection")
            .await
            .count_documents(doc! { "$or": [{ "_id": &external_id }, { "user_id": user_oid }] })
            .await
            .unwrap()
    };
    let count = |name: &'static str, filter: Document| async move {
        collection_of(GRACE_DB, name)
            .await
            .count_documents(filter)
            .await
            .unwrap()
    };
    let events = |kind: &'static str| count("outbox", doc! { "type": kind, "detail.user_id": &id });
    let login_as = |password: &'static str| {
        api.send(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "email": &email, "password": password })),
        )
    };

    // Schedule: 202 with the date, a week ahead.
    let before = Timestamp::now();
    let (status, _, body) = api
        .send(Method::DELETE, &format!("/users/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(body["message"].is_string(), "{body}");
    let until = body["deletion_scheduled_for"].as_str().unwrap().to_string();
    let until_at = Timestamp::parse_rfc3339(&until).expect("an RFC 3339 date");
    // The date is whole seconds: at most a second before now + 7 days.
    assert!(
        until_at.as_millis() >= before.plus(WEEK).as_millis() - 1000,
        "{until}"
    );
    assert!(until_at <= Timestamp::now().plus(WEEK), "{until}");

    // Every session ended: the access and refresh tokens are dead.
    assert_eq!(count("sessions", doc! { "user_id": user_oid }).await, 0);
    let (status, content_type, body) = api
        .send(
            Method::GET,
            &format!("/users/{id}/full_profile"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(content_type, "application/problem+json");
    let (status, _, body) = api
        .send(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({ "refresh_token": refresh })),
        )
        .await;
    assert_eq!(status, 401, "{body}");

    // Sign-in refused with the date; a wrong password gets the usual 401.
    let (status, content_type, body) = login_as(PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], "urn:problem:account-scheduled-for-deletion");
    assert_eq!(body["deletion_scheduled_for"], until.as_str());
    let (status, _, body) = login_as("not the password at all").await;
    assert_eq!(status, 401, "{body}");
    // Nothing freed yet.
    assert_eq!(linked_left().await, 2);

    // Restore by the mailed link (once).
    let restore_token = restore_link_token(&base, &email, 1).await;
    let restore = |token: String| {
        api.send(
            Method::POST,
            "/auth/account/restore",
            None,
            Some(json!({ "token": token })),
        )
    };
    let (status, _, body) = restore(restore_token.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = restore(restore_token).await;
    assert_eq!(status, 400, "spent: {body}");
    let (status, _, body) = login_as(PASSWORD).await;
    assert_eq!(status, 200, "restored: {body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(events("UserDeletionScheduled").await, 1);
    assert_eq!(events("UserDeletionCancelled").await, 1);

    // Schedule again; the period then elapses.
    let (status, _, body) = api
        .send(Method::DELETE, &format!("/users/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let late_token = restore_link_token(&base, &email, 2).await;
    // Not due: the purge leaves it alone.
    let summary = invoke_purge(&base).await;
    assert_eq!(summary["deleted"], 0, "{summary}");
    assert_eq!(count("users", doc! { "_id": user_oid }).await, 1);
    // The period elapses. `purge-deletions` runs at its own clock
    // (`Timestamp::now()` in shared/src/purge.rs; the payload, which anyone
    // allowed to invoke it could set, is ignored on purpose), so the test
    // cannot hand the binary a later "now": it moves the user's scheduled
    // date a second into the past instead, which is the same state a week's
    // wait leaves (the handler tests pass the use case a later `now`).
    let users = collection_of(GRACE_DB, "users").await;
    let moved = users
        .update_one(
            doc! { "_id": user_oid, "deletion_scheduled_for": { "$exists": true } },
            doc! { "$set": { "deletion_scheduled_for":
            mongodb::bson::DateTime::from_millis(Timestamp::now().as_millis() - 1000) } },
        )
        .await
        .unwrap();
    assert_eq!(moved.modified_count, 1);
    // Due: the mailed link can no longer call it off.
    let (status, _, body) = restore(late_token).await;
    assert_eq!(status, 400, "too late: {body}");

    // The scheduled function deletes, as the immediate delete does. This
    // watcher's database is this test's alone, so this user is the one due.
    let summary = invoke_purge(&base).await;
    assert_eq!(
        summary,
        json!({ "deleted": 1, "skipped": 0, "more": false })
    );
    assert_eq!(count("users", doc! { "_id": user_oid }).await, 0);
    assert_eq!(linked_left().await, 0);
    assert_eq!(count("sessions", doc! { "user_id": user_oid }).await, 0);
    assert_eq!(
        count("security_activity", doc! { "user_id": user_oid }).await,
        0
    );
    assert_eq!(events("UserDeleted").await, 1);
    let (status, _, body) = login_as(PASSWORD).await;
    assert_eq!(status, 401, "gone: {body}");
    // Run again: nothing more, `UserDeleted` stays one.
    let summary = invoke_purge(&base).await;
    assert_eq!(summary["deleted"], 0, "{summary}");
    assert_eq!(events("UserDeleted").await, 1);
    // The address and name are free again.
    let name = email.split('@').next().unwrap();
    let (status, _, body) = api
        .send(
            Method::POST,
            "/auth/register",
            None,
            Some(json!({ "username": name, "email": &email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
