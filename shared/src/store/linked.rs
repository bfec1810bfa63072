//! Versioned writes of the linked collection, from the external system's queue.
//!
//! Messages arrive out of order and more than once, so each write applies only
//! over a lower stored version: `{_id, version: {$lt: v}}` with upsert. When the
//! stored version is the same or higher the filter matches nothing, the upsert
//! tries to insert an `_id` that exists, and the duplicate-key error means "stale
//! or duplicate": nothing to do. A delete leaves a tombstone `{_id, version,
//! deleted_at}` rather than nothing, so an older upsert arriving after it stays
//! stale; tombstones expire after a week (index `linked_tombstones_expire`) and
//! the profile never shows them.

use mongodb::bson::{doc, DateTime, Document};

use super::{is_duplicate_key, StoreError, UserStore};

/// What a versioned write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkedWrite {
    Applied,
    /// The stored version was the same or newer: nothing changed.
    Stale,
}

impl UserStore {
    /// Replaces the record `_id = external_id` with `data` and `version`, if
    /// what is stored is older. `data` must not hold `_id`, `version` or
    /// `deleted_at` (events::ingest refuses them).
    pub async fn upsert_linked(
        &self,
        external_id: &str,
        data: Document,
        version: i64,
    ) -> Result<LinkedWrite, StoreError> {
        let mut record = doc! { "_id": external_id };
        record.extend(data);
        record.insert("version", version);
        self.replace_if_newer(external_id, version, record).await
    }

    /// Replaces the record `_id = external_id` by its tombstone, if what is
    /// stored is older.
    pub async fn delete_linked(
        &self,
        external_id: &str,
        version: i64,
    ) -> Result<LinkedWrite, StoreError> {
        let tombstone =
            doc! { "_id": external_id, "version": version, "deleted_at": DateTime::now() };
        self.replace_if_newer(external_id, version, tombstone).await
    }

    async fn replace_if_newer(
        &self,
        external_id: &str,
        version: i64,
        record: Document,
    ) -> Result<LinkedWrite, StoreError> {
        self.deployment().await?;
        // A record written some other way, without a version, is older than any.
        let older = doc! {
            "_id": external_id,
            "$or": [{ "version": { "$lt": version } }, { "version": { "$exists": false } }],
        };
        // Once more on a duplicate key: the first try may have lost a race with
        // the insert of an older version of a new record, which it now replaces.
        let mut attempts = 2;
        loop {
            attempts -= 1;
            let written = self
                .linked
                .replace_one(older.clone(), record.clone())
                .upsert(true)
                .await;
            match written {
                Ok(_) => return Ok(LinkedWrite::Applied),
                Err(error) if is_duplicate_key(&error) && attempts == 0 => {
                    return Ok(LinkedWrite::Stale)
                }
                Err(error) if is_duplicate_key(&error) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
}
