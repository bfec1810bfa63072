//! The `security_activity` collection (issue #24): one document per entry,
//! read newest first by `security_activity_user_at`, removed by the TTL
//! index `security_activity_expire` at its `expires_at` and by the delete
//! cascade with its account. Written with the change it describes
//! (`record_event`, and the store methods of changes without an event).

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;

use super::{datetime, oid, timestamp, MongoStore};
use crate::domain::activity::{Activity, ActivityKind, SecurityActivity, RETENTION};
use crate::domain::devices::ClientInfo;
use crate::domain::records::Stored;
use crate::domain::values::UserId;

pub(super) fn document_of(activity: &Activity) -> Document {
    let at = datetime(activity.at);
    let mut document = doc! {
        "_id": ObjectId::new(),
        "user_id": oid(activity.user_id.bytes()),
        "kind": activity.kind.as_str(),
        "at": at,
        "expires_at": at.saturating_add_duration(RETENTION),
    };
    let optional = [
        ("detail", &activity.detail),
        ("source_ip", &activity.from.source_ip),
        ("user_agent", &activity.from.user_agent),
    ];
    for (field, value) in optional {
        if let Some(value) = value.as_deref() {
            document.insert(field, value);
        }
    }
    document
}

fn activity_of(user_id: UserId, document: &Document) -> Option<Activity> {
    let text = |field: &str| document.get_str(field).ok().map(str::to_string);
    Some(Activity {
        user_id,
        kind: ActivityKind::parse(document.get_str("kind").ok()?)?,
        at: timestamp(*document.get_datetime("at").ok()?),
        detail: text("detail"),
        from: ClientInfo {
            user_agent: text("user_agent"),
            source_ip: text("source_ip"),
        },
    })
}

impl MongoStore {
    /// Writes one entry, in `session`'s transaction when there is one.
    pub(super) async fn record_activity(
        &self,
        mut session: Option<&mut ClientSession>,
        activity: &Activity,
    ) -> Result<(), MongoError> {
        let document = document_of(activity);
        in_session!(session, self.security_activity.insert_one(&document))?;
        Ok(())
    }

    /// An entry of a change that has already happened and has no event: a
    /// failure is logged, not answered, for the change stands either way.
    pub(super) async fn record_activity_after(&self, activity: &Activity) {
        if let Err(error) = self.record_activity(None, activity).await {
            tracing::error!(%error, kind = activity.kind.as_str(), "security activity not recorded");
        }
    }
}

impl SecurityActivity for MongoStore {
    async fn recent_activity(&self, user_id: UserId, limit: usize) -> Stored<Vec<Activity>> {
        self.deployment().await?;
        let mut cursor = self
            .security_activity
            .find(doc! { "user_id": oid(user_id.bytes()) })
            .sort(doc! { "at": -1, "_id": -1 })
            .limit(limit as i64)
            .await?;
        let mut entries = Vec::new();
        while cursor.advance().await? {
            if let Some(entry) = activity_of(user_id, &cursor.deserialize_current()?) {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}
