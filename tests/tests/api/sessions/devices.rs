//! Sessions as devices through the handlers, against a real database: the
//! listing (clients at login and refresh, the caller's own marked, nothing
//! secret), ending one session (its tokens refused, its event), and the
//! refusals (someone else's session, malformed ids, an ended caller).

use api_tests::{Answer, Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::{doc, oid::ObjectId, Document};
use serde_json::{json, Value};

fn list(user_id: &str, access_token: &str) -> Event {
    Event::http_api("GET", "/users/{user_id}/sessions")
        .user_id(user_id)
        .bearer(access_token)
}

fn end(user_id: &str, session_id: &str, access_token: &str) -> Event {
    Event::http_api("DELETE", "/users/{user_id}/sessions/{session_id}")
        .user_id(user_id)
        .session_id(session_id)
        .bearer(access_token)
}

fn profile(user_id: &str, access_token: &str) -> Event {
    Event::http_api("GET", "/users/{user_id}/full_profile")
        .user_id(user_id)
        .bearer(access_token)
}

/// Logs `name@example.com` in with `user_agent`: (access, refresh) tokens.
async fn login_as(app: &TestApp, name: &str, user_agent: &str) -> (String, String) {
    let body = json!({ "email": format!("{name}@example.com"), "password": PASSWORD });
    let answer = app
        .call(
            Function::Login,
            Event::http_api("POST", "/auth/login")
                .header("user-agent", user_agent)
                .json(body),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = |field: &str| answer.body[field].as_str().unwrap().to_string();
    (text("access_token"), text("refresh_token"))
}

async fn refresh_as(app: &TestApp, refresh_token: &str, user_agent: &str) -> Answer {
    app.call(
        Function::Refresh,
        Event::http_api("POST", "/auth/refresh")
            .header("user-agent", user_agent)
            .json(json!({ "refresh_token": refresh_token })),
    )
    .await
}

fn sessions(answer: &Answer) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["sessions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_listing_shows_each_login_and_refresh_client_and_which_is_current() {
    let app = TestApp::new().await;
    let ada: SignedUp = app.sign_up("ada").await;
    let (phone_access, phone_refresh) = login_as(&app, "ada", "Phone\tInjected/1.0").await;
    let (laptop_access, _) = login_as(&app, "ada", "Laptop/2.0").await;

    // The phone refreshes: its last use is recorded with the refresher's client.
    let refreshed = refresh_as(&app, &phone_refresh, "Phone/1.1").await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);

    let answer = app
        .call(Function::ListSessions, list(&ada.user_id, &laptop_access))
        .await;
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(answer.body["truncated"], false);
    let listed = sessions(&answer);
    // sign_up's own login, the phone, the laptop: newest first.
    assert_eq!(listed.len(), 3, "{listed:?}");
    let agents: Vec<&Value> = listed
        .iter()
        .map(|s| &s["created_from"]["user_agent"])
        .collect();
    assert_eq!(
        agents,
        [
            &json!("Laptop/2.0"),
            &json!("PhoneInjected/1.0"),
            &Value::Null
        ]
    );
    let current: Vec<bool> = listed
        .iter()
        .map(|s| s["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current, [true, false, false]);
    let phone = &listed[1];
    assert_eq!(phone["created_from"]["source_ip"], "192.0.2.1");
    assert_eq!(phone["last_used_from"]["user_agent"], "Phone/1.1");
    assert!(phone["last_used_at"].as_str().unwrap() >= phone["created_at"].as_str().unwrap());
    // Exactly the documented members: no nonce, digest or generation; `client`
    // names the OAuth client of a code exchange's session (null for a login).
    assert_eq!(phone["client"], serde_json::Value::Null);
    let mut members: Vec<&String> = phone.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(
        members,
        [
            "client",
            "created_at",
            "created_from",
            "current",
            "id",
            "last_used_at",
            "last_used_from"
        ]
    );

    // From the phone, the phone is the current one.
    let from_phone = sessions(
        &app.call(Function::ListSessions, list(&ada.user_id, &phone_access))
            .await,
    );
    assert_eq!(from_phone[1]["current"], true);
    assert_eq!(from_phone[0]["current"], false);
    app.drop().await;
}

#[tokio::test]
async fn ending_another_session_refuses_its_tokens_at_once_with_one_event() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let (phone_access, phone_refresh) = login_as(&app, "ada", "Phone").await;
    let listed = sessions(
        &app.call(
            Function::ListSessions,
            list(&ada.user_id, &ada.access_token),
        )
        .await,
    );
    let phone_id = listed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["created_from"]["user_agent"], "Phone");

    let ended = app
        .call(
            Function::EndSession,
            end(&ada.user_id, &phone_id, &ada.access_token),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(
        ended.body,
        json!({ "message": "Session ended", "session_id": phone_id })
    );

    // Its access token is refused at once, and its refresh token too.
    app.call(
        Function::GetFullProfile,
        profile(&ada.user_id, &phone_access),
    )
    .await
    .problem(401);
    refresh_as(&app, &phone_refresh, "Phone").await.problem(401);
    // The caller's own session is untouched.
    let left = sessions(
        &app.call(
            Function::ListSessions,
            list(&ada.user_id, &ada.access_token),
        )
        .await,
    );
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);

    // Ended once: again is the 404 of an unknown id, and no second event.
    let again = app
        .call(
            Function::EndSession,
            end(&ada.user_id, &phone_id, &ada.access_token),
        )
        .await
        .problem(404);
    assert_eq!(again.body["type"], "urn:problem:session-not-found");
    let events: Vec<Document> = app
        .outbox_in_order()
        .await
        .into_iter()
        .filter(|event| {
            event
                .get_str("type")
                .is_ok_and(|kind| kind == "SessionEnded")
        })
        .collect();
    assert_eq!(events.len(), 1);
    let detail = events[0].get_document("detail").unwrap();
    assert_eq!(
        detail,
        &doc! { "user_id": &ada.user_id, "session_id": &phone_id, "reason": "user_request" }
    );
    app.drop().await;
}

#[tokio::test]
async fn another_users_session_gets_the_same_404_and_stays_open() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let mallory = app.sign_up("mallory").await;
    let ada_sessions = sessions(
        &app.call(
            Function::ListSessions,
            list(&ada.user_id, &ada.access_token),
        )
        .await,
    );
    let ada_session = ada_sessions[0]["id"].as_str().unwrap();

    // On Mallory's own path, Ada's session id is simply not found…
    let not_found = app
        .call(
            Function::EndSession,
            end(&mallory.user_id, ada_session, &mallory.access_token),
        )
        .await
        .problem(404);
    let unknown = app
        .call(
            Function::EndSession,
            end(
                &mallory.user_id,
                &ObjectId::new().to_hex(),
                &mallory.access_token,
            ),
        )
        .await
        .problem(404);
    assert_eq!(
        not_found.body, unknown.body,
        "the two answers tell nothing apart"
    );
    // …and on Ada's path Mallory is not the owner.
    app.call(
        Function::EndSession,
        end(&ada.user_id, ada_session, &mallory.access_token),
    )
    .await
    .problem(403);
    app.call(
        Function::ListSessions,
        list(&ada.user_id, &mallory.access_token),
    )
    .await
    .problem(403);
    assert_eq!(
        app.call(
            Function::GetFullProfile,
            profile(&ada.user_id, &ada.access_token)
        )
        .await
        .status,
        200
    );
    app.drop().await;
}

#[tokio::test]
async fn bad_requests_get_their_problems() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let malformed = app
        .call(
            Function::EndSession,
            end(&ada.user_id, "not-an-id", &ada.access_token),
        )
        .await
        .problem(422);
    assert_eq!(malformed.error_fields(), ["session_id"]);
    app.call(Function::ListSessions, list("not-an-id", &ada.access_token))
        .await
        .problem(422);
    app.call(
        Function::ListSessions,
        Event::http_api("GET", "/users/{user_id}/sessions").user_id(&ada.user_id),
    )
    .await
    .problem(401);
    app.call(Function::ListSessions, list(&ada.user_id, "not.a.token"))
        .await
        .problem(401);
    let get = Event::http_api("GET", "/users/{user_id}/sessions/{session_id}")
        .user_id(&ada.user_id)
        .session_id(&ObjectId::new().to_hex())
        .bearer(&ada.access_token);
    let refused = app.call(Function::EndSession, get).await.problem(405);
    assert_eq!(refused.header("allow"), "DELETE");
    let post = Event::http_api("POST", "/users/{user_id}/sessions")
        .user_id(&ada.user_id)
        .bearer(&ada.access_token);
    let refused = app.call(Function::ListSessions, post).await.problem(405);
    assert_eq!(refused.header("allow"), "GET");
    app.drop().await;
}

#[tokio::test]
async fn ending_ones_own_session_logs_out_and_an_ended_caller_is_refused() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let (other_access, _) = login_as(&app, "ada", "Other").await;
    let own = sessions(
        &app.call(
            Function::ListSessions,
            list(&ada.user_id, &ada.access_token),
        )
        .await,
    )
    .into_iter()
    .find(|s| s["current"] == true)
    .unwrap();
    let own_id = own["id"].as_str().unwrap();
    let ended = app
        .call(
            Function::EndSession,
            end(&ada.user_id, own_id, &ada.access_token),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    // The ended session can neither list nor end another.
    app.call(
        Function::ListSessions,
        list(&ada.user_id, &ada.access_token),
    )
    .await
    .problem(401);
    let others = sessions(
        &app.call(Function::ListSessions, list(&ada.user_id, &other_access))
            .await,
    );
    let other_id = others[0]["id"].as_str().unwrap();
    app.call(
        Function::EndSession,
        end(&ada.user_id, other_id, &ada.access_token),
    )
    .await
    .problem(401);
    assert_eq!(
        app.call(
            Function::GetFullProfile,
            profile(&ada.user_id, &other_access)
        )
        .await
        .status,
        200
    );
    app.drop().await;
}

#[tokio::test]
async fn sessions_stored_before_devices_were_recorded_list_with_unknown_clients() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    app.sessions()
        .update_many(
            doc! {},
            doc! { "$unset": { "created_from": "", "last_used_from": "", "created_at": "" } },
        )
        .await
        .unwrap();
    let listed = sessions(
        &app.call(
            Function::ListSessions,
            list(&ada.user_id, &ada.access_token),
        )
        .await,
    );
    assert_eq!(listed.len(), 1);
    let unknown = json!({ "user_agent": null, "source_ip": null });
    assert_eq!(listed[0]["created_from"], unknown);
    assert_eq!(listed[0]["last_used_from"], unknown);
    assert_eq!(listed[0]["created_at"], listed[0]["last_used_at"]);
    app.drop().await;
}
