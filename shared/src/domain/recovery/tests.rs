use std::time::Duration;

use super::*;
use crate::domain::accounts::{register, Registration};
use crate::domain::ports::{Accounts, MailRequest, MailRequests, Sessions};
use crate::domain::values::Email;
use crate::domain::values::Username;
use crate::memory::{test_issuer, MemoryMail, MemoryStore};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new tolerable passphrase";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
}

fn policy() -> MailRequestPolicy {
    MailRequestPolicy::default()
}

/// The change confirmed by the new address alone.
fn new_only() -> MailRequestPolicy {
    MailRequestPolicy {
        email_change_confirmation: EmailChangeConfirmation::New,
        ..MailRequestPolicy::default()
    }
}

fn settings() -> MailSettings {
    MailSettings {
        reset_ttl: Duration::from_secs(1800),
        verification_ttl: Duration::from_secs(86_400),
        mails_per_address_per_hour: 3,
    }
}

async fn ada(store: &MemoryStore) -> Caller {
    let user_id = register(
        store,
        Registration {
            username: Username::parse("ada").unwrap(),
            email: Email::parse("ada@example.com").unwrap(),
            password: Password::parse_for_login(PASSWORD.into()).unwrap(),
        },
        at(0),
    )
    .await
    .unwrap();
    let (session, _) = test_issuer().open_session(user_id, at(0));
    assert!(store.insert_session(&session).await.unwrap());
    Caller {
        user_id,
        session_id: session.id,
        auth: session.auth,
    }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

/// Runs every queued request through `send_requested_mail`.
async fn deliver(store: &MemoryStore, mail: &MemoryMail, now: Timestamp) -> Vec<MailOutcome> {
    let mut outcomes = Vec::new();
    for request in mail.take_requests() {
        outcomes.push(
            send_requested_mail(store, mail, &settings(), &request, now)
                .await
                .unwrap(),
        );
    }
    outcomes
}

#[tokio::test]
async fn forgot_takes_the_same_path_for_known_and_unknown_addresses() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    ada(&store).await;
    for address in ["ada@example.com", "nobody@example.com"] {
        forgot_password(&store, &mail, email(address), "192.0.2.1", 10, at(1))
            .await
            .unwrap();
    }
    assert_eq!(mail.requests().len(), 2);
    assert_eq!(
        deliver(&store, &mail, at(2)).await,
        [MailOutcome::Sent, MailOutcome::NoAccount]
    );
    let sent = mail.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ada@example.com");
    assert!(sent[0]
        .text
        .contains("https://app.example.com/reset-password?token="));
    assert!(sent[0].html.contains("reset-password?token="));
    assert_eq!(store.events_of_kind("PasswordReset"), 0);
}

#[tokio::test]
async fn forgot_is_throttled_per_source_address() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    for _ in 0..3 {
        forgot_password(
            &store,
            &mail,
            email("x@example.com"),
            "203.0.113.9",
            3,
            at(0),
        )
        .await
        .unwrap();
    }
    let refused = forgot_password(
        &store,
        &mail,
        email("y@example.com"),
        "203.0.113.9",
        3,
        at(1),
    )
    .await;
    assert!(
        matches!(refused, Err(DomainError::TooManyRequests { retry_after }) if retry_after.as_secs() == 3599)
    );
    forgot_password(
        &store,
        &mail,
        email("y@example.com"),
        "198.51.100.1",
        3,
        at(1),
    )
    .await
    .expect("another source has its own budget");
    forgot_password(
        &store,
        &mail,
        email("y@example.com"),
        "203.0.113.9",
        3,
        at(3601),
    )
    .await
    .expect("the window passes");
}

#[tokio::test]
async fn at_most_a_few_mails_per_address_and_purpose_per_hour() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    ada(&store).await;
    for _ in 0..5 {
        let request = MailRequest::PasswordReset {
            email: email("ada@example.com"),
        };
        mail.request_mail(&request).await.unwrap();
    }
    let outcomes = deliver(&store, &mail, at(1)).await;
    assert_eq!(
        outcomes,
        [
            MailOutcome::Sent,
            MailOutcome::Sent,
            MailOutcome::Sent,
            MailOutcome::Throttled,
            MailOutcome::Throttled
        ]
    );
}

#[tokio::test]
async fn a_reset_works_once_ends_every_session_and_every_other_reset_token() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    for _ in 0..2 {
        forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(1))
            .await
            .unwrap();
    }
    deliver(&store, &mail, at(2)).await;
    let tokens = mail.tokens();
    assert_eq!(tokens.len(), 2);
    let first = MailToken::parse(tokens[0].clone()).unwrap();
    let weak = reset_password(&store, &mail, &first, "password".into(), at(3)).await;
    assert!(matches!(weak, Err(DomainError::Invalid(errors)) if errors[0].field == "new_password"));
    reset_password(&store, &mail, &first, NEW_PASSWORD.into(), at(3))
        .await
        .expect("a rejected password did not use the token up");
    assert_eq!(store.open_sessions(ada.user_id), 0);
    assert_eq!(store.events_of_kind("PasswordReset"), 1);
    // The owner is told, without a link.
    assert_eq!(deliver(&store, &mail, at(3)).await, [MailOutcome::Sent]);
    let notice = mail.sent().pop().unwrap();
    assert_eq!(
        (notice.to.as_str(), notice.subject.as_str()),
        ("ada@example.com", "Your password was changed")
    );
    assert!(!notice.text.contains("token="));
    for token in &tokens {
        let again = reset_password(
            &store,
            &mail,
            &MailToken::parse(token.clone()).unwrap(),
            NEW_PASSWORD.into(),
            at(4),
        )
        .await;
        assert!(matches!(again, Err(DomainError::MailTokenInvalid)));
    }
}

#[tokio::test]
async fn a_reset_token_expires_after_its_lifetime() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    ada(&store).await;
    forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(0))
        .await
        .unwrap();
    deliver(&store, &mail, at(0)).await;
    let token = MailToken::parse(mail.tokens()[0].clone()).unwrap();
    let late = reset_password(&store, &mail, &token, NEW_PASSWORD.into(), at(1800)).await;
    assert!(matches!(late, Err(DomainError::MailTokenInvalid)));
}

#[tokio::test]
async fn verification_marks_the_address_and_is_not_sent_again_once_verified() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    resend_verification(&store, &mail, &policy(), &ada, at(1))
        .await
        .unwrap();
    deliver(&store, &mail, at(1)).await;
    let token = MailToken::parse(mail.tokens()[0].clone()).unwrap();
    assert!(mail.sent()[0].text.contains("/verify-email?token="));
    // A reset token is no verification token.
    let wrong = reset_password(&store, &mail, &token, NEW_PASSWORD.into(), at(2)).await;
    assert!(matches!(wrong, Err(DomainError::MailTokenInvalid)));
    verify_email(&store, &mail, &token, at(2)).await.unwrap();
    assert!(
        store
            .find_account(ada.user_id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert_eq!(store.events_of_kind("EmailVerified"), 1);
    assert!(matches!(
        verify_email(&store, &mail, &token, at(3)).await,
        Err(DomainError::MailTokenInvalid)
    ));
    resend_verification(&store, &mail, &policy(), &ada, at(4))
        .await
        .unwrap();
    assert_eq!(
        deliver(&store, &mail, at(4)).await,
        [MailOutcome::NothingToDo]
    );
}

#[tokio::test]
async fn a_password_change_keeps_the_callers_session_and_a_wrong_one_counts() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    let (other, _) = test_issuer().open_session(ada.user_id, at(0));
    store.insert_session(&other).await.unwrap();
    let wrong = change_password(
        &store,
        &mail,
        &ada,
        Password::parse_for_login("not the password".into()).unwrap(),
        NEW_PASSWORD.into(),
        at(1),
    )
    .await;
    assert!(matches!(wrong, Err(DomainError::InvalidCredentials)));
    assert_eq!(
        store
            .attempt_count("account|ada@example.com")
            .unwrap()
            .failures,
        1
    );
    assert!(mail.requests().is_empty(), "no notice for a refused change");
    change_password(
        &store,
        &mail,
        &ada,
        Password::parse_for_login(PASSWORD.into()).unwrap(),
        NEW_PASSWORD.into(),
        at(2),
    )
    .await
    .unwrap();
    assert_eq!(store.open_sessions(ada.user_id), 1);
    assert!(store
        .session_is_open(ada.user_id, ada.session_id, at(3))
        .await
        .unwrap());
    assert_eq!(store.events_of_kind("PasswordChanged"), 1);
    assert_eq!(
        mail.requests(),
        [MailRequest::PasswordChangedNotice {
            user_id: ada.user_id
        }]
    );
}

#[tokio::test]
async fn an_email_change_applies_only_when_its_link_is_followed_and_if_still_free() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    let password = || Password::parse_for_login(PASSWORD.into()).unwrap();
    change_email(
        &store,
        &mail,
        &new_only(),
        &ada,
        password(),
        email("ada@new.example"),
        at(1),
    )
    .await
    .unwrap();
    deliver(&store, &mail, at(1)).await;
    let sent = mail.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to, "ada@new.example");
    assert_eq!(sent[1].to, "ada@example.com");
    assert!(
        !sent[1].text.contains("/verify-email?token="),
        "the current address gets no link that changes the address"
    );
    assert!(sent[1].text.contains("/cancel-email-change?token="));
    assert!(!sent[1].text.contains("/confirm-email-change?token="));
    let token = MailToken::parse(mail.tokens()[0].clone()).unwrap();
    // Someone else registers the address meanwhile.
    register(
        &store,
        Registration {
            username: Username::parse("eve").unwrap(),
            email: email("ada@new.example"),
            password: Password::parse_for_login(PASSWORD.into()).unwrap(),
        },
        at(2),
    )
    .await
    .unwrap();
    assert!(matches!(
        verify_email(&store, &mail, &token, at(3)).await,
        Err(DomainError::EmailTaken)
    ));
    change_email(
        &store,
        &mail,
        &new_only(),
        &ada,
        password(),
        email("ada@other.example"),
        at(4),
    )
    .await
    .unwrap();
    deliver(&store, &mail, at(4)).await;
    let token = MailToken::parse(mail.link_token("verify-email").unwrap()).unwrap();
    verify_email(&store, &mail, &token, at(5)).await.unwrap();
    let account = store.find_account(ada.user_id).await.unwrap().unwrap();
    assert_eq!(account.email, "ada@other.example");
    assert!(account.email_verified);
    assert_eq!(account.pending_email, None);
    assert_eq!(store.events_of_kind("EmailChanged"), 1);
}

async fn ada_again(store: &MemoryStore) -> Caller {
    ada(store).await
}

fn token(raw: Option<String>) -> MailToken {
    MailToken::parse(raw.expect("a mailed link")).unwrap()
}

/// An intruder who knows the password asks to move the account to their
/// address; returns the links of both mails (new address, then the
/// current address's cancel link).
async fn intruder_asks_for_a_change(
    store: &MemoryStore,
    mail: &MemoryMail,
    intruder: &Caller,
    policy: &MailRequestPolicy,
    now: Timestamp,
) -> (MailToken, MailToken) {
    let password = Password::parse_for_login(PASSWORD.into()).unwrap();
    change_email(
        store,
        mail,
        policy,
        intruder,
        password,
        email("eve@evil.example"),
        now,
    )
    .await
    .unwrap();
    deliver(store, mail, now).await;
    (
        token(mail.link_token("verify-email")),
        token(mail.link_token("cancel-email-change")),
    )
}

/// Finding 1 (High): each of the owner's remedies voids the change an
/// intruder started, and the intruder's link then finds nothing.
#[tokio::test]
async fn every_remedy_of_the_owner_voids_a_pending_email_change() {
    for remedy in ["reset", "change", "logout_all"] {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        let owner = ada(&store).await;
        let (session, _) = test_issuer().open_session(owner.user_id, at(0));
        store.insert_session(&session).await.unwrap();
        let intruder = Caller {
            user_id: owner.user_id,
            session_id: session.id,
            auth: session.auth,
        };
        let (link, _) =
            intruder_asks_for_a_change(&store, &mail, &intruder, &new_only(), at(1)).await;
        match remedy {
            "reset" => {
                forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(2))
                    .await
                    .unwrap();
                deliver(&store, &mail, at(2)).await;
                let reset = token(mail.link_token("reset-password"));
                reset_password(&store, &mail, &reset, NEW_PASSWORD.into(), at(3))
                    .await
                    .unwrap();
            }
            "change" => {
                let current = Password::parse_for_login(PASSWORD.into()).unwrap();
                change_password(&store, &mail, &owner, current, NEW_PASSWORD.into(), at(3))
                    .await
                    .unwrap();
            }
            _ => {
                crate::domain::sessions::logout_all(&store, &owner, at(3))
                    .await
                    .unwrap();
            }
        }
        let account = store.find_account(owner.user_id).await.unwrap().unwrap();
        assert_eq!(account.pending_email, None, "{remedy}");
        let late = verify_email(&store, &mail, &link, at(4)).await;
        assert!(
            matches!(late, Err(DomainError::MailTokenInvalid)),
            "{remedy}"
        );
        let account = store.find_account(owner.user_id).await.unwrap().unwrap();
        assert_eq!(account.email, "ada@example.com", "{remedy}");
    }
}

#[tokio::test]
async fn under_both_the_change_waits_for_the_current_address_and_its_old_address_is_told() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    let (new_link, _) = intruder_asks_for_a_change(&store, &mail, &ada, &policy(), at(1)).await;
    let confirm = token(mail.link_token("confirm-email-change"));
    assert_eq!(
        verify_email(&store, &mail, &new_link, at(2)).await.unwrap(),
        EmailConfirmed::ChangeWaiting
    );
    let account = store.find_account(ada.user_id).await.unwrap().unwrap();
    assert_eq!(account.email, "ada@example.com", "one side is not enough");
    assert_eq!(
        verify_email(&store, &mail, &confirm, at(3)).await.unwrap(),
        EmailConfirmed::ChangeApplied
    );
    let account = store.find_account(ada.user_id).await.unwrap().unwrap();
    assert_eq!(account.email, "eve@evil.example");
    assert_eq!(
        mail.requests(),
        [MailRequest::EmailChangedNotice {
            user_id: ada.user_id,
            previous: email("ada@example.com"),
        }]
    );
    assert_eq!(deliver(&store, &mail, at(3)).await, [MailOutcome::Sent]);
    let notice = mail.sent().pop().unwrap();
    assert_eq!(notice.to, "ada@example.com");
    assert!(!notice.text.contains("token="));
}

#[tokio::test]
async fn the_owner_cancels_by_the_link_or_with_a_session_and_the_links_die() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    let (new_link, cancel) =
        intruder_asks_for_a_change(&store, &mail, &ada, &new_only(), at(1)).await;
    assert_eq!(
        cancel_email_change_by_link(&store, &cancel, true, at(2))
            .await
            .unwrap(),
        Some(1),
        "and every session ended, as asked"
    );
    assert!(matches!(
        verify_email(&store, &mail, &new_link, at(3)).await,
        Err(DomainError::MailTokenInvalid)
    ));
    assert!(matches!(
        cancel_email_change_by_link(&store, &cancel, false, at(3)).await,
        Err(DomainError::MailTokenInvalid)
    ));

    let store = MemoryStore::default();
    let owner = ada_again(&store).await;
    let (new_link, _) = intruder_asks_for_a_change(&store, &mail, &owner, &new_only(), at(1)).await;
    assert!(cancel_email_change(&store, &owner, at(2)).await.unwrap());
    assert!(!cancel_email_change(&store, &owner, at(2)).await.unwrap());
    assert!(matches!(
        verify_email(&store, &mail, &new_link, at(3)).await,
        Err(DomainError::MailTokenInvalid)
    ));
}

/// Finding 4: a reset link is bound to the address it was sent to.
#[tokio::test]
async fn a_reset_link_dies_when_the_address_moves() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    forgot_password(&store, &mail, email("ada@example.com"), "-", 10, at(1))
        .await
        .unwrap();
    deliver(&store, &mail, at(1)).await;
    let reset = token(mail.link_token("reset-password"));
    let (new_link, _) = intruder_asks_for_a_change(&store, &mail, &ada, &new_only(), at(2)).await;
    verify_email(&store, &mail, &new_link, at(3)).await.unwrap();
    let late = reset_password(&store, &mail, &reset, NEW_PASSWORD.into(), at(4)).await;
    assert!(matches!(late, Err(DomainError::MailTokenInvalid)));
}

/// Finding 5: a budget per account, whatever the addresses.
#[tokio::test]
async fn an_account_asks_for_at_most_its_budget_of_mails_an_hour() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    for n in 0..3 {
        let password = Password::parse_for_login(PASSWORD.into()).unwrap();
        let to = email(&format!("ada{n}@elsewhere.example"));
        change_email(&store, &mail, &policy(), &ada, password, to, at(1))
            .await
            .unwrap();
    }
    let password = Password::parse_for_login(PASSWORD.into()).unwrap();
    let fourth = change_email(
        &store,
        &mail,
        &policy(),
        &ada,
        password,
        email("ada3@elsewhere.example"),
        at(2),
    )
    .await;
    assert!(
        matches!(fourth, Err(DomainError::TooManyRequests { retry_after }) if retry_after.as_secs() == 3599)
    );
    let resend = resend_verification(&store, &mail, &policy(), &ada, at(2)).await;
    assert!(matches!(resend, Err(DomainError::TooManyRequests { .. })));
    assert_eq!(mail.requests().len(), 3, "nothing queued when refused");
    resend_verification(&store, &mail, &policy(), &ada, at(3601))
        .await
        .expect("the next hour");
}

/// Finding 3: an ended session learns nothing of the password.
#[tokio::test]
async fn an_ended_session_gets_the_same_answer_whatever_the_password() {
    let store = MemoryStore::default();
    let mail = MemoryMail::default();
    let ada = ada(&store).await;
    crate::domain::sessions::logout(&store, &ada, at(1))
        .await
        .unwrap();
    for guess in [PASSWORD, "not the password"] {
        let current = Password::parse_for_login(guess.into()).unwrap();
        let answer =
            change_password(&store, &mail, &ada, current, NEW_PASSWORD.into(), at(2)).await;
        assert!(matches!(answer, Err(DomainError::SessionEnded)), "{guess}");
    }
    assert_eq!(store.attempt_count("account|ada@example.com"), None);
}

#[test]
fn tokens_are_256_bits_and_only_their_digest_is_kept() {
    let token = MailToken::generate();
    assert_eq!(token.expose().len(), 43);
    assert_eq!(token.digest().len(), 64);
    assert_ne!(token.digest(), MailToken::generate().digest());
    assert!(MailToken::parse("bad token!".into()).is_err());
    assert!(MailToken::parse(String::new()).is_err());
    assert_eq!(format!("{token:?}"), "MailToken([REDACTED])");
}
