//! Sessions (refresh rotation, grace window, theft, logout) and login throttling,
//! against a real database.

use std::time::Duration;

use api_tests::{mongodb_uri, Answer, Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::{doc, oid::ObjectId};
use serde_json::json;

fn profile(user: &SignedUp, access_token: &str) -> Event {
    Event::http_api("GET", "/users/{user_id}/full_profile")
        .user_id(&user.user_id)
        .bearer(access_token)
}

fn bearer_post(route: &str, access_token: &str) -> Event {
    Event::http_api("POST", route).bearer(access_token)
}

fn tokens(answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    (
        answer.body["access_token"].as_str().unwrap().to_string(),
        answer.body["refresh_token"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn the_database_keeps_only_a_digest_of_the_refresh_token() {
    let app = TestApp::new().await;
    let user = app.sign_up("digest").await;
    let stored = app
        .sessions()
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap()
        .to_string();
    assert!(!stored.contains(&user.refresh_token), "{stored}");
    assert!(!stored.contains(&user.access_token), "{stored}");
    app.drop().await;
}

#[tokio::test]
async fn refresh_rotates_and_the_new_pair_works() {
    let app = TestApp::new().await;
    let user = app.sign_up("rotate").await;
    let (access, refresh) = tokens(&app.refresh(&user.refresh_token).await);
    assert_ne!(refresh, user.refresh_token);
    assert_ne!(access, user.access_token);
    assert_eq!(
        app.call(Function::GetFullProfile, profile(&user, &access))
            .await
            .status,
        200
    );
    // And again: each generation rotates to the next.
    let (_, third) = tokens(&app.refresh(&refresh).await);
    assert_ne!(third, refresh);
    app.drop().await;
}

#[tokio::test]
async fn a_replaced_token_within_the_grace_window_gets_the_same_successor() {
    let app = TestApp::new().await;
    let user = app.sign_up("twotabs").await;
    let first = tokens(&app.refresh(&user.refresh_token).await);
    let again = tokens(&app.refresh(&user.refresh_token).await);
    assert_eq!(first, again);
    // The successor still rotates normally.
    assert_eq!(app.refresh(&first.1).await.status, 200);
    app.drop().await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_of_one_token_share_one_successor() {
    let app = TestApp::new().await;
    let user = app.sign_up("stampede").await;
    let answers =
        futures_util::future::join_all((0..20).map(|_| app.refresh(&user.refresh_token))).await;
    let pairs: Vec<_> = answers.iter().map(tokens).collect();
    assert!(pairs.iter().all(|pair| *pair == pairs[0]), "{pairs:?}");
    let session = app.sessions().find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        session.get_i64("generation").unwrap(),
        1,
        "rotated exactly once"
    );
    app.drop().await;
}

#[tokio::test]
async fn replaying_a_replaced_token_after_the_grace_window_revokes_the_session() {
    let app = TestApp::with_config(&mongodb_uri(), |config| {
        config.refresh_grace = Duration::from_secs(1);
    })
    .await;
    let user = app.sign_up("thief").await;
    let (access, current) = tokens(&app.refresh(&user.refresh_token).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let replayed = app.refresh(&user.refresh_token).await.problem(401);
    assert_eq!(replayed.body["type"], "urn:problem:invalid-refresh-token");
    // The whole session is gone: the legitimate holder's tokens die too.
    app.refresh(&current).await.problem(401);
    app.call(Function::GetFullProfile, profile(&user, &access))
        .await
        .problem(401);
    app.call(Function::GetFullProfile, profile(&user, &user.access_token))
        .await
        .problem(401);
    assert_eq!(app.sessions().count_documents(doc! {}).await.unwrap(), 0);
    app.drop().await;
}

#[tokio::test]
async fn refresh_refuses_unknown_and_malformed_tokens() {
    let app = TestApp::new().await;
    app.sign_up("unknown").await;
    let unknown = app.refresh("not-a-refresh-token").await.problem(401);
    assert_eq!(unknown.body["type"], "urn:problem:invalid-refresh-token");
    let route = || Event::http_api("POST", "/auth/refresh");
    let missing = app
        .call(Function::Refresh, route().json(json!({})))
        .await
        .problem(422);
    assert_eq!(missing.error_fields(), ["refresh_token"]);
    app.call(
        Function::Refresh,
        route().json(json!({ "refresh_token": 5 })),
    )
    .await
    .problem(422);
    app.call(
        Function::Refresh,
        route().json(json!({ "refresh_token": "x".repeat(300) })),
    )
    .await
    .problem(422);
    app.call(Function::Refresh, Event::http_api("GET", "/auth/refresh"))
        .await
        .problem(405);
    app.drop().await;
}

#[tokio::test]
async fn logout_ends_only_the_current_session_at_once() {
    let app = TestApp::new().await;
    let user = app.sign_up("leaver").await;
    let (other_access, _) = tokens(&app.login("leaver@example.com", PASSWORD).await);

    let answer = app
        .call(
            Function::Logout,
            bearer_post("/auth/logout", &user.access_token),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Refused long before the token's own expiry.
    let refused = app
        .call(Function::GetFullProfile, profile(&user, &user.access_token))
        .await
        .problem(401);
    assert_eq!(
        refused.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    app.refresh(&user.refresh_token).await.problem(401);
    app.call(
        Function::Logout,
        bearer_post("/auth/logout", &user.access_token),
    )
    .await
    .problem(401);
    // The other session is untouched.
    assert_eq!(
        app.call(Function::GetFullProfile, profile(&user, &other_access))
            .await
            .status,
        200
    );
    app.call(Function::Logout, Event::http_api("POST", "/auth/logout"))
        .await
        .problem(401);
    app.drop().await;
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_only() {
    let app = TestApp::new().await;
    let user = app.sign_up("everywhere").await;
    let (second_access, second_refresh) =
        tokens(&app.login("everywhere@example.com", PASSWORD).await);
    let bystander = app.sign_up("bystander").await;

    let answer = app
        .call(
            Function::LogoutAll,
            bearer_post("/auth/logout_all", &second_access),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["sessions_ended"], 2);
    for access in [&user.access_token, &second_access] {
        app.call(Function::GetFullProfile, profile(&user, access))
            .await
            .problem(401);
    }
    for refresh in [&user.refresh_token, &second_refresh] {
        app.refresh(refresh).await.problem(401);
    }
    let bystander_profile = app
        .call(
            Function::GetFullProfile,
            profile(&bystander, &bystander.access_token),
        )
        .await;
    assert_eq!(bystander_profile.status, 200);
    app.call(
        Function::LogoutAll,
        bearer_post("/auth/logout_all", &second_access),
    )
    .await
    .problem(401);
    app.drop().await;
}

#[tokio::test]
async fn deleting_a_user_deletes_their_sessions() {
    let app = TestApp::new().await;
    let user = app.sign_up("gone").await;
    app.login("gone@example.com", PASSWORD).await;
    let delete = Event::http_api("DELETE", "/users/{user_id}")
        .user_id(&user.user_id)
        .bearer(&user.access_token);
    assert_eq!(app.call(Function::DeleteUser, delete).await.status, 200);
    let user_id = ObjectId::parse_str(&user.user_id).unwrap();
    assert_eq!(
        app.sessions()
            .count_documents(doc! { "user_id": user_id })
            .await
            .unwrap(),
        0
    );
    app.refresh(&user.refresh_token).await.problem(401);
    app.drop().await;
}

// ---------------------------------------------------------------- throttling

#[tokio::test]
async fn five_failures_lock_the_account_with_a_growing_retry_after() {
    let app = TestApp::new().await;
    app.sign_up("target").await;
    for _ in 0..5 {
        app.login("target@example.com", "wrong password!")
            .await
            .problem(401);
    }
    // Refused without checking the password, even the right one.
    let locked = app.login("target@example.com", PASSWORD).await.problem(429);
    assert_eq!(locked.header("retry-after"), "1");
    assert_eq!(locked.body["type"], "urn:problem:too-many-attempts");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.login("target@example.com", "wrong password!")
        .await
        .problem(401);
    let longer = app.login("target@example.com", PASSWORD).await.problem(429);
    assert_eq!(longer.header("retry-after"), "2");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.login("target@example.com", PASSWORD).await.status, 200);
    // A success resets the count: the next failure is a plain 401 again.
    app.login("target@example.com", "wrong password!")
        .await
        .problem(401);
    assert_eq!(app.login("target@example.com", PASSWORD).await.status, 200);
    app.drop().await;
}

#[tokio::test]
async fn unknown_emails_are_throttled_the_same_way() {
    let app = TestApp::new().await;
    for _ in 0..5 {
        app.login("Nobody@Example.com", "whatever password")
            .await
            .problem(401);
    }
    // Keyed by the normalised e-mail.
    app.login(" nobody@example.com", "whatever password")
        .await
        .problem(429);
    app.drop().await;
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_does_not_get_past_the_limit() {
    let app = TestApp::new().await;
    app.sign_up("burst").await;
    let answers = futures_util::future::join_all(
        (0..30).map(|_| app.login("burst@example.com", "wrong password!")),
    )
    .await;
    let guessed = answers.iter().filter(|answer| answer.status == 401).count();
    let refused = answers.iter().filter(|answer| answer.status == 429).count();
    assert_eq!(guessed + refused, 30);
    eprintln!("30 parallel wrong logins: {guessed} checked, {refused} refused with 429");
    // Admission counts attempts one at a time and the fifth locks the rest
    // before any password is checked: at most five guesses, however parallel.
    assert!((1..=5).contains(&guessed), "{guessed} guesses were checked");
    app.drop().await;
}
