//! Sessions as devices: the client each was opened and last refreshed from,
//! the owner's listing, and ending one session with its `SessionEnded` event.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use super::{timestamp, MongoStore};
use crate::domain::devices::ClientInfo;
use crate::domain::events::Event;
use crate::domain::ports::{RevocationReason, SessionView};
use crate::domain::values::{SessionId, UserId};

/// A client as stored on its session; absent members are unknown.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct ClientDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_ip: Option<String>,
}

impl From<&ClientInfo> for ClientDocument {
    fn from(client: &ClientInfo) -> Self {
        Self {
            user_agent: client.user_agent.clone(),
            source_ip: client.source_ip.clone(),
        }
    }
}

impl From<ClientDocument> for ClientInfo {
    fn from(document: ClientDocument) -> Self {
        Self {
            user_agent: document.user_agent,
            source_ip: document.source_ip,
        }
    }
}

/// The stored form of `client`, for an update's `$set`.
pub(super) fn client_document(client: &ClientInfo) -> Document {
    let mut document = Document::new();
    if let Some(user_agent) = &client.user_agent {
        document.insert("user_agent", user_agent.as_str());
    }
    if let Some(source_ip) = &client.source_ip {
        document.insert("source_ip", source_ip.as_str());
    }
    document
}

/// What a listing reads of a session: the projection below and this type
/// both leave out the nonce and the refresh digest, so neither ever leaves
/// the database for a listing.
#[derive(Debug, Deserialize)]
struct ListedDocument {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(default)]
    created_at: Option<DateTime>,
    rotated_at: DateTime,
    #[serde(default)]
    created_from: Option<ClientDocument>,
    #[serde(default)]
    last_used_from: Option<ClientDocument>,
    #[serde(default)]
    oauth: Option<ClientName>,
}

/// The fields of a session's OAuth grant that its listing shows.
#[derive(Debug, Deserialize)]
struct ClientName {
    client_name: String,
    #[serde(default)]
    client_id: Option<String>,
}

impl From<ListedDocument> for SessionView {
    fn from(document: ListedDocument) -> Self {
        Self {
            id: SessionId::from_bytes(document.id.bytes()),
            created_at: timestamp(document.created_at.unwrap_or(document.rotated_at)),
            last_used_at: timestamp(document.rotated_at),
            created_from: document.created_from.unwrap_or_default().into(),
            last_used_from: document.last_used_from.unwrap_or_default().into(),
            client_id: document
                .oauth
                .as_ref()
                .and_then(|grant| grant.client_id.clone()),
            client_name: document.oauth.map(|grant| grant.client_name),
        }
    }
}

impl MongoStore {
    /// By the `sessions_user_created` index: the user's sessions newest
    /// first, read no further than `limit`.
    pub(super) async fn list_open_sessions(
        &self,
        user_id: ObjectId,
        now: DateTime,
        limit: usize,
    ) -> Result<Vec<SessionView>, MongoError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut cursor = self
            .sessions
            .clone_with_type::<ListedDocument>()
            .find(doc! { "user_id": user_id, "expires_at": { "$gt": now } })
            .sort(doc! { "created_at": -1, "_id": -1 })
            .projection(doc! {
                "_id": 1,
                "created_at": 1,
                "rotated_at": 1,
                "created_from": 1,
                "last_used_from": 1,
                "oauth.client_name": 1,
                "oauth.client_id": 1,
            })
            .limit(limit)
            .await?;
        let mut listed = Vec::new();
        while cursor.advance().await? {
            listed.push(SessionView::from(cursor.deserialize_current()?));
        }
        Ok(listed)
    }

    /// One open session of the user, deleted with its `SessionEnded` event;
    /// how many ended (0 or 1).
    pub(super) async fn end_one_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        session_id: ObjectId,
        now: DateTime,
        reason: RevocationReason,
    ) -> Result<u64, MongoError> {
        let ended = in_session!(
            session,
            self.sessions.delete_one(doc! {
                "_id": session_id,
                "user_id": user_id,
                "expires_at": { "$gt": now },
            })
        )?
        .deleted_count;
        if ended > 0 {
            let event = Event::SessionEnded {
                user_id: UserId::from_bytes(user_id.bytes()),
                session_id: SessionId::from_bytes(session_id.bytes()),
                reason,
            };
            self.record_event(session, &event).await?;
        }
        Ok(ended)
    }
}
