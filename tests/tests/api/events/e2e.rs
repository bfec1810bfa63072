//! The inbound story end to end: `cargo lambda invoke --data-file` sends SQS
//! events to `ingest-events` under the same `cargo lambda watch` as the HTTP
//! end-to-end tests, against the real database.
//!
//! `make test` runs these with `--include-ignored`; by hand, with a watcher
//! running: `E2E_BASE_URL=http://127.0.0.1:9000 cargo test -p api-tests --test api events::e2e -- --ignored`.

use std::path::PathBuf;
use std::process::Command;

use mongodb::bson::oid::ObjectId;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

fn base_url() -> String {
    std::env::var("E2E_BASE_URL")
        .expect("E2E_BASE_URL must point at a running `cargo lambda watch` (run `make test`)")
}

/// `cargo lambda invoke ingest-events --data-file <an SQS event of bodies>`.
fn invoke_ingest(bodies: &[Value]) -> Value {
    let event = api_tests::sqs_event(
        &bodies
            .iter()
            .enumerate()
            .map(|(n, body)| (format!("m{n}"), body.to_string()))
            .collect::<Vec<_>>()
            .iter()
            .map(|(id, body)| (id.as_str(), body.as_str()))
            .collect::<Vec<_>>(),
    );
    let file = std::env::temp_dir().join(format!("sqs-{}.json", ObjectId::new().to_hex()));
    std::fs::write(&file, serde_json::to_vec(&event).unwrap()).unwrap();
    let url = reqwest::Url::parse(&base_url()).unwrap();
    let cargo_lambda = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/cargo-lambda");
    let output = Command::new(&cargo_lambda)
        .args([
            "lambda",
            "invoke",
            "ingest-events",
            "--output-format",
            "json",
        ])
        // `cargo lambda invoke` takes an IP address; `make test` serves the
        // stack as http://localhost:PORT (the pages' cookies need a host name).
        .args([
            "--invoke-address",
            match url.host_str().unwrap() {
                "localhost" => "127.0.0.1",
                host => host,
            },
        ])
        .args(["--invoke-port", &url.port().unwrap().to_string()])
        .arg("--data-file")
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {} ({error})", cargo_lambda.display()));
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "cargo lambda invoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test]
#[ignore = "needs `cargo lambda watch` (make test)"]
async fn linked_data_from_the_queue_shows_in_the_profile_and_erase_user_removes_everything() {
    let base = base_url();
    let http = Client::new();
    let name = format!("inbound{}", &ObjectId::new().to_hex()[16..]);
    let email = format!("{name}@example.com");
    let registered: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({ "username": name, "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = registered["id"].as_str().unwrap().to_string();
    let login: Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let external_id = format!("crm-{}", ObjectId::new().to_hex());
    let linked = http
        .put(format!("{base}/users/{user_id}/link_id/"))
        .bearer_auth(&token)
        .json(&json!({ "external_id": external_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), StatusCode::OK);

    let answer = invoke_ingest(&[
        json!({ "op": "upsert_linked", "external_id": external_id, "data": { "plan": "gold" }, "version": 2 }),
        json!({ "op": "upsert_linked", "external_id": external_id, "data": { "plan": "free" }, "version": 1 }),
        json!({ "op": "no_such_op" }),
    ]);
    assert_eq!(
        answer,
        json!({ "batchItemFailures": [{ "itemIdentifier": "m2" }] })
    );

    let profile = format!("{base}/users/{user_id}/full_profile/");
    let shown: Value = http
        .get(&profile)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["linked_data"],
        json!([{ "_id": external_id, "plan": "gold", "version": 2 }])
    );

    let answer = invoke_ingest(&[json!({ "op": "erase_user", "user_id": user_id })]);
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    let gone = http.get(&profile).bearer_auth(&token).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
    let login_again = http
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login_again.status(), StatusCode::UNAUTHORIZED);
}
