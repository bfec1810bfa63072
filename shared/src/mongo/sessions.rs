//! Sessions: one per login, found by the digest of its current refresh token.

use std::future::IntoFuture;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use super::devices::{client_document, ClientDocument};
use super::{datetime, oid, timestamp, Atomic, MongoStore};
use crate::domain::activity::Activity;
use crate::domain::devices::ClientInfo;
use crate::domain::events::Event;
use crate::domain::ports::{
    OAuthGrant, RevocationReason, SessionRecord, SessionView, Sessions, Stored,
};
use crate::domain::tokens::Authentication;
use crate::domain::values::{SessionId, Timestamp, UserId};

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SessionDocument {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: ObjectId,
    nonce: String,
    generation: i64,
    refresh_digest: String,
    /// Sessions from before the absolute lifetime have none: their last
    /// rotation stands in.
    #[serde(default)]
    created_at: Option<DateTime>,
    rotated_at: DateTime,
    expires_at: DateTime,
    /// Sessions from before devices were recorded have none: unknown.
    #[serde(default)]
    created_from: Option<ClientDocument>,
    #[serde(default)]
    last_used_from: Option<ClientDocument>,
    /// Sessions from before these fields: a password login at creation.
    #[serde(default)]
    amr: Vec<String>,
    #[serde(default)]
    auth_time: Option<DateTime>,
    /// Sessions an OAuth client's code opened (`domain::oauth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) oauth: Option<GrantDocument>,
}

/// `OAuthGrant` as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct GrantDocument {
    client_id: String,
    pub(super) client_name: String,
    scope: String,
    first_party: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    resources: Vec<String>,
}

impl From<&SessionRecord> for SessionDocument {
    fn from(session: &SessionRecord) -> Self {
        Self {
            id: oid(session.id.bytes()),
            user_id: oid(session.user_id.bytes()),
            nonce: session.nonce.clone(),
            generation: session.generation,
            refresh_digest: session.refresh_digest.clone(),
            created_at: Some(datetime(session.created_at)),
            rotated_at: datetime(session.rotated_at),
            expires_at: datetime(session.expires_at),
            created_from: Some(ClientDocument::from(&session.created_from)),
            last_used_from: Some(ClientDocument::from(&session.last_used_from)),
            amr: session.auth.amr(),
            auth_time: Some(DateTime::from_millis(session.auth.auth_time as i64 * 1000)),
            oauth: session.grant.as_ref().map(|grant| GrantDocument {
                client_id: grant.client_id.clone(),
                client_name: grant.client_name.clone(),
                scope: grant.scope.clone(),
                first_party: grant.first_party,
                resources: grant.resources.clone(),
            }),
        }
    }
}

impl From<SessionDocument> for SessionRecord {
    fn from(document: SessionDocument) -> Self {
        let created_at = document.created_at.unwrap_or(document.rotated_at);
        let auth_time = timestamp(document.auth_time.unwrap_or(created_at)).as_secs();
        let auth = Authentication::from_amr(&document.amr, auth_time);
        Self {
            id: SessionId::from_bytes(document.id.bytes()),
            user_id: UserId::from_bytes(document.user_id.bytes()),
            nonce: document.nonce,
            generation: document.generation,
            refresh_digest: document.refresh_digest,
            created_at: timestamp(document.created_at.unwrap_or(document.rotated_at)),
            rotated_at: timestamp(document.rotated_at),
            expires_at: timestamp(document.expires_at),
            created_from: document.created_from.unwrap_or_default().into(),
            last_used_from: document.last_used_from.unwrap_or_default().into(),
            auth,
            grant: document.oauth.map(|grant| OAuthGrant {
                client_id: grant.client_id,
                client_name: grant.client_name,
                scope: grant.scope,
                first_party: grant.first_party,
                resources: grant.resources,
            }),
        }
    }
}

impl Sessions for MongoStore {
    /// The session first, then a write to its user: a deletion that removed
    /// the user before that write makes it match nothing, and the session is
    /// taken back; a deletion after it conflicts with the write (or, without
    /// transactions, deletes the sessions after the user), so it sees the
    /// session and deletes it too. Either way none outlives its user.
    async fn insert_session(&self, session: &SessionRecord) -> Stored<bool> {
        self.deployment().await?;
        self.sessions
            .insert_one(SessionDocument::from(session))
            .await?;
        // The account is touched after the session exists, so that a delete
        // between the two finds the session (its cascade removes it) or
        // leaves the touch nothing to match (the session is removed here).
        // The sign-in's activity entry goes out with the touch, one round
        // trip for both (issue #19), and is taken back with the session.
        let activity = super::activity::document_of(&sign_in(session));
        let activity_id = activity.get("_id").cloned();
        let touch = self.users.update_one(
            // An account scheduled for deletion gets no session either.
            doc! {
                "_id": oid(session.user_id.bytes()),
                super::deletions::SCHEDULED: { "$exists": false },
            },
            doc! { "$set": { "last_login_at": datetime(session.created_at) } },
        );
        let (touched, recorded) = tokio::join!(
            touch.into_future(),
            self.security_activity.insert_one(&activity).into_future()
        );
        let taken_back = || {
            self.security_activity
                .delete_one(doc! { "_id": activity_id.clone() })
                .into_future()
        };
        let touched = match touched {
            Ok(touched) => touched,
            Err(error) => {
                // No answer but an error: no entry of a sign-in either.
                let _ = taken_back().await;
                return Err(error.into());
            }
        };
        if touched.matched_count == 0 {
            let (removed, _) = tokio::join!(
                self.sessions
                    .delete_one(doc! { "_id": oid(session.id.bytes()) })
                    .into_future(),
                taken_back()
            );
            removed?;
            return Ok(false);
        }
        if let Err(error) = recorded {
            // The sign-in stands: a failed entry is logged, not answered.
            tracing::error!(%error, kind = "sign_in", "security activity not recorded");
        }
        Ok(true)
    }

    async fn find_session(&self, id: SessionId, now: Timestamp) -> Stored<Option<SessionRecord>> {
        let found = self
            .sessions
            .find_one(doc! { "_id": oid(id.bytes()), "expires_at": { "$gt": datetime(now) } })
            .await?;
        Ok(found.map(SessionRecord::from))
    }

    async fn rotate_session(
        &self,
        session: &SessionRecord,
        from_digest: &str,
        to_digest: &str,
        now: Timestamp,
        expires_at: Timestamp,
        used_from: &ClientInfo,
    ) -> Stored<Option<SessionRecord>> {
        // An update, not a findAndModify returning the document: the new
        // state is what this $set says, and SecantusDB's findAndModify costs
        // a pass over the whole collection when it matches (docs/performance.md).
        let updated = self
            .sessions
            .update_one(
                doc! { "_id": oid(session.id.bytes()), "refresh_digest": from_digest },
                doc! {
                    "$set": {
                        "refresh_digest": to_digest,
                        "generation": session.generation + 1,
                        "rotated_at": datetime(now),
                        "expires_at": datetime(expires_at),
                        "last_used_from": client_document(used_from),
                    },
                    // Reuse is detected by generation now; digests of old
                    // tokens are no longer kept.
                    "$unset": { "retired_digests": "" },
                },
            )
            .await?;
        if updated.matched_count == 0 {
            return Ok(None);
        }
        // What was matched is `session` at this digest: the fields not set
        // above never change after the session opens.
        Ok(Some(SessionRecord {
            generation: session.generation + 1,
            refresh_digest: to_digest.to_string(),
            rotated_at: now,
            expires_at,
            last_used_from: used_from.clone(),
            ..session.clone()
        }))
    }

    async fn end_session(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Stored<bool> {
        self.deployment().await?;
        let deleted = self
            .sessions
            .delete_one(doc! {
                "_id": oid(session.bytes()),
                "user_id": oid(user_id.bytes()),
                "expires_at": { "$gt": datetime(now) },
            })
            .await?;
        Ok(deleted.deleted_count == 1)
    }

    async fn revoke_sessions(
        &self,
        user_id: UserId,
        only: Option<SessionId>,
        reason: RevocationReason,
    ) -> Stored<u64> {
        self.atomically(Atomic::RevokeSessions {
            user_id: oid(user_id.bytes()),
            only: only.map(|session| oid(session.bytes())),
            reason,
        })
        .await
    }

    async fn session_is_open(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Stored<bool> {
        self.deployment().await?;
        Ok(self
            .session_is_open_in(
                None,
                oid(user_id.bytes()),
                oid(session.bytes()),
                datetime(now),
            )
            .await?)
    }

    async fn list_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
        limit: usize,
    ) -> Stored<Vec<SessionView>> {
        self.deployment().await?;
        Ok(self
            .list_open_sessions(oid(user_id.bytes()), datetime(now), limit)
            .await?)
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        session: SessionId,
        reason: RevocationReason,
        now: Timestamp,
    ) -> Stored<bool> {
        let ended = self
            .atomically(Atomic::EndSession {
                user_id: oid(user_id.bytes()),
                session_id: oid(session.bytes()),
                now: datetime(now),
                reason,
            })
            .await?;
        Ok(ended == 1)
    }
}

impl MongoStore {
    pub(super) async fn revoke_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        only: Option<ObjectId>,
        reason: RevocationReason,
    ) -> Result<u64, MongoError> {
        let mut filter = doc! { "user_id": user_id };
        match only {
            Some(session_id) => {
                filter.insert("_id", session_id);
            }
            // Logout everywhere is a remedy: what was pending goes too.
            None => {
                self.void_pending_steps(session.as_deref_mut(), user_id)
                    .await?
            }
        }
        let ended = in_session!(session, self.sessions.delete_many(filter))?.deleted_count;
        if ended > 0 {
            let event = Event::SessionsRevoked {
                user_id: UserId::from_bytes(user_id.bytes()),
                reason,
                sessions_ended: ended,
            };
            self.record_event(session, &event).await?;
        }
        Ok(ended)
    }

    pub(super) async fn session_is_open_in(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        session_id: ObjectId,
        now: DateTime,
    ) -> Result<bool, MongoError> {
        let count = in_session!(
            session,
            self.sessions.count_documents(doc! {
                "_id": session_id,
                "user_id": user_id,
                "expires_at": { "$gt": now },
            })
        )?;
        Ok(count == 1)
    }
}

/// The security activity entry of a session's opening (`insert_session`):
/// every sign-in, however it authenticated, opens one.
pub(super) fn sign_in(session: &SessionRecord) -> Activity {
    let app = session
        .grant
        .as_ref()
        .map(|grant| grant.client_name.as_str());
    Activity::sign_in(
        session.user_id,
        &session.auth,
        app,
        &session.created_from,
        session.created_at,
    )
}
