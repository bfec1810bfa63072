//! Login, and the throttle in front of it.

use super::deletion;
use super::error::DomainError;
use super::mfa::{self, MfaPending};
use super::passwords::{self, Verification};
use super::ports::{Deletions, LoginAttempts, MfaStore, Sessions, Users};
use super::records::ClientInfo;
use super::sessions::{Issuer, TokenPair};
pub use super::throttle::{
    account_key, admit, check_password, login_lock, Admission, ACCOUNT_FAILURES_PER_HOUR,
    FREE_LOGIN_FAILURES, MAX_LOGIN_LOCK,
};
use super::throttle::{release_check, reserve_check};
use super::values::{Email, Password, Timestamp, UserId};
use super::{audit, blocking, blocking_from_now};

#[derive(Debug)]
pub struct Credentials {
    pub email: Email,
    pub password: Password,
    /// The client's address (API Gateway's source IP): the exponential lock
    /// is per account and address, so that one address cannot lock the
    /// owner out of another.
    pub client: String,
    /// The client's `User-Agent`, kept on the session for its owner's
    /// listing; no part of the throttle.
    pub user_agent: Option<Vec<u8>>,
}

/// What a right password gets: tokens, or, for an account with a second
/// factor, the token of the second step (`mfa::verify`).
pub enum LoginOutcome {
    Tokens(TokenPair),
    MfaRequired(MfaPending),
}

/// The throttle keys of a login: the account at one address, and the account.
fn keys(email: &Email, client: &str) -> (String, String) {
    (
        format!("{}|{client}", email.as_str()),
        account_key(email.as_str()),
    )
}

/// What login requires of an account beyond its password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginPolicy {
    /// `REQUIRE_VERIFIED_EMAIL`: refuse accounts whose address is unproven.
    pub require_verified_email: bool,
    /// The person asked, with this password, to call off the account's
    /// scheduled deletion (the sign-in page's button): never implied by
    /// signing in. Without it such an account is refused.
    pub restore_scheduled_deletion: bool,
}

/// `login_with` under the default policy.
pub async fn login<S: Users + Sessions + LoginAttempts + MfaStore + Deletions>(
    store: &S,
    issuer: &Issuer,
    credentials: Credentials,
    now: Timestamp,
) -> Result<LoginOutcome, DomainError> {
    login_with(store, issuer, credentials, LoginPolicy::default(), now).await
}

/// Throttled per e-mail and address, within a budget per e-mail; an unknown
/// e-mail and a wrong password give the same error after the same argon2
/// work, so neither the answer nor its timing tells whether an account exists.
pub async fn login_with<S: Users + Sessions + LoginAttempts + MfaStore + Deletions>(
    store: &S,
    issuer: &Issuer,
    credentials: Credentials,
    policy: LoginPolicy,
    now: Timestamp,
) -> Result<LoginOutcome, DomainError> {
    let Credentials {
        email,
        password,
        client,
        user_agent,
    } = credentials;
    let (pair_key, account_key) = keys(&email, &client);
    // The attempt is counted before the password's verdict is looked at,
    // and from the fifth on admission itself locks the next ones from this
    // address; a success clears that count. A failed check is reserved in
    // the account's hourly budget at the same time (and given back on
    // success), so parallel guesses cannot all pass a read of the budget.
    // The credentials are read first, and the argon2 check starts as soon as
    // they arrive: those two writes run meanwhile instead of before it
    // (issue #19). A locked attempt waits for the check and ignores it.
    let ((stored, verifying), admission, budget) = tokio::try_join!(
        async {
            let stored = store.find_credentials(&email).await?;
            let stored_hash = stored.as_ref().map(|stored| stored.hashed_password.clone());
            let verifying = blocking_from_now(move || {
                let verification = match stored_hash {
                    Some(hash) => passwords::verify_password(password.expose(), &hash),
                    // An unknown e-mail costs the same argon2 work.
                    None => {
                        passwords::verify_dummy(password.expose());
                        Verification::Mismatch
                    }
                };
                (verification, password)
            });
            Ok::<_, DomainError>((stored, verifying))
        },
        admit(store, &pair_key, now),
        reserve_check(store, &account_key, now),
    )?;
    for refusal in [&admission, &budget] {
        if let Admission::Locked { retry_after } = *refusal {
            let release = async {
                if matches!(budget, Admission::Allowed { .. }) {
                    // The verdict is not used: the reservation is given back.
                    release_check(store, &account_key).await?;
                }
                Ok(())
            };
            tokio::try_join!(release, verifying)?;
            audit::login_event("login_locked", email.as_str(), &client);
            return Err(DomainError::TooManyAttempts { retry_after });
        }
    }

    let (verification, password) = verifying.await?;
    let Some(stored) = stored else {
        return failed(&email, &client).await;
    };
    match verification {
        Verification::Mismatch => return failed(&email, &client).await,
        Verification::Match => {}
        Verification::MatchNeedsRehash => {
            // Best effort: the login stands even if the upgrade has to wait for the next one.
            if let Err(error) =
                upgrade_hash(store, stored.user_id, &stored.hashed_password, password).await
            {
                tracing::warn!(user_id = %stored.user_id, %error, "password re-hash failed");
            }
        }
    }

    // The password was right: the check reserved in the budget is given back
    // and this address's run of failures ends, alongside each outcome's own
    // writes (independent writes, so one round trip).
    let succeeded = || async {
        tokio::try_join!(
            async { Ok(store.clear_count(&pair_key).await?) },
            release_check(store, &account_key),
        )?;
        Ok::<_, DomainError>(())
    };
    // Only after the password, as below: nobody else learns of the deletion.
    if let Some(until) = stored.deletion_scheduled_for {
        // With a second factor the password alone proves too little to
        // undo the owner's request: the mailed link restores such an account.
        if !policy.restore_scheduled_deletion || stored.mfa {
            succeeded().await?;
            audit::user_event("login_scheduled_for_deletion", &stored.user_id.to_hex());
            return Err(DomainError::AccountScheduledForDeletion { until });
        }
        // A deletion already due cannot be called off: it is refused as above.
        if let Err(error) = deletion::restore(store, stored.user_id, now).await {
            succeeded().await?;
            return Err(match error {
                DomainError::MailTokenInvalid => DomainError::AccountScheduledForDeletion { until },
                other => other,
            });
        }
    }
    // Only after the password: without it, nobody learns which accounts are unverified.
    if policy.require_verified_email && !stored.email_verified {
        succeeded().await?;
        return Err(DomainError::EmailNotVerified);
    }

    if stored.mfa {
        let ((), pending) =
            tokio::try_join!(succeeded(), mfa::challenge(store, stored.user_id, now))?;
        tracing::info!(user_id = %stored.user_id, "password accepted; second factor required");
        return Ok(LoginOutcome::MfaRequired(pending));
    }
    let device = ClientInfo::new(user_agent.as_deref(), &client);
    let (session, pair) = issuer.open_session_from(stored.user_id, device, now);
    // If either fails the caller gets no tokens; a session written without
    // them can never be used and expires.
    let ((), opened) = tokio::try_join!(succeeded(), async {
        Ok(store.insert_session(&session).await?)
    })?;
    if !opened {
        // Deleted while its password was being checked.
        return Err(DomainError::InvalidCredentials);
    }
    tracing::info!(user_id = %stored.user_id, session_id = %session.id, "logged in");
    Ok(LoginOutcome::Tokens(pair))
}

/// A failed check (already counted in the account's budget by its
/// reservation): audited, refused.
async fn failed<T>(email: &Email, client: &str) -> Result<T, DomainError> {
    audit::login_event("login_failed", email.as_str(), client);
    Err(DomainError::InvalidCredentials)
}

async fn upgrade_hash<S: Users>(
    store: &S,
    user_id: UserId,
    old_hash: &str,
    password: Password,
) -> Result<(), String> {
    let new_hash = blocking(move || passwords::hash_password(password.expose()))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())?;
    store
        .replace_password_hash(user_id, old_hash, &new_hash)
        .await
        .map_err(|error| error.to_string())?;
    tracing::info!(user_id = %user_id, "password hash upgraded to current parameters");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::{register, Registration};
    use crate::domain::ports::AttemptCount;
    use crate::domain::values::Username;
    use crate::memory::{test_issuer, test_verifier, MemoryStore};
    use std::time::Duration;

    const PASSWORD: &str = "correct horse battery staple";

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
    }

    fn credentials(password: &str) -> Credentials {
        from("192.0.2.1", password)
    }

    fn from(client: &str, password: &str) -> Credentials {
        Credentials {
            email: Email::parse_for_login("ada@example.com").unwrap(),
            password: Password::parse_for_login(password.to_string()).unwrap(),
            client: client.into(),
            user_agent: None,
        }
    }

    async fn store_with_ada() -> MemoryStore {
        let store = MemoryStore::default();
        register(
            &store,
            Registration {
                username: Username::parse("ada").unwrap(),
                email: Email::parse("ada@example.com").unwrap(),
                password: Password::parse_for_login(PASSWORD.into()).unwrap(),
            },
            at(0),
        )
        .await
        .unwrap();
        store
    }

    #[test]
    fn lock_doubles_from_one_second_and_caps_at_fifteen_minutes() {
        let locks: Vec<u64> = (5..=16).map(|n| login_lock(n).as_secs()).collect();
        assert_eq!(locks, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(login_lock(1_000).as_secs(), 900);
    }

    #[tokio::test]
    async fn the_fifth_failure_locks_and_the_lock_doubles() {
        let store = MemoryStore::default();
        for n in 1..=4 {
            assert_eq!(
                admit(&store, "k", at(0)).await.unwrap(),
                Admission::Allowed { failures: n }
            );
        }
        // The fifth is admitted, and locks the next for 1 s.
        assert_eq!(
            admit(&store, "k", at(0)).await.unwrap(),
            Admission::Allowed { failures: 5 }
        );
        assert_eq!(
            admit(&store, "k", at(0)).await.unwrap(),
            Admission::Locked {
                retry_after: Duration::from_secs(1)
            }
        );
        // After the lock: the sixth is admitted and locks for 2 s.
        assert_eq!(
            admit(&store, "k", at(1)).await.unwrap(),
            Admission::Allowed { failures: 6 }
        );
        assert_eq!(
            admit(&store, "k", at(2)).await.unwrap(),
            Admission::Locked {
                retry_after: Duration::from_secs(1)
            }
        );
        assert!(matches!(
            admit(&store, "k", at(3)).await.unwrap(),
            Admission::Allowed { failures: 7 }
        ));
        // Other keys are not affected.
        assert_eq!(
            admit(&store, "other", at(3)).await.unwrap(),
            Admission::Allowed { failures: 1 }
        );
    }

    #[tokio::test]
    async fn a_locked_login_is_refused_whatever_the_password_and_success_resets() {
        let store = store_with_ada().await;
        let issuer = test_issuer();
        for _ in 0..5 {
            let refused = login(&store, &issuer, credentials("wrong password!"), at(10)).await;
            assert!(matches!(refused, Err(DomainError::InvalidCredentials)));
        }
        // Locked now: even the right password gets 429, with the time left.
        let locked = login(&store, &issuer, credentials(PASSWORD), at(10)).await;
        assert!(
            matches!(locked, Err(DomainError::TooManyAttempts { retry_after }) if retry_after == Duration::from_secs(1))
        );
        // Once the lock has passed, the right password works and clears the count.
        login(&store, &issuer, credentials(PASSWORD), at(12))
            .await
            .unwrap();
        assert_eq!(store.attempt_count("ada@example.com|192.0.2.1"), None);
        for _ in 0..4 {
            let refused = login(&store, &issuer, credentials("wrong password!"), at(13)).await;
            assert!(matches!(refused, Err(DomainError::InvalidCredentials)));
        }
        assert_eq!(
            store
                .attempt_count("ada@example.com|192.0.2.1")
                .unwrap()
                .failures,
            4
        );
    }

    #[tokio::test]
    async fn an_attacker_address_is_locked_while_the_owner_signs_in_from_another() {
        let store = store_with_ada().await;
        let issuer = test_issuer();
        for _ in 0..6 {
            let _ = login(
                &store,
                &issuer,
                from("203.0.113.66", "wrong password!"),
                at(10),
            )
            .await;
        }
        let attacker = login(&store, &issuer, from("203.0.113.66", PASSWORD), at(10)).await;
        assert!(matches!(attacker, Err(DomainError::TooManyAttempts { .. })));
        login(&store, &issuer, from("198.51.100.7", PASSWORD), at(10))
            .await
            .expect("the owner, from their own address, is not locked out");
    }

    #[tokio::test]
    async fn many_addresses_together_get_at_most_the_hourly_budget() {
        let store = store_with_ada().await;
        let issuer = test_issuer();
        let mut checked = 0;
        for n in 0..150 {
            let guess = login(
                &store,
                &issuer,
                from(&format!("10.0.{}.{}", n / 250, n % 250), "wrong password!"),
                at(10),
            )
            .await;
            if matches!(guess, Err(DomainError::InvalidCredentials)) {
                checked += 1;
            }
        }
        assert_eq!(checked, ACCOUNT_FAILURES_PER_HOUR, "passwords checked");
        let owner = login(&store, &issuer, from("198.51.100.7", PASSWORD), at(20)).await;
        assert!(
            matches!(owner, Err(DomainError::TooManyAttempts { retry_after }) if retry_after <= Duration::from_secs(3600))
        );
        // The window passes.
        login(&store, &issuer, from("198.51.100.7", PASSWORD), at(3611))
            .await
            .unwrap();
    }

    /// Review finding 7: a failed check is reserved before the password is
    /// checked, so 50 guesses in parallel from 50 addresses, against an
    /// account with 10 checks left this hour, get exactly 10 argon2
    /// verifications (each `InvalidCredentials` is one; a refusal is none).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_guesses_from_many_addresses_never_exceed_the_budget() {
        let store = std::sync::Arc::new(store_with_ada().await);
        let spent = AttemptCount {
            failures: ACCOUNT_FAILURES_PER_HOUR - 10,
            locked_until: None,
            forget_at: at(3600),
        };
        assert!(store
            .insert_count("account|ada@example.com", spent)
            .await
            .unwrap());
        let mut guesses = tokio::task::JoinSet::new();
        for n in 0..50 {
            let store = store.clone();
            guesses.spawn(async move {
                let guess = from(&format!("10.1.0.{n}"), "wrong password!");
                login(&*store, &test_issuer(), guess, at(10)).await
            });
        }
        let (mut verified, mut refused) = (0, 0);
        while let Some(answer) = guesses.join_next().await {
            match answer.unwrap() {
                Err(DomainError::InvalidCredentials) => verified += 1,
                Err(DomainError::TooManyAttempts { .. }) => refused += 1,
                _ => panic!("a wrong password is refused"),
            }
        }
        assert_eq!((verified, refused), (10, 40));
        assert_eq!(
            store
                .attempt_count("account|ada@example.com")
                .unwrap()
                .failures,
            ACCOUNT_FAILURES_PER_HOUR
        );
    }

    #[tokio::test]
    async fn an_unknown_email_is_throttled_and_answered_like_a_wrong_password() {
        let store = MemoryStore::default();
        let issuer = test_issuer();
        for _ in 0..5 {
            let refused = login(&store, &issuer, credentials(PASSWORD), at(0)).await;
            assert!(matches!(refused, Err(DomainError::InvalidCredentials)));
        }
        let locked = login(&store, &issuer, credentials(PASSWORD), at(0)).await;
        assert!(matches!(locked, Err(DomainError::TooManyAttempts { .. })));
    }

    #[tokio::test]
    async fn login_opens_a_session_whose_tokens_verify() {
        let store = store_with_ada().await;
        let issuer = test_issuer();
        // Now, not a fixed time: the token's expiry is checked against the clock.
        let now = Timestamp::now();
        let Ok(LoginOutcome::Tokens(pair)) =
            login(&store, &issuer, credentials(PASSWORD), now).await
        else {
            panic!("an account without a second factor gets tokens");
        };
        let caller = test_verifier().verify(&pair.access.token).unwrap();
        assert!(store
            .session_is_open(caller.user_id, caller.session_id, now)
            .await
            .unwrap());
    }
}
