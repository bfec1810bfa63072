//! The OpenID Provider's browser side through the pages handler (issue
//! #21): the authorization endpoint (error pages and error redirects, the
//! sign-in behind it, codes that exchange at the token endpoint), the
//! consent page (Allow, Deny, remembered, CSRF) and RP-Initiated Logout.

use api_tests::{Answer, CookieJar, Event, Function, Page, TestApp, PASSWORD};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SPA_REDIRECT: &str = "http://localhost:8765/callback";
const FIRST_REDIRECT: &str = "http://localhost:8766/callback";
const ISSUER: &str = "http://127.0.0.1:9000";

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The query pairs of a `Location`.
fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param(location: &str, name: &str) -> Option<String> {
    query_of(location)
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// An authorization request of `client_id` (PKCE, state, nonce), `extra`
/// replacing or adding parameters.
fn request(client_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let redirect = if client_id == "first" {
        FIRST_REDIRECT
    } else {
        SPA_REDIRECT
    };
    let mut all: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "openid email"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (name, value) in extra {
        all.retain(|(key, _)| key != name);
        all.push((name.to_string(), value.to_string()));
    }
    all
}

/// A browser: its cookies, as the pages set them.
#[derive(Default)]
struct Browser {
    cookies: CookieJar,
}

impl Browser {
    fn keep(&mut self, page: &Page) {
        self.cookies.keep(page);
    }

    fn cookie_header(&self) -> String {
        self.cookies.header()
    }

    /// GETs a local URL (`/path?query`), as a top-level navigation.
    async fn get(&mut self, app: &TestApp, url: &str) -> Page {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let event = Event::http_api("GET", path)
            .raw_query(query)
            .header("cookie", &self.cookie_header())
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0");
        let page = app.page(event).await;
        self.keep(&page);
        page
    }

    async fn authorize(&mut self, app: &TestApp, parameters: &[(String, String)]) -> Page {
        let pairs: Vec<(&str, &str)> = parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.get(app, &format!("/oauth2/authorize?{}", encode(&pairs)))
            .await
    }

    /// POSTs `fields` as this site's own form (with `csrf` unless empty).
    async fn post(&mut self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Page {
        let event = Event::http_api("POST", path)
            .header("cookie", &self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "http://localhost:9000")
            .header("sec-fetch-site", "same-origin")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
            .raw_body(&encode(fields));
        let page = app.page(event).await;
        self.keep(&page);
        page
    }

    /// Signs in on the sign-in page, `return_to` carried.
    async fn sign_in(&mut self, app: &TestApp, email: &str, return_to: Option<&str>) -> Page {
        let url = match return_to {
            Some(to) => format!("/signin?{}", encode(&[("return_to", to)])),
            None => "/signin".into(),
        };
        let page = self.get(app, &url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.hidden("csrf").unwrap();
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ];
        let carried = page.hidden("return_to");
        if let Some(to) = carried.as_deref() {
            fields.push(("return_to", to));
        }
        self.post(app, "/signin", &fields).await
    }
}

async fn signed_in(app: &TestApp, name: &str) -> Browser {
    let email = format!("{name}@example.com");
    assert_eq!(app.register(name, &email).await.status, 201);
    let mut browser = Browser::default();
    let page = browser.sign_in(app, &email, None).await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}

fn location(page: &Page) -> String {
    page.header("location").to_string()
}

async fn exchange(app: &TestApp, client_id: &str, redirect: &str, code: &str) -> Answer {
    app.call(
        Function::OAuthToken,
        Event::http_api("POST", "/oauth2/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .raw_body(&encode(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
                ("client_id", client_id),
                ("code_verifier", VERIFIER),
            ])),
    )
    .await
}

/// The consent page's form, answered with `decision`.
async fn decide(app: &TestApp, browser: &mut Browser, consent: &Page, decision: &str) -> Page {
    let csrf = consent.hidden("csrf").unwrap();
    let carried = consent.hidden("authorization").unwrap();
    browser
        .post(
            app,
            "/oauth2/consent",
            &[
                ("csrf", &csrf),
                ("authorization", &carried),
                ("decision", decision),
            ],
        )
        .await
}

#[tokio::test]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_a_page_never_a_redirect() {
    let app = TestApp::new().await;
    let mut browser = Browser::default();
    let unknown = browser
        .authorize(
            &app,
            &request("nobody", &[("redirect_uri", "https://evil.example/cb")]),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.headers.get("location").is_none());
    assert!(unknown.body.contains("not registered"), "{}", unknown.body);
    for redirect in [
        "http://localhost:8765/callback/extra",
        "http://localhost:8765/callback?x=1",
        "https://evil.example/callback",
    ] {
        let page = browser
            .authorize(&app, &request("spa", &[("redirect_uri", redirect)]))
            .await;
        assert_eq!(page.status, 400, "{redirect}");
        assert!(page.headers.get("location").is_none(), "{redirect}");
    }
    app.drop().await;
}

#[tokio::test]
async fn other_errors_redirect_with_state_and_iss() {
    let app = TestApp::new().await;
    let mut browser = Browser::default();
    let page = browser
        .authorize(&app, &request("spa", &[("response_type", "token")]))
        .await;
    assert_eq!(page.status, 302);
    let to = location(&page);
    assert!(to.starts_with(SPA_REDIRECT), "{to}");
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
    assert_eq!(param(&to, "iss").as_deref(), Some(ISSUER));
    assert!(param(&to, "error_description").is_some());

    // Signed out and no page may be shown.
    let page = browser
        .authorize(&app, &request("spa", &[("prompt", "none")]))
        .await;
    assert_eq!(page.status, 302);
    let to = location(&page);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("login_required"),
        "{to}"
    );
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
    app.drop().await;
}

#[tokio::test]
async fn signed_out_goes_through_the_sign_in_page_and_comes_back_with_a_code() {
    let app = TestApp::new().await;
    let email = "ann@example.com";
    assert_eq!(app.register("ann", email).await.status, 201);
    let mut browser = Browser::default();
    // A long request (a big state) survives the trip through the sign-in.
    let state = "s".repeat(1500);
    let page = browser
        .authorize(
            &app,
            &request(
                "first",
                &[("state", &state), ("login_hint", "ann@example.com")],
            ),
        )
        .await;
    assert_eq!(page.status, 303);
    let to = location(&page);
    assert!(to.starts_with("/signin?"), "{to}");
    let return_to = param(&to, "return_to").unwrap();
    assert!(return_to.starts_with("/oauth2/authorize?"), "{return_to}");
    // login_hint prefills the e-mail; the sign-in form may post on to the app.
    let signin = browser.get(&app, &to).await;
    assert!(
        signin.body.contains("value=\"ann@example.com\""),
        "{}",
        signin.body
    );
    assert!(signin
        .header("content-security-policy")
        .contains("form-action 'self' http://localhost:8766;"));
    let signed = browser.sign_in(&app, email, Some(&return_to)).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let back = location(&signed);
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");
    // First-party: no consent, the code at once.
    let page = browser.get(&app, &back).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let to = location(&page);
    assert!(to.starts_with(FIRST_REDIRECT), "{to}");
    assert_eq!(param(&to, "state"), Some(state));
    assert_eq!(param(&to, "iss").as_deref(), Some(ISSUER));
    let code = param(&to, "code").unwrap();
    let tokens = exchange(&app, "first", FIRST_REDIRECT, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.body["id_token"].is_string());
    app.drop().await;
}

#[tokio::test]
async fn a_third_party_client_asks_for_consent_once_per_scope_set() {
    let app = TestApp::new().await;
    let mut browser = signed_in(&app, "bea").await;
    let consent = browser
        .authorize(
            &app,
            &request("spa", &[("scope", "openid email offline_access")]),
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Demo SPA"));
    assert!(consent.body.contains("e-mail address"));
    assert!(consent.body.contains("until you sign out everywhere"));
    assert!(consent.body.contains("30 minutes"));
    assert!(consent
        .header("content-security-policy")
        .contains("form-action 'self' http://localhost:8765;"));
    // Without the CSRF token the answer is refused.
    let carried = consent.hidden("authorization").unwrap();
    let forged = browser
        .post(
            &app,
            "/oauth2/consent",
            &[("authorization", &carried), ("decision", "allow")],
        )
        .await;
    assert_eq!(forged.status, 403);
    // Allow: the code, which exchanges.
    let allowed = decide(&app, &mut browser, &consent, "allow").await;
    assert_eq!(allowed.status, 303, "{}", allowed.body);
    let to = location(&allowed);
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
    let code = param(&to, "code").unwrap();
    let tokens = exchange(&app, "spa", SPA_REDIRECT, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.body["refresh_token"].is_string());
    // A subset later: no page.
    let again = browser
        .authorize(&app, &request("spa", &[("scope", "openid")]))
        .await;
    assert_eq!(again.status, 302, "{}", again.body);
    assert!(param(&location(&again), "code").is_some());
    // More than was allowed, or prompt=consent: the page again.
    let more = browser
        .authorize(&app, &request("spa", &[("scope", "openid profile")]))
        .await;
    assert_eq!(more.status, 200);
    let asked = browser
        .authorize(&app, &request("spa", &[("prompt", "consent")]))
        .await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("Allow"));
    app.drop().await;
}

#[tokio::test]
async fn deny_answers_access_denied_and_prompt_none_needs_consent() {
    let app = TestApp::new().await;
    let mut browser = signed_in(&app, "cid").await;
    let silent = browser
        .authorize(&app, &request("spa", &[("prompt", "none")]))
        .await;
    assert_eq!(silent.status, 302);
    assert_eq!(
        param(&location(&silent), "error").as_deref(),
        Some("consent_required")
    );
    let consent = browser.authorize(&app, &request("spa", &[])).await;
    assert_eq!(consent.status, 200);
    let denied = decide(&app, &mut browser, &consent, "deny").await;
    assert_eq!(denied.status, 303);
    let to = location(&denied);
    assert!(to.starts_with(SPA_REDIRECT), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
    assert_eq!(param(&to, "iss").as_deref(), Some(ISSUER));
    assert!(param(&to, "code").is_none());
    app.drop().await;
}

#[tokio::test]
async fn max_age_and_prompt_login_ask_for_a_fresh_sign_in_once() {
    let app = TestApp::new().await;
    let mut browser = signed_in(&app, "dan").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let old = browser
        .authorize(&app, &request("first", &[("max_age", "1")]))
        .await;
    assert_eq!(old.status, 303);
    let to = location(&old);
    assert!(to.starts_with("/signin?"), "{to}");
    assert_eq!(param(&to, "again").as_deref(), Some("1"));
    // prompt=login: signing in once brings the code, no loop.
    let login = browser
        .authorize(&app, &request("first", &[("prompt", "login")]))
        .await;
    assert_eq!(login.status, 303);
    let to = location(&login);
    let return_to = param(&to, "return_to").unwrap();
    let page = browser.get(&app, &to).await;
    assert_eq!(page.status, 200, "the form shows to a signed-in browser");
    let csrf = page.hidden("csrf").unwrap();
    let signed = browser
        .post(
            &app,
            "/signin",
            &[
                ("csrf", &csrf),
                ("again", "1"),
                ("return_to", &return_to),
                ("email", "dan@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let back = browser.get(&app, &location(&signed)).await;
    assert_eq!(back.status, 302, "{}", back.body);
    assert!(param(&location(&back), "code").is_some());
    app.drop().await;
}

#[tokio::test]
async fn logout_asks_unless_the_hint_names_the_session_and_never_redirects_elsewhere() {
    let app = TestApp::new().await;
    let mut browser = signed_in(&app, "eve").await;
    // No hint: a confirmation, nobody signed out by a link.
    let asked = browser
        .get(
            &app,
            &format!(
                "/oauth2/logout?{}",
                encode(&[
                    ("client_id", "spa"),
                    (
                        "post_logout_redirect_uri",
                        "http://localhost:8765/signed-out"
                    ),
                    ("state", "bye")
                ])
            ),
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("Sign out"));
    assert!(asked.body.contains("Stay signed in"));
    assert!(asked
        .header("content-security-policy")
        .contains("form-action 'self' http://localhost:8765;"));
    let still = browser.get(&app, "/account").await;
    assert_eq!(still.status, 200, "still signed in");
    // An unregistered post_logout_redirect_uri: confirmed, but no redirect.
    let open_redirect = browser
        .get(
            &app,
            &format!(
                "/oauth2/logout?{}",
                encode(&[
                    ("client_id", "spa"),
                    ("post_logout_redirect_uri", "https://evil.example/"),
                ])
            ),
        )
        .await;
    assert_eq!(open_redirect.status, 200);
    let csrf = open_redirect.hidden("csrf").unwrap();
    let out = browser
        .post(
            &app,
            "/oauth2/logout/confirm",
            &[
                ("csrf", &csrf),
                ("client_id", "spa"),
                ("post_logout_redirect_uri", "https://evil.example/"),
                ("decision", "signout"),
            ],
        )
        .await;
    assert_eq!(out.status, 200, "a page, not a redirect");
    assert!(out.headers.get("location").is_none());
    let gone = browser.get(&app, "/account").await;
    assert_eq!(gone.status, 303, "signed out");
    app.drop().await;
}

#[tokio::test]
async fn a_valid_id_token_hint_signs_out_at_once_and_goes_back_with_state() {
    let app = TestApp::new().await;
    let mut browser = signed_in(&app, "fay").await;
    let consent = browser.authorize(&app, &request("spa", &[])).await;
    let allowed = decide(&app, &mut browser, &consent, "allow").await;
    let code = param(&location(&allowed), "code").unwrap();
    let tokens = exchange(&app, "spa", SPA_REDIRECT, &code).await;
    let id_token = tokens.body["id_token"].as_str().unwrap().to_string();
    let page = browser
        .get(
            &app,
            &format!(
                "/oauth2/logout?{}",
                encode(&[
                    ("id_token_hint", &id_token),
                    (
                        "post_logout_redirect_uri",
                        "http://localhost:8765/signed-out"
                    ),
                    ("state", "bye"),
                ])
            ),
        )
        .await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(
        location(&page),
        "http://localhost:8765/signed-out?state=bye"
    );
    let gone = browser.get(&app, "/account").await;
    assert_eq!(gone.status, 303, "signed out");
    app.drop().await;
}

#[tokio::test]
async fn a_post_to_authorize_and_max_age_10000_go_straight_on() {
    let app = TestApp::new().await;
    let mut browser = signed_in(&app, "gil").await;
    let recent = browser
        .authorize(&app, &request("first", &[("max_age", "10000")]))
        .await;
    assert_eq!(recent.status, 302, "{}", recent.body);
    assert!(param(&location(&recent), "code").is_some());
    // The same request as a form POST (a relying party's page may send one):
    // judged as its GET, without our CSRF token.
    let parameters = request("first", &[("state", "posted")]);
    let pairs: Vec<(&str, &str)> = parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let event = Event::http_api("POST", "/oauth2/authorize")
        .header("cookie", &browser.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .raw_body(&encode(&pairs));
    let posted = app.page(event).await;
    assert_eq!(posted.status, 302, "{}", posted.body);
    let to = location(&posted);
    assert_eq!(param(&to, "state").as_deref(), Some("posted"));
    let code = param(&to, "code").unwrap();
    let tokens = exchange(&app, "first", FIRST_REDIRECT, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    app.drop().await;
}
