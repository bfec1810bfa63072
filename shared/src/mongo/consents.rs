//! What people allowed third-party clients: one document per user and
//! client (`_id` "<user hex>/<client id>"), the scopes as one string.
//! Written with an upsert on the `_id` (no findAndModify).

use mongodb::bson::doc;

use super::{datetime, oid, MongoStore};
use crate::domain::ports::{Consents, Stored};
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
}
