//! The benchmark's database and the floor.
//!
//! Users and their sessions are created through `users_core`'s own store (so
//! that thousands of them cost no argon2 work and always have the current
//! schema), and their access tokens are signed with the functions' own
//! `TokenKeys`, as login signs them.
//!
//! The floor of each endpoint is `users_core::domain`'s operation for it, called
//! from this process with a store built from the same client options: by
//! construction the very MongoDB operations the function performs, with the
//! same driver, plus its argon2id hash (register) or verification (login).
//! What the function adds on top — the Runtime API round trip, the API Gateway
//! event and response, request validation, logging — is its overhead.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mongodb::bson::doc;
use mongodb::bson::oid::ObjectId;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use users_core::config::{Config, Environment};
use users_core::domain;
use users_core::passwords::{self, Verification};
use users_core::refresh;
use users_core::store::{client_options, NewUser, SessionRecord};
use users_core::tokens::{unix_now, Caller};
use users_core::validation::{Credentials, Registration};
use users_core::AppState;

pub const PASSWORD: &str = "correct horse battery staple";
pub const LINKED_COLLECTION: &str = "linked_collection";
const BATCH: usize = 500;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A user the benchmark acts as, with an open session.
pub struct Account {
    pub caller: Caller,
    pub hex: String,
    pub email: String,
    pub token: String,
}

/// How many users of each kind to create.
pub struct Sizes {
    pub login: usize,
    pub delete: usize,
    pub floor_delete: usize,
}

pub struct Dataset {
    pub database: String,
    uri: String,
    state: AppState,
    db: Database,
    hash: String,
    /// Whether the deployment runs transactions (the functions delete in one then).
    pub transactions: bool,
    pub login: Vec<Account>,
    pub profile: Account,
    pub link: Account,
    floor_link: Account,
    pub delete: Vec<Account>,
    floor_delete: Vec<Account>,
    /// The delete users' linked documents, inserted just before delete is measured.
    delete_linked: Vec<mongodb::bson::Document>,
}

/// The variables `Config` reads, for building the functions' own state.
struct Vars(HashMap<&'static str, String>);

impl Environment for Vars {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn api(error: users_core::ApiError) -> Error {
    format!("{error} ({error:?})").into()
}

impl Dataset {
    /// Creates a fresh database `database` with the users the run needs.
    pub async fn create(
        uri: &str,
        database: &str,
        jwt_secret: &str,
        sizes: &Sizes,
    ) -> Result<Self, Error> {
        let vars = Vars(HashMap::from([
            ("MONGODB_DB", database.to_string()),
            ("LINKED_COLLECTION", LINKED_COLLECTION.to_string()),
        ]));
        let config = Config::from_values(&vars, Some(jwt_secret.into()), Some(uri.into()))
            .map_err(|error| format!("benchmark configuration: {error}"))?;
        let state = AppState::new(&config)
            .await
            .map_err(|error| format!("benchmark state: {error}"))?;
        // The functions' own index creation, so the data below is indexed as in production.
        state.store.prepare().await?;
        let client = Client::with_options(client_options(ClientOptions::parse(uri).await?))?;
        let db = client.database(database);
        let hello = client
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await?;
        let transactions = hello.contains_key("setName")
            || hello.get_str("msg").is_ok_and(|msg| msg == "isdbgrid");
        let hash = passwords::hash_password(PASSWORD)?;
        let mut data = Self {
            database: database.to_string(),
            uri: uri.to_string(),
            db,
            hash,
            transactions,
            login: Vec::new(),
            profile: placeholder(),
            link: placeholder(),
            floor_link: placeholder(),
            delete: Vec::new(),
            floor_delete: Vec::new(),
            delete_linked: Vec::new(),
            state,
        };
        let mut linked = Vec::new();

        for i in 0..sizes.login {
            let account = data.account(&format!("login{i}"), false).await?;
            data.login.push(account);
        }
        data.profile = data.account("profile", false).await?;
        let profile = &data.profile.caller.user_id;
        data.state
            .store
            .link_external_id(*profile, "crm-profile")
            .await?;
        linked.push(doc! { "_id": "crm-profile", "plan": "gold", "seats": 12 });
        linked.push(doc! { "user_id": profile, "kind": "note", "text": "VIP" });
        linked.push(doc! { "user_id": profile.to_hex(), "kind": "legacy", "score": 7.5 });
        data.link = data.account("link", false).await?;
        data.floor_link = data.account("floorlink", false).await?;
        for i in 0..sizes.delete {
            let account = data.account(&format!("delete{i}"), true).await?;
            linked_data(&mut data.delete_linked, &account);
            data.delete.push(account);
        }
        for i in 0..sizes.floor_delete {
            let account = data.account(&format!("floordelete{i}"), true).await?;
            linked_data(&mut data.delete_linked, &account);
            data.floor_delete.push(account);
        }
        data.insert_linked(linked).await?;
        Ok(data)
    }

    async fn insert_linked(&self, documents: Vec<mongodb::bson::Document>) -> Result<(), Error> {
        let collection = self
            .db
            .collection::<mongodb::bson::Document>(LINKED_COLLECTION);
        for batch in documents.chunks(BATCH) {
            collection.insert_many(batch).await?;
        }
        Ok(())
    }

    /// Inserts the delete users' linked documents (two per user); returns how
    /// many documents the linked collection then holds. Until then it holds
    /// only the profile user's three, so that the profile is measured on a small
    /// collection and, separately, on this larger one.
    pub async fn seed_delete_linked(&mut self) -> Result<u64, Error> {
        let documents = std::mem::take(&mut self.delete_linked);
        self.insert_linked(documents).await?;
        Ok(self
            .db
            .collection::<mongodb::bson::Document>(LINKED_COLLECTION)
            .count_documents(doc! {})
            .await?)
    }

    /// What a cold start's first operation waits for: a new client's first
    /// connection, the index creation and the deployment probe (`prepare`).
    pub async fn cold_prepare(&self) -> Result<Duration, Error> {
        let started = Instant::now();
        let options = client_options(ClientOptions::parse(&self.uri).await?);
        let store = users_core::store::UserStore::new(options, &self.database, LINKED_COLLECTION)?;
        store.prepare().await?;
        Ok(started.elapsed())
    }

    /// Registration validation (zxcvbn included): the first call in a process,
    /// which builds zxcvbn's dictionaries, and the next one.
    pub fn validation_first_and_next() -> (Duration, Duration) {
        let body = serde_json::json!({
            "username": "validation",
            "email": "validation@example.com",
            "password": PASSWORD,
        });
        let body = body.as_object().expect("an object");
        let time = || {
            let started = Instant::now();
            let _ = std::hint::black_box(users_core::validation::registration(body));
            started.elapsed()
        };
        (time(), time())
    }

    /// A user created as register creates one, with a session as login opens one.
    async fn account(&self, username: &str, external_id: bool) -> Result<Account, Error> {
        let store = &self.state.store;
        let email = format!("{username}@example.com");
        let user_id = store
            .insert_user(NewUser {
                username: username.to_string(),
                email: email.clone(),
                hashed_password: self.hash.clone(),
            })
            .await?;
        if external_id {
            store
                .link_external_id(user_id, &format!("crm-{username}"))
                .await?;
        }
        let policy = &self.state.sessions;
        let nonce = refresh::new_nonce();
        let refresh_token = policy.secrets.refresh_token(&nonce, 0);
        let session = SessionRecord::new(
            user_id,
            nonce,
            refresh::digest(&refresh_token),
            policy.lifetime,
        );
        store.insert_session(&session).await?;
        let caller = Caller {
            user_id,
            session_id: session.id,
        };
        let jti = policy
            .secrets
            .access_token_id(&session.nonce, session.generation);
        let token = self.state.tokens.issue(&caller, unix_now(), jti).token;
        Ok(Account {
            hex: user_id.to_hex(),
            caller,
            email,
            token,
        })
    }

    pub async fn drop(&self) {
        let _ = self.db.drop().await;
    }

    /// One `ping` round trip: the database's round-trip time.
    pub async fn ping(&self) -> Result<Duration, Error> {
        let started = Instant::now();
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(started.elapsed())
    }

    /// One argon2id hash at the production parameters, on this thread.
    pub fn argon2_hash(&self) -> Result<Duration, Error> {
        let started = Instant::now();
        passwords::hash_password(PASSWORD)?;
        Ok(started.elapsed())
    }

    /// One argon2id verification at the production parameters, on this thread.
    pub fn argon2_verify(&self) -> Result<Duration, Error> {
        let started = Instant::now();
        if passwords::verify_password(PASSWORD, &self.hash) != Verification::Match {
            return Err("argon2 reference: the password did not verify".into());
        }
        Ok(started.elapsed())
    }

    pub async fn floor_register(&self, i: usize) -> Result<Duration, Error> {
        let registration = Registration {
            username: format!("floorreg{i}"),
            email: format!("floorreg{i}@example.com"),
            password: PASSWORD.into(),
        };
        let started = Instant::now();
        domain::register(&self.state.store, registration)
            .await
            .map_err(api)?;
        Ok(started.elapsed())
    }

    pub async fn floor_login(&self, i: usize) -> Result<Duration, Error> {
        let credentials = Credentials {
            email: self.login[i % self.login.len()].email.clone(),
            password: PASSWORD.into(),
        };
        let started = Instant::now();
        let state = &self.state;
        domain::login(&state.store, &state.tokens, &state.sessions, credentials)
            .await
            .map_err(api)?;
        Ok(started.elapsed())
    }

    pub async fn floor_link(&self, i: usize) -> Result<Duration, Error> {
        let external_id = format!("floor-crm-{i}");
        let started = Instant::now();
        domain::link_external_id(&self.state.store, &self.floor_link.caller, &external_id)
            .await
            .map_err(api)?;
        Ok(started.elapsed())
    }

    pub async fn floor_profile(&self) -> Result<Duration, Error> {
        let started = Instant::now();
        let profile = domain::full_profile(&self.state.store, &self.profile.caller)
            .await
            .map_err(api)?;
        std::hint::black_box(profile);
        Ok(started.elapsed())
    }

    pub async fn floor_delete(&self, i: usize) -> Result<Duration, Error> {
        let account = self
            .floor_delete
            .get(i)
            .ok_or("floor delete: not enough users")?;
        let started = Instant::now();
        domain::delete_user(&self.state.store, &account.caller)
            .await
            .map_err(api)?;
        Ok(started.elapsed())
    }
}

/// Two linked documents per user, as delete finds them: one by external id, one by user id.
fn linked_data(linked: &mut Vec<mongodb::bson::Document>, account: &Account) {
    let username = account.email.trim_end_matches("@example.com");
    linked.push(doc! { "_id": format!("crm-{username}"), "plan": "basic" });
    linked.push(doc! { "user_id": account.caller.user_id, "kind": "note" });
}

fn placeholder() -> Account {
    Account {
        caller: Caller {
            user_id: ObjectId::new(),
            session_id: ObjectId::new(),
        },
        hex: String::new(),
        email: String::new(),
        token: String::new(),
    }
}
