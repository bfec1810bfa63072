//! Login throttling counts, per normalised e-mail whether or not an account
//! has it, so that the limit itself reveals nothing. The schedule is the
//! domain's (`domain::login::admit`); this is its compare-and-swap storage.

use mongodb::bson::{doc, Document};

use super::{datetime, is_duplicate_key, timestamp, MongoStore};
use crate::domain::ports::{AttemptCount, LoginAttempts, Stored};
use crate::domain::values::Timestamp;

fn document(key: &str, count: AttemptCount) -> Document {
    let mut document = doc! {
        "_id": key,
        "failures": count.failures,
        // The TTL index (`login_attempts_expire`) forgets the count then.
        "expires_at": datetime(count.forget_at),
    };
    if let Some(until) = count.locked_until {
        document.insert("locked_until", datetime(until));
    }
    document
}

impl LoginAttempts for MongoStore {
    async fn insert_count(&self, key: &str, count: AttemptCount) -> Stored<bool> {
        self.deployment().await?;
        match self.login_attempts.insert_one(document(key, count)).await {
            Ok(_) => Ok(true),
            Err(error) if is_duplicate_key(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn find_count(&self, key: &str) -> Stored<Option<AttemptCount>> {
        let found = self.login_attempts.find_one(doc! { "_id": key }).await?;
        Ok(found.map(|state| AttemptCount {
            failures: state.get_i64("failures").unwrap_or(0),
            locked_until: state
                .get_datetime("locked_until")
                .ok()
                .copied()
                .map(timestamp),
            forget_at: state
                .get_datetime("expires_at")
                .ok()
                .copied()
                .map_or_else(Timestamp::now, timestamp),
        }))
    }

    async fn replace_count(
        &self,
        key: &str,
        expected_failures: i64,
        count: AttemptCount,
    ) -> Stored<bool> {
        let replaced = self
            .login_attempts
            .replace_one(
                doc! { "_id": key, "failures": expected_failures },
                document(key, count),
            )
            .await?;
        Ok(replaced.modified_count == 1)
    }

    /// One upsert: the filter matches an open window under the limit; when
    /// it matches nothing, the upsert inserts a first count, unless a count
    /// exists (full or passed), whose `_id` then refuses the insert.
    async fn count_if_under(
        &self,
        key: &str,
        limit: i64,
        now: Timestamp,
        window_end: Timestamp,
    ) -> Stored<bool> {
        self.deployment().await?;
        let counted = self
            .login_attempts
            .update_one(
                doc! {
                    "_id": key,
                    "expires_at": { "$gt": datetime(now) },
                    "failures": { "$lt": limit },
                },
                doc! {
                    "$inc": { "failures": 1_i64 },
                    "$setOnInsert": { "expires_at": datetime(window_end) },
                },
            )
            .upsert(true)
            .await;
        match counted {
            Ok(_) => Ok(true),
            Err(error) if is_duplicate_key(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn clear_count(&self, key: &str) -> Stored<()> {
        self.login_attempts.delete_one(doc! { "_id": key }).await?;
        Ok(())
    }

    async fn release_count(&self, key: &str) -> Stored<()> {
        self.login_attempts
            .update_one(
                doc! { "_id": key, "failures": { "$gt": 0_i64 } },
                doc! { "$inc": { "failures": -1_i64 } },
            )
            .await?;
        Ok(())
    }
}
