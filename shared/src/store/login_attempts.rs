//! Login throttling state, per normalised e-mail whether or not an account
//! has it, so that the limit itself reveals nothing.

use std::time::Duration;

use mongodb::bson::{doc, DateTime, Document};

use super::{is_duplicate_key, StoreError, UserStore};

/// How long the counter outlives the last attempt (or the lock, if later).
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Compare-and-swap rounds before contention itself is treated as a lock
/// (the first, a blind insert, included).
const ADMISSION_ROUNDS: usize = 5;

pub enum Admission {
    /// The attempt may proceed; `failures` counts it, as if it will fail.
    Allowed {
        failures: i64,
    },
    Locked {
        retry_after: Duration,
    },
}

impl UserStore {
    /// Counts an attempt before the password is checked and, from the
    /// `locks_from`-th on, locks further ones for `lock(failures)`, in one
    /// compare-and-swap on the count. Parallel attempts therefore queue on the
    /// count: a burst of guesses cannot all slip in before the first lock lands.
    /// A success clears the count afterwards.
    pub async fn admit_login_attempt(
        &self,
        email: &str,
        locks_from: i64,
        lock: impl Fn(i64) -> Duration,
    ) -> Result<Admission, StoreError> {
        self.deployment().await?;
        for round in 0..ADMISSION_ROUNDS {
            let now = DateTime::now();
            // Most logins find no count, since a success clears it: the first
            // round assumes so and inserts straight away, one round trip
            // instead of two; a count that exists makes the insert fail, and the
            // next round reads it.
            let state = if round == 0 {
                None
            } else {
                self.login_attempts.find_one(doc! { "_id": email }).await?
            };
            let (failures, locked_until) = match &state {
                Some(state) => (
                    state.get_i64("failures").unwrap_or(0),
                    state.get_datetime("locked_until").ok().copied(),
                ),
                None => (0, None),
            };
            if let Some(until) = locked_until.filter(|until| *until > now) {
                return Ok(Admission::Locked {
                    retry_after: until_then(now, until),
                });
            }
            let counted = failures + 1;
            let new_lock =
                (counted >= locks_from).then(|| now.saturating_add_duration(lock(counted)));
            let forget_at = new_lock
                .unwrap_or(now)
                .saturating_add_duration(FORGET_AFTER);
            let mut next = doc! { "failures": counted, "expires_at": forget_at };
            if let Some(until) = new_lock {
                next.insert("locked_until", until);
            }
            let won = if state.is_some() {
                self.login_attempts
                    .update_one(
                        doc! { "_id": email, "failures": failures },
                        doc! { "$set": next },
                    )
                    .await?
                    .modified_count
                    == 1
            } else {
                let mut first: Document = doc! { "_id": email };
                first.extend(next);
                match self.login_attempts.insert_one(first).await {
                    Ok(_) => true,
                    Err(error) if is_duplicate_key(&error) => false,
                    Err(error) => return Err(error.into()),
                }
            };
            if won {
                return Ok(Admission::Allowed { failures: counted });
            }
        }
        // Lost every round to parallel attempts on this e-mail: that is a burst.
        Ok(Admission::Locked {
            retry_after: Duration::from_secs(1),
        })
    }

    pub async fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        self.login_attempts
            .delete_one(doc! { "_id": email })
            .await?;
        Ok(())
    }
}

fn until_then(now: DateTime, until: DateTime) -> Duration {
    Duration::from_millis((until.timestamp_millis() - now.timestamp_millis()).max(0) as u64)
}
