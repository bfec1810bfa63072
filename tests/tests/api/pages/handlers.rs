//! The pages for people (issue #20) through their handler, against a real
//! MongoDB wire server: the headers of every page, CSRF and origin checks,
//! the browser session (a device like the API's sessions, ended by "sign out
//! everywhere"), `return_to`, mailed links that a GET never spends, escaping,
//! and oversized bodies.

use api_tests::{CookieJar, Event, Page, TestApp, PASSWORD};
use mongodb::bson::doc;
use users_core::domain::ports::{MailRequest, MailRequests};
use users_core::domain::values::UserId;
use users_core::pages::PATHS;

use crate::recovery::handlers::Mailbox;

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A browser: its cookies, as the pages set them.
#[derive(Default, Clone)]
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

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name)
    }

    async fn get(&mut self, app: &TestApp, path: &str, query: Option<(&str, &str)>) -> Page {
        let mut event = Event::http_api("GET", path)
            .header("cookie", &self.cookie_header())
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0");
        if let Some((name, value)) = query {
            event = event.query(name, value);
        }
        let page = app.page(event).await;
        self.keep(&page);
        page
    }

    /// POSTs `fields` as a same-origin form, with the CSRF token of `csrf`.
    async fn post(
        &mut self,
        app: &TestApp,
        path: &str,
        csrf: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let mut all = vec![("csrf", csrf)];
        all.extend_from_slice(fields);
        let event = Event::http_api("POST", path)
            .header("cookie", &self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "http://localhost:9000")
            .header("sec-fetch-site", "same-origin")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
            .raw_body(&form(&all));
        let page = app.page(event).await;
        self.keep(&page);
        page
    }

    /// The CSRF token of the form on `path`.
    async fn csrf(&mut self, app: &TestApp, path: &str) -> String {
        let page = self.get(app, path, None).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        page.hidden("csrf").expect("the form carries a CSRF token")
    }

    /// Signs in again (step-up): the form shows to a signed-in browser with `again`.
    async fn sign_in_again(&mut self, app: &TestApp, email: &str) -> Page {
        let page = self.get(app, "/signin", Some(("again", "1"))).await;
        assert!(page.body.contains("sign in again"), "{}", page.body);
        let csrf = page.hidden("csrf").unwrap();
        self.post(
            app,
            "/signin",
            &csrf,
            &[("email", email), ("password", PASSWORD)],
        )
        .await
    }
}

async fn registered(app: &TestApp, name: &str) -> String {
    let email = format!("{name}@example.com");
    assert_eq!(app.register(name, &email).await.status, 201);
    email
}

#[tokio::test]
async fn every_page_sends_the_security_headers() {
    let app = TestApp::new().await;
    let mut browser = Browser::default();
    for path in PATHS {
        let page = browser.get(&app, path, None).await;
        assert!(
            [200, 303, 400].contains(&page.status),
            "{path}: {}",
            page.status
        );
        let policy = page.header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "style-src 'sha256-",
            "img-src 'self' data:",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(page.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(page.header("cache-control"), "no-store", "{path}");
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
        // http on localhost: no HSTS, no `__Host-` cookies.
        assert!(page.headers.get("strict-transport-security").is_none());
        if page.status == 200 {
            assert!(page.header("content-type").starts_with("text/html"));
            assert!(page.body.starts_with("<!DOCTYPE html><html lang=\"en\">"));
            assert!(page.body.contains("name=\"viewport\""));
            // No inline script: only the passkeys' file, from this origin.
            let scripts = page.body.matches("<script").count();
            let files = page
                .body
                .matches("<script src=\"/passkeys.js\" defer></script>")
                .count();
            assert_eq!(scripts, files, "{path}: an inline script");
        }
    }
    // The signed-in pages send a visitor without a session to sign in, and back.
    let page = browser.get(&app, "/account/mfa", None).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.header("location"),
        "/signin?return_to=%2Faccount%2Fmfa"
    );
    app.drop().await;
}

#[tokio::test]
async fn a_post_without_or_with_another_browsers_csrf_token_or_from_another_site_is_refused() {
    let app = TestApp::new().await;
    let email = registered(&app, "csrf_victim").await;
    let mut ours = Browser::default();
    let csrf = ours.csrf(&app, "/signin").await;
    assert!(
        ours.cookie("presession").is_some(),
        "a pre-session cookie binds it"
    );
    let mut theirs = Browser::default();
    let their_csrf = theirs.csrf(&app, "/signin").await;
    assert_ne!(csrf, their_csrf);
    let credentials = [("email", email.as_str()), ("password", PASSWORD)];

    let missing = ours.post(&app, "/signin", "", &credentials).await;
    assert_eq!(missing.status, 403);
    assert!(missing.body.contains("Form not accepted"));
    let other = ours.post(&app, "/signin", &their_csrf, &credentials).await;
    assert_eq!(other.status, 403);
    // No cookie at all: nothing to bind a token to.
    let mut cookieless = Browser::default();
    assert_eq!(
        cookieless
            .post(&app, "/signin", &csrf, &credentials)
            .await
            .status,
        403
    );

    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let event = Event::http_api("POST", "/signin")
            .header("cookie", &ours.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .header(header, value)
            .raw_body(&form(&[
                ("csrf", &csrf),
                ("email", &email),
                ("password", PASSWORD),
            ]));
        let page = app.page(event).await;
        assert_eq!(page.status, 403, "{header}: {value}");
        assert!(page.body.contains("another site"));
    }
    // Nothing signed in so far; the right token does.
    assert_eq!(app.sessions().count_documents(doc! {}).await.unwrap(), 0);
    let signed_in = ours.post(&app, "/signin", &csrf, &credentials).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    app.drop().await;
}

#[tokio::test]
async fn a_browser_session_is_a_device_fixed_at_sign_in_and_ended_everywhere() {
    let app = TestApp::new().await;
    let email = registered(&app, "browser_user").await;
    let mut browser = Browser::default();
    let pre_session = {
        browser.csrf(&app, "/signin").await;
        browser.cookie("presession").unwrap().to_string()
    };
    let wrong = {
        let csrf = browser.csrf(&app, "/signin").await;
        browser
            .post(
                &app,
                "/signin",
                &csrf,
                &[("email", &email), ("password", "wrong password")],
            )
            .await
    };
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong"));
    assert!(
        wrong.body.contains(&format!("value=\"{email}\"")),
        "the e-mail is kept"
    );
    assert!(!wrong.body.contains("wrong password"), "never the password");

    let csrf = browser.csrf(&app, "/signin").await;
    let signed_in = browser
        .post(
            &app,
            "/signin",
            &csrf,
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("return_to", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(
        signed_in.header("location"),
        "/account",
        "return_to ignored"
    );
    let cookie = browser
        .cookie("session")
        .expect("a session cookie")
        .to_string();
    assert!(
        browser.cookie("presession").is_none(),
        "the pre-session cookie is dropped"
    );
    assert_ne!(cookie, pre_session);
    let set = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .find(|value| value.starts_with("session="))
        .unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"));
    // The database holds neither the cookie nor anything it is the digest of.
    let stored = app.sessions().find_one(doc! {}).await.unwrap().unwrap();
    assert!(!stored.to_string().contains(&cookie));

    let account = browser.get(&app, "/account", None).await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("browser_user"));
    // A second device by the API; the page lists both, this one marked.
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    let devices = browser.get(&app, "/account/sessions", None).await;
    assert_eq!(
        devices.body.matches("Signed in: ").count(),
        2,
        "{}",
        devices.body
    );
    assert_eq!(devices.body.matches("(this device)").count(), 1);
    assert!(devices.body.contains("Chrome on Linux"));

    // Signing in again (step-up) replaces this browser's session.
    let again = browser.sign_in_again(&app, &email).await;
    assert_eq!(again.status, 303);
    let second = browser.cookie("session").unwrap().to_string();
    assert_ne!(second, cookie);
    let mut old = Browser {
        cookies: CookieJar::with("session", &cookie),
    };
    assert_eq!(
        old.get(&app, "/account", None).await.status,
        303,
        "the old cookie is void"
    );

    // Sign out everywhere ends this browser's session too.
    let csrf = browser.csrf(&app, "/account/sessions").await;
    let out = browser
        .post(&app, "/account/sessions", &csrf, &[("action", "all")])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(app.sessions().count_documents(doc! {}).await.unwrap(), 0);
    let mut stale = Browser {
        cookies: CookieJar::with("session", &second),
    };
    let page = stale.get(&app, "/account", None).await;
    assert_eq!(page.status, 303);
    assert!(page.header("location").starts_with("/signin"));
    app.drop().await;
}

#[tokio::test]
async fn return_to_brings_the_person_back_to_a_local_page_only() {
    let app = TestApp::new().await;
    let email = registered(&app, "returner").await;
    for (return_to, location) in [
        ("/account/mfa", "/account/mfa"),
        ("//evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("https://evil.example/account", "/account"),
    ] {
        let mut browser = Browser::default();
        let page = browser
            .get(&app, "/signin", Some(("return_to", return_to)))
            .await;
        let csrf = page.hidden("csrf").unwrap();
        let signed_in = browser
            .post(
                &app,
                "/signin",
                &csrf,
                &[
                    ("email", &email),
                    ("password", PASSWORD),
                    ("return_to", return_to),
                ],
            )
            .await;
        assert_eq!(signed_in.header("location"), location, "{return_to}");
        assert!(!page.body.contains("evil.example"), "not even in the form");
    }
    app.drop().await;
}

#[tokio::test]
async fn a_mailed_link_opened_by_gets_is_not_spent_until_the_person_posts() {
    let app = TestApp::new().await;
    let email = registered(&app, "link_follower").await;
    let user = app
        .users()
        .find_one(doc! { "email": &email })
        .await
        .unwrap()
        .unwrap();
    let user_id = UserId::from_bytes(user.get_object_id("_id").unwrap().bytes());
    let mailbox = Mailbox::default();
    mailbox
        .request_mail(&MailRequest::EmailVerification { user_id })
        .await
        .unwrap();
    mailbox.deliver(&app).await;
    let token = mailbox.link_for(&email, "verify-email");

    // A mail scanner, then the person's first click: both GETs.
    for _ in 0..2 {
        let mut scanner = Browser::default();
        let page = scanner
            .get(&app, "/verify-email", Some(("token", &token)))
            .await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Confirm the address"));
    }
    let verified = || async {
        app.users()
            .find_one(doc! { "email": &email })
            .await
            .unwrap()
            .unwrap()
            .get_bool("email_verified")
            .unwrap_or(false)
    };
    assert!(!verified().await, "a GET spends nothing");
    let mut person = Browser::default();
    let page = person
        .get(&app, "/verify-email", Some(("token", &token)))
        .await;
    let csrf = page.hidden("csrf").unwrap();
    assert_eq!(page.hidden("token").as_deref(), Some(token.as_str()));
    let done = person
        .post(&app, "/verify-email", &csrf, &[("token", &token)])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("confirmed"));
    assert!(verified().await);
    // Now spent: the page says so, as a page.
    let again = person
        .post(&app, "/verify-email", &csrf, &[("token", &token)])
        .await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("not valid any more"));
    let bad = person
        .get(&app, "/reset-password", Some(("token", "not.a.token")))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("This link does not work"));
    app.drop().await;
}

#[tokio::test]
async fn markup_and_control_characters_are_escaped_and_passwords_never_shown() {
    let app = TestApp::new().await;
    let mut browser = Browser::default();
    let csrf = browser.csrf(&app, "/signup").await;
    let hostile = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>\u{7}\u{1b}[31m";
    let page = browser
        .post(
            &app,
            "/signup",
            &csrf,
            &[
                ("username", hostile),
                ("email", hostile),
                ("password", "<b>secret-pw</b>"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains('\u{7}') && !page.body.contains('\u{1b}'));
    assert!(!page.body.contains("secret-pw"), "never the password");
    // Each error is next to its field, tied to it.
    assert!(page.body.contains("aria-describedby=\"username-error"));
    assert!(page.body.contains("id=\"email-error\""));
    app.drop().await;
}

#[tokio::test]
async fn an_oversized_body_gets_its_form_back_with_a_message() {
    let app = TestApp::new().await;
    let mut browser = Browser::default();
    let csrf = browser.csrf(&app, "/signup").await;
    let huge = "a".repeat(1024 * 1024);
    let page = browser
        .post(&app, "/signup", &csrf, &[("username", &huge)])
        .await;
    assert_eq!(page.status, 413);
    assert!(page.body.contains("larger than the 16 KB"));
    assert!(page.body.contains("name=\"username\""), "the form again");
    assert!(page
        .header("content-security-policy")
        .contains("default-src 'none'"));
    app.drop().await;
}

#[tokio::test]
async fn forgot_password_answers_alike_whether_or_not_the_account_exists() {
    let app = TestApp::new().await;
    let email = registered(&app, "forgetful").await;
    let mut answers = Vec::new();
    for address in [email.as_str(), "nobody-here@example.com"] {
        let mut browser = Browser::default();
        let csrf = browser.csrf(&app, "/forgot-password").await;
        let page = browser
            .post(&app, "/forgot-password", &csrf, &[("email", address)])
            .await;
        assert_eq!(page.status, 200);
        answers.push(page.body.replace(&csrf, ""));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].contains("If an account has this address"));
    app.drop().await;
}

/// Issue #24 on the pages, under a grace period: the account page's delete
/// schedules; the sign-in page then says when, and restores only when asked,
/// with the password again; the mailed link's page restores with a button.
#[tokio::test]
async fn a_scheduled_deletion_is_restored_on_the_sign_in_page_or_by_the_link_page() {
    let app = TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.deletion_grace = users_core::domain::deletion::GracePeriod::days(7).unwrap();
    })
    .await;
    let email = registered(&app, "leaving").await;
    let mut browser = Browser::default();
    let sign_in = |browser: &mut Browser, extra: Option<(&'static str, &'static str)>| {
        let (app, email) = (&app, email.clone());
        let mut browser = std::mem::take(browser);
        async move {
            let csrf = browser.csrf(app, "/signin").await;
            let mut fields = vec![("email", email.as_str()), ("password", PASSWORD)];
            fields.extend(extra);
            let page = browser.post(app, "/signin", &csrf, &fields).await;
            (browser, page)
        }
    };
    let (mut signed, page) = sign_in(&mut browser, None).await;
    assert_eq!(page.status, 303);
    let csrf = signed.csrf(&app, "/account/delete").await;
    let page = signed.get(&app, "/account/delete", None).await;
    assert!(page.body.contains("after 7 days"), "{}", page.body);
    let deleted = signed
        .post(&app, "/account/delete", &csrf, &[("password", PASSWORD)])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert_eq!(deleted.header("location"), "/signin?notice=scheduled");
    let notice = signed
        .get(&app, "/signin", Some(("notice", "scheduled")))
        .await;
    assert!(notice.body.contains("scheduled for deletion"));

    // Signing in is refused, with the date and the offer; never a silent restore.
    let (mut browser, refused) = sign_in(&mut Browser::default(), None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("scheduled for deletion on"));
    assert!(refused.body.contains("Keep my account and sign in"));
    assert!(browser.cookie("session").is_none());
    let scheduled = || async {
        app.users()
            .find_one(doc! { "email": &email })
            .await
            .unwrap()
            .unwrap()
            .contains_key("deletion_scheduled_for")
    };
    assert!(scheduled().await);
    // The offer, with the password again: restored and signed in.
    let (restored_browser, restored) = sign_in(&mut browser, Some(("restore", "1"))).await;
    assert_eq!(restored.status, 303, "{}", restored.body);
    assert_eq!(restored.header("location"), "/account");
    assert!(restored_browser.cookie("session").is_some());
    assert!(!scheduled().await);

    // Scheduled again; this time the mailed link's page restores.
    let mut signed = restored_browser;
    let csrf = signed.csrf(&app, "/account/delete").await;
    let deleted = signed
        .post(&app, "/account/delete", &csrf, &[("password", PASSWORD)])
        .await;
    assert_eq!(deleted.status, 303);
    let mailbox = Mailbox::default();
    for request in app.mail.take_requests() {
        mailbox.request_mail(&request).await.unwrap();
    }
    mailbox.deliver(&app).await;
    let token = mailbox.link_for(&email, "restore-account");
    let mut person = Browser::default();
    let page = person
        .get(&app, "/restore-account", Some(("token", &token)))
        .await;
    assert_eq!(page.status, 200);
    assert!(scheduled().await, "a GET spends nothing");
    let csrf = page.hidden("csrf").unwrap();
    let done = person
        .post(&app, "/restore-account", &csrf, &[("token", &token)])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Your account is kept"));
    assert!(!scheduled().await);
    let again = person
        .post(&app, "/restore-account", &csrf, &[("token", &token)])
        .await;
    assert_ne!(again.status, 200);
    app.drop().await;
}

/// Issue #24: the account page links the export; its page's button (a POST
/// with the CSRF token) downloads the same document as the API.
#[tokio::test]
async fn the_account_page_downloads_the_export() {
    let app = TestApp::new().await;
    let email = registered(&app, "downloader").await;
    let mut browser = Browser::default();
    let csrf = browser.csrf(&app, "/signin").await;
    let signed_in = browser
        .post(
            &app,
            "/signin",
            &csrf,
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    let account = browser.get(&app, "/account", None).await;
    assert!(account.body.contains("href=\"/account/export\""));
    let csrf = browser.csrf(&app, "/account/export").await;
    let file = browser.post(&app, "/account/export", &csrf, &[]).await;
    assert_eq!(file.status, 200, "{}", file.body);
    assert_eq!(file.header("content-type"), "application/json");
    assert!(file
        .header("content-disposition")
        .contains("account-export.json"));
    let document: serde_json::Value = serde_json::from_str(&file.body).unwrap();
    assert_eq!(document["profile"]["username"], "downloader");
    assert_eq!(document["sessions"].as_array().unwrap().len(), 1);
    app.drop().await;
}

/// Passkeys on the pages (docs/passkeys.md): the list page and its script,
/// the sign-in page's passkey form, and the passkey-pages function's POSTs,
/// which take the pages' session and CSRF token (the ceremonies themselves
/// are tested in passkeys::handlers and, in Chromium, tests/browser).
#[tokio::test]
async fn the_passkey_pages_list_and_their_posts_need_the_session_and_csrf_token() {
    use api_tests::Function;
    let app = TestApp::new().await;
    let email = registered(&app, "pagepasskey").await;
    let mut browser = Browser::default();
    let signin = browser.get(&app, "/signin", None).await;
    assert!(
        signin.body.contains("id=\"passkey-signin\""),
        "{}",
        signin.body
    );
    assert!(signin.body.contains("autocomplete=\"username webauthn\""));
    let csrf = signin.hidden("csrf").unwrap();
    let page = browser
        .post(
            &app,
            "/signin",
            &csrf,
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let account = browser.get(&app, "/account", None).await;
    assert!(account.body.contains("href=\"/account/passkeys\""));
    let page = browser.get(&app, "/account/passkeys", None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("You have no passkeys yet."));
    assert!(page
        .body
        .contains("<script src=\"/passkeys.js\" defer></script>"));
    let csrf = page.hidden("csrf").unwrap();
    let script = browser.get(&app, "/passkeys.js", None).await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert!(script.body.contains("parseCreationOptionsFromJSON"));

    let options = |body: String, cookie: String| {
        Event::http_api("POST", "/account/passkeys/options")
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "http://localhost:9000")
            .header("sec-fetch-site", "same-origin")
            .raw_body(&body)
    };
    let cookie = browser.cookie_header();
    let refused = app
        .respond(
            Function::PasskeyPages,
            options(String::new(), cookie.clone()),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let answer = api_tests::Answer::from_response(
        app.respond(
            Function::PasskeyPages,
            options(form(&[("csrf", &csrf)]), cookie.clone()),
        )
        .await,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["publicKey"]["rp"]["id"], "localhost");
    assert!(answer.body["ceremony"].is_string());
    // Without a session: where to sign in, as JSON for the script.
    let mut stranger = Browser::default();
    let csrf = stranger.csrf(&app, "/signin").await;
    let answer = api_tests::Answer::from_response(
        app.respond(
            Function::PasskeyPages,
            options(form(&[("csrf", &csrf)]), stranger.cookie_header()),
        )
        .await,
    );
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["signin"], "/signin?return_to=/account/passkeys");
    app.drop().await;
}

/// Issue #24: the account page lists the account's recent security
/// activity, newest first, each with its time (UTC) and where it came from.
#[tokio::test]
async fn the_account_page_lists_the_recent_activity_newest_first() {
    let app = TestApp::new().await;
    let email = registered(&app, "recently").await;
    let mut browser = Browser::default();
    let csrf = browser.csrf(&app, "/signin").await;
    let signed_in = browser
        .post(
            &app,
            "/signin",
            &csrf,
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    let account = browser.get(&app, "/account", None).await;
    assert_eq!(account.status, 200);
    let body = &account.body;
    assert!(
        body.contains("<h2 id=\"recent-activity\">Recent activity</h2>"),
        "{body}"
    );
    assert!(body.contains("aria-labelledby=\"recent-activity\""));
    let signed = body.find("Signed in</strong> (password)").expect(body);
    let created = body.find("Account created</strong>").expect(body);
    assert!(signed < created, "newest first");
    // The sign-in names the browser the page saw, and its time is UTC.
    let entry = &body[signed..created];
    assert!(entry.contains("<time datetime=\""), "{entry}");
    assert!(entry.contains(" UTC</time>"), "{entry}");
    assert!(
        entry.contains("from Chrome on Linux, address 192.0.2.1"),
        "{entry}"
    );
    app.drop().await;
}
