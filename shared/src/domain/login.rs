//! Login, and the throttle in front of it.

use std::time::Duration;

use super::devices::ClientInfo;
use super::error::DomainError;
use super::mfa::{self, MfaPending};
use super::passwords::{self, Verification};
use super::ports::{AttemptCount, LoginAttempts, MfaStore, Sessions, Users};
use super::sessions::{Issuer, TokenPair};
use super::values::{Email, Password, Timestamp, UserId};
use super::{audit, blocking};

/// Consecutive failures allowed before each further one locks the account.
pub const FREE_LOGIN_FAILURES: i64 = 5;
/// The longest lock: 2^(n−5) s grows to this and stays.
pub const MAX_LOGIN_LOCK: Duration = Duration::from_secs(15 * 60);
/// How long a count outlives the last attempt (or the lock, if later).
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Compare-and-swap rounds before contention itself is treated as a lock
/// (the first, a blind insert, included).
const ADMISSION_ROUNDS: usize = 5;
/// Failed checks per account per hour, from all addresses together (ASVS 6.3).
pub const ACCOUNT_FAILURES_PER_HOUR: i64 = 100;
const ACCOUNT_WINDOW: Duration = Duration::from_secs(3600);

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

/// The account's hourly throttle key (shared with the second factor's checks).
pub(super) fn account_key(email: &str) -> String {
    format!("account|{email}")
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
}

/// `login_with` under the default policy.
pub async fn login<S: Users + Sessions + LoginAttempts + MfaStore>(
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
pub async fn login_with<S: Users + Sessions + LoginAttempts + MfaStore>(
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
    // The attempt is counted before the password is checked, and from the
    // fifth on admission itself locks the next ones from this address; a
    // success clears that count. A failed check is reserved in the
    // account's hourly budget at the same time (and given back on success),
    // so parallel guesses cannot all pass a read of the budget; the
    // credentials are read alongside: a locked attempt ignores them.
    let (admission, budget, stored) = tokio::try_join!(
        admit(store, &pair_key, now),
        reserve_check(store, &account_key, now),
        async { Ok(store.find_credentials(&email).await?) },
    )?;
    for refusal in [&admission, &budget] {
        if let Admission::Locked { retry_after } = *refusal {
            if matches!(budget, Admission::Allowed { .. }) {
                // No password is checked: the reservation is given back.
                release_check(store, &account_key, now).await?;
            }
            audit::login_event("login_locked", email.as_str(), &client);
            return Err(DomainError::TooManyAttempts { retry_after });
        }
    }

    let Some(stored) = stored else {
        blocking(move || passwords::verify_dummy(password.expose())).await?;
        return failed(&email, &client).await;
    };
    let stored_hash = stored.hashed_password.clone();
    let (verification, password) = blocking(move || {
        let verification = passwords::verify_password(password.expose(), &stored_hash);
        (verification, password)
    })
    .await?;
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

    // The password was right: the check reserved in the budget is given back.
    release_check(store, &account_key, now).await?;
    // Only after the password: without it, nobody learns which accounts are unverified.
    if policy.require_verified_email && !stored.email_verified {
        store.clear_count(&pair_key).await?;
        return Err(DomainError::EmailNotVerified);
    }

    if stored.mfa {
        let ((), pending) = tokio::try_join!(
            async { Ok(store.clear_count(&pair_key).await?) },
            mfa::challenge(store, stored.user_id, now),
        )?;
        tracing::info!(user_id = %stored.user_id, "password accepted; second factor required");
        return Ok(LoginOutcome::MfaRequired(pending));
    }
    let device = ClientInfo::new(user_agent.as_deref(), &client);
    let (session, pair) = issuer.open_session_from(stored.user_id, device, now);
    // Independent writes, so one round trip. If either fails the caller gets no
    // tokens; a session written without them can never be used and expires.
    let ((), opened) =
        tokio::try_join!(store.clear_count(&pair_key), store.insert_session(&session))?;
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

/// A password check outside login (re-authentication: password or e-mail
/// change, second-factor changes): a failed check is reserved in the
/// account's hourly budget first (refused when it is spent) and given back
/// when the password is right, so parallel wrong guesses can never exceed
/// the budget.
pub async fn check_password<S: LoginAttempts>(
    store: &S,
    email: &str,
    stored_hash: &str,
    password: Password,
    now: Timestamp,
) -> Result<(), DomainError> {
    let account_key = account_key(email);
    if let Admission::Locked { retry_after } = reserve_check(store, &account_key, now).await? {
        audit::login_event("password_check_locked", email, "-");
        return Err(DomainError::TooManyAttempts { retry_after });
    }
    let stored_hash = stored_hash.to_string();
    let verification =
        blocking(move || passwords::verify_password(password.expose(), &stored_hash)).await?;
    if verification == Verification::Mismatch {
        audit::login_event("password_check_failed", email, "-");
        return Err(DomainError::InvalidCredentials);
    }
    release_check(store, &account_key, now).await
}

/// Reserves one failed check in the account's hourly budget, before the
/// check: `Locked` when the budget is spent (nothing is counted then). The
/// reservation stands as a failure unless `release_check` gives it back.
pub(super) async fn reserve_check<S: LoginAttempts>(
    store: &S,
    key: &str,
    now: Timestamp,
) -> Result<Admission, DomainError> {
    let limit = Some(ACCOUNT_FAILURES_PER_HOUR);
    Ok(
        match count_in_window(store, key, limit, ACCOUNT_WINDOW, now).await? {
            Some(retry_after) => Admission::Locked { retry_after },
            None => Admission::Allowed { failures: 0 },
        },
    )
}

/// Gives back one reservation of `reserve_check` after a right password.
/// Only that one: the owner's success must not renew an attacker's budget.
/// Best effort under contention (the count then errs towards the budget).
pub(super) async fn release_check<S: LoginAttempts>(
    store: &S,
    key: &str,
    now: Timestamp,
) -> Result<(), DomainError> {
    for _ in 0..ADMISSION_ROUNDS {
        let Some(count) = store.find_count(key).await? else {
            return Ok(());
        };
        if count.failures <= 0 || count.forget_at <= now {
            return Ok(());
        }
        let released = AttemptCount {
            failures: count.failures - 1,
            ..count
        };
        if store.replace_count(key, count.failures, released).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Counts one event against `key` in a fixed window that starts with its
/// first event. With a `limit`, an event beyond it is not counted and gets
/// the time until the window ends.
pub(super) async fn count_in_window<S: LoginAttempts>(
    store: &S,
    key: &str,
    limit: Option<i64>,
    window: Duration,
    now: Timestamp,
) -> Result<Option<Duration>, DomainError> {
    for _ in 0..ADMISSION_ROUNDS {
        let won = match store.find_count(key).await? {
            Some(count) if count.forget_at > now => {
                if limit.is_some_and(|limit| count.failures >= limit) {
                    return Ok(Some(now.until(count.forget_at)));
                }
                let next = AttemptCount {
                    failures: count.failures + 1,
                    ..count
                };
                store.replace_count(key, count.failures, next).await?
            }
            expired => {
                let first = AttemptCount {
                    failures: 1,
                    locked_until: None,
                    forget_at: now.plus(window),
                };
                match expired {
                    // A window that has passed starts again.
                    Some(old) => store.replace_count(key, old.failures, first).await?,
                    None => store.insert_count(key, first).await?,
                }
            }
        };
        if won {
            return Ok(None);
        }
    }
    // Lost every round to concurrent writers: a budget refuses this one
    // event (retry shortly) rather than let it pass uncounted.
    Ok(limit.map(|_| Duration::from_secs(1)))
}

/// 2^(n−5) seconds after the n-th consecutive failure, capped.
pub fn login_lock(failures: i64) -> Duration {
    let exponent = (failures - FREE_LOGIN_FAILURES).clamp(0, 20) as u32;
    Duration::from_secs(2_u64.pow(exponent)).min(MAX_LOGIN_LOCK)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// The attempt may proceed; `failures` counts it, as if it will fail.
    Allowed {
        failures: i64,
    },
    Locked {
        retry_after: Duration,
    },
}

/// Counts an attempt on `key` before its password is checked and, from the
/// `FREE_LOGIN_FAILURES`-th on, locks further ones for `login_lock(failures)`,
/// in one compare-and-swap on the count. Parallel attempts therefore queue on
/// the count: a burst of guesses cannot all slip in before the first lock lands.
pub async fn admit<S: LoginAttempts>(
    store: &S,
    key: &str,
    now: Timestamp,
) -> Result<Admission, DomainError> {
    for round in 0..ADMISSION_ROUNDS {
        // Most logins find no count, since a success clears it: the first
        // round assumes so and inserts straight away, one round trip instead
        // of two; a count that exists makes the insert fail, and the next
        // round reads it.
        let current = if round == 0 {
            None
        } else {
            store.find_count(key).await?
        };
        if let Some(until) = current
            .and_then(|count| count.locked_until)
            .filter(|until| *until > now)
        {
            return Ok(Admission::Locked {
                retry_after: now.until(until),
            });
        }
        let failures = current.map_or(0, |count| count.failures);
        let counted = failures + 1;
        let locked_until = (counted >= FREE_LOGIN_FAILURES).then(|| now.plus(login_lock(counted)));
        let next = AttemptCount {
            failures: counted,
            locked_until,
            forget_at: locked_until.unwrap_or(now).plus(FORGET_AFTER),
        };
        let won = match current {
            Some(_) => store.replace_count(key, failures, next).await?,
            None => store.insert_count(key, next).await?,
        };
        if won {
            return Ok(Admission::Allowed { failures: counted });
        }
    }
    // Lost every round to parallel attempts on this key: that is a burst.
    Ok(Admission::Locked {
        retry_after: Duration::from_secs(1),
    })
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
    use crate::domain::values::Username;
    use crate::memory::{test_issuer, test_verifier, MemoryStore};

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
    async fn a_locked_login_is_refused_before_the_password_is_checked_and_success_resets() {
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
