//! The findings of the hostile review of recovery, second factor and
//! linking (issue #17), each replayed through the handlers against a real
//! MongoDB wire server: the request sequence that succeeded before the fix,
//! and the answer it gets now. Per-address rules are tested here, at the
//! handler level, with API Gateway events whose `sourceIp` differ
//! (`cargo lambda watch` reports every HTTP caller as 127.0.0.1).

use api_tests::{Answer, Event, Function, SignedUp, TestApp, PASSWORD};
use mongodb::bson::{doc, oid::ObjectId, Document};
use serde_json::json;
use users_core::domain::linking::LinkVerification;
use users_core::domain::ports::{FactorChange, MailRequest};
use users_core::domain::recovery::MailRequestPolicy;
use users_core::http::recovery;

use crate::recovery::handlers::{forgot, new_only, reset_noting, Mailbox};

const NEW_PASSWORD: &str = "a brand new tolerable passphrase";
const INTRUDER: &str = "eve@evil.example";

fn oid(id: &str) -> ObjectId {
    ObjectId::parse_str(id).unwrap()
}

async fn user_document(app: &TestApp, user: &SignedUp) -> Document {
    app.users()
        .find_one(doc! { "_id": oid(&user.user_id) })
        .await
        .unwrap()
        .expect("the user exists")
}

async fn count(app: &TestApp, collection: &str, user: &SignedUp) -> u64 {
    app.db
        .collection::<Document>(collection)
        .count_documents(doc! { "user_id": oid(&user.user_id) })
        .await
        .unwrap()
}

async fn change_email(
    app: &TestApp,
    mailbox: &Mailbox,
    policy: &MailRequestPolicy,
    user: &SignedUp,
    token: &str,
    new_email: &str,
) -> Answer {
    let request = Event::http_api("PUT", "/users/{user_id}/email")
        .user_id(&user.user_id)
        .bearer(token)
        .json(json!({ "password": PASSWORD, "new_email": new_email }))
        .request();
    Answer::from_response(
        recovery::change_email(&app.store, &app.published, mailbox, policy, request)
            .await
            .unwrap(),
    )
}

async fn verify(app: &TestApp, mailbox: &Mailbox, token: &str) -> Answer {
    let request = Event::http_api("POST", "/auth/email/verify")
        .json(json!({ "token": token }))
        .request();
    Answer::from_response(
        recovery::verify_email(&app.store, mailbox, request)
            .await
            .unwrap(),
    )
}

async fn cancel_by_link(app: &TestApp, token: &str, end_sessions: bool) -> Answer {
    let request = Event::http_api("POST", "/auth/email/cancel")
        .json(json!({ "token": token, "end_sessions": end_sessions }))
        .request();
    Answer::from_response(
        recovery::cancel_email_change_by_link(&app.store, request)
            .await
            .unwrap(),
    )
}

async fn change_password(app: &TestApp, user: &SignedUp, token: &str, current: &str) -> Answer {
    let request = Event::http_api("PUT", "/users/{user_id}/password")
        .user_id(&user.user_id)
        .bearer(token)
        .json(json!({ "current_password": current, "new_password": NEW_PASSWORD }))
        .request();
    Answer::from_response(
        recovery::change_password(&app.store, &app.published, &Mailbox::default(), request)
            .await
            .unwrap(),
    )
}

/// Finding 1 (High), for each remedy: an intruder who knows the password
/// asks to move the account to their address (under the weaker
/// `EMAIL_CHANGE_CONFIRMATION=new`, where their own link would suffice); the
/// owner resets the password, changes it, or logs out everywhere; the
/// intruder's link is then refused and the account keeps its address.
/// Before the fix: 200, and the account's address was the intruder's.
#[tokio::test]
async fn every_remedy_of_the_owner_voids_the_intruders_email_change() {
    for remedy in ["reset", "change", "logout_all"] {
        let app = TestApp::new().await;
        let mailbox = Mailbox::default();
        let owner = app.sign_up("owner").await;
        let intruder = app.login("owner@example.com", PASSWORD).await;
        let intruder_token = intruder.body["access_token"].as_str().unwrap().to_string();
        let policy = new_only();
        let asked = change_email(&app, &mailbox, &policy, &owner, &intruder_token, INTRUDER);
        assert_eq!(asked.await.status, 202, "{remedy}");
        mailbox.deliver(&app).await;
        let intruders_link = mailbox.link_for(INTRUDER, "verify-email");
        match remedy {
            "reset" => {
                forgot(&app, &mailbox, "owner@example.com", 100).await;
                mailbox.deliver(&app).await;
                let reset = mailbox.link_for("owner@example.com", "reset-password");
                let done = reset_noting(&app, &mailbox, &reset, NEW_PASSWORD).await;
                assert_eq!(done.status, 200, "{}", done.body);
            }
            "change" => {
                let done = change_password(&app, &owner, &owner.access_token, PASSWORD).await;
                assert_eq!(done.status, 200, "{}", done.body);
            }
            _ => {
                let everywhere =
                    Event::http_api("POST", "/auth/logout_all").bearer(&owner.access_token);
                assert_eq!(app.call(Function::LogoutAll, everywhere).await.status, 200);
            }
        }
        let stored = user_document(&app, &owner).await;
        assert!(stored.get("pending_email").is_none(), "{remedy}: {stored}");
        assert_eq!(count(&app, "one_time_tokens", &owner).await, 0, "{remedy}");
        let refused = verify(&app, &mailbox, &intruders_link).await.problem(400);
        assert_eq!(refused.body["type"], "urn:problem:invalid-mail-token");
        let stored = user_document(&app, &owner).await;
        assert_eq!(stored.get_str("email").unwrap(), "owner@example.com");
        app.drop().await;
    }
}

/// Finding 1, the default (`EMAIL_CHANGE_CONFIRMATION=both`): the new
/// address's link alone changes nothing; the current address confirms or
/// cancels; once applied, the old address is told.
#[tokio::test]
async fn under_both_the_current_address_confirms_or_cancels_and_is_told() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    let policy = MailRequestPolicy::default();
    let user = app.sign_up("mover").await;
    let asked = change_email(&app, &mailbox, &policy, &user, &user.access_token, INTRUDER).await;
    assert_eq!(asked.status, 202);
    mailbox.deliver(&app).await;
    let new_link = mailbox.link_for(INTRUDER, "verify-email");
    let confirm = mailbox.link_for("mover@example.com", "confirm-email-change");
    let cancel = mailbox.link_for("mover@example.com", "cancel-email-change");
    let waiting = verify(&app, &mailbox, &new_link).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    assert_eq!(waiting.body["email_change"], "waiting");
    let stored = user_document(&app, &user).await;
    assert_eq!(stored.get_str("email").unwrap(), "mover@example.com");
    // The owner cancels from the mail, and ends every session with it.
    let cancelled = cancel_by_link(&app, &cancel, true).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["sessions_ended"], 1);
    verify(&app, &mailbox, &confirm).await.problem(400);
    assert_eq!(app.refresh(&user.refresh_token).await.status, 401);

    // Asked again, and confirmed by both this time.
    let user = SignedUp {
        access_token: app.login("mover@example.com", PASSWORD).await.body["access_token"]
            .as_str()
            .unwrap()
            .to_string(),
        ..user
    };
    let asked = change_email(&app, &mailbox, &policy, &user, &user.access_token, INTRUDER).await;
    assert_eq!(asked.status, 202);
    mailbox.deliver(&app).await;
    let confirm = mailbox.link_for("mover@example.com", "confirm-email-change");
    let new_link = mailbox.link_for(INTRUDER, "verify-email");
    assert_eq!(
        verify(&app, &mailbox, &confirm).await.body["email_change"],
        "waiting"
    );
    let applied = verify(&app, &mailbox, &new_link).await;
    assert_eq!(applied.body["email_change"], "applied", "{}", applied.body);
    assert_eq!(
        user_document(&app, &user).await.get_str("email").unwrap(),
        INTRUDER
    );
    mailbox.deliver(&app).await;
    let notice = mailbox.sent.lock().unwrap().last().unwrap().clone();
    assert_eq!(notice.to, "mover@example.com");
    assert_eq!(notice.subject, "Your account has a new e-mail address");
    assert!(!notice.text.contains("token="));
    app.drop().await;
}

/// `DELETE /users/{user_id}/email/pending`: the owner's session cancels.
#[tokio::test]
async fn the_owner_cancels_a_pending_change_with_a_session() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    let user = app.sign_up("canceller").await;
    let policy = new_only();
    let asked = change_email(&app, &mailbox, &policy, &user, &user.access_token, INTRUDER).await;
    assert_eq!(asked.status, 202);
    mailbox.deliver(&app).await;
    let new_link = mailbox.link_for(INTRUDER, "verify-email");
    let cancel = |token: &str| {
        let request = Event::http_api("DELETE", "/users/{user_id}/email/pending")
            .user_id(&user.user_id)
            .bearer(token)
            .request();
        async {
            Answer::from_response(
                recovery::cancel_email_change(&app.store, &app.published, request)
                    .await
                    .unwrap(),
            )
        }
    };
    let stranger = app.sign_up("stranger").await;
    cancel(&stranger.access_token).await.problem(403);
    cancel("not a token").await.problem(401);
    let done = cancel(&user.access_token).await;
    assert_eq!(
        (done.status, done.body["cancelled"].clone()),
        (200, json!(true))
    );
    let again = cancel(&user.access_token).await;
    assert_eq!(again.body["cancelled"], false);
    verify(&app, &mailbox, &new_link).await.problem(400);
    app.drop().await;
}

/// Finding 2: four accounts spend the offer's five attempts between them
/// (none is locked itself); the right code from a fifth is refused.
/// Before the fix: 200.
#[tokio::test]
async fn a_link_offer_dies_after_five_wrong_codes_whoever_guesses() {
    let app = TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.links = LinkVerification::Required
    })
    .await;
    crate::linking::handlers::offer(&app, "crm-77", "314-159").await;
    let link = |user: &SignedUp, code: String| {
        let event = Event::http_api("PUT", "/users/{user_id}/link_id")
            .user_id(&user.user_id)
            .bearer(&user.access_token)
            .json(json!({ "external_id": "crm-77", "link_code": code }));
        app.call(Function::LinkExternalId, event)
    };
    for (n, guesses) in [2, 1, 1, 1].into_iter().enumerate() {
        let guesser = app.sign_up(&format!("guesser{n}")).await;
        for guess in 0..guesses {
            let wrong = link(&guesser, format!("000-00{guess}")).await;
            assert_eq!(
                wrong.problem(403).body["type"],
                "urn:problem:link-code-invalid"
            );
        }
    }
    let owner = app.sign_up("rightful").await;
    let refused = link(&owner, "314-159".into()).await.problem(403);
    assert_eq!(refused.body["type"], "urn:problem:link-code-invalid");
    let left = app
        .db
        .collection::<Document>("link_offers")
        .count_documents(doc! { "external_id": "crm-77" })
        .await
        .unwrap();
    assert_eq!(left, 0, "the offer is burned");
    app.drop().await;
}

/// Finding 3: after logout, the same token gets the same answer whatever
/// the current password. Before the fix: `invalid-credentials` for a wrong
/// one, `invalid-token` for the right one.
#[tokio::test]
async fn an_ended_session_learns_nothing_of_the_password() {
    let app = TestApp::new().await;
    let user = app.sign_up("oracle").await;
    let logout = Event::http_api("POST", "/auth/logout").bearer(&user.access_token);
    assert_eq!(app.call(Function::Logout, logout).await.status, 200);
    let mut answers = Vec::new();
    for guess in [PASSWORD, "not the password"] {
        let answer = change_password(&app, &user, &user.access_token, guess).await;
        answers.push((answer.status, answer.body["type"].clone()));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], (401, json!("urn:problem:invalid-token")));
    app.drop().await;
}

/// Finding 4: a reset link asked for the old address dies when the address
/// moves. Before the fix: 200, the password was reset.
#[tokio::test]
async fn a_reset_link_for_the_old_address_dies_when_the_address_moves() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    let user = app.sign_up("mover2").await;
    forgot(&app, &mailbox, "mover2@example.com", 100).await;
    mailbox.deliver(&app).await;
    let old_reset = mailbox.link_for("mover2@example.com", "reset-password");
    let asked = change_email(
        &app,
        &mailbox,
        &new_only(),
        &user,
        &user.access_token,
        "mover2@new.example",
    )
    .await;
    assert_eq!(asked.status, 202);
    mailbox.deliver(&app).await;
    let new_link = mailbox.link_for("mover2@new.example", "verify-email");
    assert_eq!(verify(&app, &mailbox, &new_link).await.status, 200);
    let late = reset_noting(&app, &mailbox, &old_reset, NEW_PASSWORD).await;
    late.problem(400);
    assert_eq!(app.login("mover2@new.example", PASSWORD).await.status, 200);
    app.drop().await;
}

/// Finding 5: e-mail-change and verification requests share a budget per
/// account (3 an hour by default), whatever the target addresses. Before
/// the fix: eight 202 in a row.
#[tokio::test]
async fn an_account_asks_for_at_most_three_mails_an_hour() {
    let app = TestApp::new().await;
    let mailbox = Mailbox::default();
    let policy = MailRequestPolicy::default();
    let user = app.sign_up("mailer").await;
    for n in 0..3 {
        let to = format!("target{n}@example.net");
        let asked = change_email(&app, &mailbox, &policy, &user, &user.access_token, &to).await;
        assert_eq!(asked.status, 202, "{}", asked.body);
    }
    let fourth = change_email(
        &app,
        &mailbox,
        &policy,
        &user,
        &user.access_token,
        "target3@example.net",
    )
    .await
    .problem(429);
    let retry_after: u64 = fourth.header("retry-after").parse().unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    let resend = Event::http_api("POST", "/users/{user_id}/email/verification")
        .user_id(&user.user_id)
        .bearer(&user.access_token)
        .request();
    let resend = Answer::from_response(
        recovery::resend_verification(&app.store, &app.published, &mailbox, &policy, resend)
            .await
            .unwrap(),
    );
    resend.problem(429);
    assert_eq!(mailbox.requests.lock().unwrap().len(), 3, "nothing queued");
    app.drop().await;
}

/// Finding 6: enrolment needs a recent sign-in as disabling did, and every
/// change of the factor is told to the account's address.
#[tokio::test]
async fn factor_changes_need_a_recent_login_and_are_told() {
    let app = TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.step_up_max_age = std::time::Duration::from_secs(60);
    })
    .await;
    let user = app.sign_up("loud").await;
    // Registration asked for its verification mail; only notices from here on.
    app.mail.take_requests();
    let enrol = |token: &str| {
        let event = Event::http_api("POST", "/users/{user_id}/mfa/totp")
            .user_id(&user.user_id)
            .bearer(token)
            .json(json!({ "password": PASSWORD }));
        app.call(Function::EnrolTotp, event)
    };
    let two_minutes_ago = users_core::domain::tokens::unix_now() - 120;
    let stale = crate::mfa::handlers::token_authenticated_at(&app, &user, two_minutes_ago).await;
    let refused = enrol(&stale).await.problem(401);
    assert_eq!(
        refused.body["type"],
        "urn:problem:reauthentication-required"
    );
    assert!(app.mail.requests().is_empty());
    let enrolled = enrol(&user.access_token).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    assert_eq!(
        app.mail.requests(),
        [MailRequest::MfaChangedNotice {
            user_id: users_core::domain::values::UserId::parse(&user.user_id).unwrap(),
            change: FactorChange::Enrolled,
        }]
    );
    app.drop().await;
}

/// Finding 7: 50 wrong passwords in parallel from 50 addresses against an
/// account with 10 failed checks left this hour: exactly 10 are checked
/// (each `invalid-credentials` is one argon2 verification; a `429` is
/// none), and the count stops at the budget. Before the fix: every guess
/// read the budget before any was counted, and all 50 were checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_guesses_never_exceed_the_hourly_budget() {
    use users_core::domain::login::ACCOUNT_FAILURES_PER_HOUR;
    let app = std::sync::Arc::new(TestApp::new().await);
    app.sign_up("target").await;
    let forget_at = mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now().timestamp_millis() + 3_600_000,
    );
    app.db
        .collection::<Document>("login_attempts")
        .replace_one(
            doc! { "_id": "account|target@example.com" },
            doc! {
                "_id": "account|target@example.com",
                "failures": ACCOUNT_FAILURES_PER_HOUR - 10,
                "expires_at": forget_at,
            },
        )
        .upsert(true)
        .await
        .unwrap();
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..50 {
        let app = app.clone();
        guesses.spawn(async move {
            let body = json!({ "email": "target@example.com", "password": "wrong guess!" });
            let event = Event::http_api("POST", "/auth/login")
                .source_ip(&format!("198.51.100.{n}"))
                .json(body);
            app.call(Function::Login, event).await
        });
    }
    let (mut checked, mut refused) = (0, 0);
    while let Some(answer) = guesses.join_next().await {
        let answer = answer.unwrap();
        match (answer.status, answer.body["type"].as_str()) {
            (401, Some("urn:problem:invalid-credentials")) => checked += 1,
            (429, _) => refused += 1,
            other => panic!("unexpected answer {other:?}: {}", answer.body),
        }
    }
    eprintln!("50 parallel guesses: {checked} checked, {refused} refused");
    assert_eq!(checked + refused, 50);
    assert!(checked <= 10, "{checked} passwords checked past the budget");
    let stored = app
        .db
        .collection::<Document>("login_attempts")
        .find_one(doc! { "_id": "account|target@example.com" })
        .await
        .unwrap()
        .unwrap();
    assert!(stored.get_i64("failures").unwrap() <= ACCOUNT_FAILURES_PER_HOUR);
    assert!(checked >= 1, "the budget's last checks were made");
}
