//! Every handler, called directly with API Gateway events, against a real database.

use std::time::{Duration, Instant};

use api_tests::{Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Binary, DateTime, Decimal128};
use serde_json::{json, Value};
use users_core::domain::tokens::TokenSigner;
use users_core::domain::values::{SessionId, UserId};
use users_core::keygen::next_key_set;

fn link_event(user_id: &str, token: &str, external_id: &str) -> Event {
    Event::http_api("PUT", "/users/{user_id}/link_id")
        .user_id(user_id)
        .bearer(token)
        .json(json!({ "external_id": external_id }))
}

fn profile_event(user_id: &str, token: &str) -> Event {
    Event::http_api("GET", "/users/{user_id}/full_profile")
        .user_id(user_id)
        .bearer(token)
}

fn delete_event(user_id: &str, token: &str) -> Event {
    Event::http_api("DELETE", "/users/{user_id}")
        .user_id(user_id)
        .bearer(token)
}

// ---------------------------------------------------------------- register

#[tokio::test]
async fn register_creates_a_user_with_an_argon2id_hash() {
    let app = TestApp::new().await;
    let answer = app.register("Ada_Lovelace", "  Ada@Example.COM ").await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert_eq!(
        answer.header("location"),
        format!("/users/{id}/full_profile/")
    );
    assert_eq!(answer.header("content-type"), "application/json");

    let stored = app
        .users()
        .find_one(doc! { "_id": ObjectId::parse_str(id).unwrap() })
        .await
        .unwrap()
        .expect("user stored");
    assert_eq!(stored.get_str("email").unwrap(), "ada@example.com");
    assert_eq!(stored.get_str("username").unwrap(), "Ada_Lovelace");
    let hash = stored.get_str("hashed_password").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
    app.drop().await;
}

#[tokio::test]
async fn register_accepts_json_without_a_content_type() {
    let app = TestApp::new().await;
    let body = json!({ "username": "nocontent", "email": "n@example.com", "password": PASSWORD });
    let answer = app
        .call(
            Function::Register,
            Event::http_api("POST", "/auth/register").raw_body(&body.to_string()),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    app.drop().await;
}

#[tokio::test]
async fn register_refuses_duplicates_by_email_and_username_case_insensitively() {
    let app = TestApp::new().await;
    assert_eq!(app.register("grace", "grace@example.com").await.status, 201);

    let same_email = app
        .register("other", "GRACE@example.com")
        .await
        .problem(409);
    assert_eq!(same_email.error_fields(), ["email"]);
    assert_eq!(same_email.body["type"], "urn:problem:email-taken");

    let same_username = app
        .register("GRACE", "other@example.com")
        .await
        .problem(409);
    assert_eq!(same_username.error_fields(), ["username"]);
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 1);
    app.drop().await;
}

#[tokio::test]
async fn register_lists_every_bad_field() {
    let app = TestApp::new().await;
    let answer = app
        .call(
            Function::Register,
            Event::http_api("POST", "/auth/register")
                .json(json!({ "username": 5, "email": "not-an-email" })),
        )
        .await
        .problem(422);
    assert_eq!(answer.error_fields(), ["username", "password", "email"]);

    let weak = app
        .call(
            Function::Register,
            Event::http_api("POST", "/auth/register").json(json!({
                "username": "weakling", "email": "weak@example.com", "password": "password123"
            })),
        )
        .await
        .problem(422);
    assert_eq!(weak.error_fields(), ["password"]);
    assert!(weak.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("is too easy to guess"));
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 0);
    app.drop().await;
}

#[tokio::test]
async fn register_refuses_bad_bodies_and_methods() {
    let app = TestApp::new().await;
    let route = || Event::http_api("POST", "/auth/register");
    app.call(Function::Register, route().raw_body("{not json"))
        .await
        .problem(400);
    app.call(Function::Register, route().raw_body("[]"))
        .await
        .problem(400);
    app.call(Function::Register, route()).await.problem(400);
    app.call(
        Function::Register,
        route().header("content-type", "text/plain").raw_body("{}"),
    )
    .await
    .problem(415);
    let huge =
        json!({ "username": "big", "email": "big@example.com", "password": "x".repeat(17 * 1024) });
    app.call(Function::Register, route().json(huge))
        .await
        .problem(413);
    let wrong_method = app
        .call(Function::Register, Event::http_api("GET", "/auth/register"))
        .await
        .problem(405);
    assert_eq!(wrong_method.header("allow"), "POST");
    app.drop().await;
}

// ---------------------------------------------------------------- login

#[tokio::test]
async fn login_returns_a_bearer_token_that_opens_the_users_routes() {
    let app = TestApp::new().await;
    let id = app.register("login_ok", "login@example.com").await.body["id"].clone();
    let answer = app.login(" LOGIN@example.com", PASSWORD).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "bearer");
    assert_eq!(answer.body["expires_in"], 1800);
    assert_eq!(answer.body["refresh_token"].as_str().unwrap().len(), 70);
    let token = answer.body["access_token"].as_str().unwrap();
    let profile = app
        .call(
            Function::GetFullProfile,
            profile_event(id.as_str().unwrap(), token),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    app.drop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::new().await;
    app.register("same_face", "same@example.com").await;
    // The fastest of three each: a single pair of timings on a loaded
    // machine can differ by far more than a skipped argon2 would explain.
    let (mut wrong_took, mut unknown_took) = (Duration::MAX, Duration::MAX);
    let (mut wrong, mut unknown) = (None, None);
    for _ in 0..3 {
        let started = Instant::now();
        let answer = app
            .login("same@example.com", "not the password")
            .await
            .problem(401);
        wrong_took = wrong_took.min(started.elapsed());
        wrong = Some(answer.body);
        let started = Instant::now();
        let answer = app
            .login("nobody@example.com", "not the password")
            .await
            .problem(401);
        unknown_took = unknown_took.min(started.elapsed());
        unknown = Some(answer.body);
    }
    assert_eq!(wrong, unknown);
    // Both paths verify one argon2 hash; an unknown e-mail that skipped it would
    // answer in well under a tenth of the time.
    assert!(
        unknown_took * 4 > wrong_took,
        "unknown e-mail answered in {unknown_took:?}, wrong password in {wrong_took:?}"
    );
    app.drop().await;
}

#[tokio::test]
async fn login_refuses_bad_input() {
    let app = TestApp::new().await;
    let answer = app
        .call(
            Function::Login,
            Event::http_api("POST", "/auth/login").json(json!({})),
        )
        .await
        .problem(422);
    assert_eq!(answer.error_fields(), ["email", "password"]);
    let long = app
        .login("a@example.com", &"x".repeat(129))
        .await
        .problem(422);
    assert_eq!(long.error_fields(), ["password"]);
    app.call(Function::Login, Event::http_api("PUT", "/auth/login"))
        .await
        .problem(405);
    app.drop().await;
}

#[tokio::test]
async fn login_upgrades_a_weaker_stored_hash() {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let app = TestApp::new().await;
    let id = app.register("legacy", "legacy@example.com").await.body["id"].clone();
    let oid = ObjectId::parse_str(id.as_str().unwrap()).unwrap();
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    app.users()
        .update_one(
            doc! { "_id": oid },
            doc! { "$set": { "hashed_password": &weak } },
        )
        .await
        .unwrap();

    assert_eq!(app.login("legacy@example.com", PASSWORD).await.status, 200);
    let stored = app
        .users()
        .find_one(doc! { "_id": oid })
        .await
        .unwrap()
        .unwrap();
    let upgraded = stored.get_str("hashed_password").unwrap();
    assert_ne!(upgraded, weak);
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    assert_eq!(app.login("legacy@example.com", PASSWORD).await.status, 200);
    app.drop().await;
}

// ---------------------------------------------------------------- authorization

#[tokio::test]
async fn users_routes_require_the_owners_valid_token() {
    let app = TestApp::new().await;
    let SignedUp {
        user_id: alice,
        access_token: alice_token,
        ..
    } = app.sign_up("alice").await;
    let SignedUp {
        user_id: _bob,
        access_token: bob_token,
        ..
    } = app.sign_up("bobby").await;

    for function in [
        Function::LinkExternalId,
        Function::GetFullProfile,
        Function::DeleteUser,
    ] {
        let event = |user_id: &str| match function {
            Function::LinkExternalId => Event::http_api("PUT", "/users/{user_id}/link_id")
                .user_id(user_id)
                .json(json!({ "external_id": "ext-1" })),
            Function::GetFullProfile => {
                Event::http_api("GET", "/users/{user_id}/full_profile").user_id(user_id)
            }
            _ => Event::http_api("DELETE", "/users/{user_id}").user_id(user_id),
        };
        let missing = app.call(function, event(&alice)).await.problem(401);
        assert_eq!(missing.header("www-authenticate"), "Bearer", "{function:?}");
        let wrong_scheme = event(&alice).header("authorization", &format!("Basic {alice_token}"));
        app.call(function, wrong_scheme).await.problem(401);
        let invalid = app
            .call(
                function,
                event(&alice).bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"),
            )
            .await
            .problem(401);
        assert_eq!(
            invalid.header("www-authenticate"),
            r#"Bearer error="invalid_token""#
        );
        // Bob's valid token on Alice's id.
        app.call(function, event(&alice).bearer(&bob_token))
            .await
            .problem(403);
        // A malformed id never reaches MongoDB.
        let malformed = app
            .call(function, event("not-an-object-id").bearer(&alice_token))
            .await
            .problem(422);
        assert_eq!(malformed.error_fields(), ["user_id"], "{function:?}");
    }
    // Nothing above changed Alice.
    let profile = app
        .call(
            Function::GetFullProfile,
            profile_event(&alice, &alice_token),
        )
        .await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["external_id"], Value::Null);
    app.drop().await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_set_is_refused() {
    let app = TestApp::new().await;
    let SignedUp {
        user_id: alice,
        access_token: _,
        ..
    } = app.sign_up("alice2").await;
    let other = next_key_set(None, 0, std::time::Duration::ZERO).unwrap();
    // Right user, right open session, a key this deployment never published.
    let user_id = ObjectId::parse_str(&alice).unwrap();
    let session = app
        .sessions()
        .find_one(doc! { "user_id": user_id })
        .await
        .unwrap()
        .unwrap();
    let caller = users_core::domain::tokens::Caller {
        user_id: UserId::from_bytes(user_id.bytes()),
        session_id: SessionId::from_bytes(session.get_object_id("_id").unwrap().bytes()),
        auth: Default::default(),
    };
    let forged = TokenSigner::new(&app.config.token_settings(), other.current()).issue(
        &caller,
        users_core::domain::tokens::unix_now(),
        "forged".into(),
    );
    let refused = app
        .call(
            Function::GetFullProfile,
            profile_event(&alice, &forged.token),
        )
        .await
        .problem(401);
    assert_eq!(
        refused.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    app.drop().await;
}

// ---------------------------------------------------------------- link

#[tokio::test]
async fn linking_is_idempotent_replaceable_and_exclusive() {
    let app = TestApp::new().await;
    let SignedUp {
        user_id: alice,
        access_token: alice_token,
        ..
    } = app.sign_up("alice3").await;
    let SignedUp {
        user_id: bob,
        access_token: bob_token,
        ..
    } = app.sign_up("bob3").await;

    let linked = app
        .call(
            Function::LinkExternalId,
            link_event(&alice, &alice_token, "crm-42"),
        )
        .await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert_eq!(
        linked.body,
        json!({ "message": "ID linked successfully", "user_id": alice, "external_id": "crm-42" })
    );
    let again = app
        .call(
            Function::LinkExternalId,
            link_event(&alice, &alice_token, "crm-42"),
        )
        .await;
    assert_eq!(again.status, 200);

    let taken = app
        .call(
            Function::LinkExternalId,
            link_event(&bob, &bob_token, "crm-42"),
        )
        .await
        .problem(409);
    assert_eq!(taken.error_fields(), ["external_id"]);

    let replaced = app
        .call(
            Function::LinkExternalId,
            link_event(&alice, &alice_token, "crm-43"),
        )
        .await;
    assert_eq!(replaced.status, 200);
    // The old id is free again.
    let freed = app
        .call(
            Function::LinkExternalId,
            link_event(&bob, &bob_token, "crm-42"),
        )
        .await;
    assert_eq!(freed.status, 200, "{}", freed.body);

    let owners = app
        .users()
        .count_documents(doc! { "external_id": "crm-42" })
        .await
        .unwrap();
    assert_eq!(owners, 1);
    app.drop().await;
}

#[tokio::test]
async fn external_id_comes_from_the_body_or_the_query() {
    let app = TestApp::new().await;
    let SignedUp {
        user_id: alice,
        access_token: token,
        ..
    } = app.sign_up("alice4").await;
    let route = || {
        Event::http_api("PUT", "/users/{user_id}/link_id")
            .user_id(&alice)
            .bearer(&token)
    };

    let from_query = app
        .call(
            Function::LinkExternalId,
            route().query("external_id", "q-1"),
        )
        .await;
    assert_eq!(from_query.status, 200, "{}", from_query.body);
    assert_eq!(from_query.body["external_id"], "q-1");

    let body_wins = app
        .call(
            Function::LinkExternalId,
            route()
                .query("external_id", "q-2")
                .json(json!({ "external_id": "b-2" })),
        )
        .await;
    assert_eq!(body_wins.body["external_id"], "b-2");

    let missing = app
        .call(Function::LinkExternalId, route())
        .await
        .problem(422);
    assert_eq!(missing.error_fields(), ["external_id"]);
    for bad in [
        json!(""),
        json!(7),
        json!("x".repeat(129)),
        json!("line\nbreak"),
    ] {
        app.call(
            Function::LinkExternalId,
            route().json(json!({ "external_id": bad })),
        )
        .await
        .problem(422);
    }
    app.drop().await;
}

// ---------------------------------------------------------------- profile

#[tokio::test]
async fn full_profile_joins_linked_data_and_never_shows_credentials() {
    let app = TestApp::new().await;
    let SignedUp {
        user_id: alice,
        access_token: token,
        ..
    } = app.sign_up("alice5").await;
    let oid = ObjectId::parse_str(&alice).unwrap();
    app.call(
        Function::LinkExternalId,
        link_event(&alice, &token, "crm-7"),
    )
    .await;
    app.linked()
        .insert_many([
            // Found both by the external id and by the user id: listed once.
            doc! {
                "_id": "crm-7", "plan": "gold", "user_id": oid,
                "since": DateTime::from_millis(1_700_000_000_000),
                "balance": "10.25".parse::<Decimal128>().unwrap(),
                "avatar": Binary { subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            },
            doc! { "_id": "note-1", "user_id": oid, "text": "by ObjectId" },
            doc! { "_id": "note-2", "user_id": &alice, "text": "by hex string" },
            doc! { "_id": "crm-8", "plan": "someone else's" },
            doc! { "_id": "note-3", "user_id": ObjectId::new(), "text": "another user's" },
        ])
        .await
        .unwrap();

    let answer = app
        .call(Function::GetFullProfile, profile_event(&alice, &token))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["id"], alice);
    assert_eq!(body["username"], "alice5");
    assert_eq!(body["email"], "alice5@example.com");
    assert_eq!(body["external_id"], "crm-7");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "email_verified",
            "external_id",
            "id",
            "linked_data",
            "username"
        ]
    );

    let mut linked = body["linked_data"].as_array().unwrap().clone();
    linked.sort_by_key(|item| item["_id"].as_str().unwrap().to_string());
    assert_eq!(
        linked,
        [
            json!({ "_id": "crm-7", "plan": "gold", "user_id": alice, "since": "2023-11-14T22:13:20Z", "balance": "10.25", "avatar": "AQID" }),
            json!({ "_id": "note-1", "user_id": alice, "text": "by ObjectId" }),
            json!({ "_id": "note-2", "user_id": alice, "text": "by hex string" }),
        ]
    );
    let text = body.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("hashed_password"),
        "{text}"
    );
    app.drop().await;
}

#[tokio::test]
async fn rest_api_v1_events_are_served_too() {
    let app = TestApp::new().await;
    let SignedUp {
        user_id: alice,
        access_token: token,
        ..
    } = app.sign_up("alice6").await;
    let link = Event::rest_api("PUT", "/users/{user_id}/link_id")
        .user_id(&alice)
        .bearer(&token)
        .json(json!({ "external_id": "v1-id" }));
    let linked = app.call(Function::LinkExternalId, link).await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    let profile = Event::rest_api("GET", "/users/{user_id}/full_profile")
        .user_id(&alice)
        .bearer(&token);
    let answer = app.call(Function::GetFullProfile, profile).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["external_id"], "v1-id");
    let unauthenticated = Event::rest_api("DELETE", "/users/{user_id}").user_id(&alice);
    app.call(Function::DeleteUser, unauthenticated)
        .await
        .problem(401);
    let register = Event::rest_api("POST", "/auth/register").json(json!({ "username": "v1" }));
    app.call(Function::Register, register).await.problem(422);
    app.drop().await;
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn delete_removes_the_user_and_their_data_and_kills_their_tokens() {
    let app = TestApp::new().await;
    let SignedUp {
        user_id: alice,
        access_token: token,
        ..
    } = app.sign_up("alice7").await;
    let SignedUp {
        user_id: bob,
        access_token: _,
        ..
    } = app.sign_up("bob7").await;
    let oid = ObjectId::parse_str(&alice).unwrap();
    app.call(
        Function::LinkExternalId,
        link_event(&alice, &token, "crm-9"),
    )
    .await;
    app.linked()
        .insert_many([
            doc! { "_id": "crm-9", "plan": "gold" },
            doc! { "_id": "a-note", "user_id": oid },
            doc! { "_id": "a-string-note", "user_id": &alice },
            doc! { "_id": "bobs-note", "user_id": ObjectId::parse_str(&bob).unwrap() },
        ])
        .await
        .unwrap();

    let deleted = app
        .call(Function::DeleteUser, delete_event(&alice, &token))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        deleted.body,
        json!({ "message": "User and associated data deleted successfully" })
    );

    assert_eq!(
        app.users()
            .count_documents(doc! { "_id": oid })
            .await
            .unwrap(),
        0
    );
    let left = linked_ids(&app).await;
    assert_eq!(left, ["bobs-note"]);

    // The token is still well-signed, but its user is gone.
    for (handler, event) in [
        (Function::GetFullProfile, profile_event(&alice, &token)),
        (
            Function::LinkExternalId,
            link_event(&alice, &token, "crm-10"),
        ),
        (Function::DeleteUser, delete_event(&alice, &token)),
    ] {
        let refused = app.call(handler, event).await.problem(401);
        assert_eq!(
            refused.header("www-authenticate"),
            r#"Bearer error="invalid_token""#
        );
    }
    app.login("alice7@example.com", PASSWORD).await.problem(401);
    // The e-mail and username are free again.
    assert_eq!(
        app.register("alice7", "alice7@example.com").await.status,
        201
    );
    app.drop().await;
}

async fn linked_ids(app: &TestApp) -> Vec<String> {
    let mut cursor = app.linked().find(doc! {}).await.unwrap();
    let mut ids = Vec::new();
    while cursor.advance().await.unwrap() {
        ids.push(
            cursor
                .deserialize_current()
                .unwrap()
                .get_str("_id")
                .unwrap()
                .to_string(),
        );
    }
    ids.sort();
    ids
}

// ---------------------------------------------------------------- database down

#[tokio::test]
async fn an_unreachable_database_is_a_quick_503() {
    // Port 9 (discard) on loopback: nothing listens, connections are refused.
    let app = TestApp::with_uri("mongodb://127.0.0.1:9/?directConnection=true").await;
    let started = Instant::now();
    let answer = app
        .register("offline", "offline@example.com")
        .await
        .problem(503);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(answer.body["type"], "urn:problem:database-unavailable");
    assert_eq!(answer.header("retry-after"), "1");
    app.login("offline@example.com", PASSWORD)
        .await
        .problem(503);
}
