//! Test support: API Gateway fixture events and a throwaway database per test.
//!
//! The tests run against a real MongoDB wire server named by `MONGODB_URI`
//! (`make test` starts SecantusDB and sets it; any MongoDB works).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::Document;
use serde_json::{json, Value};
use users_core::config::{DatabaseSettings, SessionLifetimes};
use users_core::domain::keys::KeySet;
use users_core::domain::linking::LinkVerification;
use users_core::domain::mfa::MfaSettings;
use users_core::domain::sealing::SealingKey;
use users_core::domain::tokens::TokenSettings;
use users_core::keygen::next_key_set;
use users_core::keystore::{KeySource, PublishedKeys, RegisteredClients, SigningKeys};
use users_core::mongo::MongoStore;

/// Strong enough for zxcvbn; every test user has it.
pub const PASSWORD: &str = "correct horse battery staple";

/// A registered, logged-in user.
#[derive(Clone)]
pub struct SignedUp {
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").expect(
        "MONGODB_URI must name a MongoDB server for these tests: run `make test`, which starts one",
    )
}

/// One key set per test process: RSA key generation is the slow part.
pub fn test_keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        next_key_set(None, 0, std::time::Duration::ZERO).expect("RSA keys generate")
    })
}

/// What a test app is built from; a test may change any of it first.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub mongodb_uri: String,
    pub database: String,
    pub linked_collection: String,
    /// The private key set, as stored.
    pub signing_keys: String,
    pub public_base_url: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub session_max_lifetime: Duration,
    pub refresh_grace: Duration,
    /// `LINK_VERIFICATION`. `Off` here, the original API's linking, which
    /// most tests exercise the store through; the default `Required` has its
    /// own tests (tests/tests/api/linking/handlers.rs).
    pub links: LinkVerification,
    /// `STEP_UP_MAX_AGE_SECONDS`.
    pub step_up_max_age: Duration,
    /// The OAuth clients document (`OAUTH_CLIENTS_FILE`'s content).
    pub oauth_clients: String,
    /// `DELETION_GRACE_DAYS`: 0 (delete at once) unless a test sets one.
    pub deletion_grace: users_core::domain::deletion::GracePeriod,
    /// The export's size bound: `export::MAX_BYTES` unless a test lowers it.
    pub export_max_bytes: usize,
    /// `DYNAMIC_CLIENT_REGISTRATION` (off, as deployed by default) and its
    /// per-source budget.
    pub registration: users_core::domain::registration::RegistrationPolicy,
    /// The token, revocation and introspection budgets, as deployed by default.
    pub oauth_limits: users_core::domain::oauth::OAuthLimits,
}

/// The secret of the confidential test client `server` (`TEST_CLIENTS`).
pub const SERVER_CLIENT_SECRET: &str = "server-secret-of-the-handler-tests-0123456789";

/// The resources (RFC 8707) of the tests' clients document.
pub const TEST_RESOURCES: [&str; 2] = ["https://mcp.example", "https://api.example/v1"];

/// The OAuth clients of the tests: `spa` (public, third-party, every scope),
/// `server` (confidential, secret `SERVER_CLIENT_SECRET`), `first`
/// (public, first-party), `machine` (confidential, `client_credentials`
/// for both resources) and `mcp-resource` (confidential, the resource
/// server of `https://mcp.example`, which introspects its tokens); the
/// confidential ones share the secret.
pub fn test_clients() -> String {
    let digest = users_core::domain::clients::secret_digest(SERVER_CLIENT_SECRET);
    json!({"resources": TEST_RESOURCES, "clients": [
        {"id": "machine", "name": "A machine", "type": "confidential",
         "secret_sha256": digest, "scopes": ["email"],
         "grants": ["client_credentials"], "resources": TEST_RESOURCES},
        {"id": "mcp-resource", "name": "The MCP server", "type": "confidential",
         "secret_sha256": digest, "scopes": ["openid"],
         "grants": ["client_credentials"], "resources": ["https://MCP.example/"]},
        {"id": "spa", "name": "Demo SPA", "type": "public",
         "redirect_uris": ["http://localhost:8765/callback"],
         "post_logout_redirect_uris": ["http://localhost:8765/signed-out"],
         "scopes": ["openid", "profile", "email", "offline_access"],
         "grants": ["authorization_code", "refresh_token"]},
        {"id": "server", "name": "Demo server", "type": "confidential",
         "secret_sha256": digest,
         "redirect_uris": ["https://app.example/callback"],
         "scopes": ["openid", "profile", "email", "offline_access"],
         "grants": ["authorization_code", "refresh_token"]},
        {"id": "first", "name": "Our app", "type": "public", "first_party": true,
         "redirect_uris": ["http://localhost:8766/callback"],
         "scopes": ["openid", "profile", "email", "offline_access"],
         "grants": ["authorization_code", "refresh_token"]}
    ]})
    .to_string()
}

impl TestConfig {
    pub fn token_settings(&self) -> TokenSettings {
        TokenSettings {
            issuer: self.public_base_url.clone(),
            audience: self.jwt_audience.clone(),
            access_token_ttl: self.access_token_ttl,
        }
    }

    pub fn key_set(&self) -> KeySet {
        KeySet::parse(&self.signing_keys).expect("the test key set is valid")
    }
}

/// A fresh database per test, so tests run in parallel without seeing each other.
pub struct TestApp {
    pub store: MongoStore,
    /// The second factor's settings, with a sealing key of this test's own.
    pub mfa: MfaSettings,
    /// The mail queue of the routes that ask for mail (notices of factor
    /// changes), in memory: `mail.requests()` is what they asked for.
    pub mail: users_core::memory::MemoryMail,
    /// `MAILS_PER_ACCOUNT_PER_HOUR` and `EMAIL_CHANGE_CONFIRMATION` as deployed by default.
    pub mail_policy: users_core::domain::recovery::MailRequestPolicy,
    pub signing: SigningKeys,
    pub published: PublishedKeys,
    pub clients: RegisteredClients,
    /// The passkeys' relying party: `localhost`, origin http://localhost:9000.
    pub passkeys: users_core::passkeys::RelyingParty,
    pub db: mongodb::Database,
    pub config: TestConfig,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_uri(&mongodb_uri()).await
    }

    pub async fn with_uri(uri: &str) -> Self {
        Self::with_config(uri, |_| {}).await
    }

    /// A test app whose configuration `adjust` changes first (say, a short grace window).
    pub async fn with_config(uri: &str, adjust: impl FnOnce(&mut TestConfig)) -> Self {
        let mut config = TestConfig {
            mongodb_uri: uri.to_string(),
            database: format!("handler_tests_{}", ObjectId::new().to_hex()),
            linked_collection: "linked_collection".into(),
            signing_keys: test_keys().to_json(),
            public_base_url: "http://127.0.0.1:9000".into(),
            jwt_audience: "user-management-api".into(),
            access_token_ttl: Duration::from_secs(1800),
            refresh_token_ttl: Duration::from_secs(30 * 86_400),
            session_max_lifetime: Duration::from_secs(90 * 86_400),
            refresh_grace: Duration::from_secs(10),
            links: LinkVerification::Off,
            step_up_max_age: Duration::from_secs(600),
            oauth_clients: test_clients(),
            deletion_grace: Default::default(),
            export_max_bytes: users_core::domain::export::MAX_BYTES,
            registration: users_core::domain::registration::RegistrationPolicy {
                mode: users_core::domain::registration::RegistrationMode::Off,
                per_source_per_hour: 10,
            },
            oauth_limits: users_core::domain::oauth::OAuthLimits::default(),
        };
        adjust(&mut config);
        let store = users_core::runtime::connect(&DatabaseSettings {
            uri: config.mongodb_uri.clone().into(),
            database: config.database.clone(),
            linked_collection: config.linked_collection.clone(),
            // Concurrent test requests share this one store, where each Lambda
            // environment has its own pool: a pool of two could be held by
            // writes waiting on a transaction that then waits for a connection.
            max_pool_size: 16,
        })
        .await
        .expect("test configuration is valid");
        let signing = SigningKeys::load(
            KeySource::Inline(config.signing_keys.clone()),
            config.token_settings(),
            SessionLifetimes {
                sliding: config.refresh_token_ttl,
                max: config.session_max_lifetime,
                grace: config.refresh_grace,
            },
        )
        .await
        .expect("the test key set is valid");
        let published = PublishedKeys::load(
            KeySource::Inline(config.key_set().public().to_json()),
            config.token_settings(),
        )
        .await
        .expect("the test key set is valid");
        let clients = RegisteredClients::load(KeySource::Inline(config.oauth_clients.clone()))
            .await
            .expect("the test clients are valid");
        let client = mongodb::Client::with_uri_str(uri)
            .await
            .expect("valid MONGODB_URI");
        let db = client.database(&config.database);
        let mfa = MfaSettings {
            key: SealingKey::from_material(&format!("test-mfa-key-{}", ObjectId::new().to_hex()))
                .expect("long enough"),
            issuer: "Test API".into(),
            step_up_max_age: config.step_up_max_age,
        };
        let passkeys = users_core::passkeys::RelyingParty::new(
            &users_core::config::passkey_settings(&users_core::env::Vars(&[
                ("PUBLIC_BASE_URL", config.public_base_url.as_str()),
                (
                    "STEP_UP_MAX_AGE_SECONDS",
                    &config.step_up_max_age.as_secs().to_string(),
                ),
            ]))
            .expect("the test relying party is valid"),
        )
        .expect("the test relying party is valid");
        Self {
            store,
            mfa,
            passkeys,
            mail: Default::default(),
            mail_policy: Default::default(),
            signing,
            published,
            clients,
            db,
            config,
        }
    }

    pub fn users(&self) -> mongodb::Collection<Document> {
        self.db.collection("users")
    }

    pub fn linked(&self) -> mongodb::Collection<Document> {
        self.db.collection(&self.config.linked_collection)
    }

    pub fn sessions(&self) -> mongodb::Collection<Document> {
        self.db.collection("sessions")
    }

    pub fn outbox(&self) -> mongodb::Collection<Document> {
        self.db.collection("outbox")
    }

    /// Runs `functions/ingest-events`' handler on an SQS event of `messages`
    /// (message id, body), returning the ids reported in `batchItemFailures`.
    pub async fn ingest(&self, messages: &[(&str, &str)]) -> Vec<String> {
        let event = lambda_runtime::LambdaEvent::new(
            sqs_event(messages),
            lambda_runtime::Context::default(),
        );
        let response = users_core::sqs::handler(&self.store, self.config.links, event)
            .await
            .expect("the ingest handler reports failures per message");
        serde_json::to_value(&response).unwrap()["batchItemFailures"]
            .as_array()
            .expect("batchItemFailures is always present")
            .iter()
            .map(|failure| failure["itemIdentifier"].as_str().unwrap().to_string())
            .collect()
    }

    /// Invokes one function's handler with `event`, as the Lambda runtime would.
    pub async fn call(&self, function: Function, event: Event) -> Answer {
        Answer::from_response(self.respond(function, event).await)
    }

    /// Invokes the pages' handler with `event`: an HTML (or redirect) answer.
    pub async fn page(&self, event: Event) -> Page {
        Page::from_response(self.respond(Function::Pages, event).await)
    }

    /// The branding and origin of the pages in these tests.
    pub fn site(&self) -> users_core::pages::site::Site {
        users_core::pages::site::Site::new("Test Site".into(), None, None, "http://localhost:9000")
    }

    /// The response of one function's handler to `event`.
    pub async fn respond(&self, function: Function, event: Event) -> Response<Body> {
        use users_core::http::{recovery, routes};
        /// forgot-password's per-source limit in the harness: every event
        /// comes from one address unless it says otherwise.
        const FORGOT_PER_SOURCE: i64 = 20;
        let request = event.request();
        let (store, signing, keys) = (&self.store, &self.signing, &self.published);
        // Boxed: the futures of every route together would make each test's
        // own future big enough to overflow a test thread's 2 MiB stack.
        // Each handler's future is boxed on its own: the futures of every route
        // together would make this one big enough to overflow a test thread's
        // 2 MiB stack.
        type Handling<'a> = std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<Response<Body>, lambda_http::Error>>
                    + Send
                    + 'a,
            >,
        >;
        let handling: Handling<'_> = match function {
            // As deployed: the verification mail is requested (`app.mail`).
            Function::Register => Box::pin(recovery::register(store, &self.mail, request)),
            Function::Login => {
                let policy = users_core::domain::login::LoginPolicy::default();
                Box::pin(routes::login(store, signing, policy, request))
            }
            Function::LinkExternalId => Box::pin(routes::link_external_id(
                store,
                keys,
                self.config.links,
                request,
            )),
            Function::GetFullProfile => Box::pin(routes::get_full_profile(
                store,
                keys,
                self.config.links,
                request,
            )),
            Function::DeleteUser => Box::pin(routes::delete_user(
                store,
                keys,
                self.config.links,
                &self.mail,
                self.config.deletion_grace,
                request,
            )),
            Function::RestoreAccount => Box::pin(routes::restore_account(store, request)),
            Function::ExportAccount => {
                let settings = users_core::domain::export::ExportSettings {
                    step_up_max_age: self.config.step_up_max_age,
                    max_bytes: self.config.export_max_bytes,
                    ..Default::default()
                };
                Box::pin(async move {
                    routes::export_account(store, keys, self.config.links, &settings, request).await
                })
            }
            Function::Refresh => Box::pin(routes::refresh(store, signing, request)),
            Function::Logout => Box::pin(routes::logout(store, keys, request)),
            Function::LogoutAll => Box::pin(routes::logout_all(store, keys, request)),
            Function::ListSessions => Box::pin(users_core::http::devices::list_sessions(
                store, keys, request,
            )),
            Function::EndSession => {
                Box::pin(users_core::http::devices::end_session(store, keys, request))
            }
            Function::VerifyMfa => Box::pin(users_core::http::passkeys::verify_mfa(
                store,
                signing,
                &self.mfa,
                &self.passkeys,
                request,
            )),
            Function::EnrolTotp => Box::pin(users_core::http::mfa::enrol_totp(
                store, keys, &self.mail, &self.mfa, request,
            )),
            Function::ConfirmTotp => Box::pin(users_core::http::mfa::confirm_totp(
                store, keys, &self.mail, &self.mfa, request,
            )),
            Function::DisableTotp => Box::pin(users_core::http::mfa::disable_totp(
                store, keys, &self.mail, &self.mfa, request,
            )),
            Function::RegenerateRecoveryCodes => {
                Box::pin(users_core::http::mfa::regenerate_recovery_codes(
                    store, keys, &self.mail, &self.mfa, request,
                ))
            }
            Function::Jwks => {
                let settings = self.config.token_settings();
                Box::pin(async move {
                    users_core::http::well_known::well_known(
                        keys,
                        &settings,
                        self.config.registration.mode,
                        request,
                    )
                    .await
                })
            }
            Function::ForgotPassword => Box::pin(recovery::forgot_password(
                store,
                &self.mail,
                FORGOT_PER_SOURCE,
                request,
            )),
            Function::ResetPassword => {
                Box::pin(recovery::reset_password(store, &self.mail, request))
            }
            Function::VerifyEmail => Box::pin(recovery::verify_email(store, &self.mail, request)),
            Function::ResendVerification => Box::pin(recovery::resend_verification(
                store,
                keys,
                &self.mail,
                &self.mail_policy,
                request,
            )),
            Function::ChangePassword => {
                Box::pin(recovery::change_password(store, keys, &self.mail, request))
            }
            Function::ChangeEmail => Box::pin(recovery::change_email(
                store,
                keys,
                &self.mail,
                &self.mail_policy,
                request,
            )),
            Function::CancelEmailChange => {
                Box::pin(recovery::cancel_email_change(store, keys, request))
            }
            Function::CancelEmailChangeByLink => {
                Box::pin(recovery::cancel_email_change_by_link(store, request))
            }
            Function::Pages => {
                let site = self.site();
                Box::pin(async move {
                    let pages = users_core::pages::web::Pages {
                        store,
                        queue: &self.mail,
                        keys: signing,
                        mfa: &self.mfa,
                        login: users_core::domain::login::LoginPolicy::default(),
                        mail_policy: &self.mail_policy,
                        forgot_per_source: FORGOT_PER_SOURCE,
                        links: self.config.links,
                        site: &site,
                        clients: &self.clients,
                        deletion_grace: self.config.deletion_grace,
                    };
                    users_core::pages::serve(&pages, request).await
                })
            }
            Function::PasskeyPages => {
                let site = self.site();
                Box::pin(async move {
                    let pages = users_core::pages::web::Pages {
                        store,
                        queue: &self.mail,
                        keys: signing,
                        mfa: &self.mfa,
                        login: users_core::domain::login::LoginPolicy::default(),
                        mail_policy: &self.mail_policy,
                        forgot_per_source: FORGOT_PER_SOURCE,
                        links: self.config.links,
                        site: &site,
                        clients: &self.clients,
                        deletion_grace: self.config.deletion_grace,
                    };
                    users_core::pages::passkeys::serve(&pages, &self.passkeys, request).await
                })
            }
            Function::OAuthToken => Box::pin(users_core::http::oauth::token(
                store,
                signing,
                &self.clients,
                self.config.oauth_limits,
                request,
            )),
            Function::OAuthUserInfo => Box::pin(users_core::http::oauth::userinfo(
                store,
                keys,
                &self.clients,
                request,
            )),
            Function::PasskeyRegisterOptions => {
                Box::pin(users_core::http::passkeys::begin_registration(
                    store,
                    keys,
                    &self.passkeys,
                    request,
                ))
            }
            Function::AddPasskey => Box::pin(users_core::http::passkeys::finish_registration(
                store,
                keys,
                &self.mail,
                &self.passkeys,
                request,
            )),
            Function::ListPasskeys => {
                Box::pin(users_core::http::passkeys::list(store, keys, request))
            }
            Function::RemovePasskey => Box::pin(users_core::http::passkeys::remove(
                store,
                keys,
                &self.mail,
                self.config.step_up_max_age,
                request,
            )),
            Function::RenamePasskey => {
                Box::pin(users_core::http::passkeys::rename(store, keys, request))
            }
            Function::PasskeySignInOptions => Box::pin(users_core::http::passkeys::begin_sign_in(
                store,
                &self.passkeys,
                request,
            )),
            Function::PasskeyMfaOptions => Box::pin(
                users_core::http::passkeys::begin_second_factor(store, &self.passkeys, request),
            ),
            Function::PasskeySignIn => Box::pin(users_core::http::passkeys::finish_sign_in(
                store,
                signing,
                &self.passkeys,
                request,
            )),
            Function::OAuthRevoke => Box::pin(users_core::http::oauth::revoke(
                store,
                keys,
                &self.clients,
                self.config.oauth_limits,
                request,
            )),
            Function::OAuthIntrospect => Box::pin(users_core::http::oauth::introspect(
                store,
                keys,
                &self.clients,
                self.config.oauth_limits,
                request,
            )),
            Function::OAuthRegister => Box::pin(users_core::http::oauth::register(
                store,
                self.config.registration,
                request,
            )),
        };
        handling
            .await
            .expect("handlers answer every failure with a response")
    }

    pub async fn register(&self, username: &str, email: &str) -> Answer {
        let body = json!({ "username": username, "email": email, "password": PASSWORD });
        self.call(
            Function::Register,
            Event::http_api("POST", "/auth/register").json(body),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Answer {
        let body = json!({ "email": email, "password": password });
        self.call(
            Function::Login,
            Event::http_api("POST", "/auth/login").json(body),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        let body = json!({ "refresh_token": refresh_token });
        self.call(
            Function::Refresh,
            Event::http_api("POST", "/auth/refresh").json(body),
        )
        .await
    }

    /// Registers `name` (e-mail `name@example.com`) and logs in.
    pub async fn sign_up(&self, name: &str) -> SignedUp {
        let email = format!("{name}@example.com");
        let registered = self.register(name, &email).await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        let logged_in = self.login(&email, PASSWORD).await;
        assert_eq!(logged_in.status, 200, "{}", logged_in.body);
        let text = |answer: &Answer, field: &str| answer.body[field].as_str().unwrap().to_string();
        SignedUp {
            user_id: text(&registered, "id"),
            access_token: text(&logged_in, "access_token"),
            refresh_token: text(&logged_in, "refresh_token"),
        }
    }

    /// The outbox entries in the publisher's order (`occurred_at`, then `_id`).
    pub async fn outbox_in_order(&self) -> Vec<Document> {
        let mut cursor = self
            .outbox()
            .find(mongodb::bson::doc! {})
            .sort(mongodb::bson::doc! { "occurred_at": 1, "_id": 1 })
            .await
            .unwrap();
        let mut entries = Vec::new();
        while cursor.advance().await.unwrap() {
            entries.push(cursor.deserialize_current().unwrap());
        }
        entries
    }

    /// Links `external_id` to `user` through the function (on the user's
    /// word: `LINK_VERIFICATION=off`).
    pub async fn link(&self, user: &SignedUp, external_id: &str) -> Answer {
        self.call(Function::LinkExternalId, link_event(user, external_id))
            .await
    }

    pub async fn drop(self) {
        let _ = self.db.drop().await;
    }
}

/// An SQS event as Lambda delivers it, one record per (message id, body).
pub fn sqs_event(messages: &[(&str, &str)]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("receipt-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795773600000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1795773600001"
                },
                "messageAttributes": {},
                "md5OfBody": "0123456789abcdef0123456789abcdef",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:user-events",
                "awsRegion": "eu-west-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("fixture is a valid SQS event")
}

/// The Lambda functions behind API Gateway, one per binary: `call`
/// dispatches each to the handler its binary serves, and
/// `routes::the_harness_dispatches_every_http_function_the_template_deploys`
/// checks the list against the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Register,
    Login,
    LinkExternalId,
    GetFullProfile,
    DeleteUser,
    Refresh,
    Logout,
    LogoutAll,
    ListSessions,
    EndSession,
    Jwks,
    VerifyMfa,
    EnrolTotp,
    ConfirmTotp,
    DisableTotp,
    RegenerateRecoveryCodes,
    ForgotPassword,
    ResetPassword,
    VerifyEmail,
    ResendVerification,
    ChangePassword,
    ChangeEmail,
    CancelEmailChange,
    CancelEmailChangeByLink,
    /// The pages for people: HTML, answered as a `Page` (`TestApp::page`).
    Pages,
    OAuthToken,
    OAuthUserInfo,
    RestoreAccount,
    ExportAccount,
    PasskeyRegisterOptions,
    AddPasskey,
    ListPasskeys,
    RemovePasskey,
    RenamePasskey,
    PasskeySignInOptions,
    PasskeySignIn,
    PasskeyMfaOptions,
    /// The pages' passkey POSTs: HTML, as `Pages`.
    PasskeyPages,
    OAuthRevoke,
    OAuthIntrospect,
    OAuthRegister,
}

impl Function {
    pub const ALL: [Function; 41] = [
        Self::Register,
        Self::Login,
        Self::LinkExternalId,
        Self::GetFullProfile,
        Self::DeleteUser,
        Self::Refresh,
        Self::Logout,
        Self::LogoutAll,
        Self::ListSessions,
        Self::EndSession,
        Self::Jwks,
        Self::VerifyMfa,
        Self::EnrolTotp,
        Self::ConfirmTotp,
        Self::DisableTotp,
        Self::RegenerateRecoveryCodes,
        Self::ForgotPassword,
        Self::ResetPassword,
        Self::VerifyEmail,
        Self::ResendVerification,
        Self::ChangePassword,
        Self::ChangeEmail,
        Self::CancelEmailChange,
        Self::CancelEmailChangeByLink,
        Self::Pages,
        Self::OAuthToken,
        Self::OAuthUserInfo,
        Self::RestoreAccount,
        Self::ExportAccount,
        Self::PasskeyRegisterOptions,
        Self::AddPasskey,
        Self::ListPasskeys,
        Self::RemovePasskey,
        Self::RenamePasskey,
        Self::PasskeySignInOptions,
        Self::PasskeySignIn,
        Self::PasskeyMfaOptions,
        Self::PasskeyPages,
        Self::OAuthRevoke,
        Self::OAuthIntrospect,
        Self::OAuthRegister,
    ];

    /// The binary (`functions/src/bin/<binary>.rs`) this stands for.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::LinkExternalId => "link-external-id",
            Self::GetFullProfile => "get-full-profile",
            Self::DeleteUser => "delete-user",
            Self::Refresh => "refresh",
            Self::Logout => "logout",
            Self::LogoutAll => "logout-all",
            Self::ListSessions => "list-sessions",
            Self::EndSession => "end-session",
            Self::Jwks => "jwks",
            Self::VerifyMfa => "verify-mfa",
            Self::EnrolTotp => "enrol-totp",
            Self::ConfirmTotp => "confirm-totp",
            Self::DisableTotp => "disable-totp",
            Self::RegenerateRecoveryCodes => "regenerate-recovery-codes",
            Self::ForgotPassword => "forgot-password",
            Self::ResetPassword => "reset-password",
            Self::VerifyEmail => "verify-email",
            Self::ResendVerification => "resend-verification",
            Self::ChangePassword => "change-password",
            Self::ChangeEmail => "change-email",
            Self::CancelEmailChange => "cancel-email-change",
            Self::CancelEmailChangeByLink => "cancel-email-change-by-link",
            Self::Pages => "pages",
            Self::OAuthToken => "oauth-token",
            Self::OAuthUserInfo => "oauth-userinfo",
            Self::RestoreAccount => "restore-account",
            Self::ExportAccount => "export-account",
            Self::PasskeyRegisterOptions => "passkey-register-options",
            Self::AddPasskey => "add-passkey",
            Self::ListPasskeys => "list-passkeys",
            Self::RemovePasskey => "remove-passkey",
            Self::RenamePasskey => "rename-passkey",
            Self::PasskeySignInOptions => "passkey-sign-in-options",
            Self::PasskeySignIn => "passkey-sign-in",
            Self::PasskeyMfaOptions => "passkey-mfa-options",
            Self::PasskeyPages => "passkey-pages",
            Self::OAuthRevoke => "oauth-revoke",
            Self::OAuthIntrospect => "oauth-introspect",
            Self::OAuthRegister => "oauth-register",
        }
    }
}

/// An API Gateway event, built as the service would receive it.
pub struct Event {
    version: Version,
    method: String,
    path: String,
    route: String,
    headers: serde_json::Map<String, Value>,
    query: Option<(String, String)>,
    /// A whole query string (HTTP API only), repeats and all.
    raw_query: Option<String>,
    path_user_id: Option<String>,
    path_session_id: Option<String>,
    body: Option<String>,
    /// API Gateway's `sourceIp`: the client address the per-address rules key on.
    source_ip: String,
}

#[derive(Clone, Copy)]
enum Version {
    /// HTTP API, payload format 2.0: what `template.yaml` deploys.
    HttpApi,
    /// REST API, payload format 1.0.
    RestApi,
}

impl Event {
    /// `route` is the API Gateway route path, e.g. `/users/{user_id}/full_profile`.
    pub fn http_api(method: &str, route: &str) -> Self {
        Self::new(Version::HttpApi, method, route)
    }

    pub fn rest_api(method: &str, route: &str) -> Self {
        Self::new(Version::RestApi, method, route)
    }

    fn new(version: Version, method: &str, route: &str) -> Self {
        Self {
            version,
            method: method.to_string(),
            path: route.to_string(),
            route: route.to_string(),
            headers: serde_json::Map::new(),
            query: None,
            raw_query: None,
            path_user_id: None,
            path_session_id: None,
            body: None,
            source_ip: "192.0.2.1".into(),
        }
    }

    /// The caller's address as API Gateway reports it (`192.0.2.1` unless set).
    pub fn source_ip(mut self, address: &str) -> Self {
        self.source_ip = address.to_string();
        self
    }

    pub fn user_id(mut self, user_id: &str) -> Self {
        self.path = self.route.replace("{user_id}", user_id);
        self.path_user_id = Some(user_id.to_string());
        self
    }

    /// Fills `{session_id}` (call after `user_id`, which sets the path).
    pub fn session_id(mut self, session_id: &str) -> Self {
        self.path = self.path.replace("{session_id}", session_id);
        self.path_session_id = Some(session_id.to_string());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .insert(name.to_string(), Value::String(value.to_string()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(self, body: Value) -> Self {
        self.header("content-type", "application/json")
            .raw_body(&body.to_string())
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query = Some((name.to_string(), value.to_string()));
        self
    }

    /// A whole query string, sent as API Gateway's `rawQueryString` (which
    /// is what the pages read, repeats kept).
    pub fn raw_query(mut self, query: &str) -> Self {
        self.raw_query = Some(query.to_string());
        self
    }

    pub fn request(self) -> Request {
        let mut path_parameters = self
            .path_user_id
            .as_ref()
            .map(|id| json!({ "user_id": id }));
        if let (Some(parameters), Some(session_id)) =
            (path_parameters.as_mut(), &self.path_session_id)
        {
            parameters["session_id"] = json!(session_id);
        }
        let event = match self.version {
            Version::HttpApi => json!({
                "version": "2.0",
                "routeKey": format!("{} {}", self.method, self.route),
                "rawPath": self.path,
                "rawQueryString": self.raw_query.clone().unwrap_or_else(|| self.query.as_ref().map(|(k, v)| format!("{k}={v}")).unwrap_or_default()),
                "headers": self.headers,
                "queryStringParameters": self.query.as_ref().map(|(k, v)| json!({ k: v })),
                "pathParameters": path_parameters,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "api-id",
                    "domainName": "api-id.execute-api.eu-west-1.amazonaws.com",
                    "domainPrefix": "api-id",
                    "http": {
                        "method": self.method,
                        "path": self.path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": self.source_ip,
                        "userAgent": "handler-tests"
                    },
                    "requestId": "request-id",
                    "routeKey": format!("{} {}", self.method, self.route),
                    "stage": "$default",
                    "time": "27/Nov/2026:10:00:00 +0000",
                    "timeEpoch": 1_795_773_600_000_u64
                },
                "body": self.body,
                "isBase64Encoded": false
            }),
            Version::RestApi => {
                let multi_headers: serde_json::Map<String, Value> = self
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), json!([value])))
                    .collect();
                json!({
                    "resource": self.route,
                    "path": self.path,
                    "httpMethod": self.method,
                    "headers": self.headers,
                    "multiValueHeaders": multi_headers,
                    "queryStringParameters": self.query.as_ref().map(|(k, v)| json!({ k: v })),
                    "multiValueQueryStringParameters": self.query.as_ref().map(|(k, v)| json!({ k: [v] })),
                    "pathParameters": path_parameters,
                    "stageVariables": null,
                    "requestContext": {
                        "accountId": "123456789012",
                        "apiId": "api-id",
                        "resourceId": "resource",
                        "resourcePath": self.route,
                        "httpMethod": self.method,
                        "path": format!("/prod{}", self.path),
                        "protocol": "HTTP/1.1",
                        "stage": "prod",
                        "requestId": "request-id",
                        "requestTimeEpoch": 1_795_773_600_000_u64,
                        "identity": { "sourceIp": self.source_ip, "userAgent": "handler-tests" }
                    },
                    "body": self.body,
                    "isBase64Encoded": false
                })
            }
        };
        lambda_http::request::from_str(&event.to_string())
            .expect("fixture is a valid API Gateway event")
    }
}

/// A browser's cookies, kept from the pages' `Set-Cookie` headers as a
/// browser keeps them (`Max-Age=0` removes one): what the pages' and the
/// provider's handler tests send back.
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// A jar holding one cookie (a browser replaying a copied cookie).
    pub fn with(name: &str, value: &str) -> Self {
        Self {
            cookies: vec![(name.to_string(), value.to_string())],
        }
    }

    pub fn keep(&mut self, page: &Page) {
        for value in page.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let (name, cookie) = pair.split_once('=').unwrap();
            self.cookies.retain(|(kept, _)| kept != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_string(), cookie.to_string()));
            }
        }
    }

    /// The `Cookie` header.
    pub fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(kept, _)| kept == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Status, headers and HTML body of a page's response.
pub struct Page {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn from_response(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// The `Set-Cookie` value of cookie `name`, if the answer sets it.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with(&format!("{name}=")))
            .map(|value| {
                value[name.len() + 1..]
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
    }

    /// The value of the hidden input `name` of the page's first form with one.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = start + self.body[start..].find('"')?;
        Some(self.body[start..end].replace("&amp;", "&"))
    }
}

/// Status, headers and JSON body of a handler's response.
pub struct Answer {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn from_response(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap_or_else(|error| {
            panic!("response body is not JSON ({error}): {:?}", response.body())
        });
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// Asserts an RFC 9457 problem with `status`, returning it for further checks.
    pub fn problem(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.body
        );
        assert_eq!(self.header("content-type"), "application/problem+json");
        for member in ["type", "title", "detail"] {
            assert!(
                self.body[member].is_string(),
                "problem lacks {member}: {}",
                self.body
            );
        }
        assert_eq!(self.body["status"], status);
        self
    }

    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|error| error["field"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A TCP port on loopback that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A program of the project's `.venv` (which `make test` installs), unless
/// the environment variable `override_with` names another path.
pub fn venv_program(name: &str, override_with: &str) -> PathBuf {
    std::env::var(override_with)
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../.venv/bin")
                .join(name)
        })
}

/// Starts a local server and waits (30 s at most) until it accepts connections on `port`.
pub fn spawn_server(mut command: Command, port: u16) -> Child {
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot start {program} ({error}): run `make test`, which installs it")
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{program} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A local AWS: moto's server (`moto[server]` in the project's `.venv`, which
/// `make test` installs; `MOTO_SERVER_BIN` overrides the path), killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Self {
        let port = free_port();
        let mut command = Command::new(venv_program("moto_server", "MOTO_SERVER_BIN"));
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Self {
            child: spawn_server(command, port),
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Runs a boto3 script against this server (`ENDPOINT`, test credentials
    /// and `vars` in its environment); returns its stdout.
    pub fn python(&self, script: &str, vars: &[(&str, &str)]) -> String {
        let output = Command::new(venv_program("python", "PYTHON_BIN"))
            .args(["-c", script])
            .env("ENDPOINT", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .envs(vars.iter().copied())
            .output()
            .expect("the project's .venv has python");
        assert!(
            output.status.success(),
            "boto3 script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `PUT /users/{id}/link_id/` as `user`, with `external_id` in the body.
pub fn link_event(user: &SignedUp, external_id: &str) -> Event {
    Event::http_api("PUT", "/users/{user_id}/link_id")
        .user_id(&user.user_id)
        .bearer(&user.access_token)
        .json(json!({ "external_id": external_id }))
}

/// The TOTP code of `secret` (base32) at the current time or `offset_steps`
/// from it, computed by pyotp, an implementation independent of ours.
pub fn pyotp_code(secret: &str, offset_steps: i64) -> String {
    let script = "import os, time, pyotp\n\
        t = pyotp.TOTP(os.environ['SECRET'])\n\
        print(t.at(int(time.time()) + 30 * int(os.environ['OFFSET'])))";
    let output = Command::new(venv_program("python", "PYTHON_BIN"))
        .args(["-c", script])
        .env("SECRET", secret)
        .env("OFFSET", offset_steps.to_string())
        .output()
        .expect("the project's .venv has python");
    assert!(
        output.status.success(),
        "pyotp failed (is it installed? run `make test`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}
