//! Sessions as devices end to end, through `cargo lambda watch` on the real
//! paths: two logins from two clients, the listing with each one's client and
//! the caller's marked, the other ended, its tokens refused, and its event.
//! `make test` runs it with `--include-ignored` (see e2e.rs for running by hand).

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

    /// Sends as the client `user_agent`; (status, content type, JSON body).
    async fn send(
        &self,
        method: Method,
        path: &str,
        user_agent: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, String, Value) {
        let reply = (self.0)
            .call(method, path, Some(user_agent), token, body)
            .await;
        (reply.status, reply.content_type, reply.body)
    }

    async fn login(&self, email: &str, user_agent: &str) -> (String, String) {
        let credentials = json!({ "email": email, "password": PASSWORD });
        let (status, _, body) = self
            .send(
                Method::POST,
                "/auth/login",
                user_agent,
                None,
                Some(credentials),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let text = |field: &str| body[field].as_str().unwrap().to_string();
        (text("access_token"), text("refresh_token"))
    }
}

#[tokio::test]
#[ignore = "needs a running `cargo lambda watch`: run through `make test`"]
async fn two_devices_listed_and_one_ended_over_http() {
    let api = Api::from_env();
    let name = format!("dev{}", &ObjectId::new().to_hex()[16..]);
    let email = format!("{name}@example.com");
    let body = json!({ "username": name, "email": email, "password": PASSWORD });
    let (status, _, registered) = api
        .send(Method::POST, "/auth/register", "e2e", None, Some(body))
        .await;
    assert_eq!(status, 201, "{registered}");
    let user_id = registered["id"].as_str().unwrap();

    let phone_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) e2e-phone";
    let laptop_agent = "Mozilla/5.0 (X11; Linux x86_64) e2e-laptop";
    let (phone_access, phone_refresh) = api.login(&email, phone_agent).await;
    let (laptop_access, _) = api.login(&email, laptop_agent).await;

    // Both slash forms reach the listing.
    let sessions_path = format!("/users/{user_id}/sessions/");
    let (status, content_type, listed) = api
        .send(
            Method::GET,
            &sessions_path,
            laptop_agent,
            Some(&laptop_access),
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(content_type, "application/json");
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    let (laptop, phone) = (&sessions[0], &sessions[1]);
    assert_eq!(laptop["created_from"]["user_agent"], laptop_agent);
    assert_eq!(phone["created_from"]["user_agent"], phone_agent);
    assert_eq!(
        (laptop["current"].as_bool(), phone["current"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        phone["created_from"]["source_ip"].is_string(),
        "the watcher passes the client's address: {phone}"
    );
    let phone_id = phone["id"].as_str().unwrap();
    let (status, _, from_phone) = api
        .send(
            Method::GET,
            sessions_path.trim_end_matches('/'),
            phone_agent,
            Some(&phone_access),
            None,
        )
        .await;
    assert_eq!(status, 200, "{from_phone}");
    assert_eq!(from_phone["sessions"][1]["current"], true);

    // The laptop ends the phone's session.
    let (status, _, ended) = api
        .send(
            Method::DELETE,
            &format!("/users/{user_id}/sessions/{phone_id}"),
            laptop_agent,
            Some(&laptop_access),
            None,
        )
        .await;
    assert_eq!(status, 200, "{ended}");

    // The phone's access token is refused at once, its refresh token too.
    let (status, content_type, refused) = api
        .send(
            Method::GET,
            &format!("/users/{user_id}/full_profile/"),
            phone_agent,
            Some(&phone_access),
            None,
        )
        .await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(content_type, "application/problem+json");
    let refresh = json!({ "refresh_token": phone_refresh });
    let (status, _, refused) = api
        .send(
            Method::POST,
            "/auth/refresh",
            phone_agent,
            None,
            Some(refresh),
        )
        .await;
    assert_eq!(status, 401, "{refused}");

    // Once ended it is gone: a second delete is a 404, a malformed id a 422.
    let (status, content_type, again) = api
        .send(
            Method::DELETE,
            &format!("/users/{user_id}/sessions/{phone_id}/"),
            laptop_agent,
            Some(&laptop_access),
            None,
        )
        .await;
    assert_eq!(status, 404, "{again}");
    assert_eq!(content_type, "application/problem+json");
    let (status, _, malformed) = api
        .send(
            Method::DELETE,
            &format!("/users/{user_id}/sessions/nope"),
            laptop_agent,
            Some(&laptop_access),
            None,
        )
        .await;
    assert_eq!(status, 422, "{malformed}");

    let (status, _, left) = api
        .send(
            Method::GET,
            &sessions_path,
            laptop_agent,
            Some(&laptop_access),
            None,
        )
        .await;
    assert_eq!(status, 200, "{left}");
    let ids: Vec<&str> = left["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [laptop["id"].as_str().unwrap()]);

    // The watcher's database holds the event, ids only.
    let outbox = outbox().await;
    let event = outbox
        .find_one(doc! { "type": "SessionEnded", "detail.session_id": phone_id })
        .await
        .unwrap()
        .expect("a SessionEnded event in the outbox");
    assert_eq!(
        event.get_document("detail").unwrap(),
        &doc! { "user_id": user_id, "session_id": phone_id, "reason": "user_request" }
    );
}

async fn outbox() -> mongodb::Collection<Document> {
    let uri =
        std::env::var("MONGODB_URI").expect("MONGODB_URI names the watcher's database server");
    let db = std::env::var("E2E_MONGODB_DB").expect("E2E_MONGODB_DB names the watcher's database");
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    client.database(&db).collection("outbox")
}
