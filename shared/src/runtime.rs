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
use crate::keystore::{PublishedKeys, RegisteredClients, SigningKeys};
use crate::mail::{Delivery, Transport};
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

/// What a function prepares at init for its first request, besides the
/// database connection (which every database function starts in the
/// background): each binary names its own, with what it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmUp {
    /// argon2's 19 MiB work area: functions that check or hash a password.
    PasswordHashing,
    /// zxcvbn's dictionaries: functions that judge a new password.
    StrengthEstimator,
}

fn warm_up(warm_ups: &[WarmUp]) {
    for warm_up in warm_ups {
        match warm_up {
            WarmUp::PasswordHashing => crate::domain::passwords::prepare_work_area(),
            WarmUp::StrengthEstimator => crate::domain::values::prepare_strength_estimator(),
        }
    }
}

/// `started`, then the warm-ups.
async fn start<T>(
    warm_ups: &[WarmUp],
    start: impl std::future::Future<Output = Result<T, InitError>>,
) -> T {
    let started = started(start).await;
    warm_up(warm_ups);
    started
}

/// The MongoDB store alone (cancel-email-change-by-link).
pub async fn database(warm_ups: &[WarmUp]) -> MongoStore {
    start(warm_ups, async {
        let settings = config::load_database(&ProcessEnvironment).await?;
        warm(connect(&settings).await?)
    })
    .await
}

/// A route that verifies bearer tokens (logout, logout-all, list-sessions,
/// end-session, cancel-email-change).
pub struct BearerRoute {
    pub store: MongoStore,
    pub keys: PublishedKeys,
}

pub async fn bearer_route(warm_ups: &[WarmUp]) -> BearerRoute {
    start(warm_ups, async {
        let verifying = load_verifying(&ProcessEnvironment).await?;
        Ok(BearerRoute {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
        })
    })
    .await
}

/// The routes whose answers follow the link policy (link-external-id,
/// get-full-profile, delete-user).
pub struct LinkedRoute {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub links: LinkVerification,
}

pub async fn linked_route(warm_ups: &[WarmUp]) -> LinkedRoute {
    start(warm_ups, async {
        let links = config::link_verification(&ProcessEnvironment)?;
        let verifying = load_verifying(&ProcessEnvironment).await?;
        Ok(LinkedRoute {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            links,
        })
    })
    .await
}

/// delete-user: the link policy, and what a deletion with a grace period
/// needs (issue #24): `DELETION_GRACE_DAYS` and the queue of the restore mail.
pub struct DeletionRoute {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub links: LinkVerification,
    pub queue: MailQueue,
    pub grace: crate::domain::deletion::GracePeriod,
}

pub async fn deletion_route(warm_ups: &[WarmUp]) -> DeletionRoute {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let links = config::link_verification(&env)?;
        let grace = config::deletion_grace(&env)?;
        let queue = MailQueue::from_environment(&env)?;
        let verifying = load_verifying(&env).await?;
        Ok(DeletionRoute {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            links,
            queue,
            grace,
        })
    })
    .await
}

/// export-account (issue #24): the link policy and the export's bounds.
pub struct ExportRoute {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub links: LinkVerification,
    pub settings: crate::domain::export::ExportSettings,
}

pub async fn export_route(warm_ups: &[WarmUp]) -> ExportRoute {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let links = config::link_verification(&env)?;
        let settings = config::export_settings(&env)?;
        let verifying = load_verifying(&env).await?;
        Ok(ExportRoute {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            links,
            settings,
        })
    })
    .await
}

/// ingest-events: erasure follows the link policy.
pub struct Ingest {
    pub store: MongoStore,
    pub links: LinkVerification,
}

pub async fn ingest(warm_ups: &[WarmUp]) -> Ingest {
    start(warm_ups, async {
        let links = config::link_verification(&ProcessEnvironment)?;
        let settings = config::load_database(&ProcessEnvironment).await?;
        Ok(Ingest {
            store: warm(connect(&settings).await?)?,
            links,
        })
    })
    .await
}

/// The settings of a function that verifies tokens, read at once.
pub struct Verifying {
    pub database: DatabaseSettings,
    pub keys: PublishedKeys,
}

pub async fn load_verifying(env: &impl Environment) -> Result<Verifying, InitError> {
    let tokens = config::token_settings(env)?;
    let source = config::key_source(env, KeySetKind::Public)?;
    let (database, keys) = tokio::join!(
        config::load_database(env),
        PublishedKeys::load(source, tokens)
    );
    let keys = keys.map_err(|reason| key_set_error(env, KeySetKind::Public, reason))?;
    Ok(Verifying {
        database: database?,
        keys,
    })
}

/// The settings of a function that signs tokens, read at once: the one way
/// the private key set is loaded (login, refresh, verify-mfa).
struct Signing {
    database: DatabaseSettings,
    keys: SigningKeys,
}

async fn load_signing(env: &impl Environment) -> Result<Signing, InitError> {
    let tokens = config::token_settings(env)?;
    config::rotation_period(env, &tokens)?;
    let lifetimes = config::session_lifetimes(env)?;
    let source = config::key_source(env, KeySetKind::Signing)?;
    let (database, keys) = tokio::join!(
        config::load_database(env),
        SigningKeys::load(source, tokens, lifetimes)
    );
    let keys = keys.map_err(|reason| key_set_error(env, KeySetKind::Signing, reason))?;
    Ok(Signing {
        database: database?,
        keys,
    })
}

/// A route that issues token pairs (refresh).
pub struct SigningRoute {
    pub store: MongoStore,
    pub keys: SigningKeys,
}

pub async fn signing_route(warm_ups: &[WarmUp]) -> SigningRoute {
    start(warm_ups, async {
        let signing = load_signing(&ProcessEnvironment).await?;
        Ok(SigningRoute {
            store: warm(connect(&signing.database).await?)?,
            keys: signing.keys,
        })
    })
    .await
}

/// login: a signing route with `REQUIRE_VERIFIED_EMAIL`.
pub struct Login {
    pub store: MongoStore,
    pub keys: SigningKeys,
    pub policy: LoginPolicy,
}

pub async fn login(warm_ups: &[WarmUp]) -> Login {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let policy = config::login_policy(&env)?;
        let signing = load_signing(&env).await?;
        Ok(Login {
            store: warm(connect(&signing.database).await?)?,
            keys: signing.keys,
            policy,
        })
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

pub async fn mfa_routes(warm_ups: &[WarmUp]) -> MfaRoutes {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let (mfa, verifying) = tokio::join!(config::mfa_settings(&env), load_verifying(&env));
        let verifying = verifying?;
        let queue = MailQueue::from_environment(&env)?;
        Ok(MfaRoutes {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            queue,
            settings: mfa?,
        })
    })
    .await
}

/// The second step of a login (verify-mfa).
pub struct MfaVerify {
    pub store: MongoStore,
    pub keys: SigningKeys,
    pub settings: crate::domain::mfa::MfaSettings,
}

pub async fn mfa_verify(warm_ups: &[WarmUp]) -> MfaVerify {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let (signing, mfa) = tokio::join!(load_signing(&env), config::mfa_settings(&env));
        let signing = signing?;
        Ok(MfaVerify {
            store: warm(connect(&signing.database).await?)?,
            keys: signing.keys,
            settings: mfa?,
        })
    })
    .await
}

/// The second step of a login with a code or a passkey (verify-mfa, in
/// functions/passkeys): `mfa_verify`'s and the relying party.
#[cfg(feature = "passkeys")]
pub async fn passkey_mfa_verify(warm_ups: &[WarmUp]) -> (MfaVerify, crate::passkeys::RelyingParty) {
    let rp = start(&[], async { relying_party(&ProcessEnvironment) }).await;
    (mfa_verify(warm_ups).await, rp)
}

/// The passkeys' relying party, or the init error naming what is wrong.
#[cfg(feature = "passkeys")]
fn relying_party(env: &impl Environment) -> Result<crate::passkeys::RelyingParty, InitError> {
    let settings = config::passkey_settings(env)?;
    crate::passkeys::RelyingParty::new(&settings).map_err(|reason| {
        InitError::Config(ConfigError::Invalid {
            variable: "PASSKEY_RP_ID",
            reason,
        })
    })
}

/// Listing passkeys (list-passkeys) and removing one (remove-passkey): no
/// WebAuthn, so no webauthn-rs.
pub struct PasskeyAccount {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub queue: MailQueue,
    pub step_up_max_age: Duration,
}

pub async fn passkey_account(warm_ups: &[WarmUp]) -> PasskeyAccount {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let step_up_max_age = config::passkey_settings(&env)?.step_up_max_age;
        let verifying = load_verifying(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        Ok(PasskeyAccount {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            queue,
            step_up_max_age,
        })
    })
    .await
}

/// Registering a passkey (passkey-register-options, add-passkey).
#[cfg(feature = "passkeys")]
pub struct PasskeyRegistration {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub queue: MailQueue,
    pub rp: crate::passkeys::RelyingParty,
}

#[cfg(feature = "passkeys")]
pub async fn passkey_registration(warm_ups: &[WarmUp]) -> PasskeyRegistration {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let rp = relying_party(&env)?;
        let verifying = load_verifying(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        Ok(PasskeyRegistration {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            queue,
            rp,
        })
    })
    .await
}

/// Beginning a passkey sign-in (passkey-sign-in-options): no keys.
#[cfg(feature = "passkeys")]
pub struct PasskeyOptions {
    pub store: MongoStore,
    pub rp: crate::passkeys::RelyingParty,
}

#[cfg(feature = "passkeys")]
pub async fn passkey_options(warm_ups: &[WarmUp]) -> PasskeyOptions {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let rp = relying_party(&env)?;
        let database = config::load_database(&env).await?;
        Ok(PasskeyOptions {
            store: warm(connect(&database).await?)?,
            rp,
        })
    })
    .await
}

/// The pages' passkey POSTs (passkey-pages): the pages' settings and the
/// relying party.
#[cfg(feature = "passkeys")]
pub async fn passkey_pages(warm_ups: &[WarmUp]) -> (PagesRuntime, crate::passkeys::RelyingParty) {
    let rp = start(&[], async { relying_party(&ProcessEnvironment) }).await;
    (pages(warm_ups).await, rp)
}

/// Finishing a passkey sign-in (passkey-sign-in): signs tokens.
#[cfg(feature = "passkeys")]
pub struct PasskeySignIn {
    pub store: MongoStore,
    pub keys: SigningKeys,
    pub rp: crate::passkeys::RelyingParty,
}

#[cfg(feature = "passkeys")]
pub async fn passkey_sign_in(warm_ups: &[WarmUp]) -> PasskeySignIn {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let rp = relying_party(&env)?;
        let signing = load_signing(&env).await?;
        Ok(PasskeySignIn {
            store: warm(connect(&signing.database).await?)?,
            keys: signing.keys,
            rp,
        })
    })
    .await
}

/// The registered OAuth clients, or the init error naming their variable.
async fn load_clients(env: &impl Environment) -> Result<RegisteredClients, InitError> {
    let source = config::clients_source(env)?;
    RegisteredClients::load(source).await.map_err(|reason| {
        let variable = if env.var(config::CLIENTS_ARN).is_some() {
            config::CLIENTS_ARN
        } else {
            config::CLIENTS_FILE
        };
        InitError::Config(ConfigError::Invalid { variable, reason })
    })
}

/// Dynamic client registration (oauth-register): the database and the policy.
pub struct OAuthRegister {
    pub store: MongoStore,
    pub policy: crate::domain::registration::RegistrationPolicy,
}

pub async fn oauth_register(warm_ups: &[WarmUp]) -> OAuthRegister {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let policy = config::registration_policy(&env)?;
        let settings = config::load_database(&env).await?;
        Ok(OAuthRegister {
            store: warm(connect(&settings).await?)?,
            policy,
        })
    })
    .await
}

/// The token endpoint (oauth-token): signs tokens for registered clients.
pub struct OAuthToken {
    pub store: MongoStore,
    pub keys: SigningKeys,
    pub clients: RegisteredClients,
    pub limits: crate::domain::oauth::OAuthLimits,
}

pub async fn oauth_token(warm_ups: &[WarmUp]) -> OAuthToken {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let (signing, clients) = tokio::join!(load_signing(&env), load_clients(&env));
        // The clients first: what this function adds to a signing route.
        let clients = clients?;
        let limits = config::oauth_limits(&env)?;
        let signing = signing?;
        Ok(OAuthToken {
            store: warm(connect(&signing.database).await?)?,
            keys: signing.keys,
            clients,
            limits,
        })
    })
    .await
}

/// Revocation and introspection (oauth-revoke, oauth-introspect): the
/// public keys (access tokens), the sessions (refresh tokens, by their
/// stored digest) and the registered clients; no private key.
pub struct OAuthTokenAdmin {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub clients: RegisteredClients,
    pub limits: crate::domain::oauth::OAuthLimits,
}

pub async fn oauth_token_admin(warm_ups: &[WarmUp]) -> OAuthTokenAdmin {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let (verifying, clients) = tokio::join!(load_verifying(&env), load_clients(&env));
        let clients = clients?;
        let limits = config::oauth_limits(&env)?;
        let verifying = verifying?;
        Ok(OAuthTokenAdmin {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            clients,
            limits,
        })
    })
    .await
}

/// The UserInfo endpoint (oauth-userinfo): verifies client tokens; the
/// clients for CORS.
pub struct OAuthUserInfo {
    pub store: MongoStore,
    pub keys: PublishedKeys,
    pub clients: RegisteredClients,
}

pub async fn oauth_userinfo(warm_ups: &[WarmUp]) -> OAuthUserInfo {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let (verifying, clients) = tokio::join!(load_verifying(&env), load_clients(&env));
        let clients = clients?;
        let verifying = verifying?;
        Ok(OAuthUserInfo {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            clients,
        })
    })
    .await
}

/// The JWKS and discovery documents: the published keys, no database.
pub struct Jwks {
    pub keys: PublishedKeys,
    pub settings: TokenSettings,
    /// Whether discovery names the registration endpoint.
    pub registration: crate::domain::registration::RegistrationMode,
}

pub async fn jwks(warm_ups: &[WarmUp]) -> Jwks {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let settings = config::token_settings(&env)?;
        let registration = config::registration_policy(&env)?.mode;
        let source = config::key_source(&env, KeySetKind::Public)?;
        let keys = PublishedKeys::load(source, settings.clone())
            .await
            .map_err(|reason| key_set_error(&env, KeySetKind::Public, reason))?;
        Ok(Jwks {
            keys,
            settings,
            registration,
        })
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

/// publish-events: the store and the EventBridge bus the outbox goes to.
#[cfg(feature = "publish")]
pub struct EventPublishing {
    pub store: MongoStore,
    pub bus: crate::eventbridge::EventBridge,
}

#[cfg(feature = "publish")]
pub async fn event_publishing(warm_ups: &[WarmUp]) -> EventPublishing {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let bus = crate::eventbridge::EventBridge::from_env(&env).await?;
        let settings = config::load_database(&env).await?;
        Ok(EventPublishing {
            store: warm(connect(&settings).await?)?,
            bus,
        })
    })
    .await
}

/// A route that asks for mail without a bearer token (register, verify-email,
/// reset-password).
pub struct MailRequesting {
    pub store: MongoStore,
    pub queue: MailQueue,
}

pub async fn mail_requesting(warm_ups: &[WarmUp]) -> MailRequesting {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let settings = config::load_database(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        Ok(MailRequesting {
            store: warm(connect(&settings).await?)?,
            queue,
        })
    })
    .await
}

/// forgot-password: the store (its throttle), the queue and the per-source limit.
pub struct ForgotPassword {
    pub store: MongoStore,
    pub queue: MailQueue,
    pub per_source_per_hour: i64,
}

pub async fn forgot_password(warm_ups: &[WarmUp]) -> ForgotPassword {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let settings = config::load_database(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        let per_source_per_hour = config::forgot_per_source(&env)?;
        Ok(ForgotPassword {
            store: warm(connect(&settings).await?)?,
            queue,
            per_source_per_hour,
        })
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

pub async fn mail_routes(warm_ups: &[WarmUp]) -> MailRoutes {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let verifying = load_verifying(&env).await?;
        let queue = MailQueue::from_environment(&env)?;
        let policy = config::mail_request_policy(&env)?;
        Ok(MailRoutes {
            store: warm(connect(&verifying.database).await?)?,
            keys: verifying.keys,
            queue,
            policy,
        })
    })
    .await
}

/// send-mail: the store, the transport (files when `MAIL_DIRECTORY` is set,
/// else SES) and the mail settings.
pub struct MailSending {
    pub store: MongoStore,
    pub transport: Transport,
    pub settings: MailSettings,
}

pub async fn mail_sending(warm_ups: &[WarmUp]) -> MailSending {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let database = config::load_database(&env).await?;
        let settings = config::mail_settings(&env)?;
        let delivery = match env.var("MAIL_DIRECTORY") {
            Some(directory) => Delivery::Files(directory.into()),
            None => Delivery::Ses(Ses::from_environment(&env)?),
        };
        let transport = Transport {
            delivery,
            sender: config::mail_sender(&env)?,
            app_base_url: config::app_base_url(&env)?,
        };
        Ok(MailSending {
            store: warm(connect(&database).await?)?,
            transport,
            settings,
        })
    })
    .await
}

/// The pages for people (`functions/src/bin/pages.rs`): what login,
/// verify-mfa, register, the recovery routes and the account routes use,
/// since the pages call the same use cases, and the branding.
pub struct PagesRuntime {
    pub store: MongoStore,
    pub keys: SigningKeys,
    pub queue: MailQueue,
    pub mfa: crate::domain::mfa::MfaSettings,
    pub login: LoginPolicy,
    pub mail_policy: MailRequestPolicy,
    pub forgot_per_source: i64,
    pub links: LinkVerification,
    pub site: crate::pages::site::Site,
    /// The OpenID Provider's clients: the authorization, consent and
    /// logout pages are pages too (same session, same host).
    pub clients: RegisteredClients,
    /// `DELETION_GRACE_DAYS` (issue #24): the account page's delete.
    pub deletion_grace: crate::domain::deletion::GracePeriod,
}

pub async fn pages(warm_ups: &[WarmUp]) -> PagesRuntime {
    start(warm_ups, async {
        let env = ProcessEnvironment;
        let login = config::login_policy(&env)?;
        let mail_policy = config::mail_request_policy(&env)?;
        let forgot_per_source = config::forgot_per_source(&env)?;
        let links = config::link_verification(&env)?;
        let site = config::site(&env)?;
        let queue = MailQueue::from_environment(&env)?;
        let deletion_grace = config::deletion_grace(&env)?;
        let (signing, mfa, clients) = tokio::join!(
            load_signing(&env),
            config::mfa_settings(&env),
            load_clients(&env)
        );
        let signing = signing?;
        Ok(PagesRuntime {
            clients: clients?,
            store: warm(connect(&signing.database).await?)?,
            keys: signing.keys,
            queue,
            mfa: mfa?,
            login,
            mail_policy,
            forgot_per_source,
            links,
            site,
            deletion_grace,
        })
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
