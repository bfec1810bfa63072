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
use serde_json::{Map, Value};

use super::bson_json::json_object_to_document;
use super::{is_duplicate_key, MongoStore};
use crate::domain::ports::{LinkedData, LinkedWrite, StoreError, Stored};
use crate::domain::values::ExternalId;

impl LinkedData for MongoStore {
    /// `data` holds none of `_id`, `version`, `deleted_at` and no `$` field
    /// name: `domain::inbound::LinkedRecord` refuses them.
    async fn upsert_linked(
        &self,
        external_id: &ExternalId,
        data: Map<String, Value>,
        version: i64,
    ) -> Stored<LinkedWrite> {
        let data = json_object_to_document(data)
            .map_err(|_| StoreError::Failed("a linked record has an operator field name".into()))?;
        let mut record = doc! { "_id": external_id.as_str() };
        record.extend(data);
        record.insert("version", version);
        self.replace_if_newer(external_id.as_str(), version, record)
            .await
    }

    async fn delete_linked(&self, external_id: &ExternalId, version: i64) -> Stored<LinkedWrite> {
        let tombstone = doc! {
            "_id": external_id.as_str(), "version": version, "deleted_at": DateTime::now(),
        };
        self.replace_if_newer(external_id.as_str(), version, tombstone)
            .await
    }
}

impl MongoStore {
    async fn replace_if_newer(
        &self,
        external_id: &str,
        version: i64,
        record: Document,
    ) -> Stored<LinkedWrite> {
        self.deployment().await?;
        // A record written some other way, without a version, is older than
        // any: "not at least this version" matches it too. One clause on
        // `version` beside the `_id`, not an `$or`, so that the `_id` index
        // serves the read (SecantusDB planned the `$or` as a collection scan).
        let older = doc! {
            "_id": external_id,
            "version": { "$not": { "$gte": version } },
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
