//! Linking under `LINK_VERIFICATION=required` (the default): only with proof
//! from the system that owns the id — its own `link_user` message, or a
//! one-time code it offered (`offer_link`) and the user redeems.

use api_tests::{mongodb_uri, SignedUp, TestApp};
use mongodb::bson::doc;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use users_core::domain::linking::LinkVerification;

async fn required() -> TestApp {
    TestApp::with_config(&mongodb_uri(), |config| {
        config.links = LinkVerification::Required
    })
    .await
}

fn sha256_hex(code: &str) -> String {
    Sha256::digest(code.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The owning system offers `code` for `external_id`, valid for ten minutes.
pub(crate) async fn offer(app: &TestApp, external_id: &str, code: &str) {
    let expires = mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now().timestamp_millis() + 600_000,
    )
    .try_to_rfc3339_string()
    .unwrap();
    let message = json!({
        "op": "offer_link", "external_id": external_id,
        "code_sha256": sha256_hex(code), "expires_at": expires,
    })
    .to_string();
    assert_eq!(
        app.ingest(&[("offer", &message)]).await,
        Vec::<String>::new()
    );
}

async fn link_with(app: &TestApp, user: &SignedUp, body: Value) -> api_tests::Answer {
    let event = api_tests::Event::http_api("PUT", "/users/{user_id}/link_id")
        .user_id(&user.user_id)
        .bearer(&user.access_token)
        .json(body);
    app.call(api_tests::Function::LinkExternalId, event).await
}

async fn profile(app: &TestApp, user: &SignedUp) -> Value {
    let event = api_tests::Event::http_api("GET", "/users/{user_id}/full_profile")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    let answer = app.call(api_tests::Function::GetFullProfile, event).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn a_claim_without_a_code_reads_nothing_and_blocks_no_one() {
    let app = required().await;
    let (mallory, owner) = (app.sign_up("mallory").await, app.sign_up("owner").await);
    app.ingest(&[(
        "1",
        r#"{"op":"upsert_linked","external_id":"crm-42","data":{"name":"Owner","iban":"DE00"},"version":1}"#,
    )])
    .await;
    let missing = link_with(&app, &mallory, json!({ "external_id": "crm-42" }))
        .await
        .problem(422);
    assert_eq!(missing.error_fields(), ["link_code"]);
    let wrong = link_with(
        &app,
        &mallory,
        json!({ "external_id": "crm-42", "link_code": "000000" }),
    )
    .await
    .problem(403);
    assert_eq!(wrong.body["type"], "urn:problem:link-code-invalid");
    let shown = profile(&app, &mallory).await;
    assert_eq!(shown["external_id"], Value::Null);
    assert_eq!(shown["linked_data"], json!([]));
    // The real owner, with the code the owning system showed them.
    offer(&app, "crm-42", "731-442").await;
    let linked = link_with(
        &app,
        &owner,
        json!({ "external_id": "crm-42", "link_code": "731-442" }),
    )
    .await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert_eq!(
        profile(&app, &owner).await["linked_data"][0]["name"],
        "Owner"
    );
    // The code worked once.
    let reused = link_with(
        &app,
        &mallory,
        json!({ "external_id": "crm-42", "link_code": "731-442" }),
    )
    .await;
    reused.problem(403);
    app.drop().await;
}

#[tokio::test]
async fn link_user_is_authoritative_and_only_proven_links_are_cascaded_and_announced() {
    let app = required().await;
    let (ada, bob) = (app.sign_up("ada").await, app.sign_up("bob").await);
    let link_user = |user: &SignedUp, id: &str| {
        json!({ "op": "link_user", "user_id": user.user_id, "external_id": id }).to_string()
    };
    assert!(app
        .ingest(&[("1", &link_user(&ada, "crm-1"))])
        .await
        .is_empty());
    assert_eq!(profile(&app, &ada).await["external_id"], "crm-1");
    // The owning system moves the id: Bob has it now, Ada no longer.
    assert!(app
        .ingest(&[("2", &link_user(&bob, "crm-1"))])
        .await
        .is_empty());
    assert_eq!(profile(&app, &bob).await["external_id"], "crm-1");
    assert_eq!(profile(&app, &ada).await["external_id"], Value::Null);
    let kinds: Vec<String> = app
        .outbox_in_order()
        .await
        .iter()
        .map(|entry| entry.get_str("type").unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"ExternalIdUnlinked".to_string()),
        "{kinds:?}"
    );
    // A user that does not exist gets nothing, and the id stays with Bob.
    let nobody =
        json!({ "op": "link_user", "user_id": "6b0950a1e2f3a4b5c6d7e8f9", "external_id": "crm-1" })
            .to_string();
    assert_eq!(app.ingest(&[("3", &nobody)]).await, ["3"]);
    assert_eq!(profile(&app, &bob).await["external_id"], "crm-1");

    // An unproven link left from before (or made under `off`) is neither
    // shown, nor deleted, nor named in UserDeleted.
    app.users()
        .update_one(
            doc! { "_id": mongodb::bson::oid::ObjectId::parse_str(&ada.user_id).unwrap() },
            doc! { "$set": { "external_id": "legacy-7", "external_id_proven": false } },
        )
        .await
        .unwrap();
    app.linked()
        .insert_one(doc! { "_id": "legacy-7", "name": "someone else" })
        .await
        .unwrap();
    assert_eq!(profile(&app, &ada).await["linked_data"], json!([]));
    let delete = api_tests::Event::http_api("DELETE", "/users/{user_id}")
        .user_id(&ada.user_id)
        .bearer(&ada.access_token);
    assert_eq!(
        app.call(api_tests::Function::DeleteUser, delete)
            .await
            .status,
        200
    );
    assert_eq!(
        app.linked()
            .count_documents(doc! { "_id": "legacy-7" })
            .await
            .unwrap(),
        1
    );
    let deleted = app
        .outbox_in_order()
        .await
        .into_iter()
        .find(|entry| {
            entry
                .get_str("type")
                .is_ok_and(|kind| kind == "UserDeleted")
        })
        .unwrap();
    assert_eq!(
        deleted.get_document("detail").unwrap().get("external_id"),
        Some(&mongodb::bson::Bson::Null)
    );
    app.drop().await;
}

#[tokio::test]
async fn user_id_is_reserved_in_linked_data() {
    let app = required().await;
    let ada = app.sign_up("ada").await;
    let attach = json!({
        "op": "upsert_linked", "external_id": "crm-9", "version": 1,
        "data": { "user_id": ada.user_id, "secret": "attached to anyone" },
    })
    .to_string();
    assert_eq!(app.ingest(&[("m", &attach)]).await, ["m"]);
    assert_eq!(profile(&app, &ada).await["linked_data"], json!([]));
    app.drop().await;
}
