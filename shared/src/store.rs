//! MongoDB access: the `users` collection and the linked collection.
//!
//! Uniqueness lives in unique indexes, never in check-then-insert, so concurrent
//! requests cannot both win. Everything here is plain MongoDB: it runs unchanged
//! on Atlas, a replica set or a standalone server.

use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::error::{
    Error as MongoError, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, ClientSession, Collection, IndexModel};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::bson_json::document_to_json;

const EMAIL_INDEX: &str = "users_email_unique";
const USERNAME_INDEX: &str = "users_username_key_unique";
const EXTERNAL_ID_INDEX: &str = "users_external_id_unique";
const LINKED_USER_INDEX: &str = "linked_user_id";
const DUPLICATE_KEY: i32 = 11000;
const TRANSACTION_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("e-mail already registered")]
    EmailTaken,
    #[error("username already registered")]
    UsernameTaken,
    #[error("external id already linked to another user")]
    ExternalIdTaken,
    #[error("database unreachable: {0}")]
    Unavailable(MongoError),
    #[error("database error: {0}")]
    Database(MongoError),
}

impl From<MongoError> for StoreError {
    fn from(error: MongoError) -> Self {
        let unreachable = matches!(
            *error.kind,
            ErrorKind::ServerSelection { .. }
                | ErrorKind::Io(_)
                | ErrorKind::ConnectionPoolCleared { .. }
                | ErrorKind::DnsResolve { .. }
        ) || error.contains_label("RetryableWriteError")
            || error.contains_label(TRANSIENT_TRANSACTION_ERROR);
        if unreachable {
            Self::Unavailable(error)
        } else {
            Self::Database(error)
        }
    }
}

/// A user as stored. `username_key` is the lower-cased username: its unique index
/// makes usernames unique case-insensitively without relying on collations.
#[derive(Debug, Serialize, Deserialize)]
struct UserRecord {
    #[serde(rename = "_id")]
    id: ObjectId,
    username: String,
    username_key: String,
    email: String,
    hashed_password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    created_at: DateTime,
}

pub struct NewUser {
    pub username: String,
    pub email: String,
    pub hashed_password: String,
}

/// What login needs to know about an account.
#[derive(Debug, Deserialize)]
pub struct StoredCredentials {
    #[serde(rename = "_id")]
    pub user_id: ObjectId,
    pub hashed_password: String,
}

/// The public view of a user with the linked data: no credential field can reach it.
#[derive(Debug, Serialize)]
pub struct Profile {
    pub id: String,
    pub username: String,
    pub email: String,
    pub external_id: Option<String>,
    pub created_at: String,
    pub linked_data: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Copy)]
struct Deployment {
    supports_transactions: bool,
}

/// Connection settings for one request per execution environment: a small pool,
/// and timeouts that turn an unreachable database into a 503 within seconds,
/// well inside API Gateway's 30 s.
pub fn client_options(mut options: ClientOptions) -> ClientOptions {
    options
        .app_name
        .get_or_insert_with(|| "user-management-api".into());
    options.server_selection_timeout = Some(Duration::from_secs(3));
    options.connect_timeout = Some(Duration::from_secs(2));
    options.max_pool_size = Some(4);
    options.min_pool_size = Some(1);
    options.max_idle_time = Some(Duration::from_secs(300));
    options
}

pub struct UserStore {
    client: Client,
    users: Collection<UserRecord>,
    linked: Collection<Document>,
    deployment: OnceCell<Deployment>,
}

impl UserStore {
    /// Builds the store without I/O: the driver connects on first use.
    pub fn new(
        options: ClientOptions,
        database: &str,
        linked_collection: &str,
    ) -> Result<Self, StoreError> {
        let client = Client::with_options(options).map_err(StoreError::Database)?;
        let db = client.database(database);
        Ok(Self {
            users: db.collection("users"),
            linked: db.collection(linked_collection),
            client,
            deployment: OnceCell::new(),
        })
    }

    /// Creates the indexes and learns what the deployment supports, once per
    /// execution environment, before the first operation. `createIndexes` is a
    /// no-op when they exist, so every cold start can afford it and no
    /// environment needs a manual step. A failure is retried on the next request.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        self.deployment().await.map(|_| ())
    }

    async fn deployment(&self) -> Result<Deployment, StoreError> {
        self.deployment
            .get_or_try_init(|| async {
                self.create_indexes().await?;
                let hello = self
                    .client
                    .database("admin")
                    .run_command(doc! { "hello": 1 })
                    .await?;
                // Transactions need a replica set member or a mongos.
                let supports_transactions = hello.contains_key("setName")
                    || hello.get_str("msg").is_ok_and(|msg| msg == "isdbgrid");
                tracing::info!(supports_transactions, "database ready");
                Ok(Deployment {
                    supports_transactions,
                })
            })
            .await
            .copied()
    }

    async fn create_indexes(&self) -> Result<(), StoreError> {
        let unique = |name: &str| IndexOptions::builder().name(name.to_string()).unique(true);
        self.users
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! { "email": 1 })
                    .options(unique(EMAIL_INDEX).build())
                    .build(),
                IndexModel::builder()
                    .keys(doc! { "username_key": 1 })
                    .options(unique(USERNAME_INDEX).build())
                    .build(),
                IndexModel::builder()
                    .keys(doc! { "external_id": 1 })
                    .options(
                        unique(EXTERNAL_ID_INDEX)
                            .partial_filter_expression(
                                doc! { "external_id": { "$type": "string" } },
                            )
                            .build(),
                    )
                    .build(),
            ])
            .await?;
        self.linked
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "user_id": 1 })
                    .options(
                        IndexOptions::builder()
                            .name(LINKED_USER_INDEX.to_string())
                            .build(),
                    )
                    .build(),
            )
            .await?;
        Ok(())
    }

    pub async fn insert_user(&self, user: NewUser) -> Result<ObjectId, StoreError> {
        self.deployment().await?;
        let record = UserRecord {
            id: ObjectId::new(),
            username_key: user.username.to_lowercase(),
            username: user.username,
            email: user.email,
            hashed_password: user.hashed_password,
            external_id: None,
            created_at: DateTime::now(),
        };
        match self.users.insert_one(&record).await {
            Ok(_) => Ok(record.id),
            Err(error) => Err(match duplicate_index(&error) {
                Some(EMAIL_INDEX) => StoreError::EmailTaken,
                Some(USERNAME_INDEX) => StoreError::UsernameTaken,
                _ => error.into(),
            }),
        }
    }

    pub async fn find_credentials(
        &self,
        email: &str,
    ) -> Result<Option<StoredCredentials>, StoreError> {
        self.deployment().await?;
        Ok(self
            .users
            .clone_with_type::<StoredCredentials>()
            .find_one(doc! { "email": email })
            .projection(doc! { "_id": 1, "hashed_password": 1 })
            .await?)
    }

    /// Replaces a hash only if it is still the one we verified, so a concurrent
    /// password change is never overwritten by a stale re-hash.
    pub async fn replace_password_hash(
        &self,
        user_id: ObjectId,
        verified_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError> {
        self.users
            .update_one(
                doc! { "_id": user_id, "hashed_password": verified_hash },
                doc! { "$set": { "hashed_password": new_hash } },
            )
            .await?;
        Ok(())
    }

    /// Links `external_id` to the user; false when the user does not exist.
    pub async fn link_external_id(
        &self,
        user_id: ObjectId,
        external_id: &str,
    ) -> Result<bool, StoreError> {
        self.deployment().await?;
        match self
            .users
            .update_one(
                doc! { "_id": user_id },
                doc! { "$set": { "external_id": external_id } },
            )
            .await
        {
            Ok(result) => Ok(result.matched_count == 1),
            Err(error) if duplicate_index(&error) == Some(EXTERNAL_ID_INDEX) => {
                Err(StoreError::ExternalIdTaken)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The user's profile and linked data in one aggregation round trip: the
    /// document whose `_id` is the user's external id (the original `$lookup`)
    /// and those whose `user_id` is the user (the original delete filter).
    pub async fn full_profile(&self, user_id: ObjectId) -> Result<Option<Profile>, StoreError> {
        self.deployment().await?;
        let pipeline = [
            doc! { "$match": { "_id": user_id } },
            doc! { "$lookup": {
                "from": self.linked.name(),
                "let": { "external_id": "$external_id", "user_id": "$_id" },
                "pipeline": [
                    { "$match": { "$expr": { "$or": [
                        { "$eq": ["$_id", "$$external_id"] },
                        { "$eq": ["$user_id", "$$user_id"] },
                        { "$eq": ["$user_id", user_id.to_hex()] },
                    ] } } },
                ],
                "as": "linked_data",
            } },
            // An allow-list: fields added to users later stay private by default.
            doc! { "$project": {
                "username": 1, "email": 1, "external_id": 1, "created_at": 1, "linked_data": 1,
            } },
        ];
        let mut cursor = self.users.aggregate(pipeline).await?;
        if !cursor.advance().await? {
            return Ok(None);
        }
        let document = cursor.deserialize_current()?;
        Ok(Some(profile_from(user_id, document)))
    }

    /// Deletes the user and every linked document the profile shows; false when
    /// the user does not exist. Atomic where the deployment has transactions;
    /// elsewhere linked data goes first, so a failure midway leaves the user in
    /// place to retry.
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<bool, StoreError> {
        if self.deployment().await?.supports_transactions {
            self.delete_user_in_transaction(user_id).await
        } else {
            let Some(external_id) = self.external_id_of(user_id, None).await? else {
                return Ok(false);
            };
            self.linked
                .delete_many(linked_filter(user_id, external_id))
                .await?;
            Ok(self
                .users
                .delete_one(doc! { "_id": user_id })
                .await?
                .deleted_count
                == 1)
        }
    }

    async fn delete_user_in_transaction(&self, user_id: ObjectId) -> Result<bool, StoreError> {
        let mut session = self.client.start_session().await?;
        let mut attempt = 1;
        loop {
            session.start_transaction().await?;
            let outcome = self.delete_steps(&mut session, user_id).await;
            let outcome = match outcome {
                Ok(true) => commit(&mut session).await.map(|_| true),
                Ok(false) => session.abort_transaction().await.map(|_| false),
                Err(error) => {
                    let _ = session.abort_transaction().await;
                    Err(error)
                }
            };
            match outcome {
                Err(error)
                    if error.contains_label(TRANSIENT_TRANSACTION_ERROR)
                        && attempt < TRANSACTION_ATTEMPTS =>
                {
                    attempt += 1;
                }
                other => return Ok(other?),
            }
        }
    }

    async fn delete_steps(
        &self,
        session: &mut ClientSession,
        user_id: ObjectId,
    ) -> Result<bool, MongoError> {
        let Some(external_id) = self.external_id_of(user_id, Some(session)).await? else {
            return Ok(false);
        };
        self.linked
            .delete_many(linked_filter(user_id, external_id))
            .session(&mut *session)
            .await?;
        let deleted = self
            .users
            .delete_one(doc! { "_id": user_id })
            .session(&mut *session)
            .await?;
        Ok(deleted.deleted_count == 1)
    }

    /// `None` when the user does not exist, `Some(None)` when it has no external id.
    async fn external_id_of(
        &self,
        user_id: ObjectId,
        session: Option<&mut ClientSession>,
    ) -> Result<Option<Option<String>>, MongoError> {
        let users = self.users.clone_with_type::<Document>();
        let find = users
            .find_one(doc! { "_id": user_id })
            .projection(doc! { "external_id": 1 });
        let user = match session {
            Some(session) => find.session(session).await?,
            None => find.await?,
        };
        Ok(user.map(|user| user.get_str("external_id").ok().map(str::to_string)))
    }
}

fn linked_filter(user_id: ObjectId, external_id: Option<String>) -> Document {
    let mut by = vec![doc! { "user_id": { "$in": [user_id, user_id.to_hex()] } }];
    if let Some(external_id) = external_id {
        by.push(doc! { "_id": external_id });
    }
    doc! { "$or": by }
}

async fn commit(session: &mut ClientSession) -> Result<(), MongoError> {
    let mut attempt = 1;
    loop {
        match session.commit_transaction().await {
            Err(error)
                if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && attempt < TRANSACTION_ATTEMPTS =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The unique index a duplicate-key error names, if it is one.
fn duplicate_index(error: &MongoError) -> Option<&'static str> {
    let message = match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(write)) if write.code == DUPLICATE_KEY => {
            &write.message
        }
        ErrorKind::Command(command) if command.code == DUPLICATE_KEY => &command.message,
        _ => return None,
    };
    [EMAIL_INDEX, USERNAME_INDEX, EXTERNAL_ID_INDEX]
        .into_iter()
        .find(|index| message.contains(index))
}

fn profile_from(user_id: ObjectId, mut document: Document) -> Profile {
    let mut text = |field: &str| match document.remove(field) {
        Some(mongodb::bson::Bson::String(value)) => Some(value),
        _ => None,
    };
    let username = text("username").unwrap_or_default();
    let email = text("email").unwrap_or_default();
    let external_id = text("external_id");
    let created_at = document
        .get_datetime("created_at")
        .ok()
        .and_then(|instant| instant.try_to_rfc3339_string().ok())
        .unwrap_or_default();
    let linked_data = match document.remove("linked_data") {
        Some(mongodb::bson::Bson::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                mongodb::bson::Bson::Document(linked) => Some(document_to_json(linked)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Profile {
        id: user_id.to_hex(),
        username,
        email,
        external_id,
        created_at,
        linked_data,
    }
}
