//! What people allowed third-party clients: one document per user and
//! client (`_id` "<user hex>/<client id>"), the scopes as one string.
//! Written with an upsert on the `_id` (no findAndModify).

use mongodb::bson::{doc, DateTime};

use super::{datetime, oid, timestamp, MongoStore};
use crate::domain::ports::{ConsentView, Consents, Stored};
use crate::domain::values::{Timestamp, UserId};

fn key(user_id: UserId, client_id: &str) -> String {
    format!("{}/{client_id}", user_id.to_hex())
}

impl Consents for MongoStore {
    async fn consented_scope(&self, user_id: UserId, client_id: &str) -> Stored<Option<String>> {
        self.deployment().await?;
        let found = self
            .consents
            .find_one(doc! { "_id": key(user_id, client_id) })
            .await?;
        Ok(found.and_then(|document| document.get_str("scope").ok().map(str::to_string)))
    }

    async fn record_consent(
        &self,
        user_id: UserId,
        client_id: &str,
        scope: &str,
        now: Timestamp,
    ) -> Stored<()> {
        self.deployment().await?;
        self.consents
            .update_one(
                doc! { "_id": key(user_id, client_id) },
                doc! { "$set": {
                    "user_id": oid(user_id.bytes()),
                    "client_id": client_id,
                    "scope": scope,
                    "granted_at": datetime(now),
                } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// By the `oauth_consents_user_id` index.
    async fn list_consents(&self, user_id: UserId, limit: usize) -> Stored<Vec<ConsentView>> {
        self.deployment().await?;
        let mut cursor = self
            .consents
            .find(doc! { "user_id": oid(user_id.bytes()) })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await?;
        let mut listed = Vec::new();
        while cursor.advance().await? {
            let document = cursor.deserialize_current()?;
            let (Ok(client_id), Ok(scope)) =
                (document.get_str("client_id"), document.get_str("scope"))
            else {
                continue;
            };
            let granted_at = document
                .get_datetime("granted_at")
                .copied()
                .unwrap_or(DateTime::from_millis(0));
            listed.push(ConsentView {
                client_id: client_id.to_string(),
                scope: scope.to_string(),
                granted_at: timestamp(granted_at),
            });
        }
        Ok(listed)
    }

    async fn delete_consent(&self, user_id: UserId, client_id: &str) -> Stored<()> {
        self.deployment().await?;
        self.consents
            .delete_one(doc! { "_id": key(user_id, client_id) })
            .await?;
        Ok(())
    }
}
