//! Cold start: what a function builds once per execution environment, each
//! function only what it uses. A function that cannot start says why through
//! the Lambda Runtime API's init-error call, so the invocation's error names
//! the variable to fix, as Lambda shows it, instead of an empty 502.

use std::fmt;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use secrecy::ExposeSecret;

use crate::aws::client::{self, Timeouts};
use crate::aws::ses::Ses;
use crate::aws::sqs::MailQueue;
use crate::config::{self, DatabaseSettings, KeySetKind};
use crate::domain::linking::LinkVerification;
use crate::domain::login::LoginPolicy;
use crate::domain::recovery::{MailRequestPolicy, MailSettings};
use crate::domain::tokens::TokenSettings;
use crate::env::{ConfigError, Environment, ProcessEnvironment};
use crate::keystore::{PublishedKeys, SigningKeys};
use crate::mail::Transport;
use crate::mongo::{client_options, MongoStore};

/// Why a function could not start. `Debug` reads like `Display`, so any line
/// that prints it names the problem plainly.
pub enum InitError {
    Config(ConfigError),
    Database(String),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(error) => write!(f, "configuration error: {error}"),
            Self::Database(reason) => write!(f, "MONGODB_URI is invalid: {reason}"),
        }
    }
}

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for InitError {}

impl From<ConfigError> for InitError {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

/// The MongoDB store (register, ingest-events, publish-events).
pub async fn database() -> MongoStore {
    started(async {
        let settings = config::load_database(&ProcessEnvironment).await?;
        warm(connect(&settings).await?)
    })
    .await
}

/// The store and the published keys that verify access tokens (the
/// `/users/*` routes, logout, logout_all).
pub async fn database_and_published_keys() -> (MongoStore, PublishedKeys) {
    started(async {
        let (database, keys) = load_verifying(&ProcessEnvironment).await?;
        Ok((warm(connect(&database).await?)?, keys))
    })
    .await
}

/// The store, the published keys and the link policy (link-external-id,
/// get-full-profile, delete-user).
pub async fn users_routes() -> (MongoStore, PublishedKeys, LinkVerification) {
    started(async {
        let links = config::link_verification(&ProcessEnvironment)?;
        let (database, keys) = load_verifying(&ProcessEnvironment).await?;
        Ok((warm(connect(&database).await?)?, keys, links))
    })
    .await
}

/// The store and the link policy (ingest-events: erasure follows it).
pub async fn database_and_link_policy() -> (MongoStore, LinkVerification) {
    started(async {
        let links = config::link_verification(&ProcessEnvironment)?;
        let settings = config::load_database(&ProcessEnvironment).await?;
        Ok((warm(connect(&settings).await?)?, links))
    })
    .await
}

/// The settings of a verifying function, read at once.
pub async fn load_verifying(
    env: &impl Environment,
) -> Result<(DatabaseSettings, PublishedKeys), InitError> {
    let tokens = config::token_settings(env)?;
    let source = config::key_source(env, KeySetKind::Public)?;
    let (database, keys) = tokio::join!(
        config::load_database(env),
        PublishedKeys::load(source, tokens)
    );
    let keys = keys.map_err(|reason| key_set_error(env, KeySetKind::Public, reason))?;
    Ok((database?, keys))
}

/// The store and what issues token pairs (login, refresh).
pub async fn database_and_signing_keys() -> (MongoStore, SigningKeys) {
    started(async {
        let env = ProcessEnvironment;
        let tokens = config::token_settings(&env)?;
        config::rotation_period(&env, &tokens)?;
        let lifetimes = config::session_lifetimes(&env)?;
        let source = config::key_source(&env, KeySetKind::Signing)?;
        let (database, keys) = tokio::join!(
            config::load_database(&env),
            SigningKeys::load(source, tokens, lifetimes)
        );
        let keys = keys.map_err(|reason| key_set_error(&env, KeySetKind::Signing, reason))?;
        Ok((warm(connect(&database?).await?)?, keys))
    })
    .await
}

/// What the second factor's routes (enrol, confirm and disable the TOTP
/// factor, regenerate recovery codes) start with.
pub struct MfaRoutes {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    /// Every change of the factor is told to the account's address.
    pub queue: MailQueue,
    pub settings: crate::domain::mfa::MfaSettings,
}

pub async fn mfa_routes() -> MfaRoutes {
    started(async {
        let env = ProcessEnvironment;
        let (mfa, verifying) = tokio::join!(config::mfa_settings(&env), load_verifying(&env));
        let (database, keys) = verifying?;
        let queue = MailQueue::from_environment(&env)?;
        Ok(MfaRoutes {
            store: warm(connect(&database).await?)?,
            keys,
            queue,
            settings: mfa?,
        })
    })
    .await
}

/// What the second step of a login needs: the store, the signing keys and
/// the second factor's settings (mfa-verify).
pub async fn mfa_verify() -> (MongoStore, SigningKeys, crate::domain::mfa::MfaSettings) {
    started(async {
        let env = ProcessEnvironment;
        let tokens = config::token_settings(&env)?;
        config::rotation_period(&env, &tokens)?;
        let lifetimes = config::session_lifetimes(&env)?;
        let source = config::key_source(&env, KeySetKind::Signing)?;
        let (database, keys, mfa) = tokio::join!(
            config::load_database(&env),
            SigningKeys::load(source, tokens, lifetimes),
            config::mfa_settings(&env),
        );
        let keys = keys.map_err(|reason| key_set_error(&env, KeySetKind::Signing, reason))?;
        Ok((warm(connect(&database?).await?)?, keys, mfa?))
    })
    .await
}

/// The published keys alone (the JWKS endpoint: no database).
pub async fn published_keys() -> (PublishedKeys, TokenSettings) {
    started(async {
        let env = ProcessEnvironment;
        let tokens = config::token_settings(&env)?;
        let source = config::key_source(&env, KeySetKind::Public)?;
        let keys = PublishedKeys::load(source, tokens.clone())
            .await
            .map_err(|reason| key_set_error(&env, KeySetKind::Public, reason))?;
        Ok((keys, tokens))
    })
    .await
}

/// What the key rotation needs: Secrets Manager, the public-keys secret, and
/// the token rules (whose lifetime the rotation period must outlast).
#[cfg(feature = "keygen")]
pub async fn key_rotation() -> crate::rotation::Rotation {
    started(async {
        let env = ProcessEnvironment;
        let settings = config::token_settings(&env)?;
        config::rotation_period(&env, &settings)?;
        let public_keys_arn = env
            .var("PUBLIC_KEYS_SECRET_ARN")
            .ok_or(ConfigError::Missing {
                variable: "PUBLIC_KEYS_SECRET_ARN",
            })?;
        Ok(crate::rotation::Rotation {
            client: crate::aws::secrets::SecretsClient::from_environment(&env)?,
            public_keys_arn,
            min_next_age: crate::domain::keys::min_publication(settings.access_token_ttl),
            settings,
        })
    })
    .await
}

/// Names the variable that pointed at the key set that failed.
fn key_set_error(env: &impl Environment, kind: KeySetKind, reason: String) -> InitError {
    let (arn, file) = kind.variables();
    let variable = if env.var(arn).is_some() { arn } else { file };
    InitError::Config(ConfigError::KeySet { variable, reason })
}

/// The store and the EventBridge bus the outbox goes to (publish-events).
#[cfg(feature = "publish")]
pub async fn database_and_event_bus() -> (MongoStore, crate::eventbridge::EventBridge) {
    started(async {
        let env = ProcessEnvironment;
        let bus = crate::eventbridge::EventBridge::from_env(&env).await?;
        let settings = config::load_database(&env).await?;
        Ok((warm(connect(&settings).await?)?, bus))
    })
    .await
}

/// The store and the mail-request queue (register, verify-email).
pub async fn database_and_mail_queue() -> (MongoStore, MailQueue) {
    started(async {
        let env = ProcessEnvironment;
        let settings = config::load_database(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        Ok((warm(connect(&settings).await?)?, queue))
    })
    .await
}

/// forgot-password: the store (its throttle), the queue and the per-source limit.
pub async fn forgot_password() -> (MongoStore, MailQueue, i64) {
    started(async {
        let env = ProcessEnvironment;
        let settings = config::load_database(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        let limit = config::forgot_per_source(&env)?;
        Ok((warm(connect(&settings).await?)?, queue, limit))
    })
    .await
}

/// What the bearer routes that request mail (change-password,
/// change-email, resend-verification) start with.
pub struct MailRoutes {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub queue: MailQueue,
    pub policy: MailRequestPolicy,
}

pub async fn mail_routes() -> MailRoutes {
    started(async {
        let env = ProcessEnvironment;
        let (database, keys) = load_verifying(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        let policy = config::mail_request_policy(&env)?;
        Ok(MailRoutes {
            store: warm(connect(&database).await?)?,
            keys,
            queue,
            policy,
        })
    })
    .await
}

/// `REQUIRE_VERIFIED_EMAIL` (login).
pub async fn login_policy() -> LoginPolicy {
    started(async { Ok(config::login_policy(&ProcessEnvironment)?) }).await
}

/// send-mail: the store, the transport (files when `MAIL_DIRECTORY` is set,
/// else SES) and the mail settings.
pub async fn mail_sender() -> (MongoStore, Transport, MailSettings) {
    started(async {
        let env = ProcessEnvironment;
        let database = config::load_database(&env).await?;
        let settings = config::mail_settings(&env)?;
        let sender = config::mail_sender(&env)?;
        let transport = match env.var("MAIL_DIRECTORY") {
            Some(directory) => Transport::Files {
                directory: directory.into(),
                sender,
            },
            None => Transport::Ses {
                ses: Ses::from_environment(&env)?,
                sender,
            },
        };
        Ok((warm(connect(&database).await?)?, transport, settings))
    })
    .await
}

/// Builds the store without touching the database (a `mongodb+srv` URI does
/// resolve its DNS records here).
pub async fn connect(settings: &DatabaseSettings) -> Result<MongoStore, InitError> {
    let options = ClientOptions::parse(settings.uri.expose_secret())
        .await
        // Not the driver's message: it may quote the URI, credentials included.
        .map_err(|error| {
            InitError::Database(match *error.kind {
                ErrorKind::DnsResolve { .. } => "its DNS (SRV/TXT) lookup failed".into(),
                _ => "not a valid MongoDB connection string".into(),
            })
        })?;
    MongoStore::new(
        client_options(options, settings.max_pool_size),
        &settings.database,
        &settings.linked_collection,
    )
    .map_err(|error| InitError::Database(error.to_string()))
}

/// Starts connecting to MongoDB (indexes, deployment probe) in the background,
/// so the first request finds a warm connection.
fn warm(store: MongoStore) -> Result<MongoStore, InitError> {
    let preparing = store.clone();
    tokio::spawn(async move {
        if let Err(error) = preparing.prepare().await {
            tracing::warn!(%error, "database not ready at cold start; retrying on first request");
        }
    });
    Ok(store)
}

/// The value of `start`, or the end of the process after its error was
/// logged and reported to the Runtime API.
pub async fn started<T>(start: impl std::future::Future<Output = Result<T, InitError>>) -> T {
    match start.await {
        Ok(value) => value,
        Err(error) => {
            tracing::error!(%error, "the function cannot start");
            report_init_error(&error).await;
            std::process::exit(1);
        }
    }
}

/// `POST /runtime/init/error`, as the Runtime API defines it; best effort,
/// since the process ends right after either way.
async fn report_init_error(error: &InitError) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({
        "errorMessage": error.to_string(),
        "errorType": "Runtime.InitError",
        "stackTrace": [],
    })
    .to_string();
    let request = Request::post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)));
    let Ok(request) = request else {
        return;
    };
    let limits = Timeouts {
        connect: Some(Duration::from_secs(1)),
        read: Some(Duration::from_secs(2)),
    };
    if let Err(error) = client::send(request, limits).await {
        tracing::warn!(%error, "could not report the init error to the Runtime API");
    }
}
