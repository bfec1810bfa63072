//! The MongoDB adapter: implements the store traits of `domain::ports` over
//! users, the linked collection, sessions, login attempts and the outbox of
//! lifecycle events.
//!
//! Uniqueness lives in unique indexes, never in check-then-insert, so concurrent
//! requests cannot both win. Everything here is plain MongoDB: it runs unchanged
//! on Atlas, a replica set or a standalone server.

/// Runs a driver action inside `session` when there is one: the same steps
/// serve the transactional path and the standalone fallback.
macro_rules! in_session {
    ($session:expr, $action:expr) => {
        match $session.as_deref_mut() {
            Some(session) => $action.session(session).await,
            None => $action.await,
        }
    };
}

mod activity;
pub mod bson_json;
mod codes;
mod consents;
mod deletions;
mod devices;
mod export;
mod link_offers;
mod linked;
mod login_attempts;
mod mfa;
mod outbox;
mod passkeys;
mod recovery;
mod registered_clients;
mod sessions;
mod users;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::error::{
    Error as MongoError, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, ClientSession, Collection, IndexModel};
use tokio::sync::OnceCell;

pub use outbox::PUBLISHED_RETENTION;

use crate::domain::ports::{LinkKind, LinkTrust, RevocationReason, StoreError};
use crate::domain::values::Timestamp;

const EMAIL_INDEX: &str = "users_email_unique";
const USERNAME_INDEX: &str = "users_username_key_unique";
const EXTERNAL_ID_INDEX: &str = "users_external_id_unique";
const DUPLICATE_KEY: i32 = 11000;
/// The `schema` document that records which index set was created.
const INDEXES_RECORD: &str = "indexes";
/// Attempts of a transaction that failed transiently (a write conflict with a
/// concurrent one). The drivers' `withTransaction` retries for up to 120 s;
/// a request cannot wait that long, so a few attempts with a growing pause,
/// about half a second in all, which outlasts the other transaction.
const TRANSACTION_ATTEMPTS: u32 = 8;
/// How long a linked-data tombstone keeps out-of-order older versions out.
const TOMBSTONE_RETENTION: Duration = Duration::from_secs(7 * 86_400);

impl From<MongoError> for StoreError {
    fn from(error: MongoError) -> Self {
        let unavailable = is_unreachable(&error)
            || error.contains_label("RetryableWriteError")
            || error.contains_label(TRANSIENT_TRANSACTION_ERROR);
        if unavailable {
            Self::Unavailable(error.to_string())
        } else {
            Self::Failed(error.to_string())
        }
    }
}

/// No server to talk to: retrying now would only wait out another server selection.
fn is_unreachable(error: &MongoError) -> bool {
    matches!(
        *error.kind,
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
    )
}

/// SHA-256 of every collection's name and index specifications, in order.
fn index_digest(plan: &[(Collection<Document>, Vec<IndexModel>)]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for (collection, models) in plan {
        digest.update(collection.name().as_bytes());
        for model in models {
            // A model always serialises (keys and options are documents).
            digest.update(mongodb::bson::serialize_to_vec(model).unwrap_or_default());
        }
    }
    crate::domain::values::hex(&digest.finalize())
}

#[derive(Debug, Clone, Copy)]
struct Deployment {
    supports_transactions: bool,
}

/// Connection settings for one request per execution environment: a small
/// pool (no request runs more than two operations at once; login does; the
/// template sets the size from the capacity model), and timeouts that turn an
/// unreachable database into a 503 within seconds, well inside API Gateway's 30 s.
pub fn client_options(mut options: ClientOptions, max_pool_size: u32) -> ClientOptions {
    options
        .app_name
        .get_or_insert_with(|| "user-management-api".into());
    options.server_selection_timeout = Some(Duration::from_secs(3));
    options.connect_timeout = Some(Duration::from_secs(2));
    options.max_pool_size = Some(max_pool_size);
    options.min_pool_size = Some(1);
    options.max_idle_time = Some(Duration::from_secs(300));
    options
}

/// Cheap to clone: the driver's handles are shared, and so is what the
/// deployment supports once learnt.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    users: Collection<users::UserRecord>,
    linked: Collection<Document>,
    sessions: Collection<sessions::SessionDocument>,
    login_attempts: Collection<Document>,
    link_offers: Collection<Document>,
    mfa_challenges: Collection<Document>,
    outbox: Collection<outbox::OutboxDocument>,
    /// One-time tokens sent by mail (their SHA-256 only).
    tokens: Collection<Document>,
    /// OAuth authorization codes (their SHA-256 only).
    codes: Collection<Document>,
    /// What people allowed third-party OAuth clients.
    consents: Collection<Document>,
    /// Registered passkeys, and the state of begun WebAuthn ceremonies.
    passkeys: Collection<Document>,
    passkey_ceremonies: Collection<Document>,
    /// The e-mail-first sign-in's decoy key (one document, by `_id`).
    passkey_settings: Collection<Document>,
    /// Dynamically registered OAuth clients (RFC 7591).
    registered_clients: Collection<registered_clients::RegisteredClientDocument>,
    /// Each account's security activity (`domain::activity`).
    security_activity: Collection<Document>,
    /// What this database records of its own set-up (`ensure_indexes`).
    schema: Collection<Document>,
    deployment: Arc<OnceCell<Deployment>>,
}

impl MongoStore {
    /// Builds the store without I/O: the driver connects on first use.
    pub fn new(
        options: ClientOptions,
        database: &str,
        linked_collection: &str,
    ) -> Result<Self, StoreError> {
        let client =
            Client::with_options(options).map_err(|error| StoreError::Failed(error.to_string()))?;
        let db = client.database(database);
        Ok(Self {
            users: db.collection("users"),
            linked: db.collection(linked_collection),
            sessions: db.collection("sessions"),
            login_attempts: db.collection("login_attempts"),
            link_offers: db.collection("link_offers"),
            mfa_challenges: db.collection("mfa_challenges"),
            outbox: db.collection("outbox"),
            tokens: db.collection("one_time_tokens"),
            codes: db.collection("authorization_codes"),
            consents: db.collection("oauth_consents"),
            passkeys: db.collection("passkeys"),
            passkey_ceremonies: db.collection("passkey_ceremonies"),
            passkey_settings: db.collection("passkey_settings"),
            registered_clients: db.collection("oauth_registered_clients"),
            security_activity: db.collection("security_activity"),
            schema: db.collection("schema"),
            client,
            deployment: Arc::new(OnceCell::new()),
        })
    }

    /// Makes sure the indexes exist (`ensure_indexes`: one read when this
    /// release created them already) and learns what the deployment
    /// supports, once per execution environment, before the first operation:
    /// no environment needs a manual step. A failure is retried on the next request.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        self.deployment().await.map(|_| ())
    }

    async fn deployment(&self) -> Result<Deployment, StoreError> {
        self.deployment
            .get_or_try_init(|| async {
                let admin = self.client.database("admin");
                let hello = admin.run_command(doc! { "hello": 1 });
                let (hello, ()) = tokio::try_join!(hello.into_future(), self.ensure_indexes())?;
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

    /// Every collection's indexes, as `createIndexes` takes them.
    fn index_plan(&self) -> Vec<(Collection<Document>, Vec<IndexModel>)> {
        let named = |name: &str| IndexOptions::builder().name(name.to_string());
        let index = |keys: Document, options: IndexOptions| {
            IndexModel::builder().keys(keys).options(options).build()
        };
        let expires = |name: &str| named(name).expire_after(Duration::ZERO).build();
        let users = (
            self.users.clone_with_type::<Document>(),
            vec![
                index(doc! { "email": 1 }, named(EMAIL_INDEX).unique(true).build()),
                index(
                    doc! { "username_key": 1 },
                    named(USERNAME_INDEX).unique(true).build(),
                ),
                index(
                    doc! { "external_id": 1 },
                    named(EXTERNAL_ID_INDEX)
                        .unique(true)
                        .partial_filter_expression(doc! { "external_id": { "$type": "string" } })
                        .build(),
                ),
                // The scheduled purge's read (issue #24): scheduled users only.
                // Sparse rather than partial: SecantusDB plans a range read on a
                // sparse index, not on a partial one (MongoDB on either).
                index(
                    doc! { deletions::SCHEDULED: 1 },
                    named("users_deletion_due").sparse(true).build(),
                ),
            ],
        );
        let linked = (
            self.linked.clone_with_type::<Document>(),
            vec![
                index(doc! { "user_id": 1 }, named("linked_user_id").build()),
                // Tombstones of deleted linked records (events::ingest) expire.
                index(
                    doc! { "deleted_at": 1 },
                    named("linked_tombstones_expire")
                        .expire_after(TOMBSTONE_RETENTION)
                        .build(),
                ),
            ],
        );
        let mut unpublished_first = doc! { "published_at": 1 };
        unpublished_first.extend(outbox::publish_order());
        let outbox = (
            self.outbox.clone_with_type::<Document>(),
            vec![
                index(unpublished_first, named("outbox_unpublished").build()),
                index(doc! { "expire_at": 1 }, expires("outbox_expire")),
            ],
        );
        let sessions = (
            self.sessions.clone_with_type::<Document>(),
            vec![
                index(
                    doc! { "refresh_digest": 1 },
                    named("sessions_refresh_digest_unique").unique(true).build(),
                ),
                index(doc! { "user_id": 1 }, named("sessions_user_id").build()),
                // The owner's listing, newest first, without a sort in memory.
                index(
                    doc! { "user_id": 1, "created_at": -1, "_id": -1 },
                    named("sessions_user_created").build(),
                ),
                index(doc! { "expires_at": 1 }, expires("sessions_expire")),
            ],
        );
        let login_attempts = (
            self.login_attempts.clone_with_type::<Document>(),
            vec![index(
                doc! { "expires_at": 1 },
                expires("login_attempts_expire"),
            )],
        );
        let link_offers = (
            self.link_offers.clone_with_type::<Document>(),
            vec![
                index(doc! { "expires_at": 1 }, expires("link_offers_expire")),
                // A wrong code is charged to every offer of its id.
                index(
                    doc! { "external_id": 1 },
                    named("link_offers_external_id").build(),
                ),
            ],
        );
        let tokens = (
            self.tokens.clone_with_type::<Document>(),
            vec![
                index(doc! { "expires_at": 1 }, expires("one_time_tokens_expire")),
                index(
                    doc! { "user_id": 1 },
                    named("one_time_tokens_user_id").build(),
                ),
            ],
        );
        let mfa_challenges = (
            self.mfa_challenges.clone_with_type::<Document>(),
            vec![
                index(doc! { "expires_at": 1 }, expires("mfa_challenges_expire")),
                // The owner's remedies void a user's outstanding `mfa_token`s.
                index(
                    doc! { "user_id": 1 },
                    named("mfa_challenges_user_id").build(),
                ),
            ],
        );
        let codes = (
            self.codes.clone_with_type::<Document>(),
            vec![index(
                doc! { "expires_at": 1 },
                expires("authorization_codes_expire"),
            )],
        );
        let passkeys = (
            self.passkeys.clone_with_type::<Document>(),
            vec![
                index(
                    doc! { "credential_id": 1 },
                    named(passkeys::CREDENTIAL_INDEX).unique(true).build(),
                ),
                index(doc! { "user_id": 1 }, named("passkeys_user_id").build()),
            ],
        );
        let passkey_ceremonies = (
            self.passkey_ceremonies.clone_with_type::<Document>(),
            vec![index(
                doc! { "expires_at": 1 },
                expires("passkey_ceremonies_expire"),
            )],
        );
        let registered_clients = (
            self.registered_clients.clone_with_type::<Document>(),
            vec![index(
                doc! { "expires_at": 1 },
                expires("registered_clients_expire"),
            )],
        );
        // A user's consents, for the account page's apps and the deletion.
        let consents = (
            self.consents.clone_with_type::<Document>(),
            vec![index(
                doc! { "user_id": 1 },
                named("oauth_consents_user_id").build(),
            )],
        );
        // The account page's and the export's read, newest first, and the
        // expiry (`activity::RETENTION` is set on each entry).
        let security_activity = (
            self.security_activity.clone_with_type::<Document>(),
            vec![
                index(
                    doc! { "user_id": 1, "at": -1, "_id": -1 },
                    named("security_activity_user_at").build(),
                ),
                index(
                    doc! { "expires_at": 1 },
                    expires("security_activity_expire"),
                ),
            ],
        );
        vec![
            users,
            linked,
            outbox,
            sessions,
            login_attempts,
            link_offers,
            tokens,
            mfa_challenges,
            codes,
            passkeys,
            passkey_ceremonies,
            registered_clients,
            consents,
            security_activity,
        ]
    }

    /// Creates the indexes unless this database records that exactly this
    /// set was created. `createIndexes` is a no-op for an index that exists,
    /// but it is a command per collection: 14 of them at every cold start,
    /// which the first request waited for (issue #19: 9–16 ms of its
    /// first − warm). The record makes that one read; a release that changes
    /// an index changes the digest, and its first cold start creates them.
    /// An index dropped by hand is not noticed: delete the record
    /// (`schema`, `_id: "indexes"`) and the next cold start creates it again.
    async fn ensure_indexes(&self) -> Result<(), MongoError> {
        let plan = self.index_plan();
        let digest = index_digest(&plan);
        let recorded = self
            .schema
            .find_one(doc! { "_id": INDEXES_RECORD, "digest": &digest })
            .projection(doc! { "_id": 1 })
            .await?;
        if recorded.is_some() {
            return Ok(());
        }
        // One collection after another: this runs once per release and
        // database (about 20 ms more than all at once, once), without tasks.
        for (collection, models) in plan {
            collection.create_indexes(models).await?;
        }
        self.schema
            .update_one(
                doc! { "_id": INDEXES_RECORD },
                doc! { "$set": { "digest": digest, "at": DateTime::now() } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Runs `work` in a transaction where the deployment has them, retrying
    /// transient failures as the drivers' `withTransaction` does; elsewhere runs
    /// the same steps in order, each of which is safe to retry. The steps write
    /// their outbox event last, so on a standalone server an event can be lost
    /// (the process dies between the change and the event) but never describe
    /// a change that did not happen.
    async fn atomically(&self, work: Atomic) -> Result<u64, StoreError> {
        self.atomically_unmapped(work)
            .await
            .map_err(|error| match error {
                Failure::Store(error) => error,
                Failure::Mongo(error) => match duplicate_user_index(&error) {
                    Some(EMAIL_INDEX) => StoreError::EmailTaken,
                    Some(USERNAME_INDEX) => StoreError::UsernameTaken,
                    Some(EXTERNAL_ID_INDEX) => StoreError::ExternalIdTaken,
                    _ => error.into(),
                },
            })
    }

    async fn atomically_unmapped(&self, work: Atomic) -> Result<u64, Failure> {
        if !self.deployment().await?.supports_transactions {
            return Ok(self.run(None, &work).await?);
        }
        let mut session = self.client.start_session().await?;
        let mut attempt = 1;
        loop {
            session.start_transaction().await?;
            let outcome = match self.run(Some(&mut session), &work).await {
                Ok(done) => commit(&mut session).await.map(|_| done),
                // With the server unreachable, an abort would only wait out another
                // server selection; the server drops the transaction by itself.
                Err(error) if is_unreachable(&error) => Err(error),
                Err(error) => {
                    let _ = session.abort_transaction().await;
                    Err(error)
                }
            };
            match outcome {
                Err(error)
                    if error.contains_label(TRANSIENT_TRANSACTION_ERROR)
                        && !is_unreachable(&error)
                        && attempt < TRANSACTION_ATTEMPTS =>
                {
                    // 2, 4, … 128 ms: the conflicting transaction is still open.
                    tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
                    attempt += 1;
                }
                other => return Ok(other?),
            }
        }
    }

    async fn run(
        &self,
        session: Option<&mut ClientSession>,
        work: &Atomic,
    ) -> Result<u64, MongoError> {
        match work {
            Atomic::Register(record) => self.register_steps(session, record).await,
            Atomic::LinkExternalId {
                user_id,
                external_id,
                how,
            } => self.link_steps(session, *user_id, external_id, *how).await,
            Atomic::DeleteUser {
                user_id,
                session_id,
                due,
                now,
                trust,
            } => {
                self.delete_steps(session, *user_id, *session_id, *due, *now, *trust)
                    .await
            }
            Atomic::ScheduleDeletion {
                user_id,
                session_id,
                now,
                until,
            } => {
                self.schedule_deletion_steps(session, *user_id, *session_id, *now, *until)
                    .await
            }
            Atomic::CancelDeletion { user_id, now } => {
                self.cancel_deletion_steps(session, *user_id, *now).await
            }
            Atomic::RevokeSessions {
                user_id,
                only,
                reason,
            } => self.revoke_steps(session, *user_id, *only, *reason).await,
            Atomic::EndSession {
                user_id,
                session_id,
                now,
                reason,
            } => {
                self.end_one_steps(session, *user_id, *session_id, *now, *reason)
                    .await
            }
            Atomic::ResetPassword { user_id, new_hash } => {
                self.reset_password_steps(session, *user_id, new_hash).await
            }
            Atomic::ChangePassword {
                user_id,
                verified_hash,
                new_hash,
                keep,
                now,
            } => {
                self.change_password_steps(session, *user_id, verified_hash, new_hash, *keep, *now)
                    .await
            }
            Atomic::VerifyEmail { user_id, email } => {
                self.verify_email_steps(session, *user_id, email).await
            }
            Atomic::ChangeEmail { user_id, email } => {
                self.change_email_steps(session, *user_id, email).await
            }
            Atomic::Mfa(change) => self.mfa_steps(session, change).await,
        }
    }
}

/// The writes that must commit together or not at all, each with the outbox
/// event it causes. An enum rather than a closure: the steps' futures must stay
/// `Send` for the Lambda runtime.
enum Atomic {
    Register(users::UserRecord),
    LinkExternalId {
        user_id: ObjectId,
        external_id: String,
        how: LinkKind,
    },
    /// With a session id, only if that session of the user is still open (the
    /// HTTP route); without, unconditionally (an erasure request).
    DeleteUser {
        user_id: ObjectId,
        session_id: Option<ObjectId>,
        /// The scheduled purge: only if the user's deletion is due by then.
        due: Option<DateTime>,
        now: DateTime,
        trust: LinkTrust,
    },
    /// Marks the user for deletion at `until` and ends every session, if
    /// `session_id` is open at `now`, with a `UserDeletionScheduled` event.
    ScheduleDeletion {
        user_id: ObjectId,
        session_id: ObjectId,
        now: DateTime,
        until: DateTime,
    },
    /// Unmarks it while still ahead of `now`, with `UserDeletionCancelled`.
    CancelDeletion {
        user_id: ObjectId,
        now: DateTime,
    },
    /// Every session of the user, or only `only`, with a `SessionsRevoked` event.
    RevokeSessions {
        user_id: ObjectId,
        only: Option<ObjectId>,
        reason: RevocationReason,
    },
    /// One session of the user, if open at `now`, with a `SessionEnded` event.
    EndSession {
        user_id: ObjectId,
        session_id: ObjectId,
        now: DateTime,
        reason: RevocationReason,
    },
    /// A new hash, with every reset token and session of the user ended.
    ResetPassword {
        user_id: ObjectId,
        new_hash: String,
    },
    /// Only over `verified_hash` and while `keep` is open; other sessions end.
    ChangePassword {
        user_id: ObjectId,
        verified_hash: String,
        new_hash: String,
        keep: ObjectId,
        now: DateTime,
    },
    VerifyEmail {
        user_id: ObjectId,
        email: String,
    },
    /// The pending address becomes the account's.
    ChangeEmail {
        user_id: ObjectId,
        email: String,
    },
    /// A second factor confirmed, a recovery code spent, or the factor
    /// removed, each with its event.
    Mfa(mfa::MfaChange),
}

/// `atomically`'s error before duplicate keys are named.
enum Failure {
    Store(StoreError),
    Mongo(MongoError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<MongoError> for Failure {
    fn from(error: MongoError) -> Self {
        Self::Mongo(error)
    }
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

fn is_duplicate_key(error: &MongoError) -> bool {
    duplicate_key_message(error).is_some()
}

fn duplicate_key_message(error: &MongoError) -> Option<&str> {
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(write)) if write.code == DUPLICATE_KEY => {
            Some(&write.message)
        }
        ErrorKind::Command(command) if command.code == DUPLICATE_KEY => Some(&command.message),
        _ => None,
    }
}

/// The unique index of `users` a duplicate-key error names, if it is one.
fn duplicate_user_index(error: &MongoError) -> Option<&'static str> {
    let message = duplicate_key_message(error)?;
    [EMAIL_INDEX, USERNAME_INDEX, EXTERNAL_ID_INDEX]
        .into_iter()
        .find(|index| message.contains(index))
}

/// The stored forms of the domain's ids (as `id.bytes()`) and times.
pub(crate) fn oid(bytes: [u8; 12]) -> ObjectId {
    ObjectId::from_bytes(bytes)
}

pub(crate) fn datetime(instant: Timestamp) -> DateTime {
    DateTime::from_millis(instant.as_millis())
}

pub(crate) fn timestamp(instant: DateTime) -> Timestamp {
    Timestamp::from_millis(instant.timestamp_millis())
}
