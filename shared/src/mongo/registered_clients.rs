//! Dynamically registered OAuth clients (RFC 7591, issue #22), by client id.
//! Index `registered_clients_expire` forgets one at `expires_at`, which each
//! token grant moves to 30 days ahead; a read also ignores one past it, since
//! the TTL monitor runs only once a minute.

use mongodb::bson::{doc, DateTime};
use serde::{Deserialize, Serialize};

use super::{datetime, timestamp, MongoStore};
use crate::domain::ports::{DynamicClients, RegisteredClient, Stored};
use crate::domain::values::Timestamp;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RegisteredClientDocument {
    #[serde(rename = "_id")]
    client_id: String,
    name: String,
    redirect_uris: Vec<String>,
    scope: String,
    refresh: bool,
    created_at: DateTime,
    expires_at: DateTime,
}

impl From<&RegisteredClient> for RegisteredClientDocument {
    fn from(client: &RegisteredClient) -> Self {
        Self {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            scope: client.scope.clone(),
            refresh: client.refresh,
            created_at: datetime(client.created_at),
            expires_at: datetime(client.expires_at),
        }
    }
}

impl From<RegisteredClientDocument> for RegisteredClient {
    fn from(document: RegisteredClientDocument) -> Self {
        Self {
            client_id: document.client_id,
            name: document.name,
            redirect_uris: document.redirect_uris,
            scope: document.scope,
            refresh: document.refresh,
            created_at: timestamp(document.created_at),
            expires_at: timestamp(document.expires_at),
        }
    }
}

impl DynamicClients for MongoStore {
    async fn insert_registered_client(&self, client: &RegisteredClient) -> Stored<()> {
        self.deployment().await?;
        self.registered_clients
            .insert_one(RegisteredClientDocument::from(client))
            .await?;
        Ok(())
    }

    async fn find_registered_client(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> Stored<Option<RegisteredClient>> {
        self.deployment().await?;
        let found = self
            .registered_clients
            .find_one(doc! { "_id": client_id, "expires_at": { "$gt": datetime(now) } })
            .await?;
        Ok(found.map(RegisteredClient::from))
    }

    async fn touch_registered_client(&self, client_id: &str, expires_at: Timestamp) -> Stored<()> {
        self.deployment().await?;
        self.registered_clients
            .update_one(
                doc! { "_id": client_id },
                doc! { "$set": { "expires_at": datetime(expires_at) } },
            )
            .await?;
        Ok(())
    }
}
