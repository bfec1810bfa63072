use super::*;
use crate::domain::accounts::{register, Registration};
use crate::domain::devices::ClientInfo;
use crate::domain::login::{login, Credentials, LoginOutcome};
use crate::domain::values::{Email, Username};
use crate::memory::{test_issuer, test_verifier, MemoryMail, MemoryStore};

const PASSWORD: &str = "correct horse battery staple";

/// A queue for notices the test does not read.
fn mail() -> MemoryMail {
    MemoryMail::default()
}

fn settings() -> MfaSettings {
    MfaSettings {
        key: SealingKey::from_material("unit-test key material, forty characters").unwrap(),
        issuer: "Test API".into(),
        step_up_max_age: Duration::from_secs(600),
    }
}

fn password(raw: &str) -> Password {
    Password::parse_for_login(raw.into()).unwrap()
}

fn decode_base32(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32"),
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Ada, registered and logged in (password only) at `now`.
async fn ada(store: &MemoryStore, now: Timestamp) -> Caller {
    register(
        store,
        Registration {
            username: Username::parse("ada").unwrap(),
            email: Email::parse("ada@example.com").unwrap(),
            password: password(PASSWORD),
        },
        now,
    )
    .await
    .unwrap();
    let pair = match login(store, &test_issuer(), credentials(PASSWORD), now).await {
        Ok(LoginOutcome::Tokens(pair)) => pair,
        _ => panic!("a password login"),
    };
    test_verifier().verify(&pair.access.token).unwrap()
}

fn credentials(raw: &str) -> Credentials {
    Credentials {
        email: Email::parse_for_login("ada@example.com").unwrap(),
        password: password(raw),
        client: "192.0.2.1".into(),
        user_agent: None,
    }
}

/// Enrols and confirms a factor: its secret and the recovery codes.
async fn enabled(store: &MemoryStore, caller: &Caller, now: Timestamp) -> (Vec<u8>, Vec<String>) {
    let enrolment = enrol(store, &mail(), &settings(), caller, password(PASSWORD), now)
        .await
        .unwrap();
    let secret = decode_base32(&enrolment.secret_base32);
    let code = totp::code(&secret, totp::step_at(now.as_secs()));
    let codes = confirm(store, &mail(), &settings(), caller, code, now)
        .await
        .unwrap();
    (secret, codes)
}

async fn mfa_token(store: &MemoryStore, now: Timestamp) -> String {
    match login(store, &test_issuer(), credentials(PASSWORD), now).await {
        Ok(LoginOutcome::MfaRequired(pending)) => {
            assert_eq!(pending.expires_in, 300);
            pending.mfa_token
        }
        _ => panic!("an account with a factor gets an mfa_token"),
    }
}

#[tokio::test]
async fn enrol_confirm_then_login_needs_a_code_accepted_once() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let enrolment = enrol(
        &store,
        &mail(),
        &settings(),
        &caller,
        password(PASSWORD),
        now,
    )
    .await
    .unwrap();
    assert!(enrolment
        .otpauth_uri
        .starts_with("otpauth://totp/Test%20API:ada%40example.com?"));
    assert!(enrolment.qr_svg.starts_with("<svg"));
    // Pending: login still answers tokens, and a wrong first code is refused.
    assert!(matches!(
        login(&store, &test_issuer(), credentials(PASSWORD), now).await,
        Ok(LoginOutcome::Tokens(_))
    ));
    let wrong = confirm(&store, &mail(), &settings(), &caller, "000000".into(), now).await;
    assert!(matches!(wrong, Err(DomainError::InvalidMfaCode)));
    let secret = decode_base32(&enrolment.secret_base32);
    let step = totp::step_at(now.as_secs());
    let codes = confirm(
        &store,
        &mail(),
        &settings(),
        &caller,
        totp::code(&secret, step),
        now,
    )
    .await
    .unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(store.events_of_kind("MfaEnabled"), 1);

    let token = mfa_token(&store, now).await;
    // The confirming code's step is spent: the next step's code is needed.
    let replayed = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Totp(totp::code(&secret, step)),
        ClientInfo::default(),
        now,
    )
    .await;
    assert!(matches!(replayed, Err(DomainError::InvalidMfaCode)));
    // The next step's code, within the drift window (tokens are checked
    // against the real clock, so the time stays `now`).
    let later = now;
    let next = totp::code(&secret, step + 1);
    let pair = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Totp(next.clone()),
        ClientInfo::default(),
        later,
    )
    .await
    .unwrap();
    let verified = test_verifier().verify(&pair.access.token).unwrap();
    assert!(verified.auth.otp);
    assert_eq!(
        verified.auth.auth_time,
        now.as_secs(),
        "the password check's time"
    );
    // The token is single use, and the code too, even with a new token.
    let again = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Totp(next.clone()),
        ClientInfo::default(),
        later,
    )
    .await;
    assert!(matches!(again, Err(DomainError::InvalidMfaToken)));
    let token = mfa_token(&store, later).await;
    let replay = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Totp(next),
        ClientInfo::default(),
        later,
    )
    .await;
    assert!(matches!(replay, Err(DomainError::InvalidMfaCode)));
}

#[tokio::test]
async fn a_recovery_code_works_once_and_a_new_set_replaces_the_old() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let (secret, codes) = enabled(&store, &caller, now).await;
    let token = mfa_token(&store, now).await;
    let typed = codes[3].to_uppercase().replacen('-', "", 1);
    let code = normalise_recovery_code(&typed).unwrap();
    verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Recovery(code.clone()),
        ClientInfo::default(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(store.events_of_kind("RecoveryCodeUsed"), 1);
    let token = mfa_token(&store, now).await;
    let reused = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Recovery(code),
        ClientInfo::default(),
        now,
    )
    .await;
    assert!(matches!(reused, Err(DomainError::InvalidMfaCode)));

    // Regenerating needs a current code; the old set stops working.
    let later = now.plus(Duration::from_secs(60));
    let fresh = regenerate_recovery_codes(
        &store,
        &mail(),
        &settings(),
        &caller,
        totp::code(&secret, totp::step_at(later.as_secs())),
        later,
    )
    .await
    .unwrap();
    assert_eq!(fresh.len(), 10);
    let old = normalise_recovery_code(&codes[0]).unwrap();
    let refused = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Recovery(old),
        ClientInfo::default(),
        later,
    )
    .await;
    assert!(matches!(refused, Err(DomainError::InvalidMfaCode)));
    let new = normalise_recovery_code(&fresh[0]).unwrap();
    verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Recovery(new),
        ClientInfo::default(),
        later,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_mfa_token_allows_five_codes_and_five_minutes() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let (secret, _) = enabled(&store, &caller, now).await;
    let token = mfa_token(&store, now).await;
    for n in 0..5 {
        let wrong = verify(
            &store,
            &test_issuer(),
            &settings(),
            &token,
            Proof::Totp("123456".into()),
            ClientInfo::default(),
            now.plus(Duration::from_secs(n * 20)),
        )
        .await;
        assert!(
            matches!(
                wrong,
                Err(DomainError::InvalidMfaCode | DomainError::TooManyAttempts { .. })
            ),
            "{:?}",
            wrong.err()
        );
    }
    // Spent: even the right code no longer opens a session with it.
    let later = now.plus(Duration::from_secs(3600));
    let right = totp::code(&secret, totp::step_at(later.as_secs()));
    let spent = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Totp(right.clone()),
        ClientInfo::default(),
        later,
    )
    .await;
    assert!(matches!(spent, Err(DomainError::InvalidMfaToken)));
    // Expired after five minutes.
    let token = mfa_token(&store, later).await;
    let late = later.plus(Duration::from_secs(301));
    let right = totp::code(&secret, totp::step_at(late.as_secs()));
    let expired = verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Totp(right),
        ClientInfo::default(),
        late,
    )
    .await;
    assert!(matches!(expired, Err(DomainError::InvalidMfaToken)));
}

#[tokio::test]
async fn wrong_codes_lock_the_users_code_checks_and_count_against_the_account() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let (secret, _) = enabled(&store, &caller, now).await;
    let mut locked = false;
    for _ in 0..6 {
        let token = mfa_token(&store, now).await;
        match verify(
            &store,
            &test_issuer(),
            &settings(),
            &token,
            Proof::Totp("999999".into()),
            ClientInfo::default(),
            now,
        )
        .await
        {
            Err(DomainError::InvalidMfaCode) => {}
            Err(DomainError::TooManyAttempts { .. }) => locked = true,
            other => panic!("{:?}", other.err()),
        }
    }
    assert!(locked, "the sixth consecutive wrong code is locked out");
    let account = store.attempt_count("account|ada@example.com").unwrap();
    assert_eq!(
        account.failures, 5,
        "each wrong code spent the account's budget"
    );
    // After the lock, the right code works and clears the consecutive count.
    let later = now.plus(Duration::from_secs(5));
    let token = mfa_token(&store, later).await;
    let right = totp::code(&secret, totp::step_at(later.as_secs()) + 1);
    verify(
        &store,
        &test_issuer(),
        &settings(),
        &token,
        Proof::Totp(right),
        ClientInfo::default(),
        later,
    )
    .await
    .unwrap();
    let user_key = format!("mfa|{}", caller.user_id.to_hex());
    assert_eq!(store.attempt_count(&user_key), None);
}

#[tokio::test]
async fn disabling_needs_a_recent_login_the_password_and_a_code() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let (secret, codes) = enabled(&store, &caller, now).await;
    let recovery = || Proof::Recovery(normalise_recovery_code(&codes[0]).unwrap());
    // Eleven minutes after the login: too old.
    let stale = now.plus(Duration::from_secs(660));
    let refused = disable(
        &store,
        &mail(),
        &settings(),
        &caller,
        password(PASSWORD),
        recovery(),
        stale,
    )
    .await;
    assert!(matches!(
        refused,
        Err(DomainError::ReauthenticationRequired)
    ));
    let refused = regenerate_recovery_codes(
        &store,
        &mail(),
        &settings(),
        &caller,
        "123456".into(),
        stale,
    )
    .await;
    assert!(matches!(
        refused,
        Err(DomainError::ReauthenticationRequired)
    ));
    // A token from before the claims existed (auth_time 0) is never recent.
    let legacy = Caller {
        auth: Authentication::default(),
        ..caller.clone()
    };
    let refused = disable(
        &store,
        &mail(),
        &settings(),
        &legacy,
        password(PASSWORD),
        recovery(),
        now,
    )
    .await;
    assert!(matches!(
        refused,
        Err(DomainError::ReauthenticationRequired)
    ));

    let wrong = disable(
        &store,
        &mail(),
        &settings(),
        &caller,
        password("not the password"),
        recovery(),
        now,
    )
    .await;
    assert!(matches!(wrong, Err(DomainError::InvalidCredentials)));
    let step = totp::step_at(now.as_secs());
    let replayed = disable(
        &store,
        &mail(),
        &settings(),
        &caller,
        password(PASSWORD),
        Proof::Totp(totp::code(&secret, step)),
        now,
    )
    .await;
    assert!(
        matches!(replayed, Err(DomainError::InvalidMfaCode)),
        "the confirming code was spent"
    );
    disable(
        &store,
        &mail(),
        &settings(),
        &caller,
        password(PASSWORD),
        recovery(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(store.events_of_kind("MfaDisabled"), 1);
    assert!(matches!(
        login(&store, &test_issuer(), credentials(PASSWORD), now).await,
        Ok(LoginOutcome::Tokens(_))
    ));
    let again = disable(
        &store,
        &mail(),
        &settings(),
        &caller,
        password(PASSWORD),
        recovery(),
        now,
    )
    .await;
    assert!(matches!(again, Err(DomainError::MfaNotEnabled)));
}

#[tokio::test]
async fn enrolment_needs_the_password_and_no_confirmed_factor() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let wrong = enrol(
        &store,
        &mail(),
        &settings(),
        &caller,
        password("guess"),
        now,
    )
    .await;
    assert!(matches!(wrong, Err(DomainError::InvalidCredentials)));
    assert_eq!(
        store
            .attempt_count("account|ada@example.com")
            .unwrap()
            .failures,
        1,
        "a wrong re-authentication counts as a failed login"
    );
    let unconfirmed = confirm(&store, &mail(), &settings(), &caller, "123456".into(), now).await;
    assert!(matches!(unconfirmed, Err(DomainError::MfaNotPending)));
    enabled(&store, &caller, now).await;
    let twice = enrol(
        &store,
        &mail(),
        &settings(),
        &caller,
        password(PASSWORD),
        now,
    )
    .await;
    assert!(matches!(twice, Err(DomainError::MfaAlreadyEnabled)));
}

#[test]
fn recovery_codes_have_120_bits_and_a_readable_shape() {
    let (codes, digests) = new_recovery_codes(UserId::new());
    assert_eq!((codes.len(), digests.len()), (10, 10));
    for code in &codes {
        assert_eq!(code.len(), 29, "{code}");
        assert_eq!(
            normalise_recovery_code(code).unwrap().len(),
            RECOVERY_CODE_CHARS
        );
    }
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);
    assert_eq!(
        normalise_recovery_code("abcd-efgh-ijkl-mnop-qrst-uvw"),
        None
    );
    assert_eq!(
        normalise_recovery_code("abcd-efgh-ijkl-mnop-qrst-uvw1"),
        None
    );
    assert_eq!(
        normalise_recovery_code("abcd efgh ijkl mnop qrst uvw2"),
        None
    );
    assert_eq!(
        normalise_recovery_code("abcd--efgh-ijkl-mnop-qrst-uvw2"),
        None
    );
    assert_eq!(
        normalise_recovery_code("ABCDEFGH-IJKL-mnop-qrst-uvw2").as_deref(),
        Some("abcdefghijklmnopqrstuvw2")
    );
}

/// Review finding 6: every change of the factor needs a recent login and is
/// told to the account's address, with no secret and no code in the notice.
#[tokio::test]
async fn every_factor_change_needs_a_recent_login_and_is_told() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let stale = now.plus(Duration::from_secs(660));
    let queue = MemoryMail::default();
    let late_enrol = enrol(
        &store,
        &queue,
        &settings(),
        &caller,
        password(PASSWORD),
        stale,
    )
    .await;
    assert!(matches!(
        late_enrol,
        Err(DomainError::ReauthenticationRequired)
    ));
    let enrolment = enrol(
        &store,
        &queue,
        &settings(),
        &caller,
        password(PASSWORD),
        now,
    )
    .await
    .unwrap();
    let secret = decode_base32(&enrolment.secret_base32);
    let step = totp::step_at(now.as_secs());
    let late_confirm = confirm(
        &store,
        &queue,
        &settings(),
        &caller,
        totp::code(&secret, step),
        stale,
    )
    .await;
    assert!(matches!(
        late_confirm,
        Err(DomainError::ReauthenticationRequired)
    ));
    let codes = confirm(
        &store,
        &queue,
        &settings(),
        &caller,
        totp::code(&secret, step),
        now,
    )
    .await
    .unwrap();
    let later = now.plus(Duration::from_secs(30));
    regenerate_recovery_codes(
        &store,
        &queue,
        &settings(),
        &caller,
        totp::code(&secret, step + 1),
        later,
    )
    .await
    .unwrap();
    assert!(codes.len() == 10);
    let fresh = regenerate_recovery_codes(
        &store,
        &queue,
        &settings(),
        &caller,
        totp::code(&secret, step + 2),
        now.plus(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let proof = Proof::Recovery(normalise_recovery_code(&fresh[0]).unwrap());
    disable(
        &store,
        &queue,
        &settings(),
        &caller,
        password(PASSWORD),
        proof,
        later,
    )
    .await
    .unwrap();
    let changes: Vec<FactorChange> = queue
        .requests()
        .into_iter()
        .map(|request| match request {
            MailRequest::MfaChangedNotice { user_id, change } => {
                assert_eq!(user_id, caller.user_id);
                change
            }
            other => panic!("only notices: {other:?}"),
        })
        .collect();
    assert_eq!(
        changes,
        [
            FactorChange::Enrolled,
            FactorChange::Enabled,
            FactorChange::RecoveryCodesRegenerated,
            FactorChange::RecoveryCodesRegenerated,
            FactorChange::Disabled,
        ]
    );
}

/// Review finding 6: a password change (as a reset) voids every outstanding
/// `mfa_token`: whoever had the old password cannot finish a login with it.
#[tokio::test]
async fn a_password_change_voids_outstanding_mfa_tokens() {
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let caller = ada(&store, now).await;
    let (secret, _) = enabled(&store, &caller, now).await;
    let pending = mfa_token(&store, now).await;
    crate::domain::recovery::change_password(
        &store,
        &mail(),
        &caller,
        password(PASSWORD),
        "a brand new tolerable passphrase".into(),
        now,
    )
    .await
    .unwrap();
    let code = totp::code(&secret, totp::step_at(now.as_secs()) + 1);
    let late = verify(
        &store,
        &test_issuer(),
        &settings(),
        &pending,
        Proof::Totp(code),
        ClientInfo::new(None, "192.0.2.1"),
        now,
    )
    .await;
    assert!(matches!(late, Err(DomainError::InvalidMfaToken)));
}
