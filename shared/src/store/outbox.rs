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

use super::{StoreError, UserStore};

/// How long a published entry stays for inspection before its TTL index removes it.
pub const PUBLISHED_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// The lifecycle events. Their details carry ids and timestamps only: never a
/// password, hash, token, e-mail or username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    UserRegistered {
        user_id: ObjectId,
    },
    /// Only when the id changed: re-linking the same id is no event.
    ExternalIdLinked {
        user_id: ObjectId,
        external_id: String,
        previous_external_id: Option<String>,
    },
    /// Carries the external id so that downstream systems can erase too.
    UserDeleted {
        user_id: ObjectId,
        external_id: Option<String>,
    },
    /// Sessions ended by `logout_all` or by refresh-token reuse (not by a plain
    /// logout), so that downstream caches of the user's sessions can drop them.
    SessionsRevoked {
        user_id: ObjectId,
        reason: super::RevocationReason,
        sessions_ended: u64,
    },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::ExternalIdLinked { .. } => "ExternalIdLinked",
            Self::UserDeleted { .. } => "UserDeleted",
            Self::SessionsRevoked { .. } => "SessionsRevoked",
        }
    }

    fn detail(&self) -> Document {
        match self {
            Self::UserRegistered { user_id } => doc! { "user_id": user_id.to_hex() },
            Self::ExternalIdLinked {
                user_id,
                external_id,
                previous_external_id,
            } => doc! {
                "user_id": user_id.to_hex(),
                "external_id": external_id,
                "previous_external_id": previous_external_id,
            },
            Self::UserDeleted {
                user_id,
                external_id,
            } => doc! { "user_id": user_id.to_hex(), "external_id": external_id },
            Self::SessionsRevoked {
                user_id,
                reason,
                sessions_ended,
            } => doc! {
                "user_id": user_id.to_hex(),
                "reason": reason.as_str(),
                "sessions_ended": *sessions_ended as i64,
            },
        }
    }
}

/// One outbox entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime,
    pub detail: Document,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime>,
    /// Set with `published_at`; the TTL index removes the entry then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<DateTime>,
}

impl OutboxEntry {
    pub fn new(event: &Event) -> Self {
        Self {
            id: ObjectId::new(),
            kind: event.kind().to_string(),
            occurred_at: DateTime::now(),
            detail: event.detail(),
            published_at: None,
            expire_at: None,
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

impl UserStore {
    /// Writes `event` in `session`'s transaction when there is one.
    pub(super) async fn record_event(
        &self,
        mut session: Option<&mut ClientSession>,
        event: &Event,
    ) -> Result<(), MongoError> {
        let entry = OutboxEntry::new(event);
        in_session!(session, self.outbox.insert_one(&entry))?;
        Ok(())
    }

    /// Up to `limit` unpublished entries, oldest first: by `occurred_at`, then
    /// `_id`. Not by `_id` alone: ObjectIds from two processes in the same
    /// second sort by their random middle, not by time.
    pub async fn unpublished_events(&self, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        self.deployment().await?;
        let mut cursor = self
            .outbox
            .find(unpublished())
            .sort(publish_order())
            .limit(limit)
            .await?;
        let mut entries = Vec::new();
        while cursor.advance().await? {
            entries.push(cursor.deserialize_current()?);
        }
        Ok(entries)
    }

    pub async fn count_unpublished_events(&self) -> Result<u64, StoreError> {
        self.deployment().await?;
        Ok(self.outbox.count_documents(unpublished()).await?)
    }

    /// Marks entries as sent; they expire `PUBLISHED_RETENTION` later.
    pub async fn mark_events_published(&self, ids: &[ObjectId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
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
