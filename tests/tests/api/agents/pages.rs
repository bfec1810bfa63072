//! Issue #22 through the registration function and the pages handler: a
//! client registers itself (off by default, limited per source when open),
//! goes through authorize and the consent page (which warns that it is
//! unverified and names the resource), exchanges its code; the person
//! removes it on `/account/apps`, which ends its grants and consent; the
//! account's deletion takes the consents with it.

use api_tests::{Answer, CookieJar, Event, Function, Page, TestApp, PASSWORD};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use mongodb::bson::{doc, oid::ObjectId};
use serde_json::{json, Value};
use users_core::domain::registration::{RegistrationMode, RegistrationPolicy};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const MCP: &str = "https://mcp.example";
/// Registered on one port; a loopback URI matches on any (RFC 8252 §7.3).
const REGISTERED_REDIRECT: &str = "http://127.0.0.1:4444/callback";
const REDIRECT: &str = "http://127.0.0.1:5555/callback";

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn param(location: &str, name: &str) -> Option<String> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

async fn open_app(per_source_per_hour: i64) -> TestApp {
    TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.registration = RegistrationPolicy {
            mode: RegistrationMode::Open,
            per_source_per_hour,
        };
    })
    .await
}

async fn register(app: &TestApp, source: &str, metadata: Value) -> Answer {
    app.call(
        Function::OAuthRegister,
        Event::http_api("POST", "/oauth2/register")
            .source_ip(source)
            .json(metadata),
    )
    .await
}

fn agent_metadata() -> Value {
    json!({
        "client_name": "Agent <Smith>",
        "redirect_uris": [REGISTERED_REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid offline_access",
    })
}

/// A browser: its cookies, as the pages set them.
#[derive(Default)]
struct Browser {
    cookies: CookieJar,
}

impl Browser {
    async fn get(&mut self, app: &TestApp, url: &str) -> Page {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let event = Event::http_api("GET", path)
            .raw_query(query)
            .header("cookie", &self.cookies.header())
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0");
        let page = app.page(event).await;
        self.cookies.keep(&page);
        page
    }

    async fn post(&mut self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Page {
        let event = Event::http_api("POST", path)
            .header("cookie", &self.cookies.header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "http://localhost:9000")
            .header("sec-fetch-site", "same-origin")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
            .raw_body(&encode(fields));
        let page = app.page(event).await;
        self.cookies.keep(&page);
        page
    }

    async fn signed_in(app: &TestApp, name: &str) -> Self {
        let email = format!("{name}@example.com");
        assert_eq!(app.register(name, &email).await.status, 201);
        let mut browser = Self::default();
        let page = browser.get(app, "/signin").await;
        let csrf = page.hidden("csrf").unwrap();
        let signed = browser
            .post(
                app,
                "/signin",
                &[("csrf", &csrf), ("email", &email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        browser
    }
}

/// The authorization request of the registered `client_id`.
fn authorization(client_id: &str) -> String {
    format!(
        "/oauth2/authorize?{}",
        encode(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("state", "st"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("resource", MCP),
        ])
    )
}

#[tokio::test]
async fn registration_is_refused_when_off_and_limited_per_source_when_open() {
    let off = TestApp::new().await;
    let refused = register(&off, "192.0.2.1", agent_metadata()).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["error"], "access_denied");
    let discovery = off
        .call(
            Function::Jwks,
            Event::http_api("GET", "/.well-known/oauth-authorization-server"),
        )
        .await;
    assert!(discovery.body.get("registration_endpoint").is_none());
    off.drop().await;

    let app = open_app(2).await;
    let discovery = app
        .call(
            Function::Jwks,
            Event::http_api("GET", "/.well-known/openid-configuration"),
        )
        .await;
    assert_eq!(
        discovery.body["registration_endpoint"],
        "http://127.0.0.1:9000/oauth2/register"
    );
    let registered = register(&app, "192.0.2.1", agent_metadata()).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert_eq!(registered.header("cache-control"), "no-store");
    assert!(registered.body["client_id"]
        .as_str()
        .unwrap()
        .starts_with("dyn_"));
    assert_eq!(registered.body["client_name"], "Agent <Smith>");
    assert_eq!(
        registered.body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(registered.body["token_endpoint_auth_method"], "none");
    // Refusals spend nothing of the budget.
    for (metadata, error) in [
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb#f"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_post"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
    ] {
        let refused = register(&app, "192.0.2.1", metadata.clone()).await;
        assert_eq!(refused.status, 400, "{metadata}: {}", refused.body);
        assert_eq!(refused.body["error"], error, "{metadata}");
    }
    let not_json = app
        .call(
            Function::OAuthRegister,
            Event::http_api("POST", "/oauth2/register")
                .header("content-type", "application/json")
                .raw_body("{"),
        )
        .await;
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    assert_eq!(
        register(&app, "192.0.2.1", agent_metadata()).await.status,
        201
    );
    let limited = register(&app, "192.0.2.1", agent_metadata()).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("retry-after").parse::<u64>().unwrap() > 0);
    // Another address has a budget of its own.
    assert_eq!(
        register(&app, "192.0.2.2", agent_metadata()).await.status,
        201
    );
    app.drop().await;
}

#[tokio::test]
async fn a_registered_client_asks_for_consent_as_unverified_and_gets_tokens_for_its_resource() {
    let app = open_app(10).await;
    let client_id = register(&app, "192.0.2.1", agent_metadata()).await.body["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut browser = Browser::signed_in(&app, "ada").await;
    let consent = browser.get(&app, &authorization(&client_id)).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Unverified app"), "{}", consent.body);
    // The name it gave itself, escaped; the resource it asks for.
    assert!(consent.body.contains("Agent &lt;Smith&gt;"));
    assert!(consent.body.contains(MCP));
    // The consent form may send the browser on to the client's origin.
    assert!(consent
        .header("content-security-policy")
        .contains("http://127.0.0.1:5555"));
    let csrf = consent.hidden("csrf").unwrap();
    let carried = consent.hidden("authorization").unwrap();
    let allowed = browser
        .post(
            &app,
            "/oauth2/consent",
            &[
                ("csrf", &csrf),
                ("authorization", &carried),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(allowed.status, 303, "{}", allowed.body);
    let location = allowed.header("location").to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    let code = param(&location, "code").unwrap();
    let tokens = app
        .call(
            Function::OAuthToken,
            Event::http_api("POST", "/oauth2/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .raw_body(&encode(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("client_id", &client_id),
                    ("code_verifier", VERIFIER),
                ])),
        )
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.body["access_token"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["aud"], MCP);
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["first_party"], false);
    assert!(tokens.body["refresh_token"].is_string());
    // Unknown registered ids are unknown clients: a page, never a redirect.
    let unknown = browser
        .get(&app, &authorization("dyn_AAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.headers.get("location").is_none());
    app.drop().await;
}

#[tokio::test]
async fn removing_an_app_on_the_account_page_ends_its_grants_and_consent() {
    let app = open_app(10).await;
    let client_id = register(&app, "192.0.2.1", agent_metadata()).await.body["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut browser = Browser::signed_in(&app, "ada").await;
    let empty = browser.get(&app, "/account/apps").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert!(empty.body.contains("No app has access"));
    let account = browser.get(&app, "/account").await;
    assert!(account.body.contains("href=\"/account/apps\""));

    let consent = browser.get(&app, &authorization(&client_id)).await;
    let csrf = consent.hidden("csrf").unwrap();
    let carried = consent.hidden("authorization").unwrap();
    let allowed = browser
        .post(
            &app,
            "/oauth2/consent",
            &[
                ("csrf", &csrf),
                ("authorization", &carried),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = param(allowed.header("location"), "code").unwrap();
    let exchange = |code: String| {
        Event::http_api("POST", "/oauth2/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .raw_body(&encode(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &client_id),
                ("code_verifier", VERIFIER),
            ]))
    };
    let tokens = app.call(Function::OAuthToken, exchange(code)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let refresh_token = tokens.body["refresh_token"].as_str().unwrap().to_string();

    let listed = browser.get(&app, "/account/apps").await;
    assert!(
        listed.body.contains("Agent &lt;Smith&gt;"),
        "{}",
        listed.body
    );
    assert!(listed
        .body
        .contains("who you are, access while you are away"));
    assert!(listed.body.contains("Last used: "));
    // Without the CSRF token nothing happens.
    let forged = browser
        .post(&app, "/account/apps", &[("client", &client_id)])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let csrf = listed.hidden("csrf").unwrap();
    let removed = browser
        .post(
            &app,
            "/account/apps",
            &[("csrf", &csrf), ("client", &client_id)],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(removed.header("location"), "/account/apps?notice=revoked");
    let after = browser.get(&app, "/account/apps?notice=revoked").await;
    assert!(
        !after.body.contains("Agent &lt;Smith&gt;"),
        "{}",
        after.body
    );
    assert!(after.body.contains("has to ask you again"));
    // Its grant ended: the refresh token is refused.
    let refreshed = app
        .call(
            Function::OAuthToken,
            Event::http_api("POST", "/oauth2/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .raw_body(&encode(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh_token),
                    ("client_id", &client_id),
                ])),
        )
        .await;
    assert_eq!(refreshed.status, 400, "{}", refreshed.body);
    assert_eq!(refreshed.body["error"], "invalid_grant");
    // And its consent: it has to ask again (no prompt=consent here).
    let asked = browser
        .get(
            &app,
            &authorization(&client_id).replace("offline_access", "openid"),
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("Unverified app"));
    app.drop().await;
}

#[tokio::test]
async fn deleting_the_account_deletes_its_consents() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let user = ObjectId::parse_str(&ada.user_id).unwrap();
    let consents = app
        .db
        .collection::<mongodb::bson::Document>("oauth_consents");
    consents
        .insert_many([
            doc! { "_id": format!("{}/spa", ada.user_id), "user_id": user, "client_id": "spa", "scope": "openid" },
            doc! { "_id": "someone-else/spa", "user_id": ObjectId::new(), "client_id": "spa", "scope": "openid" },
        ])
        .await
        .unwrap();
    let deleted = app
        .call(
            Function::DeleteUser,
            Event::http_api("DELETE", "/users/{user_id}")
                .user_id(&ada.user_id)
                .bearer(&ada.access_token),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        consents
            .count_documents(doc! { "user_id": user })
            .await
            .unwrap(),
        0
    );
    assert_eq!(consents.count_documents(doc! {}).await.unwrap(), 1);
    app.drop().await;
}
