//! The throttles in front of every check of a secret (login's password,
//! re-authentication, second-factor codes, link codes) and the fixed-window
//! counters of the mail limits: counts kept by compare-and-swap on
//! `LoginAttempts`, so that parallel attempts queue on the count.

use std::time::Duration;

use super::error::DomainError;
use super::passwords::{self, Verification};
use super::ports::{AttemptCount, LoginAttempts};
use super::values::{Password, Timestamp};
use super::{audit, blocking_from_now};

/// Consecutive failures allowed before each further one locks the account.
pub const FREE_LOGIN_FAILURES: i64 = 5;
/// The longest lock: 2^(n−5) s grows to this and stays.
pub const MAX_LOGIN_LOCK: Duration = Duration::from_secs(15 * 60);
/// How long a count outlives the last attempt (or the lock, if later).
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Compare-and-swap rounds before contention itself is treated as a lock
/// (the first, a blind insert, included).
const ADMISSION_ROUNDS: usize = 5;
/// Failed checks per account per hour, from all addresses together (ASVS 6.1.1, 6.3.1).
pub const ACCOUNT_FAILURES_PER_HOUR: i64 = 100;
const ACCOUNT_WINDOW: Duration = Duration::from_secs(3600);

/// The account's hourly throttle key (shared with the second factor's checks).
pub fn account_key(email: &str) -> String {
    format!("account|{email}")
}

/// A password check outside login (re-authentication: password or e-mail
/// change, second-factor changes): a failed check is reserved in the
/// account's hourly budget before its verdict is looked at (refused when
/// the budget is spent) and given back when the password is right, so
/// parallel wrong guesses can never exceed the budget.
pub async fn check_password<S: LoginAttempts>(
    store: &S,
    email: &str,
    stored_hash: &str,
    password: Password,
    now: Timestamp,
) -> Result<(), DomainError> {
    let account_key = account_key(email);
    // The check runs while the reservation is written (issue #19); its
    // verdict is looked at only after the reservation stands.
    let stored_hash = stored_hash.to_string();
    let verifying =
        blocking_from_now(move || passwords::verify_password(password.expose(), &stored_hash));
    if let Admission::Locked { retry_after } = reserve_check(store, &account_key, now).await? {
        verifying.await?;
        audit::login_event("password_check_locked", email, "-");
        return Err(DomainError::TooManyAttempts { retry_after });
    }
    let verification = verifying.await?;
    if verification == Verification::Mismatch {
        audit::login_event("password_check_failed", email, "-");
        return Err(DomainError::InvalidCredentials);
    }
    release_check(store, &account_key).await
}

/// Reserves one failed check in the account's hourly budget, before the
/// check: `Locked` when the budget is spent (nothing is counted then). The
/// reservation stands as a failure unless `release_check` gives it back.
pub async fn reserve_check<S: LoginAttempts>(
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

/// Gives back one reservation of `reserve_check` after a right password,
/// in one atomic step. Only that one: the owner's success must not renew an
/// attacker's budget.
pub async fn release_check<S: LoginAttempts>(store: &S, key: &str) -> Result<(), DomainError> {
    Ok(store.release_count(key).await?)
}

/// Counts one event against `key` in a fixed window that starts with its
/// first event. With a `limit`, an event beyond it is not counted and gets
/// the time until the window ends.
pub async fn count_in_window<S: LoginAttempts>(
    store: &S,
    key: &str,
    limit: Option<i64>,
    window: Duration,
    now: Timestamp,
) -> Result<Option<Duration>, DomainError> {
    // Most events find an open window under its limit, or none: one atomic
    // upsert counts them (one round trip where a read and a write were two).
    // A full or passed window falls through to the read below.
    if let Some(limit) = limit {
        if store
            .count_if_under(key, limit, now, now.plus(window))
            .await?
        {
            return Ok(None);
        }
    }
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
