//! Recovery and change (issue #12) through the handlers, against a real
//! MongoDB wire server: the forgotten-password answer, one-time tokens, the
//! reset race, password and e-mail change, `REQUIRE_VERIFIED_EMAIL`, and
//! `send-mail` through moto's SES v2.

use std::sync::Mutex;

use api_tests::{sqs_event, Answer, Event, Function, Moto, TestApp, PASSWORD};
use mongodb::bson::doc;
use serde_json::{json, Value};
use users_core::aws::ses::Ses;
use users_core::domain::login::LoginPolicy;
use users_core::domain::ports::{Mail, MailRequest, MailRequests, MailTransport};
use users_core::domain::recovery::{
    send_requested_mail, EmailChangeConfirmation, MailRequestPolicy, MailSettings,
};
use users_core::domain::values::{Email, Timestamp, UserId};
use users_core::env::Vars;
use users_core::http::recovery;
use users_core::mail::{self, Delivery, OutgoingMail, Transport};

const NEW_PASSWORD: &str = "a brand new tolerable passphrase";

/// The queue and the transport, in memory.
#[derive(Default)]
pub(crate) struct Mailbox {
    pub(crate) requests: Mutex<Vec<MailRequest>>,
    pub(crate) sent: Mutex<Vec<OutgoingMail>>,
}

impl MailRequests for Mailbox {
    async fn request_mail(&self, request: &MailRequest) -> Result<(), String> {
        self.requests.lock().unwrap().push(request.clone());
        Ok(())
    }
}

impl MailTransport for Mailbox {
    /// Rendered as `send-mail` renders, links under the test web app.
    async fn send_mail(&self, mail: &Mail) -> Result<String, String> {
        let rendered = mail::render(mail, users_core::memory::TEST_APP_BASE_URL);
        self.sent.lock().unwrap().push(rendered);
        Ok("memory".into())
    }
}

impl Mailbox {
    /// Runs the queued requests through `send-mail`'s use case.
    pub(crate) async fn deliver(&self, app: &TestApp) {
        let requests = std::mem::take(&mut *self.requests.lock().unwrap());
        for request in requests {
            send_requested_mail(&app.store, self, &settings(), &request, Timestamp::now())
                .await
                .unwrap();
        }
    }

    /// The token of the last mail to `to` that carries a link.
    /// The token of the last link to `/{page}?token=` in a mail to `to`.
    pub(crate) fn link_for(&self, to: &str, page: &str) -> String {
        let marker = format!("/{page}?token=");
        let sent = self.sent.lock().unwrap();
        let mail = sent
            .iter()
            .rev()
            .find(|mail| mail.to == to && mail.text.contains(&marker))
            .unwrap_or_else(|| panic!("no mail to {to} with a link to {page}"));
        let (_, rest) = mail.text.split_once(&marker).unwrap();
        rest.split(|c: char| c.is_whitespace() || c == '"')
            .next()
            .unwrap()
            .to_string()
    }

    pub(crate) fn token_for(&self, to: &str) -> String {
        let sent = self.sent.lock().unwrap();
        let mail = sent
            .iter()
            .rev()
            .find(|mail| mail.to == to && mail.text.contains("?token="))
            .unwrap_or_else(|| panic!("no mail with a link to {to}"));
        token_in(&mail.text)
    }
}

fn token_in(text: &str) -> String {
    let (_, rest) = text.split_once("?token=").expect("a link with a token");
    rest.split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_string()
}

/// The e-mail change confirmed by the new address alone
/// (`EMAIL_CHANGE_CONFIRMATION=new`).
pub(crate) fn new_only() -> MailRequestPolicy {
    MailRequestPolicy {
        email_change_confirmation: EmailChangeConfirmation::New,
        ..MailRequestPolicy::default()
    }
}

fn settings() -> MailSettings {
    MailSettings {
        reset_ttl: std::time::Duration::from_secs(1800),
        verification_ttl: std::time::Duration::from_secs(86_400),
        mails_per_address_per_hour: 3,
    }
}

pub(crate) async fn forgot(app: &TestApp, mailbox: &Mailbox, email: &str, limit: i64) -> Answer {
    let request = Event::http_api("POST", "/auth/password/forgot")
        .json(json!({ "email": email }))
        .request();
    Answer::from_response(
        recovery::forgot_password(&app.store, mailbox, limit, request)
            .await
            .unwrap(),
    )
}

async fn reset(app: &TestApp, token: &str, password: &str) -> Answer {
    reset_noting(app, &Mailbox::default(), token, password).await
}

/// A reset whose notice request goes to `mailbox`.
pub(crate) async fn reset_noting(
    app: &TestApp,
    mailbox: &Mailbox,
    token: &str,
    password: &str,
) -> Answer {
    let request = Event::http_api("POST", "/auth/password/reset")
        .json(json!({ "token": token, "new_password": password }))
        .request();
    Answer::from_response(
        recovery::reset_password(&app.store, mailbox, request)
            .await
            .unwrap(),
    )
}

async fn verify(app: &TestApp, token: &str) -> Answer {
    let request = Event::http_api("POST", "/auth/email/verify")
        .json(json!({ "token": token }))
        .request();
    Answer::from_response(
        recovery::verify_email(&app.store, &Mailbox::default(), request)
            .await
            .unwrap(),
    )
}

async fn login_with(app: &TestApp, email: &str, password: &str, policy: LoginPolicy) -> Answer {
    let request = Event::http_api("POST", "/auth/login")
        .json(json!({ "email": email, "password": password }))
        .request();
    Answer::from_response(
        users_core::http::routes::login(&app.store, &app.signing, policy, request)
            .await
            .unwrap(),
    )
}

fn user_id(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

#[tokio::test]
async fn forgot_answers_known_and_unknown_addresses_alike_and_looks_nothing_up() {
    let app = TestApp::new().await;
    app.sign_up("known").await;
    let mailbox = Mailbox::default();
    let known = forgot(&app, &mailbox, "known@example.com", 10).await;
    let unknown = forgot(&app, &mailbox, "unknown@example.com", 10).await;
    assert_eq!(known.status, 202);
    assert_eq!(
        (known.status, &known.body),
        (unknown.status, &unknown.body),
        "the same status and body"
    );
    assert_eq!(known.body["message"], recovery::FORGOT_ANSWER);
    // Both were queued the same way; only send-mail learns which exists.
    assert_eq!(mailbox.requests.lock().unwrap().len(), 2);
    mailbox.deliver(&app).await;
    let sent = mailbox.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "known@example.com");

    let invalid = forgot(&app, &mailbox, "not an address", 10)
        .await
        .problem(422);
    assert_eq!(invalid.error_fields(), ["email"]);
    app.drop().await;
}

#[tokio::test]
async fn forgot_is_throttled_per_source_address_with_retry_after() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    for n in 0..3 {
        let answer = forgot(&app, &mailbox, &format!("x{n}@example.com"), 3).await;
        assert_eq!(answer.status, 202);
    }
    let refused = forgot(&app, &mailbox, "y@example.com", 3)
        .await
        .problem(429);
    assert_eq!(refused.body["type"], "urn:problem:too-many-requests");
    let retry: u64 = refused.header("retry-after").parse().unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    app.drop().await;
}

#[tokio::test]
async fn two_resets_racing_with_one_token_exactly_one_succeeds() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    app.sign_up("racer").await;
    for round in 0..3 {
        forgot(&app, &mailbox, "racer@example.com", 100).await;
        mailbox.deliver(&app).await;
        let token = mailbox.token_for("racer@example.com");
        let (one, two) = (
            format!("{NEW_PASSWORD} {round} one"),
            format!("{NEW_PASSWORD} {round} two"),
        );
        let (first, second) = tokio::join!(reset(&app, &token, &one), reset(&app, &token, &two));
        let mut statuses = [first.status, second.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}");
        let loser = if first.status == 400 { first } else { second };
        assert_eq!(loser.body["type"], "urn:problem:invalid-mail-token");
    }
    app.drop().await;
}

#[tokio::test]
async fn a_reset_ends_every_session_uses_every_reset_token_and_stores_only_digests() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    let user = app.sign_up("forgetful").await;
    for _ in 0..2 {
        forgot(&app, &mailbox, "forgetful@example.com", 100).await;
    }
    mailbox.deliver(&app).await;
    let tokens: Vec<String> = mailbox
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|mail| token_in(&mail.text))
        .collect();
    assert_eq!(tokens.len(), 2);
    let stored = app
        .db
        .collection::<mongodb::bson::Document>("one_time_tokens")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    let digest = stored.get_str("_id").unwrap();
    assert_eq!(digest.len(), 64);
    assert!(!tokens
        .iter()
        .any(|token| token == digest || stored.to_string().contains(token.as_str())));

    let weak = reset(&app, &tokens[0], "forgetful").await.problem(422);
    assert_eq!(weak.error_fields(), ["new_password"]);
    assert_eq!(
        reset_noting(&app, &mailbox, &tokens[0], NEW_PASSWORD)
            .await
            .status,
        200
    );
    // The owner gets a notice, without a link.
    mailbox.deliver(&app).await;
    {
        let sent = mailbox.sent.lock().unwrap();
        let notice = sent.last().unwrap();
        assert_eq!(notice.to, "forgetful@example.com");
        assert_eq!(notice.subject, "Your password was changed");
        assert!(!notice.text.contains("token="));
    }
    for token in &tokens {
        let used = reset(&app, token, NEW_PASSWORD).await.problem(400);
        assert_eq!(used.body["type"], "urn:problem:invalid-mail-token");
    }
    let wrong = reset(&app, "wrongtoken", NEW_PASSWORD).await.problem(400);
    assert_eq!(wrong.body, used_body(&wrong.body));
    assert_eq!(app.refresh(&user.refresh_token).await.status, 401);
    assert_eq!(
        app.login("forgetful@example.com", PASSWORD).await.status,
        401
    );
    assert_eq!(
        app.login("forgetful@example.com", NEW_PASSWORD)
            .await
            .status,
        200
    );
    let outbox = app.outbox_in_order().await;
    let event = outbox
        .iter()
        .find(|entry| entry.get_str("type").ok() == Some("PasswordReset"))
        .expect("a PasswordReset event");
    let detail = event.get_document("detail").unwrap();
    assert_eq!(detail.get_str("user_id").unwrap(), user.user_id);
    assert!(!tokens
        .iter()
        .any(|token| event.to_string().contains(token.as_str())));
    app.drop().await;
}

/// Wrong, expired and used tokens get one and the same problem.
fn used_body(body: &Value) -> Value {
    json!({
        "type": "urn:problem:invalid-mail-token",
        "title": "Bad Request",
        "status": 400,
        "detail": body["detail"],
    })
}

#[tokio::test]
async fn a_password_change_keeps_the_callers_session_and_a_wrong_password_counts() {
    let app = TestApp::new().await;
    let user = app.sign_up("changer").await;
    let other = app.login("changer@example.com", PASSWORD).await;
    let change = |current: &str| {
        Event::http_api("PUT", "/users/{user_id}/password")
            .user_id(&user.user_id)
            .bearer(&user.access_token)
            .json(json!({ "current_password": current, "new_password": NEW_PASSWORD }))
            .request()
    };
    let mailbox = Mailbox::default();
    let call = |request| async {
        Answer::from_response(
            recovery::change_password(&app.store, &app.published, &mailbox, request)
                .await
                .unwrap(),
        )
    };
    let wrong = call(change("not the password")).await.problem(401);
    assert_eq!(wrong.body["type"], "urn:problem:invalid-credentials");
    let counted = app
        .db
        .collection::<mongodb::bson::Document>("login_attempts")
        .find_one(doc! { "_id": "account|changer@example.com" })
        .await
        .unwrap()
        .expect("the failure counts toward the login throttle");
    assert_eq!(counted.get_i64("failures").unwrap(), 1);
    assert!(mailbox.requests.lock().unwrap().is_empty());
    assert_eq!(call(change(PASSWORD)).await.status, 200);
    assert_eq!(
        *mailbox.requests.lock().unwrap(),
        [MailRequest::PasswordChangedNotice {
            user_id: user_id(&user.user_id)
        }]
    );
    // The caller's session stays, the other one ended.
    let profile = app
        .call(
            Function::GetFullProfile,
            Event::http_api("GET", "/users/{user_id}/full_profile")
                .user_id(&user.user_id)
                .bearer(&user.access_token),
        )
        .await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["email_verified"], false);
    let other_refresh = other.body["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(other_refresh).await.status, 401);
    assert_eq!(
        app.login("changer@example.com", NEW_PASSWORD).await.status,
        200
    );
    // Someone else's token is refused before anything is checked.
    let stranger = app.sign_up("stranger").await;
    let forbidden = Event::http_api("PUT", "/users/{user_id}/password")
        .user_id(&user.user_id)
        .bearer(&stranger.access_token)
        .json(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
        .request();
    call(forbidden).await.problem(403);
    app.drop().await;
}

#[tokio::test]
async fn require_verified_email_refuses_an_unverified_login_only_after_the_password() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    let user = app.sign_up("unproven").await;
    let strict = LoginPolicy {
        require_verified_email: true,
        ..LoginPolicy::default()
    };
    let wrong = login_with(&app, "unproven@example.com", "wrong password!", strict)
        .await
        .problem(401);
    assert_eq!(wrong.body["type"], "urn:problem:invalid-credentials");
    let refused = login_with(&app, "unproven@example.com", PASSWORD, strict)
        .await
        .problem(403);
    assert_eq!(refused.body["type"], "urn:problem:email-not-verified");
    assert_eq!(
        login_with(
            &app,
            "unproven@example.com",
            PASSWORD,
            LoginPolicy::default()
        )
        .await
        .status,
        200,
        "the default keeps register-then-login working"
    );

    mailbox
        .request_mail(&MailRequest::EmailVerification {
            user_id: user_id(&user.user_id),
        })
        .await
        .unwrap();
    mailbox.deliver(&app).await;
    let token = mailbox.token_for("unproven@example.com");
    assert_eq!(verify(&app, &token).await.status, 200);
    verify(&app, &token).await.problem(400);
    assert_eq!(
        login_with(&app, "unproven@example.com", PASSWORD, strict)
            .await
            .status,
        200
    );
    let kinds: Vec<String> = app
        .outbox_in_order()
        .await
        .iter()
        .map(|entry| entry.get_str("type").unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"EmailVerified".to_string()), "{kinds:?}");
    app.drop().await;
}

#[tokio::test]
async fn an_email_change_applies_when_its_link_is_followed_and_409_if_taken_by_then() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    let user = app.sign_up("mover").await;
    let change = |new_email: &str, password: &str| {
        Event::http_api("PUT", "/users/{user_id}/email")
            .user_id(&user.user_id)
            .bearer(&user.access_token)
            .json(json!({ "password": password, "new_email": new_email }))
            .request()
    };
    let call = |request| async {
        Answer::from_response(
            recovery::change_email(&app.store, &app.published, &mailbox, &new_only(), request)
                .await
                .unwrap(),
        )
    };
    call(change("mover@new.example", "wrong password!"))
        .await
        .problem(401);
    assert_eq!(
        call(change("mover@new.example", PASSWORD)).await.status,
        202
    );
    mailbox.deliver(&app).await;
    {
        let sent = mailbox.sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].to, "mover@example.com");
        // The current address can cancel, not change, the address.
        assert!(!sent[1].text.contains("/verify-email?token="));
        assert!(sent[1].text.contains("/cancel-email-change?token="));
    }
    let token = mailbox.token_for("mover@new.example");
    // The address is taken meanwhile: 409 when the link is followed.
    assert_eq!(
        app.register("squatter", "mover@new.example").await.status,
        201
    );
    let taken = verify(&app, &token).await.problem(409);
    assert_eq!(taken.body["type"], "urn:problem:email-taken");

    assert_eq!(
        call(change("mover@other.example", PASSWORD)).await.status,
        202
    );
    mailbox.deliver(&app).await;
    let token = mailbox.token_for("mover@other.example");
    assert_eq!(verify(&app, &token).await.status, 200);
    let stored = app
        .users()
        .find_one(doc! { "_id": mongodb::bson::oid::ObjectId::parse_str(&user.user_id).unwrap() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("email").unwrap(), "mover@other.example");
    assert!(stored.get_bool("email_verified").unwrap());
    assert!(stored.get("pending_email").is_none());
    assert_eq!(app.login("mover@other.example", PASSWORD).await.status, 200);
    assert_eq!(app.login("mover@example.com", PASSWORD).await.status, 401);
    app.drop().await;
}

/// `send-mail`'s handler with the SES transport against moto's SES v2; what
/// moto received is read back from its `/moto-api/data.json`.
#[tokio::test]
async fn send_mail_sends_through_moto_ses_v2_and_its_link_resets_the_password() {
    let app = TestApp::new().await;
    let moto = Moto::start();
    moto.python(
        "import boto3, os\nboto3.client('sesv2', endpoint_url=os.environ['ENDPOINT']).create_email_identity(EmailIdentity='no-reply@example.com')",
        &[],
    );
    app.sign_up("sesuser").await;
    let ses = Ses::from_environment(&Vars(&[
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL_SESV2", moto.endpoint.as_str()),
    ]))
    .unwrap();
    let transport = Transport {
        delivery: Delivery::Ses(ses),
        sender: "no-reply@example.com".into(),
        app_base_url: users_core::memory::TEST_APP_BASE_URL.into(),
    };
    let request = mail::request_json(&MailRequest::PasswordReset {
        email: Email::parse("sesuser@example.com").unwrap(),
    })
    .to_string();
    let event = lambda_runtime::LambdaEvent::new(
        sqs_event(&[("m1", &request), ("m2", "{\"purpose\":\"nope\"}")]),
        lambda_runtime::Context::default(),
    );
    let answer = mail::handler(&app.store, &transport, &settings(), event)
        .await
        .unwrap();
    assert!(
        answer.batch_item_failures.is_empty(),
        "a malformed request is dropped, not retried"
    );

    let data: Value = reqwest::get(format!("{}/moto-api/data.json", moto.endpoint))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = data["ses"]["RawMessage"]
        .as_array()
        .expect("moto's SES messages");
    assert_eq!(messages.len(), 1, "{messages:?}");
    let raw = messages[0]["raw_data"].as_str().unwrap();
    assert!(raw.contains("To: sesuser@example.com\r\n"), "{raw}");
    assert!(raw.contains("Subject: Reset your password\r\n"));
    assert!(raw.contains("Content-Type: text/plain") && raw.contains("Content-Type: text/html"));
    let token = token_in(raw);
    assert!(raw.contains(&format!(
        "https://app.example.com/reset-password?token={token}"
    )));
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status, 200);

    // SES refuses an unverified sender: the request is reported for a retry.
    let unverified = Transport {
        delivery: Delivery::Ses(
            Ses::from_environment(&Vars(&[
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_ENDPOINT_URL_SESV2", moto.endpoint.as_str()),
            ]))
            .unwrap(),
        ),
        sender: "someone@elsewhere.example".into(),
        app_base_url: users_core::memory::TEST_APP_BASE_URL.into(),
    };
    let event = lambda_runtime::LambdaEvent::new(
        sqs_event(&[("m3", &request)]),
        lambda_runtime::Context::default(),
    );
    let answer = mail::handler(&app.store, &unverified, &settings(), event)
        .await
        .unwrap();
    assert_eq!(answer.batch_item_failures.len(), 1);
    app.drop().await;
}

#[tokio::test]
async fn resend_verification_queues_a_request_for_the_owner_only() {
    let app = TestApp::new().await;
    let user = app.sign_up("resender").await;
    let stranger = app.sign_up("outsider").await;
    let mailbox = Mailbox::default();
    let resend = |token: Option<&str>| {
        let event =
            Event::http_api("POST", "/users/{user_id}/email/verification").user_id(&user.user_id);
        match token {
            Some(token) => event.bearer(token).request(),
            None => event.request(),
        }
    };
    let call = |request| async {
        Answer::from_response(
            recovery::resend_verification(
                &app.store,
                &app.published,
                &mailbox,
                &MailRequestPolicy::default(),
                request,
            )
            .await
            .unwrap(),
        )
    };
    call(resend(None)).await.problem(401);
    call(resend(Some(&stranger.access_token)))
        .await
        .problem(403);
    assert!(mailbox.requests.lock().unwrap().is_empty());

    assert_eq!(call(resend(Some(&user.access_token))).await.status, 202);
    assert_eq!(
        *mailbox.requests.lock().unwrap(),
        [MailRequest::EmailVerification {
            user_id: user_id(&user.user_id)
        }]
    );
    // send-mail turns it into a link that verifies the address.
    mailbox.deliver(&app).await;
    let token = mailbox.token_for("resender@example.com");
    assert_eq!(verify(&app, &token).await.status, 200);
    app.drop().await;
}
