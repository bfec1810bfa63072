//! Login throttling state, per normalised e-mail whether or not an account
//! has it, so that the limit itself reveals nothing.

use std::time::Duration;

use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;

use super::{is_duplicate_key, StoreError, UserStore};

/// How long the counter outlives the last attempt (or the lock, if later).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

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
    /// Counts an attempt before the password is checked, atomically, so that a
    /// burst of parallel guesses cannot all slip in under the limit; a success
    /// clears the count afterwards.
    pub async fn admit_login_attempt(&self, email: &str) -> Result<Admission, StoreError> {
        self.deployment().await?;
        let now = DateTime::now();
        let counted = self
            .login_attempts
            .find_one_and_update(
                doc! { "_id": email, "locked_until": { "$not": { "$gt": now } } },
                doc! {
                    "$inc": { "failures": 1_i64 },
                    "$max": { "expires_at": now.saturating_add_duration(FORGET_AFTER) },
                },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        match counted {
            Ok(Some(state)) => Ok(Admission::Allowed {
                failures: failures(&state),
            }),
            Ok(None) => Ok(Admission::Allowed { failures: 1 }),
            // The filter missed because of the lock, so the upsert hit the existing _id.
            Err(error) if is_duplicate_key(&error) => {
                let state = self
                    .login_attempts
                    .find_one(doc! { "_id": email })
                    .await?
                    .unwrap_or_default();
                let until = state.get_datetime("locked_until").copied().unwrap_or(now);
                let millis = (until.timestamp_millis() - now.timestamp_millis()).max(0) as u64;
                Ok(Admission::Locked {
                    retry_after: Duration::from_millis(millis),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn lock_logins(&self, email: &str, lock: Duration) -> Result<(), StoreError> {
        let until = DateTime::now().saturating_add_duration(lock);
        self.login_attempts
            .update_one(
                doc! { "_id": email },
                doc! { "$set": {
                    "locked_until": until,
                    "expires_at": until.saturating_add_duration(FORGET_AFTER),
                } },
            )
            .await?;
        Ok(())
    }

    pub async fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        self.login_attempts
            .delete_one(doc! { "_id": email })
            .await?;
        Ok(())
    }
}

fn failures(state: &Document) -> i64 {
    state
        .get_i64("failures")
        .or_else(|_| state.get_i32("failures").map(i64::from))
        .unwrap_or(1)
}
