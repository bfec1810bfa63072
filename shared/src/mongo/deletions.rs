//! Deletion with a grace period (issue #24): the user's document carries
//! `deletion_scheduled_for` until restored or purged. The purge is the
//! immediate delete's cascade (`users::delete_steps`) under one more
//! condition: the deletion is still due.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;

use super::{datetime, oid, timestamp, Atomic, MongoStore};
use crate::domain::events::Event;
use crate::domain::ports::{Deletions, LinkTrust, Stored};
use crate::domain::values::{SessionId, Timestamp, UserId};

/// The field on the user's document, and its index (`users_deletion_due`).
pub(super) const SCHEDULED: &str = "deletion_scheduled_for";

impl Deletions for MongoStore {
    async fn schedule_deletion(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        until: Timestamp,
    ) -> Stored<bool> {
        let scheduled = self
            .atomically(Atomic::ScheduleDeletion {
                user_id: oid(user_id.bytes()),
                session_id: oid(session.bytes()),
                now: datetime(now),
                until: datetime(until),
            })
            .await?;
        Ok(scheduled > 0)
    }

    async fn cancel_deletion(&self, user_id: UserId, now: Timestamp) -> Stored<bool> {
        let cancelled = self
            .atomically(Atomic::CancelDeletion {
                user_id: oid(user_id.bytes()),
                now: datetime(now),
            })
            .await?;
        Ok(cancelled > 0)
    }

    async fn due_deletions(&self, now: Timestamp, limit: usize) -> Stored<Vec<UserId>> {
        self.deployment().await?;
        // Served by `users_deletion_due` (sparse: only scheduled users are in it).
        let mut cursor = self
            .users
            .clone_with_type::<Document>()
            .find(doc! { SCHEDULED: { "$lte": datetime(now) } })
            .sort(doc! { SCHEDULED: 1 })
            .projection(doc! { "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await?;
        let mut due = Vec::new();
        while cursor.advance().await? {
            let document = cursor.deserialize_current()?;
            if let Ok(id) = document.get_object_id("_id") {
                due.push(UserId::from_bytes(id.bytes()));
            }
        }
        Ok(due)
    }

    async fn purge_user(&self, user_id: UserId, now: Timestamp, trust: LinkTrust) -> Stored<bool> {
        self.delete_cascade(user_id, None, Some(now), now, trust)
            .await
    }
}

impl MongoStore {
    pub(super) async fn schedule_deletion_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        session_id: ObjectId,
        now: DateTime,
        until: DateTime,
    ) -> Result<u64, MongoError> {
        if !self
            .session_is_open_in(session.as_deref_mut(), user_id, session_id, now)
            .await?
        {
            return Ok(0);
        }
        let marked = in_session!(
            session,
            self.users.update_one(
                doc! { "_id": user_id, SCHEDULED: { "$exists": false } },
                doc! { "$set": { SCHEDULED: until } },
            )
        )?;
        if marked.modified_count == 0 {
            return Ok(0);
        }
        // Every session ends now: the account is unusable until restored
        // (and `insert_session` opens none for it meanwhile).
        in_session!(
            session,
            self.sessions.delete_many(doc! { "user_id": user_id })
        )?;
        let event = Event::UserDeletionScheduled {
            user_id: UserId::from_bytes(user_id.bytes()),
            deletion_scheduled_for: timestamp(until),
        };
        self.record_event(session, &event).await?;
        Ok(1)
    }

    pub(super) async fn cancel_deletion_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        now: DateTime,
    ) -> Result<u64, MongoError> {
        // Only while ahead: once due, the purge may be under way.
        let cancelled = in_session!(
            session,
            self.users.update_one(
                doc! { "_id": user_id, SCHEDULED: { "$gt": now } },
                doc! { "$unset": { SCHEDULED: "" } },
            )
        )?;
        if cancelled.modified_count == 0 {
            return Ok(0);
        }
        let event = Event::UserDeletionCancelled {
            user_id: UserId::from_bytes(user_id.bytes()),
        };
        self.record_event(session, &event).await?;
        Ok(1)
    }
}
