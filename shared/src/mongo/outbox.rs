//! The transactional outbox: lifecycle events written with the change they
//! describe, and read back in order by the publisher.
//!
//! An entry's `_id` is the event id consumers de-duplicate on: it is fixed when
//! the change commits, so every re-send of an event carries the same id.

use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use super::bson_json::{document_to_json, json_object_to_document};
use super::{oid, timestamp, MongoStore};
use crate::domain::events::Event;
use crate::domain::ports::{Outbox, OutboxEntry, Stored};
use crate::domain::values::EventId;

/// How long a published entry stays for inspection before its TTL index removes it.
pub const PUBLISHED_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// One outbox entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OutboxDocument {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(rename = "type")]
    kind: String,
    occurred_at: DateTime,
    detail: Document,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published_at: Option<DateTime>,
    /// Set with `published_at`; the TTL index removes the entry then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expire_at: Option<DateTime>,
}

impl OutboxDocument {
    fn new(event: &Event) -> Self {
        Self {
            id: ObjectId::new(),
            kind: event.kind().to_string(),
            occurred_at: DateTime::now(),
            // Event details are ids, strings and counts: never an operator name.
            detail: json_object_to_document(event.detail()).unwrap_or_default(),
            published_at: None,
            expire_at: None,
        }
    }
}

impl From<OutboxDocument> for OutboxEntry {
    fn from(document: OutboxDocument) -> Self {
        let detail = match document_to_json(document.detail) {
            serde_json::Value::Object(fields) => fields,
            _ => serde_json::Map::new(),
        };
        Self {
            id: EventId::from_bytes(document.id.bytes()),
            kind: document.kind,
            occurred_at: timestamp(document.occurred_at),
            detail,
        }
    }
}

/// The publisher's order; the index `outbox_unpublished` serves it.
pub(super) fn publish_order() -> Document {
    doc! { "occurred_at": 1, "_id": 1 }
}

/// Unpublished entries: `published_at` absent (a null match also finds missing fields).
pub(super) fn unpublished() -> Document {
    doc! { "published_at": null }
}

impl MongoStore {
    /// Writes `event` in `session`'s transaction when there is one, with
    /// the security activity entry it is, if any.
    pub(super) async fn record_event(
        &self,
        mut session: Option<&mut ClientSession>,
        event: &Event,
    ) -> Result<(), MongoError> {
        let entry = OutboxDocument::new(event);
        in_session!(session, self.outbox.insert_one(&entry))?;
        // The account's security activity, in the same write (issue #24).
        if let Some(activity) = event.activity() {
            Box::pin(self.record_activity(session, &activity)).await?;
        }
        Ok(())
    }
}

impl Outbox for MongoStore {
    /// Oldest first: by `occurred_at`, then `_id`. Not by `_id` alone:
    /// ObjectIds from two processes in the same second sort by their random
    /// middle, not by time.
    async fn unpublished(&self, limit: usize) -> Stored<Vec<OutboxEntry>> {
        self.deployment().await?;
        let mut cursor = self
            .outbox
            .find(unpublished())
            .sort(publish_order())
            .limit(limit as i64)
            .await?;
        let mut entries = Vec::new();
        while cursor.advance().await? {
            entries.push(OutboxEntry::from(cursor.deserialize_current()?));
        }
        Ok(entries)
    }

    async fn count_unpublished(&self) -> Stored<u64> {
        self.deployment().await?;
        Ok(self.outbox.count_documents(unpublished()).await?)
    }

    /// Marks entries as sent; they expire `PUBLISHED_RETENTION` later.
    async fn mark_published(&self, ids: &[EventId]) -> Stored<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<ObjectId> = ids.iter().map(|id| oid(id.bytes())).collect();
        let now = DateTime::now();
        self.outbox
            .update_many(
                doc! { "_id": { "$in": ids }, "published_at": null },
                doc! { "$set": {
                    "published_at": now,
                    "expire_at": now.saturating_add_duration(PUBLISHED_RETENTION),
                } },
            )
            .await?;
        Ok(())
    }
}
