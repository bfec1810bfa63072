//! The benchmark's database, the floor's store and the users the run acts as.
//!
//! Users and sessions are created through `users_core`'s own store (so that
//! they always have the current schema and cost no argon2 work: they share
//! one precomputed hash), and sessions are opened by the functions' own
//! `Issuer`, built from the same configuration as theirs. What needs a
//! secret the domain makes (mailed tokens, TOTP factors, recovery codes, a
//! login's `mfa_token`) is made by the domain's own use cases, and taken
//! from what they answer or from the mail they render, as a user would.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use tokio::task::JoinSet;
use users_core::config::{self, KeySetKind};
use users_core::domain::keys::{self, KeySet};
use users_core::domain::login::{self, Credentials, LoginOutcome};
use users_core::domain::passkeys::{PasskeyRecord, PasskeyStore};
use users_core::domain::ports::{
    Accounts, Deletions, LinkKind, Mail, MailRequest, MailTransport, NewUser, Sessions, Users,
};
use users_core::domain::sessions::{self, Issuer};
use users_core::domain::tokens::Caller;
use users_core::domain::values::{
    Email, ExternalId, PasskeyId, Password, Timestamp, UserId, Username,
};
use users_core::domain::{mfa, passwords, publishing, recovery, totp};
use users_core::env::{Environment, Vars};
use users_core::keystore::SigningKeys;
use users_core::mongo::{client_options, MongoStore};

use crate::monitor::CommandLog;
use crate::operations::{
    AcceptingBus, BrowserSession, Context, Kind, NoQueue, OpenSession, Operation, Subject,
    OUTBOX_BATCH, PASSWORD,
};
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
    /// What the floors are configured with.
    pub context: Arc<Context>,
    seeder: Arc<Seeder>,
    client: Client,
    db: Database,
    shared: HashMap<Kind, Subject>,
    /// Numbers every user, so that names are unique.
    next_user: usize,
    /// Numbers the staged passkey ceremonies (their source addresses).
    staged: std::sync::atomic::AtomicUsize,
}

/// What creates users and sessions, shared by the seeding tasks.
struct Seeder {
    store: MongoStore,
    issuer: Arc<Issuer>,
    context: Arc<Context>,
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
        let min_next_age = keys::min_publication(tokens.access_token_ttl);
        let lifetimes = config::session_lifetimes(&vars).map_err(configuration)?;
        let source = config::key_source(&vars, KeySetKind::Signing).map_err(configuration)?;
        let issuer = SigningKeys::load(source, tokens, lifetimes)
            .await
            .map_err(|error| format!("the signing keys: {error}"))?
            .issuer()
            .await;
        let signing_keys = vars
            .var("SIGNING_KEYS_FILE")
            .ok_or("the functions' configuration: no SIGNING_KEYS_FILE")?;
        let signing_keys = std::fs::read_to_string(&signing_keys)?;
        KeySet::parse(&signing_keys).map_err(|error| format!("the signing keys: {error}"))?;
        let passkeys = config::passkey_settings(&vars).map_err(configuration)?;
        let context = Arc::new(Context {
            issuer: Arc::clone(&issuer),
            mfa: config::mfa_settings(&vars).await.map_err(configuration)?,
            mail: config::mail_settings(&vars).map_err(configuration)?,
            policy: config::mail_request_policy(&vars).map_err(configuration)?,
            forgot_per_source: config::forgot_per_source(&vars).map_err(configuration)?,
            links: config::link_verification(&vars).map_err(configuration)?,
            signing_keys,
            min_next_age,
            registration: config::registration_policy(&vars).map_err(configuration)?,
            relying_party: users_core::passkeys::RelyingParty::new(&passkeys)
                .map_err(|error| format!("the passkeys' relying party: {error}"))?,
            passkey_origin: passkeys
                .origins
                .first()
                .cloned()
                .ok_or("the passkeys' relying party has no origin")?,
            passkey_rp_id: passkeys.rp_id.clone(),
        });
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
            context: Arc::clone(&context),
            linked: db.collection(&settings.linked_collection),
            hash: passwords::hash_password(PASSWORD)?,
        });
        Ok(Self {
            settings,
            transactions,
            floor,
            log,
            issuer,
            context,
            seeder,
            client,
            db,
            shared: HashMap::new(),
            next_user: 0,
            staged: Default::default(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// A finish's ceremony, begun just before its timed call as the begin
    /// function begins it (another source address each: begins are
    /// limited per address), and the authenticator's answer to it.
    async fn stage_ceremony(
        &self,
        operation: Operation,
        subject: Option<&Subject>,
    ) -> Result<(), Error> {
        let subject = subject.ok_or("a passkey finish needs a subject")?;
        let holder = subject.passkey.as_ref().ok_or("no authenticator")?;
        let source = format!(
            "stage-{}",
            self.staged
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let staged = if operation == Operation::AddPasskey {
            self.seeder.begin_registration(subject, &source).await?
        } else {
            // The discoverable request, as the sign-in button sends it.
            let context = &self.seeder.context;
            let begun = users_core::passkeys::begin_sign_in(
                &self.seeder.store,
                &context.relying_party,
                None,
                &source,
                Timestamp::now(),
            )
            .await
            .map_err(|error| format!("staging a passkey sign-in: {error}"))?;
            let options = serde_json::to_value(&begun.options)?;
            crate::passkey::Staged {
                ceremony: begun.ceremony,
                credential: holder.get(&options, context.browser()).await,
            }
        };
        holder.stage(staged)
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
        if kind == Kind::OutboxBatch {
            // A user with a session per entry; the first holds the batch.
            let users =
                Box::pin(self.subjects(Kind::UserWithSession, n * OUTBOX_BATCH, false)).await?;
            return users
                .chunks(OUTBOX_BATCH)
                .map(|chunk| {
                    let mut subject = chunk[0].clone();
                    subject.batch = chunk
                        .iter()
                        .map(|user| user.session.as_ref().map(|session| session.caller.clone()))
                        .collect::<Option<Vec<Caller>>>()
                        .ok_or("a batch user without a session")?;
                    Ok(subject)
                })
                .collect();
        }
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
                tasks.spawn(async move { seeder.open_session(owner, false).await });
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

    /// Readies what an invocation (or floor) of `operation` on `subject`
    /// needs that cannot be made ahead: for publish-events, an outbox of one
    /// batch. Whatever the outbox held before (events of the seeding) is
    /// published first, untimed, so that the run publishes that batch only.
    pub async fn stage(
        &self,
        operation: Operation,
        subject: Option<&Subject>,
    ) -> Result<(), Error> {
        if operation == Operation::PurgeDeletions {
            // The subject's deletion falls due now, and no other's: each run
            // deletes one user.
            let subject = subject.ok_or("purge-deletions needs a scheduled user")?;
            let due = mongodb::bson::DateTime::from_millis(Timestamp::now().as_millis() - 1000);
            let made_due = self
                .db
                .collection::<Document>("users")
                .update_one(
                    doc! { "_id": ObjectId::from_bytes(subject.user_id.bytes()) },
                    doc! { "$set": { "deletion_scheduled_for": due } },
                )
                .await?;
            if made_due.matched_count != 1 {
                return Err("staging the purge: the scheduled user is gone".into());
            }
            return Ok(());
        }
        if matches!(operation, Operation::AddPasskey | Operation::PasskeySignIn) {
            return self.stage_ceremony(operation, subject).await;
        }
        if operation != Operation::PublishEvents {
            return Ok(());
        }
        let store = &self.seeder.store;
        let failed = |error: users_core::domain::DomainError| -> Error {
            format!("staging the outbox: {error}").into()
        };
        while publishing::publish(store, &AcceptingBus)
            .await
            .map_err(failed)?
            .remaining
            > 0
        {}
        let subject = subject.ok_or("publish-events needs a batch")?;
        let now = Timestamp::now();
        // Each logout everywhere writes one event with its change.
        for caller in &subject.batch {
            sessions::logout_all(store, caller, now)
                .await
                .map_err(failed)?;
        }
        Ok(())
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
            Kind::ResetToken => "reset",
            Kind::VerificationToken => "verify",
            Kind::PendingEmail => "pending",
            Kind::CancelToken => "cancel",
            Kind::PendingFactor => "enrolled",
            Kind::ConfirmedFactor => "mfa",
            Kind::MfaChallenge => "challenged",
            Kind::OutboxBatch => "outbox",
            Kind::AuthorizationCode => "code",
            Kind::ClientSession => "rp",
            Kind::ConfidentialSession => "backend",
            Kind::UserWithPasskeys => "passkeys",
            Kind::PasskeyNewcomer => "newkey",
            Kind::PasskeyHolder => "haskey",
            Kind::PasskeyMfaChallenge => "keymfa",
            Kind::BrowserSession => "browser",
            Kind::ScheduledDeletion => "leaving",
        };
        let username = format!("{tag}{i}");
        let email = format!("{username}@example.com");
        let user_id = UserId::new();
        let mut subject = Subject::new(user_id, username.clone(), email.clone());
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
        let failed = |error: users_core::domain::DomainError| -> Error {
            format!("seeding {kind:?}: {error}").into()
        };
        let parsed_email = Email::parse(&email).map_err(invalid)?;
        let new_email = Email::parse(&subject.new_email()).map_err(invalid)?;
        match kind {
            Kind::Account | Kind::SessionOfSharedUser => return Ok(subject),
            Kind::ResetToken => {
                let request = MailRequest::PasswordReset {
                    email: parsed_email,
                };
                subject.token = Some(seeder.mailed_token(&request, "reset-password").await?);
                return Ok(subject);
            }
            Kind::VerificationToken => {
                let request = MailRequest::EmailVerification { user_id };
                subject.token = Some(seeder.mailed_token(&request, "verify-email").await?);
                return Ok(subject);
            }
            Kind::AuthorizationCode => {
                subject.token = Some(crate::operations::issue_code(&seeder.store, user_id).await?);
                return Ok(subject);
            }
            Kind::ClientSession | Kind::ConfidentialSession => {
                // As the token endpoint opens it: the session of a grant.
                let now = Timestamp::now();
                let grant = match kind {
                    Kind::ClientSession => crate::operations::bench_grant(),
                    _ => crate::operations::confidential_grant(),
                };
                let (session, _) = seeder.issuer.open_session_for(
                    user_id,
                    users_core::domain::records::Authentication::password(now),
                    Default::default(),
                    Some(grant),
                    now,
                );
                seeder
                    .store
                    .insert_session(&session)
                    .await
                    .map_err(|error| error.to_string())?;
                let pair = seeder.issuer.token_pair(&session);
                subject.session = Some(OpenSession {
                    caller: Caller {
                        user_id,
                        session_id: session.id,
                        auth: session.auth,
                    },
                    access_token: pair.access.token,
                    refresh_token: pair.refresh_token,
                });
                return Ok(subject);
            }
            Kind::CancelToken => {
                // The change as change-email records it; its mail to the
                // current address carries the cancel link.
                seeder.pend_email(user_id, &new_email).await?;
                let request = MailRequest::EmailChange { user_id, new_email };
                subject.token = Some(seeder.mailed_token(&request, "cancel-email-change").await?);
                return Ok(subject);
            }
            _ => {}
        }
        if matches!(kind, Kind::UserWithLinkedData | Kind::ScheduledDeletion) {
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
        let mut subject = seeder
            .open_session(subject, kind == Kind::BrowserSession)
            .await?;
        if kind == Kind::UserWithPasskeys {
            subject.token = Some(seeder.add_passkeys(user_id).await?);
        }
        if matches!(
            kind,
            Kind::PasskeyNewcomer | Kind::PasskeyHolder | Kind::PasskeyMfaChallenge
        ) {
            subject.passkey = Some(Arc::new(crate::passkey::Holder::new()));
            if kind != Kind::PasskeyNewcomer {
                seeder.register_passkey(&subject).await?;
            }
        }
        if kind == Kind::ScheduledDeletion {
            // As delete-user schedules it under a grace period of 7 days,
            // with the restore link send-mail then mails.
            let session = subject.session.as_ref().ok_or("no session")?;
            let now = Timestamp::now();
            let until = now.plus(Duration::from_secs(7 * 86_400));
            let scheduled = seeder
                .store
                .schedule_deletion(user_id, session.caller.session_id, now, until)
                .await
                .map_err(|error| error.to_string())?;
            if !scheduled {
                return Err("the deletion was not scheduled".into());
            }
            let request = MailRequest::AccountRestore { user_id, until };
            subject.token = Some(seeder.mailed_token(&request, "restore-account").await?);
            return Ok(subject);
        }
        if kind == Kind::PendingEmail {
            seeder.pend_email(user_id, &new_email).await?;
        }
        if matches!(
            kind,
            Kind::PendingFactor
                | Kind::ConfirmedFactor
                | Kind::MfaChallenge
                | Kind::PasskeyMfaChallenge
        ) {
            let caller = subject
                .session
                .as_ref()
                .map(|session| session.caller.clone())
                .ok_or("no session")?;
            let context = &seeder.context;
            let now = Timestamp::now();
            let enrolment = mfa::enrol(
                &seeder.store,
                &NoQueue,
                &context.mfa,
                &caller,
                password()?,
                now,
            )
            .await
            .map_err(failed)?;
            let secret = base32_decode(&enrolment.secret_base32)
                .ok_or("the enrolment's secret is not base32")?;
            if kind != Kind::PendingFactor {
                // The previous step's code (within the drift window): the
                // step the factor then last accepted is behind the current
                // one, so the run's codes of the current step are accepted.
                let step = totp::step_at(now.as_secs()) - 1;
                subject.recovery_codes = mfa::confirm(
                    &seeder.store,
                    &NoQueue,
                    &context.mfa,
                    &caller,
                    totp::code(&secret, step),
                    now,
                )
                .await
                .map_err(failed)?;
            }
            subject.totp_secret = Some(secret);
            if matches!(kind, Kind::MfaChallenge | Kind::PasskeyMfaChallenge) {
                let credentials = Credentials {
                    email: parsed_email,
                    password: password()?,
                    client: "192.0.2.2".into(),
                    user_agent: None,
                };
                match login::login(&seeder.store, &seeder.issuer, credentials, now)
                    .await
                    .map_err(failed)?
                {
                    LoginOutcome::MfaRequired(pending) => subject.token = Some(pending.mfa_token),
                    LoginOutcome::Tokens(_) => {
                        return Err("a login with a factor asked for no second step".into())
                    }
                }
            }
        }
        Ok(subject)
    }

    /// A passkey for `subject`, registered as add-passkey registers one:
    /// begun through the relying party, made by its authenticator.
    async fn register_passkey(&self, subject: &Subject) -> Result<(), Error> {
        // Begins are limited per address: the user's own.
        let source = format!("seed-{}", subject.username);
        let staged = self.begin_registration(subject, &source).await?;
        users_core::passkeys::finish_registration(
            &self.store,
            &NoQueue,
            &self.context.relying_party,
            &caller_of(subject)?,
            &staged.ceremony,
            "Bench key",
            serde_json::from_value(staged.credential)?,
            Timestamp::now(),
        )
        .await
        .map_err(|error| format!("seeding a passkey: {error}"))?;
        Ok(())
    }

    /// A registration begun for `subject` from `source`, and its
    /// authenticator's new credential.
    async fn begin_registration(
        &self,
        subject: &Subject,
        source: &str,
    ) -> Result<crate::passkey::Staged, Error> {
        let holder = subject.passkey.as_ref().ok_or("no authenticator")?;
        let begun = users_core::passkeys::begin_registration(
            &self.store,
            &self.context.relying_party,
            &caller_of(subject)?,
            source,
            Timestamp::now(),
        )
        .await
        .map_err(|error| format!("beginning a passkey registration: {error}"))?;
        let options = serde_json::to_value(&begun.options)?;
        Ok(crate::passkey::Staged {
            ceremony: begun.ceremony,
            credential: holder.create(&options, self.context.browser()).await,
        })
    }

    /// Two passkey records as registration stores them, with a credential
    /// nobody can sign for (listing and removal never read it); the first
    /// one's id.
    async fn add_passkeys(&self, user_id: UserId) -> Result<String, Error> {
        let mut first = None;
        for n in 0..2 {
            let record = PasskeyRecord {
                id: PasskeyId::new(),
                user_id,
                credential_id: format!("bench-{}-{n}", user_id.to_hex()),
                name: format!("Bench key {n}"),
                credential: "{}".into(),
                counter: 0,
                backup_eligible: n == 0,
                backup_state: n == 0,
                created_at: Timestamp::now(),
                last_used_at: None,
            };
            if !self
                .store
                .insert_passkey(&record)
                .await
                .map_err(|error| error.to_string())?
            {
                return Err("a bench passkey's credential id is taken".into());
            }
            first.get_or_insert(record.id.to_hex());
        }
        first.ok_or_else(|| "no passkey".into())
    }

    /// An e-mail change to `new_email` pending on the account, confirmed by
    /// both addresses (the default), as change-email records it.
    async fn pend_email(&self, user_id: UserId, new_email: &Email) -> Result<(), Error> {
        if !self
            .store
            .set_pending_email(user_id, new_email, true)
            .await
            .map_err(|error| error.to_string())?
        {
            return Err("the pending e-mail was not recorded".into());
        }
        Ok(())
    }

    /// The token of the link to `/{page}` in the mails send-mail's use case
    /// sends for `request`, as the recipient reads it.
    async fn mailed_token(&self, request: &MailRequest, page: &str) -> Result<String, Error> {
        let outbox = MailCapture::default();
        let outcome = recovery::send_requested_mail(
            &self.store,
            &outbox,
            &self.context.mail,
            request,
            Timestamp::now(),
        )
        .await
        .map_err(|error| format!("send-mail's use case: {error}"))?;
        if outcome != recovery::MailOutcome::Sent {
            return Err(format!("send-mail's use case: {}", outcome.as_str()).into());
        }
        outbox
            .link_token(page)
            .ok_or_else(|| format!("no link to /{page} in the mails sent").into())
    }

    /// A new session of `subject`'s user; held by a browser if `browser`.
    async fn open_session(&self, subject: Subject, browser: bool) -> Result<Subject, Error> {
        let (session, pair) = self.issuer.open_session(subject.user_id, Timestamp::now());
        self.store
            .insert_session(&session)
            .await
            .map_err(|error| error.to_string())?;
        let browser = browser.then(|| {
            // As a sign-in on the pages sets it (`browser_cookie_for`).
            let secrets = &self.issuer.policy.secrets;
            let origin = self.context.passkey_origin.clone();
            let value = secrets.browser_cookie(session.id, &session.nonce);
            let name = if origin.starts_with("https://") {
                "__Host-session"
            } else {
                "session"
            };
            BrowserSession {
                cookie: format!("{name}={value}"),
                csrf: secrets.csrf_token(&value),
                value,
                origin,
            }
        });
        Ok(Subject {
            browser: browser.or(subject.browser),
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

fn caller_of(subject: &Subject) -> Result<Caller, Error> {
    subject
        .session
        .as_ref()
        .map(|session| session.caller.clone())
        .ok_or_else(|| format!("{} has no session", subject.username).into())
}

fn password() -> Result<Password, Error> {
    Password::parse_for_login(PASSWORD.into()).map_err(|error| error.message.to_string().into())
}

/// Where the seeding's mails go: rendered as send-mail renders them, kept.
#[derive(Default)]
struct MailCapture {
    texts: std::sync::Mutex<Vec<String>>,
}

impl MailCapture {
    /// The token of the latest link to `/{page}?token=`.
    fn link_token(&self, page: &str) -> Option<String> {
        let marker = format!("/{page}?token=");
        let texts = self.texts.lock().ok()?;
        texts.iter().rev().find_map(|text| {
            let (_, rest) = text.split_once(&marker)?;
            Some(rest.split_whitespace().next()?.to_string())
        })
    }
}

impl MailTransport for MailCapture {
    async fn send_mail(&self, mail: &Mail) -> Result<String, String> {
        let rendered = users_core::mail::render(mail, "https://app.example.com");
        let mut texts = self.texts.lock().map_err(|_| "poisoned".to_string())?;
        texts.push(rendered.text);
        Ok(format!("seeding-{}", texts.len()))
    }
}

/// RFC 4648 base32 (no padding), as authenticator apps read the secret.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut bytes = Vec::new();
    for c in text.trim_end_matches('=').chars() {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(bytes)
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
    // The functions' 2 s connect timeout also bounds the driver's monitoring
    // checks: on a loaded machine a SecantusDB that stalls past it makes the
    // monitor clear the pool, and every operation in flight fails with
    // "interrupted due to server monitor timeout" (it stopped make test's
    // smoke run twice). The benchmark's own clients wait instead: a stall
    // then shows in the figures, not as a failed run. Nothing else differs,
    // so the floors send the functions' very commands.
    options.connect_timeout = Some(Duration::from_secs(30));
    options.server_selection_timeout = Some(Duration::from_secs(30));
    if let Some(log) = log {
        log.install(&mut options);
    }
    MongoStore::new(options, &settings.database, &settings.linked_collection)
        .map_err(|error| error.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_decodes_what_the_domain_encodes() {
        let secret: Vec<u8> = (0u8..20).map(|n| n.wrapping_mul(37)).collect();
        assert_eq!(base32_decode(&totp::base32(&secret)), Some(secret));
        assert_eq!(base32_decode("not base32!"), None);
    }
}
