//! The benchmark's database, the floor's store and the users the run acts as.
//!
//! Users and sessions are created through `users_core`'s own store (so that
//! they always have the current schema and cost no argon2 work: they share
//! one precomputed hash), and sessions are opened by the functions' own
//! `Issuer`, built from the same configuration as theirs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use tokio::task::JoinSet;
use users_core::config::{self, KeySetKind};
use users_core::domain::passwords;
use users_core::domain::ports::{LinkKind, NewUser, Sessions, Users};
use users_core::domain::sessions::Issuer;
use users_core::domain::tokens::Caller;
use users_core::domain::values::{Email, ExternalId, Timestamp, UserId, Username};
use users_core::env::Vars;
use users_core::keystore::SigningKeys;
use users_core::mongo::{client_options, MongoStore};

use crate::monitor::CommandLog;
use crate::operations::{Kind, OpenSession, Subject, PASSWORD};
use crate::Error;

/// Parallel creations while seeding: enough to keep the server busy.
const SEEDING: usize = 8;

/// The configuration the functions read, built from the same variables.
pub struct Settings {
    pub uri: String,
    pub database: String,
    pub linked_collection: String,
    pub max_pool_size: u32,
}

pub struct Dataset {
    pub settings: Settings,
    /// Whether the deployment runs transactions (writes of two documents use one then).
    pub transactions: bool,
    /// The floor's store, its commands recorded by `log`.
    pub floor: MongoStore,
    pub log: CommandLog,
    pub issuer: Arc<Issuer>,
    seeder: Arc<Seeder>,
    client: Client,
    db: Database,
    shared: HashMap<Kind, Subject>,
    /// Numbers every user, so that names are unique.
    next_user: usize,
}

/// What creates users and sessions, shared by the seeding tasks.
struct Seeder {
    store: MongoStore,
    issuer: Arc<Issuer>,
    linked: Collection<Document>,
    hash: String,
}

impl Dataset {
    /// Connects to `uri` with the variables `env` the functions get (their
    /// `MONGODB_DB` names a fresh database), and creates the indexes as they would.
    pub async fn create(uri: &str, env: &[(String, String)]) -> Result<Self, Error> {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let vars = Vars(&pairs);
        let configuration = |error: users_core::env::ConfigError| -> Error {
            format!("the functions' configuration: {error}").into()
        };
        // As login and refresh read it (runtime::database_and_signing_keys).
        let database = config::load_database(&vars).await.map_err(configuration)?;
        let tokens = config::token_settings(&vars).map_err(configuration)?;
        let lifetimes = config::session_lifetimes(&vars).map_err(configuration)?;
        let source = config::key_source(&vars, KeySetKind::Signing).map_err(configuration)?;
        let issuer = SigningKeys::load(source, tokens, lifetimes)
            .await
            .map_err(|error| format!("the signing keys: {error}"))?
            .issuer()
            .await;
        let settings = Settings {
            uri: uri.to_string(),
            database: database.database.clone(),
            linked_collection: database.linked_collection.clone(),
            max_pool_size: database.max_pool_size,
        };
        let log = CommandLog::default();
        let floor = store(&settings, settings.max_pool_size, Some(&log)).await?;
        // The functions' own index creation, so the data below is indexed as in production.
        floor.prepare().await.map_err(|error| error.to_string())?;
        log.take();
        let seeding = store(&settings, SEEDING as u32, None).await?;
        let client = Client::with_options(ClientOptions::parse(&settings.uri).await?)?;
        let db = client.database(&settings.database);
        let hello = client
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await?;
        let transactions = hello.contains_key("setName")
            || hello.get_str("msg").is_ok_and(|msg| msg == "isdbgrid");
        let seeder = Arc::new(Seeder {
            store: seeding,
            issuer: Arc::clone(&issuer),
            linked: db.collection(&settings.linked_collection),
            hash: passwords::hash_password(PASSWORD)?,
        });
        Ok(Self {
            settings,
            transactions,
            floor,
            log,
            issuer,
            seeder,
            client,
            db,
            shared: HashMap::new(),
            next_user: 0,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The hash every seeded user has (of `PASSWORD`).
    pub fn hash(&self) -> &str {
        &self.seeder.hash
    }

    /// `n` new subjects of `kind` (the shared one `n` times when `shared`).
    pub async fn subjects(
        &mut self,
        kind: Kind,
        n: usize,
        shared: bool,
    ) -> Result<Vec<Subject>, Error> {
        if shared || kind == Kind::SessionOfSharedUser {
            if !self.shared.contains_key(&kind) {
                let first = self.next_user;
                self.next_user += 1;
                let owner_kind = match kind {
                    Kind::SessionOfSharedUser => Kind::Account,
                    other => other,
                };
                let subject =
                    Seeder::make(Arc::clone(&self.seeder), owner_kind, first, true).await?;
                self.shared.insert(kind, subject);
            }
            let owner = self.shared[&kind].clone();
            if shared {
                return Ok(vec![owner; n]);
            }
            // A new session of the shared user each.
            let mut tasks = JoinSet::new();
            let mut subjects = Vec::with_capacity(n);
            for _ in 0..n {
                if tasks.len() >= SEEDING {
                    subjects.push(joined(tasks.join_next().await)?);
                }
                let seeder = Arc::clone(&self.seeder);
                let owner = owner.clone();
                tasks.spawn(async move { seeder.open_session(owner).await });
            }
            while let Some(done) = tasks.join_next().await {
                subjects.push(joined(Some(done))?);
            }
            return Ok(subjects);
        }
        let first = self.next_user;
        self.next_user += n;
        let mut tasks = JoinSet::new();
        let mut subjects = Vec::with_capacity(n);
        for i in first..first + n {
            if tasks.len() >= SEEDING {
                subjects.push(joined(tasks.join_next().await)?);
            }
            tasks.spawn(Seeder::make(Arc::clone(&self.seeder), kind, i, false));
        }
        while let Some(done) = tasks.join_next().await {
            subjects.push(joined(Some(done))?);
        }
        Ok(subjects)
    }

    /// A store like the floor's, on a new client: what a cold start has.
    pub async fn new_store(&self, log: &CommandLog) -> Result<MongoStore, Error> {
        store(&self.settings, self.settings.max_pool_size, Some(log)).await
    }

    /// One `ping` round trip.
    pub async fn ping(&self) -> Result<Duration, Error> {
        let started = Instant::now();
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(started.elapsed())
    }

    /// The server's request and connection counters (`serverStatus`), if it
    /// keeps them: `(requests, connections created)`.
    pub async fn server_counters(&self) -> Option<(i64, i64)> {
        let status = self
            .client
            .database("admin")
            .run_command(doc! { "serverStatus": 1 })
            .await
            .ok()?;
        let number = |document: &Document, key: &str| {
            document
                .get(key)
                .and_then(|value| value.as_i64().or_else(|| value.as_i32().map(i64::from)))
        };
        let requests = number(status.get_document("network").ok()?, "numRequests")?;
        let connections = number(status.get_document("connections").ok()?, "totalCreated")?;
        Some((requests, connections))
    }

    pub async fn drop(&self) {
        let _ = self.db.drop().await;
    }
}

impl Seeder {
    async fn make(seeder: Arc<Self>, kind: Kind, i: usize, shared: bool) -> Result<Subject, Error> {
        let tag = match kind {
            Kind::NewUser => "new",
            Kind::Account | Kind::SessionOfSharedUser => "acct",
            Kind::UserWithSession => "sess",
            Kind::UserWithLinkedData => "linked",
        };
        let username = format!("{tag}{i}");
        let email = format!("{username}@example.com");
        let user_id = UserId::new();
        let subject = Subject {
            user_id,
            username: username.clone(),
            email: email.clone(),
            session: None,
        };
        if kind == Kind::NewUser {
            return Ok(subject);
        }
        let invalid = |error: users_core::domain::FieldError| -> Error { error.message.into() };
        seeder
            .store
            .insert_user(NewUser {
                id: user_id,
                username: Username::parse(&username).map_err(invalid)?,
                email: Email::parse(&email).map_err(invalid)?,
                hashed_password: seeder.hash.clone(),
                created_at: Timestamp::now(),
            })
            .await
            .map_err(|error| error.to_string())?;
        if kind == Kind::Account || kind == Kind::SessionOfSharedUser {
            return Ok(subject);
        }
        if kind == Kind::UserWithLinkedData {
            let external_id = format!("crm-{username}");
            seeder
                .store
                .link_external_id(
                    user_id,
                    &ExternalId::parse(&external_id).map_err(invalid)?,
                    LinkKind::Authoritative,
                )
                .await
                .map_err(|error| error.to_string())?;
            let owner = ObjectId::from_bytes(user_id.bytes());
            // The profile user's three: by external id, by user id, by user
            // id as hex (older records); the others' two.
            let mut documents = vec![
                doc! { "_id": &external_id, "plan": "gold", "seats": 12 },
                doc! { "user_id": owner, "kind": "note", "text": "VIP" },
            ];
            if shared {
                documents.push(doc! { "user_id": owner.to_hex(), "kind": "legacy", "score": 7.5 });
            }
            seeder.linked.insert_many(documents).await?;
        }
        seeder.open_session(subject).await
    }

    async fn open_session(&self, subject: Subject) -> Result<Subject, Error> {
        let (session, pair) = self.issuer.open_session(subject.user_id, Timestamp::now());
        self.store
            .insert_session(&session)
            .await
            .map_err(|error| error.to_string())?;
        Ok(Subject {
            session: Some(OpenSession {
                caller: Caller {
                    user_id: subject.user_id,
                    session_id: session.id,
                    auth: session.auth,
                },
                access_token: pair.access.token,
                refresh_token: pair.refresh_token,
            }),
            ..subject
        })
    }
}

fn joined(
    done: Option<Result<Result<Subject, Error>, tokio::task::JoinError>>,
) -> Result<Subject, Error> {
    match done {
        Some(Ok(subject)) => subject,
        Some(Err(error)) => Err(format!("seeding task: {error}").into()),
        None => Err("seeding: no task".into()),
    }
}

/// A store with the functions' client options; its commands go to `log` if given.
async fn store(
    settings: &Settings,
    pool: u32,
    log: Option<&CommandLog>,
) -> Result<MongoStore, Error> {
    let mut options = client_options(ClientOptions::parse(&settings.uri).await?, pool);
    if let Some(log) = log {
        log.install(&mut options);
    }
    MongoStore::new(options, &settings.database, &settings.linked_collection)
        .map_err(|error| error.to_string().into())
}
