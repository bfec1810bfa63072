//! Sessions: one per login, found by the digest of its current refresh token.

use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use super::{Atomic, Event, RevocationReason, StoreError, UserStore};

/// How many superseded refresh-token digests a session remembers, so that
/// replaying any recent one is recognised as theft rather than as unknown.
const RETIRED_DIGESTS_KEPT: i32 = 32;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub user_id: ObjectId,
    /// Per-session randomness from which each generation's tokens are derived.
    pub nonce: String,
    pub generation: i64,
    pub refresh_digest: String,
    #[serde(default)]
    pub retired_digests: Vec<String>,
    pub rotated_at: DateTime,
    pub expires_at: DateTime,
}

impl SessionRecord {
    pub fn new(
        user_id: ObjectId,
        nonce: String,
        refresh_digest: String,
        lifetime: Duration,
    ) -> Self {
        let now = DateTime::now();
        Self {
            id: ObjectId::new(),
            user_id,
            nonce,
            generation: 0,
            refresh_digest,
            retired_digests: Vec::new(),
            rotated_at: now,
            expires_at: now.saturating_add_duration(lifetime),
        }
    }
}

impl UserStore {
    pub async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.deployment().await?;
        self.sessions.insert_one(session).await?;
        Ok(())
    }

    /// The open session whose current or a recently retired refresh token has `digest`.
    pub async fn find_session_by_refresh_digest(
        &self,
        digest: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.deployment().await?;
        Ok(self
            .sessions
            .find_one(doc! {
                "$or": [{ "refresh_digest": digest }, { "retired_digests": digest }],
                "expires_at": { "$gt": DateTime::now() },
            })
            .await?)
    }

    pub async fn find_session(&self, id: ObjectId) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .sessions
            .find_one(doc! { "_id": id, "expires_at": { "$gt": DateTime::now() } })
            .await?)
    }

    /// Moves the session to its next generation, only if `from_digest` is still
    /// current: of two concurrent rotations exactly one wins. The session's
    /// lifetime restarts from now.
    pub async fn rotate_session(
        &self,
        session: &SessionRecord,
        from_digest: &str,
        to_digest: &str,
        lifetime: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let now = DateTime::now();
        let updated = self
            .sessions
            .find_one_and_update(
                doc! { "_id": session.id, "refresh_digest": from_digest },
                doc! {
                    "$set": {
                        "refresh_digest": to_digest,
                        "generation": session.generation + 1,
                        "rotated_at": now,
                        "expires_at": now.saturating_add_duration(lifetime),
                    },
                    "$push": { "retired_digests": { "$each": [from_digest], "$slice": -RETIRED_DIGESTS_KEPT } },
                },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        Ok(updated)
    }

    /// Ends one session of the user; false when it was not open.
    pub async fn end_session(
        &self,
        user_id: ObjectId,
        session_id: ObjectId,
    ) -> Result<bool, StoreError> {
        self.deployment().await?;
        let deleted = self
            .sessions
            .delete_one(doc! { "_id": session_id, "user_id": user_id, "expires_at": { "$gt": DateTime::now() } })
            .await?;
        Ok(deleted.deleted_count == 1)
    }

    /// Ends every session of the user, or only `only`, with a
    /// `SessionsRevoked` event in the same transaction; how many ended.
    pub async fn revoke_sessions(
        &self,
        user_id: ObjectId,
        only: Option<ObjectId>,
        reason: RevocationReason,
    ) -> Result<u64, StoreError> {
        self.atomically(Atomic::RevokeSessions {
            user_id,
            only,
            reason,
        })
        .await
    }

    pub(super) async fn revoke_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        only: Option<ObjectId>,
        reason: RevocationReason,
    ) -> Result<u64, MongoError> {
        let mut filter = doc! { "user_id": user_id };
        if let Some(session_id) = only {
            filter.insert("_id", session_id);
        }
        let ended = in_session!(session, self.sessions.delete_many(filter))?.deleted_count;
        if ended > 0 {
            let event = Event::SessionsRevoked {
                user_id,
                reason,
                sessions_ended: ended,
            };
            self.record_event(session, &event).await?;
        }
        Ok(ended)
    }

    pub async fn session_is_open(
        &self,
        user_id: ObjectId,
        session_id: ObjectId,
    ) -> Result<bool, StoreError> {
        self.deployment().await?;
        Ok(self.session_is_open_in(None, user_id, session_id).await?)
    }

    pub(super) async fn session_is_open_in(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        session_id: ObjectId,
    ) -> Result<bool, MongoError> {
        let count = in_session!(
            session,
            self.sessions.count_documents(doc! {
                "_id": session_id,
                "user_id": user_id,
                "expires_at": { "$gt": DateTime::now() },
            })
        )?;
        Ok(count == 1)
    }
}
