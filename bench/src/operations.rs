//! The HTTP functions, by what an invocation needs and what its floor is.
//!
//! The floor of an operation is `users_core::domain`'s use case for it, called
//! from the benchmark process on a `MongoStore` built from the same
//! configuration: by construction the very MongoDB commands the function
//! sends, with the same driver, plus its argon2id work (register, login).
//! What the function adds on top (the Runtime API round trip, the API Gateway
//! event and response, request parsing and validation, token verification,
//! logging) is its overhead.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use users_core::domain::accounts::{self, Registration};
use users_core::domain::authorize::{self, AuthorizeOutcome};
use users_core::domain::clients::ClientRegistry;
use users_core::domain::deletion::{self, PurgeLimits};
use users_core::domain::devices::{self, ClientInfo};
use users_core::domain::export::{self, ExportSettings};
use users_core::domain::grants;
use users_core::domain::inbound;
use users_core::domain::keys::KeySet;
use users_core::domain::linking::{self, LinkVerification};
use users_core::domain::login::{self, Credentials};
use users_core::domain::mail_token::MailToken;
use users_core::domain::mfa::{self, normalise_recovery_code, MfaSettings, Proof};
use users_core::domain::oauth::{self, CodeGrant, SignedIn};
use users_core::domain::ports::{Accounts, LinkTrust};
use users_core::domain::ports::{
    EventSink, Mail, MailRequest, MailRequests, MailTransport, OutboxEntry,
};
use users_core::domain::publishing;
use users_core::domain::records::{Authentication, OAuthGrant};
use users_core::domain::recovery::{self, MailOutcome, MailRequestPolicy, MailSettings};
use users_core::domain::registration::{self, RegistrationPolicy};
use users_core::domain::sessions::{self, Issuer};
use users_core::domain::tokens::Caller;
use users_core::domain::totp;
use users_core::domain::values::{
    Email, ExternalId, PasskeyId, Password, RefreshToken, Timestamp, UserId, Username,
};
use users_core::mongo::MongoStore;
use webauthn_rs_proto::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::events::{HttpEvent, PageVisit};
use crate::process::Expect;
use crate::Error;

/// Every account's password: strong enough for registration's zxcvbn rule.
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Register,
    Login,
    Refresh,
    Logout,
    LogoutAll,
    Link,
    Profile,
    Delete,
    /// `list-sessions`: the user's open sessions.
    Sessions,
    /// `end-session`: ends one session (here the caller's own).
    EndSession,
    /// `api-docs`: serves bytes compiled into it; no database.
    Docs,
    /// `jwks`: the public keys and the discovery document; no database.
    Jwks,
    ForgotPassword,
    /// With a token from the mail `send-mail` sends for a forgotten password.
    ResetPassword,
    /// With a token from the verification mail.
    VerifyEmail,
    ResendVerification,
    ChangePassword,
    ChangeEmail,
    /// By the owner's session, of a change pending.
    CancelEmailChange,
    /// With the cancel token of the mail to the current address.
    CancelEmailChangeByLink,
    EnrolTotp,
    /// A pending factor, confirmed by a code of the current step.
    ConfirmTotp,
    /// A confirmed factor, removed with the password and a recovery code.
    DisableTotp,
    /// A confirmed factor, with a code of the current step.
    RegenerateRecoveryCodes,
    /// A login's challenge, answered with a recovery code.
    VerifyMfa,
    /// `send-mail`: an SQS event of one password-reset request.
    SendMail,
    /// `ingest-events`: an SQS batch of `INBOUND_BATCH` messages.
    IngestEvents,
    /// `publish-events`: one batch the outbox holds.
    PublishEvents,
    /// `rotate-signing-keys`: the `createSecret` step (the key generation).
    RotateSigningKeys,
    /// `pages`: the sign-in page, as a person's first visit gets it (a new
    /// pre-session and its CSRF token; no database). The other pages' and
    /// the whole sign-in's latencies: `make bench-flows`.
    SignInPage,
    /// `oauth-token`: the authorization_code grant of a public client (PKCE).
    OAuthToken,
    /// `oauth-userinfo`: the claims of a client's access token.
    OAuthUserInfo,
    /// `oauth-revoke`: the public client revokes its grant by the refresh
    /// token (RFC 7009), which ends the grant's session.
    OAuthRevoke,
    /// `oauth-introspect`: a confidential client asks about the refresh
    /// token of its own grant (RFC 7662).
    OAuthIntrospect,
    /// `oauth-register`: a dynamic client registration (RFC 7591) of a
    /// public client with one redirect URI.
    OAuthRegister,
    /// `list-passkeys`: a user's two passkeys.
    ListPasskeys,
    /// `remove-passkey`: one of them, after a recent login.
    RemovePasskey,
    /// `rename-passkey`: a new name for one of them.
    RenamePasskey,
    /// `passkey-register-options`: the options of a new passkey (webauthn-rs
    /// makes the challenge; the ceremony's state is stored).
    PasskeyRegisterOptions,
    /// `passkey-sign-in-options`: a discoverable-credential request.
    PasskeySignInOptions,
    /// `add-passkey`: a user's first passkey, the authenticator's answer to
    /// a registration begun just before (`Dataset::stage`).
    AddPasskey,
    /// `passkey-sign-in`: a discoverable credential's assertion over a
    /// challenge made just before.
    PasskeySignIn,
    /// `passkey-mfa-options`: after a right password, the request for one
    /// of the account's passkeys as the second step.
    PasskeyMfaOptions,
    /// `passkey-pages`: the account page's script asks for a new passkey's
    /// options (`POST /account/passkeys/options`, the session cookie and
    /// its CSRF token). Its finishes answer as the API's do, measured above.
    PasskeyPageOptions,
    /// `restore-account`: a scheduled deletion called off by its mailed link.
    RestoreAccount,
    /// `export-account`: the document of a user with linked data, right
    /// after their sign-in (step-up), once each (3 an hour).
    ExportAccount,
    /// `purge-deletions`: one scheduled run that finds one user due (made
    /// due just before it) and deletes it with its linked data.
    PurgeDeletions,
}

/// The provider's client of the benchmark: public, third-party, PKCE.
pub const BENCH_CLIENT: &str = "bench-spa";
const BENCH_REDIRECT: &str = "http://localhost:8765/callback";
/// A fixed PKCE pair (RFC 7636 S256): the challenge is BASE64URL(SHA256(verifier)).
const PKCE_VERIFIER: &str = "bench-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz";
const PKCE_CHALLENGE: &str = "nNXSXIAPh_gvnj1fakhR9r29EIkizMk0nlEpUHWvF7c";

/// The confidential client of the benchmark: introspects its own grants.
pub const BENCH_CONFIDENTIAL: &str = "bench-backend";
/// Its secret: the benchmark's own throwaway client, in no deployment.
const BENCH_CONFIDENTIAL_SECRET: &str = "bench-backend-secret-0123456789abcdef";

/// The clients document of the run (`OAUTH_CLIENTS_FILE` or its secret).
pub fn clients_document() -> String {
    json!({ "clients": [{
        "id": BENCH_CLIENT,
        "name": "Benchmark SPA",
        "type": "public",
        "redirect_uris": [BENCH_REDIRECT],
        "post_logout_redirect_uris": [],
        "scopes": ["openid", "profile", "email", "offline_access"],
        "grants": ["authorization_code", "refresh_token"],
        "first_party": false,
    }, {
        "id": BENCH_CONFIDENTIAL,
        "name": "Benchmark backend",
        "type": "confidential",
        "secret_sha256": users_core::domain::clients::secret_digest(BENCH_CONFIDENTIAL_SECRET),
        "redirect_uris": [BENCH_REDIRECT],
        "post_logout_redirect_uris": [],
        "scopes": ["openid", "email", "offline_access"],
        "grants": ["authorization_code", "refresh_token"],
        "first_party": false,
    }]})
    .to_string()
}

fn bench_registry() -> Result<ClientRegistry, Error> {
    ClientRegistry::parse(&clients_document()).map_err(|error| format!("{error:?}").into())
}

/// What a session opened by the bench client's code was granted.
pub fn bench_grant() -> OAuthGrant {
    OAuthGrant {
        client_id: BENCH_CLIENT.into(),
        client_name: "Benchmark SPA".into(),
        scope: "openid profile email".into(),
        first_party: false,
        resources: Vec::new(),
    }
}

/// What a session opened by the confidential client's code was granted.
pub fn confidential_grant() -> OAuthGrant {
    OAuthGrant {
        client_id: BENCH_CONFIDENTIAL.into(),
        client_name: "Benchmark backend".into(),
        scope: "openid email".into(),
        first_party: false,
        resources: Vec::new(),
    }
}

/// What a registration asks for: a public client named after `subject`.
fn registration_metadata(subject: &Subject) -> serde_json::Value {
    json!({
        "client_name": format!("Bench app {}", subject.username),
        "redirect_uris": ["https://app.example/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid email",
    })
}

/// A code for `user_id`, as the authorize endpoint issues it after consent.
pub async fn issue_code(store: &MongoStore, user_id: UserId) -> Result<String, Error> {
    let parameters: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", BENCH_CLIENT),
        ("redirect_uri", BENCH_REDIRECT),
        ("scope", "openid profile email"),
        ("code_challenge", PKCE_CHALLENGE),
        ("code_challenge_method", "S256"),
        ("nonce", "bench"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    let request = match authorize::validate(&parameters, &bench_registry()?) {
        AuthorizeOutcome::Valid(request) => request,
        _ => return Err("the benchmark's authorization request is refused".into()),
    };
    let signed_in = SignedIn {
        user_id,
        auth: Authentication::password(Timestamp::now()),
    };
    oauth::issue_code(store, signed_in, &request, Timestamp::now())
        .await
        .map_err(|error| error.to_string().into())
}

/// Messages per ingest-events batch: SQS's default batch size.
pub const INBOUND_BATCH: usize = 10;
/// Outbox entries staged before each publish-events run: one `PutEvents` call.
pub const OUTBOX_BATCH: usize = 10;
/// What reset and change set: strong enough for zxcvbn, unrelated to the names.
pub const NEW_PASSWORD: &str = "quartz lantern orbit mosaic 1987";

impl Operation {
    /// The operation a template binary performs; `None` for one the benchmark
    /// does not know yet (it then says so rather than skip it).
    pub fn for_binary(binary: &str) -> Option<Self> {
        Some(match binary {
            "register" => Self::Register,
            "login" => Self::Login,
            "refresh" => Self::Refresh,
            "logout" => Self::Logout,
            "logout-all" => Self::LogoutAll,
            "link-external-id" => Self::Link,
            "get-full-profile" => Self::Profile,
            "delete-user" => Self::Delete,
            "list-sessions" => Self::Sessions,
            "end-session" => Self::EndSession,
            "api-docs" => Self::Docs,
            "jwks" => Self::Jwks,
            "forgot-password" => Self::ForgotPassword,
            "reset-password" => Self::ResetPassword,
            "verify-email" => Self::VerifyEmail,
            "resend-verification" => Self::ResendVerification,
            "change-password" => Self::ChangePassword,
            "change-email" => Self::ChangeEmail,
            "cancel-email-change" => Self::CancelEmailChange,
            "cancel-email-change-by-link" => Self::CancelEmailChangeByLink,
            "enrol-totp" => Self::EnrolTotp,
            "confirm-totp" => Self::ConfirmTotp,
            "disable-totp" => Self::DisableTotp,
            "regenerate-recovery-codes" => Self::RegenerateRecoveryCodes,
            "verify-mfa" => Self::VerifyMfa,
            "send-mail" => Self::SendMail,
            "ingest-events" => Self::IngestEvents,
            "publish-events" => Self::PublishEvents,
            "rotate-signing-keys" => Self::RotateSigningKeys,
            "pages" => Self::SignInPage,
            "oauth-token" => Self::OAuthToken,
            "oauth-userinfo" => Self::OAuthUserInfo,
            "oauth-revoke" => Self::OAuthRevoke,
            "oauth-introspect" => Self::OAuthIntrospect,
            "oauth-register" => Self::OAuthRegister,
            "list-passkeys" => Self::ListPasskeys,
            "remove-passkey" => Self::RemovePasskey,
            "rename-passkey" => Self::RenamePasskey,
            "passkey-register-options" => Self::PasskeyRegisterOptions,
            "passkey-sign-in-options" => Self::PasskeySignInOptions,
            "add-passkey" => Self::AddPasskey,
            "passkey-sign-in" => Self::PasskeySignIn,
            "passkey-mfa-options" => Self::PasskeyMfaOptions,
            "passkey-pages" => Self::PasskeyPageOptions,
            "restore-account" => Self::RestoreAccount,
            "export-account" => Self::ExportAccount,
            "purge-deletions" => Self::PurgeDeletions,
            _ => return None,
        })
    }

    /// Invocations that cost tens of milliseconds or more (argon2id, RSA key
    /// generation) get the smaller warm count.
    pub fn slow(self) -> bool {
        matches!(
            self,
            Self::Register
                | Self::Login
                | Self::ResetPassword
                | Self::ChangePassword
                | Self::ChangeEmail
                | Self::EnrolTotp
                | Self::DisableTotp
                | Self::RotateSigningKeys
        )
    }

    pub fn uses_database(self) -> bool {
        !matches!(
            self,
            Self::Docs | Self::Jwks | Self::RotateSigningKeys | Self::SignInPage
        )
    }

    /// What a right answer looks like.
    pub fn expect(self) -> Expect {
        match self {
            Self::Register | Self::OAuthRegister | Self::AddPasskey => Expect::Status(201),
            Self::ForgotPassword | Self::ResendVerification | Self::ChangeEmail => {
                Expect::Status(202)
            }
            Self::SendMail | Self::IngestEvents => Expect::NoBatchItemFailures,
            Self::PublishEvents => Expect::Published,
            Self::RotateSigningKeys => Expect::Done,
            Self::PurgeDeletions => Expect::Purged,
            _ => Expect::Status(200),
        }
    }

    /// What each invocation acts on, and whether invocations share it.
    pub fn needs(self) -> Needs {
        match self {
            Self::Register => Needs::Each(Kind::NewUser),
            // A fresh account each: send-mail's per-address limit would
            // throttle a shared one after a few mails.
            Self::Login | Self::SendMail | Self::IngestEvents => Needs::Each(Kind::Account),
            // Throttled per source address, which varies per invocation.
            Self::ForgotPassword => Needs::Shared(Kind::Account),
            Self::Refresh | Self::Logout => Needs::Each(Kind::SessionOfSharedUser),
            Self::LogoutAll
            | Self::EndSession
            | Self::ResendVerification
            | Self::ChangePassword
            | Self::ChangeEmail
            | Self::EnrolTotp => Needs::Each(Kind::UserWithSession),
            Self::Sessions => Needs::Shared(Kind::UserWithSession),
            Self::Delete => Needs::Each(Kind::UserWithLinkedData),
            Self::Link => Needs::Shared(Kind::UserWithSession),
            Self::Profile => Needs::Shared(Kind::UserWithLinkedData),
            Self::ResetPassword => Needs::Each(Kind::ResetToken),
            Self::VerifyEmail => Needs::Each(Kind::VerificationToken),
            Self::CancelEmailChange => Needs::Each(Kind::PendingEmail),
            Self::CancelEmailChangeByLink => Needs::Each(Kind::CancelToken),
            Self::ConfirmTotp => Needs::Each(Kind::PendingFactor),
            Self::DisableTotp | Self::RegenerateRecoveryCodes => Needs::Each(Kind::ConfirmedFactor),
            Self::VerifyMfa => Needs::Each(Kind::MfaChallenge),
            Self::PublishEvents => Needs::Each(Kind::OutboxBatch),
            Self::OAuthToken => Needs::Each(Kind::AuthorizationCode),
            Self::OAuthUserInfo => Needs::Shared(Kind::ClientSession),
            // Revoking ends the grant: a grant each.
            Self::OAuthRevoke => Needs::Each(Kind::ClientSession),
            Self::OAuthIntrospect => Needs::Shared(Kind::ConfidentialSession),
            // Only a name: a new client each, nothing seeded.
            Self::OAuthRegister => Needs::Each(Kind::NewUser),
            Self::ListPasskeys => Needs::Shared(Kind::UserWithPasskeys),
            Self::RemovePasskey => Needs::Each(Kind::UserWithPasskeys),
            Self::RenamePasskey => Needs::Shared(Kind::UserWithPasskeys),
            // A ceremony begun is only a stored state: one user for all.
            Self::PasskeyRegisterOptions => Needs::Shared(Kind::UserWithSession),
            // Nobody is named; an account only so that the size study has
            // a subject.
            Self::PasskeySignInOptions => Needs::Shared(Kind::Account),
            // A registration each: room for it, and one begin per user.
            Self::AddPasskey => Needs::Each(Kind::PasskeyNewcomer),
            // A sign-in each, as login has: its own user and passkey.
            Self::PasskeySignIn => Needs::Each(Kind::PasskeyHolder),
            // A begin replaces the login's earlier one: one login for all.
            Self::PasskeyMfaOptions => Needs::Shared(Kind::PasskeyMfaChallenge),
            // A fresh sign-in each: the begin asks for a recent one.
            Self::PasskeyPageOptions => Needs::Each(Kind::BrowserSession),
            Self::ExportAccount => Needs::Each(Kind::UserWithLinkedData),
            Self::RestoreAccount | Self::PurgeDeletions => Needs::Each(Kind::ScheduledDeletion),
            Self::Docs | Self::Jwks | Self::RotateSigningKeys | Self::SignInPage => Needs::Nothing,
        }
    }
}

pub enum Needs {
    Nothing,
    /// A fresh one per invocation (the invocation uses it up).
    Each(Kind),
    /// One, for every invocation of the run.
    Shared(Kind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Names nobody has registered.
    NewUser,
    /// A registered user (no session).
    Account,
    /// A new session of one user the run keeps for this.
    SessionOfSharedUser,
    /// A registered user with an open session.
    UserWithSession,
    /// A user with a session, an external id and linked documents (two, or
    /// three for the shared profile user).
    UserWithLinkedData,
    /// An account and the token of the reset mail `send-mail` sent it.
    ResetToken,
    /// An account and the token of its verification mail.
    VerificationToken,
    /// A user with a session and an e-mail change pending.
    PendingEmail,
    /// A user with a change pending and the cancel token of the notice to
    /// the current address.
    CancelToken,
    /// A user with a session and a TOTP factor enrolled, not confirmed.
    PendingFactor,
    /// A user with a session, a confirmed factor and its recovery codes.
    ConfirmedFactor,
    /// A user with a confirmed factor whose password login is waiting for
    /// the second step (`token` is its `mfa_token`).
    MfaChallenge,
    /// Users with a session each, whose sessions `stage` ends just before
    /// the run, so that the outbox holds one batch of events.
    OutboxBatch,
    /// An account and a code issued to the bench client (`token`).
    AuthorizationCode,
    /// An account with a session the bench client's code opened (its tokens
    /// carry the client's scope).
    ClientSession,
    /// The same, of the confidential client's grant.
    ConfidentialSession,
    /// A user with a session and two passkeys (`token`: the first one's id).
    UserWithPasskeys,
    /// A user with a fresh session and an authenticator with no passkey yet.
    PasskeyNewcomer,
    /// A user with a session and one passkey, registered through the
    /// relying party; its authenticator holds the key.
    PasskeyHolder,
    /// The same with a confirmed TOTP factor too, whose password login is
    /// waiting for the second step (`token` is its `mfa_token`).
    PasskeyMfaChallenge,
    /// A user whose session a browser holds (`Subject::browser`).
    BrowserSession,
    /// A user with linked data whose deletion is scheduled a week ahead,
    /// and the token of its mailed restore link; `Dataset::stage` makes it
    /// due for the purge.
    ScheduledDeletion,
}

/// What an invocation (or floor) acts on.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user_id: UserId,
    pub username: String,
    pub email: String,
    pub session: Option<OpenSession>,
    /// A mailed link's token, or a login's `mfa_token`.
    pub token: Option<String>,
    /// The TOTP secret, as the authenticator app holds it.
    pub totp_secret: Option<Vec<u8>>,
    pub recovery_codes: Vec<String>,
    /// Sessions whose ending stages an outbox batch.
    pub batch: Vec<Caller>,
    /// The authenticator of a subject with (or about to get) a passkey.
    pub passkey: Option<Arc<crate::passkey::Holder>>,
    /// The browser that holds the session, for the pages.
    pub browser: Option<BrowserSession>,
}

/// A browser signed in to the pages: its session cookie and the CSRF token
/// the pages' forms carry for it.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// The pages' origin, which their POSTs come from.
    pub origin: String,
    /// `name=value`, the name `__Host-` prefixed over https.
    pub cookie: String,
    /// The cookie's value, as the page reads it.
    pub value: String,
    pub csrf: String,
}

#[derive(Debug, Clone)]
pub struct OpenSession {
    pub caller: Caller,
    pub access_token: String,
    pub refresh_token: String,
}

impl Subject {
    pub fn new(user_id: UserId, username: String, email: String) -> Self {
        Self {
            user_id,
            username,
            email,
            session: None,
            token: None,
            totp_secret: None,
            recovery_codes: Vec::new(),
            batch: Vec::new(),
            passkey: None,
            browser: None,
        }
    }

    fn session(&self) -> Result<&OpenSession, Error> {
        self.session
            .as_ref()
            .ok_or_else(|| format!("{} has no session", self.username).into())
    }

    fn token(&self) -> Result<&str, Error> {
        self.token
            .as_deref()
            .ok_or_else(|| format!("{} has no token", self.username).into())
    }

    fn browser(&self) -> Result<&BrowserSession, Error> {
        self.browser
            .as_ref()
            .ok_or_else(|| format!("{} has no browser session", self.username).into())
    }

    /// The passkey ceremony `Dataset::stage` readied for this event or floor.
    fn staged(&self) -> Result<crate::passkey::Staged, Error> {
        self.passkey
            .as_ref()
            .ok_or_else(|| format!("{} has no authenticator", self.username))?
            .take()
    }

    fn recovery_code(&self) -> Result<&str, Error> {
        self.recovery_codes
            .first()
            .map(String::as_str)
            .ok_or_else(|| format!("{} has no recovery code", self.username).into())
    }

    /// The code an authenticator app shows now: computed when the event or
    /// floor is built, since each works for one 30-second step.
    fn current_code(&self) -> Result<String, Error> {
        let secret = self
            .totp_secret
            .as_ref()
            .ok_or_else(|| format!("{} has no TOTP factor", self.username))?;
        Ok(totp::code(
            secret,
            totp::step_at(Timestamp::now().as_secs()),
        ))
    }

    /// The address an e-mail change moves to.
    pub fn new_email(&self) -> String {
        format!("new-{}", self.email)
    }
}

/// The event of invocation `i` of `operation` on `subject`: API Gateway's
/// for an HTTP function, its trigger's for the others.
pub fn event(
    operation: Operation,
    route: &(String, String),
    subject: Option<&Subject>,
    i: usize,
    request_id: &str,
) -> Result<Vec<u8>, Error> {
    let mut event = HttpEvent {
        method: &route.0,
        route: &route.1,
        user_id: None,
        bearer: None,
        body: None,
        form: false,
        source_ip: crate::events::source_ip(i),
        page: None,
        request_id,
    };
    let (hex, session_route);
    let subject = match (operation, subject) {
        (Operation::Docs | Operation::Jwks | Operation::SignInPage, _) => {
            return Ok(event.to_bytes())
        }
        (Operation::RotateSigningKeys, _) => {
            let secret = crate::process::secret_arn(crate::process::SIGNING_KEYS_SECRET);
            return Ok(crate::events::rotation(&secret, request_id));
        }
        (Operation::PublishEvents | Operation::PurgeDeletions, _) => {
            return Ok(crate::events::schedule(request_id))
        }
        (_, Some(subject)) => subject,
        (_, None) => return Err(format!("{operation:?} needs a subject").into()),
    };
    match operation {
        Operation::SendMail => {
            let body = users_core::mail::request_json(&mail_request(subject)?).to_string();
            return Ok(crate::events::sqs(&[body], "mail", i));
        }
        Operation::IngestEvents => {
            return Ok(crate::events::sqs(&inbound_batch(subject, i), "inbound", i));
        }
        _ => {}
    }
    let body = |value: serde_json::Value| Some(value.to_string());
    match operation {
        Operation::Register => {
            event.body = body(
                json!({ "username": subject.username, "email": subject.email, "password": PASSWORD }),
            );
        }
        Operation::Login => {
            event.body = body(json!({ "email": subject.email, "password": PASSWORD }));
        }
        Operation::Refresh => {
            event.body = body(json!({ "refresh_token": subject.session()?.refresh_token }));
        }
        Operation::Logout | Operation::LogoutAll => {
            event.bearer = Some(&subject.session()?.access_token);
        }
        Operation::EndSession => {
            let session = subject.session()?;
            hex = subject.user_id.to_hex();
            // No `session_id` path parameter in the event: the function
            // reads it from the path, as for a direct invoke.
            session_route = route
                .1
                .replace("{session_id}", &session.caller.session_id.to_hex());
            event.route = &session_route;
            event.user_id = Some(&hex);
            event.bearer = Some(&session.access_token);
        }
        Operation::ForgotPassword => {
            event.body = body(json!({ "email": subject.email }));
        }
        Operation::ResetPassword => {
            event.body = body(json!({ "token": subject.token()?, "new_password": NEW_PASSWORD }));
        }
        Operation::VerifyEmail | Operation::CancelEmailChangeByLink | Operation::RestoreAccount => {
            event.body = body(json!({ "token": subject.token()? }));
        }
        Operation::OAuthToken => {
            event.form = true;
            event.body = Some(form(&[
                ("grant_type", "authorization_code"),
                ("code", subject.token()?),
                ("redirect_uri", BENCH_REDIRECT),
                ("client_id", BENCH_CLIENT),
                ("code_verifier", PKCE_VERIFIER),
            ]));
        }
        Operation::OAuthUserInfo => {
            event.bearer = Some(&subject.session()?.access_token);
        }
        Operation::OAuthRevoke => {
            event.form = true;
            event.body = Some(form(&[
                ("token", &subject.session()?.refresh_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", BENCH_CLIENT),
            ]));
        }
        Operation::OAuthIntrospect => {
            // client_secret_post: the secret is URL-safe as it stands.
            event.form = true;
            event.body = Some(form(&[
                ("token", &subject.session()?.refresh_token),
                ("client_id", BENCH_CONFIDENTIAL),
                ("client_secret", BENCH_CONFIDENTIAL_SECRET),
            ]));
        }
        Operation::OAuthRegister => {
            event.body = body(registration_metadata(subject));
        }
        Operation::PasskeySignInOptions => {}
        Operation::PasskeySignIn => {
            let staged = subject.staged()?;
            event.body = body(json!({
                "ceremony": staged.ceremony,
                "credential": staged.credential,
            }));
        }
        Operation::PasskeyMfaOptions => {
            event.body = body(json!({ "mfa_token": subject.token()? }));
        }
        Operation::PasskeyPageOptions => {
            let browser = subject.browser()?;
            event.form = true;
            event.body = Some(form(&[("csrf", &browser.csrf)]));
            event.page = Some(PageVisit {
                origin: &browser.origin,
                cookies: vec![browser.cookie.clone()],
            });
        }
        Operation::AddPasskey => {
            let staged = subject.staged()?;
            hex = subject.user_id.to_hex();
            event.user_id = Some(&hex);
            event.bearer = Some(&subject.session()?.access_token);
            event.body = body(json!({
                "ceremony": staged.ceremony,
                "name": format!("Bench key {i}"),
                "credential": staged.credential,
            }));
        }
        Operation::ListPasskeys | Operation::PasskeyRegisterOptions => {
            hex = subject.user_id.to_hex();
            event.user_id = Some(&hex);
            event.bearer = Some(&subject.session()?.access_token);
        }
        Operation::RemovePasskey | Operation::RenamePasskey => {
            hex = subject.user_id.to_hex();
            // As for end-session: the id is read from the path.
            session_route = route.1.replace("{passkey_id}", subject.token()?);
            event.route = &session_route;
            event.user_id = Some(&hex);
            event.bearer = Some(&subject.session()?.access_token);
            if operation == Operation::RenamePasskey {
                event.body = body(json!({ "name": format!("Bench key renamed {i}") }));
            }
        }
        Operation::VerifyMfa => {
            event.body = body(json!({
                "mfa_token": subject.token()?,
                "recovery_code": subject.recovery_code()?,
            }));
        }
        Operation::Link
        | Operation::Profile
        | Operation::Delete
        | Operation::ExportAccount
        | Operation::Sessions
        | Operation::ResendVerification
        | Operation::ChangePassword
        | Operation::ChangeEmail
        | Operation::CancelEmailChange
        | Operation::EnrolTotp
        | Operation::ConfirmTotp
        | Operation::DisableTotp
        | Operation::RegenerateRecoveryCodes => {
            hex = subject.user_id.to_hex();
            event.user_id = Some(&hex);
            event.bearer = Some(&subject.session()?.access_token);
            event.body = match operation {
                Operation::Link => body(json!({ "external_id": format!("crm-{i}") })),
                Operation::ChangePassword => {
                    body(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
                }
                Operation::ChangeEmail => {
                    body(json!({ "password": PASSWORD, "new_email": subject.new_email() }))
                }
                Operation::EnrolTotp => body(json!({ "password": PASSWORD })),
                Operation::ConfirmTotp | Operation::RegenerateRecoveryCodes => {
                    body(json!({ "code": subject.current_code()? }))
                }
                Operation::DisableTotp => body(json!({
                    "password": PASSWORD,
                    "recovery_code": subject.recovery_code()?,
                })),
                _ => None,
            };
        }
        Operation::Docs
        | Operation::Jwks
        | Operation::SignInPage
        | Operation::SendMail
        | Operation::IngestEvents
        | Operation::PublishEvents
        | Operation::PurgeDeletions
        | Operation::RotateSigningKeys => unreachable!("answered above"),
    }
    Ok(event.to_bytes())
}

/// An `application/x-www-form-urlencoded` body; the values here need no escaping.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What send-mail is sent: a password reset of the subject's address (the
/// mail with the most work: look-up, limit, token, rendering, delivery).
fn mail_request(subject: &Subject) -> Result<MailRequest, Error> {
    let email = Email::parse(&subject.email).map_err(|error| error.message)?;
    Ok(MailRequest::PasswordReset { email })
}

/// Message bodies of one inbound batch: versioned writes of new linked
/// records, one deletion of the first of them, and one authoritative link
/// of the subject, so that each kind of write the queue carries is in it.
pub fn inbound_batch(subject: &Subject, i: usize) -> Vec<String> {
    let id = |n: usize| format!("in-{}-{i}-{n}", subject.username);
    let mut bodies: Vec<String> = (0..INBOUND_BATCH - 2)
        .map(|n| {
            json!({
                "op": "upsert_linked",
                "external_id": id(n),
                "data": { "plan": "gold", "seats": n },
                "version": 1,
            })
            .to_string()
        })
        .collect();
    bodies.push(json!({ "op": "delete_linked", "external_id": id(0), "version": 2 }).to_string());
    bodies.push(
        json!({
            "op": "link_user",
            "user_id": subject.user_id.to_hex(),
            "external_id": format!("in-link-{}-{i}", subject.username),
        })
        .to_string(),
    );
    bodies
}

/// What the floors are configured with: read from the functions' own
/// variables (`Dataset::create`), as each function reads them.
pub struct Context {
    pub issuer: Arc<Issuer>,
    pub mfa: MfaSettings,
    pub mail: MailSettings,
    pub policy: MailRequestPolicy,
    pub forgot_per_source: i64,
    pub links: LinkVerification,
    /// The key set the rotation starts from (JSON, as Secrets Manager
    /// holds it), and how long a new key waits.
    pub signing_keys: String,
    pub min_next_age: Duration,
    pub registration: RegistrationPolicy,
    /// The passkey functions' relying party (their variables' defaults).
    pub relying_party: users_core::passkeys::RelyingParty,
    /// What a browser on the relying party's page would send: its origin
    /// (the first allowed) and RP ID.
    pub passkey_origin: String,
    pub passkey_rp_id: String,
}

impl Context {
    pub fn browser(&self) -> crate::passkey::Browser<'_> {
        crate::passkey::Browser {
            origin: &self.passkey_origin,
            rp_id: &self.passkey_rp_id,
        }
    }
}

/// The mail queue of the floors: accepts and drops. SQS's `SendMessage` is
/// the function's (its overhead), not a MongoDB command of the use case.
pub struct NoQueue;

impl MailRequests for NoQueue {
    async fn request_mail(&self, _request: &MailRequest) -> Result<(), String> {
        Ok(())
    }
}

/// The mail transport of the floors: renders, as the adapter does, and
/// drops. Writing the file (or calling SES) is the function's overhead.
pub struct NoTransport;

impl MailTransport for NoTransport {
    async fn send_mail(&self, mail: &Mail) -> Result<String, String> {
        std::hint::black_box(users_core::mail::render(mail, "https://app.example.com"));
        Ok("dropped".into())
    }
}

/// The event bus of the floors: accepts every entry, as EventBridge does.
pub struct AcceptingBus;

impl EventSink for AcceptingBus {
    async fn send(&self, batch: &[OutboxEntry]) -> usize {
        std::hint::black_box(batch);
        batch.len()
    }
}

/// A floor call with its inputs parsed, so that only the use case is timed.
pub enum Floor {
    Register(Registration),
    Login(Credentials),
    Refresh(RefreshToken),
    Logout(Caller),
    LogoutAll(Caller),
    Link(Caller, ExternalId),
    Profile(Caller),
    Delete(Caller),
    Sessions(Caller),
    EndSession(Caller),
    Forgot(Email, String),
    Reset(MailToken),
    VerifyEmail(MailToken),
    Resend(Caller),
    ChangePassword(Caller),
    ChangeEmail(Caller, Email),
    CancelEmailChange(Caller),
    CancelByLink(MailToken),
    Enrol(Caller),
    Confirm(Caller, String),
    Disable(Caller, String),
    Regenerate(Caller, String),
    VerifyMfa(String, String),
    SendMail(MailRequest),
    /// Each message parsed as ingest-events parses it.
    Ingest(Vec<String>),
    Publish,
    Rotate,
    Token(CodeGrant),
    UserInfo(Caller),
    Revoke(String),
    Introspect(String),
    RegisterClient(serde_json::Value, String),
    ListPasskeys(Caller),
    RemovePasskey(Caller, PasskeyId),
    RenamePasskey(Caller, PasskeyId, String),
    PasskeyRegisterOptions(Caller, String),
    PasskeySignInOptions(String),
    AddPasskey(Caller, String, RegisterPublicKeyCredential),
    PasskeySignIn(String, PublicKeyCredential),
    PasskeyMfaOptions(String, String),
    PasskeyPageOptions(String, String),
    Restore(MailToken),
    Export(Caller),
    Purge,
}

impl Floor {
    /// The floor of invocation `i` of `operation` on `subject`; `None` for a
    /// function with no use case behind it (api-docs, jwks).
    pub fn new(
        operation: Operation,
        subject: Option<&Subject>,
        i: usize,
    ) -> Result<Option<Self>, Error> {
        let subject = match (operation, subject) {
            (Operation::Docs | Operation::Jwks | Operation::SignInPage, _) => return Ok(None),
            (Operation::RotateSigningKeys, _) => return Ok(Some(Self::Rotate)),
            (Operation::PublishEvents, _) => return Ok(Some(Self::Publish)),
            (Operation::PurgeDeletions, _) => return Ok(Some(Self::Purge)),
            (_, Some(subject)) => subject,
            (_, None) => return Err(format!("{operation:?} needs a subject").into()),
        };
        let invalid = |error: users_core::domain::FieldError| -> Error {
            format!("{}: {}", error.field, error.message).into()
        };
        let caller = || subject.session().map(|session| session.caller.clone());
        let token = || -> Result<MailToken, Error> {
            MailToken::parse(subject.token()?.to_string()).map_err(invalid)
        };
        let recovery = || -> Result<String, Error> {
            normalise_recovery_code(subject.recovery_code()?)
                .ok_or_else(|| "a recovery code not as issued".into())
        };
        Ok(Some(match operation {
            Operation::Register => Self::Register(Registration {
                username: Username::parse(&subject.username).map_err(invalid)?,
                email: Email::parse(&subject.email).map_err(invalid)?,
                password: Password::parse_for_login(PASSWORD.into()).map_err(invalid)?,
            }),
            Operation::Login => Self::Login(Credentials {
                email: Email::parse_for_login(&subject.email).map_err(invalid)?,
                password: Password::parse_for_login(PASSWORD.into()).map_err(invalid)?,
                client: "192.0.2.1".into(),
                user_agent: Some(b"lambda-bench".to_vec()),
            }),
            Operation::Refresh => Self::Refresh(
                RefreshToken::parse(subject.session()?.refresh_token.clone()).map_err(invalid)?,
            ),
            Operation::Logout => Self::Logout(caller()?),
            Operation::LogoutAll => Self::LogoutAll(caller()?),
            Operation::Link => Self::Link(
                caller()?,
                ExternalId::parse(&format!("floor-crm-{i}")).map_err(invalid)?,
            ),
            Operation::Profile => Self::Profile(caller()?),
            Operation::Delete => Self::Delete(caller()?),
            Operation::Sessions => Self::Sessions(caller()?),
            Operation::EndSession => Self::EndSession(caller()?),
            // Another source address each, as the invocations have.
            Operation::ForgotPassword => Self::Forgot(
                Email::parse(&subject.email).map_err(invalid)?,
                format!("floor-{i}"),
            ),
            Operation::ResetPassword => Self::Reset(token()?),
            Operation::VerifyEmail => Self::VerifyEmail(token()?),
            Operation::ResendVerification => Self::Resend(caller()?),
            Operation::ChangePassword => Self::ChangePassword(caller()?),
            Operation::ChangeEmail => Self::ChangeEmail(
                caller()?,
                Email::parse(&subject.new_email()).map_err(invalid)?,
            ),
            Operation::CancelEmailChange => Self::CancelEmailChange(caller()?),
            Operation::CancelEmailChangeByLink => Self::CancelByLink(token()?),
            Operation::EnrolTotp => Self::Enrol(caller()?),
            Operation::ConfirmTotp => Self::Confirm(caller()?, subject.current_code()?),
            Operation::DisableTotp => Self::Disable(caller()?, recovery()?),
            Operation::RegenerateRecoveryCodes => {
                Self::Regenerate(caller()?, subject.current_code()?)
            }
            Operation::VerifyMfa => Self::VerifyMfa(subject.token()?.to_string(), recovery()?),
            Operation::SendMail => Self::SendMail(mail_request(subject)?),
            Operation::IngestEvents => Self::Ingest(inbound_batch(subject, i)),
            Operation::OAuthToken => Self::Token(CodeGrant {
                code: subject.token()?.to_string(),
                redirect_uri: BENCH_REDIRECT.into(),
                code_verifier: Some(PKCE_VERIFIER.into()),
                resources: Vec::new(),
            }),
            Operation::OAuthUserInfo => Self::UserInfo(caller()?),
            Operation::OAuthRevoke => Self::Revoke(subject.session()?.refresh_token.clone()),
            Operation::OAuthIntrospect => {
                Self::Introspect(subject.session()?.refresh_token.clone())
            }
            // Another source address each, as the invocations have.
            Operation::OAuthRegister => {
                Self::RegisterClient(registration_metadata(subject), format!("floor-{i}"))
            }
            Operation::ListPasskeys => Self::ListPasskeys(caller()?),
            Operation::RemovePasskey => Self::RemovePasskey(
                caller()?,
                PasskeyId::parse(subject.token()?).map_err(invalid)?,
            ),
            Operation::RenamePasskey => Self::RenamePasskey(
                caller()?,
                PasskeyId::parse(subject.token()?).map_err(invalid)?,
                format!("Bench key floor {i}"),
            ),
            // Begins are limited per source address: another each.
            Operation::PasskeyRegisterOptions => {
                Self::PasskeyRegisterOptions(caller()?, format!("floor-{i}"))
            }
            Operation::PasskeySignInOptions => Self::PasskeySignInOptions(format!("floor-{i}")),
            // The credential parsed here, as the function parses it before
            // its use case: only the use case is timed.
            Operation::AddPasskey => {
                let staged = subject.staged()?;
                Self::AddPasskey(
                    caller()?,
                    staged.ceremony,
                    serde_json::from_value(staged.credential)?,
                )
            }
            Operation::PasskeySignIn => {
                let staged = subject.staged()?;
                Self::PasskeySignIn(staged.ceremony, serde_json::from_value(staged.credential)?)
            }
            Operation::PasskeyMfaOptions => {
                Self::PasskeyMfaOptions(subject.token()?.to_string(), format!("floor-{i}"))
            }
            Operation::PasskeyPageOptions => {
                Self::PasskeyPageOptions(subject.browser()?.value.clone(), format!("floor-{i}"))
            }
            Operation::RestoreAccount => Self::Restore(token()?),
            Operation::ExportAccount => Self::Export(caller()?),
            Operation::Docs
            | Operation::Jwks
            | Operation::SignInPage
            | Operation::PublishEvents
            | Operation::PurgeDeletions
            | Operation::RotateSigningKeys => unreachable!("answered above"),
        }))
    }

    /// Runs the use case; the caller times it.
    pub async fn run(self, store: &MongoStore, context: &Context) -> Result<(), Error> {
        let now = Timestamp::now();
        let issuer = &*context.issuer;
        let failed = |error: users_core::domain::DomainError| -> Error {
            format!("floor: {error} ({error:?})").into()
        };
        let password = || -> Result<Password, Error> {
            Password::parse_for_login(PASSWORD.into())
                .map_err(|error| error.message.to_string().into())
        };
        match self {
            Self::Register(registration) => {
                accounts::register(store, registration, now)
                    .await
                    .map_err(failed)?;
            }
            Self::Login(credentials) => {
                login::login(store, issuer, credentials, now)
                    .await
                    .map_err(failed)?;
            }
            Self::Refresh(token) => {
                sessions::refresh_from(store, issuer, &token, &ClientInfo::default(), now)
                    .await
                    .map_err(failed)?;
            }
            Self::Logout(caller) => sessions::logout(store, &caller, now)
                .await
                .map_err(failed)?,
            Self::LogoutAll(caller) => {
                sessions::logout_all(store, &caller, now)
                    .await
                    .map_err(failed)?;
            }
            Self::Link(caller, external_id) => {
                // The function under the benchmark runs LINK_VERIFICATION=off
                // (run.rs): a link on the user's word, as the floor here.
                linking::link_external_id(
                    store,
                    &caller,
                    &external_id,
                    None,
                    LinkVerification::Off,
                    now,
                )
                .await
                .map_err(failed)?
            }
            Self::Profile(caller) => {
                let profile = accounts::full_profile(store, &caller, now, LinkTrust::Any)
                    .await
                    .map_err(failed)?;
                std::hint::black_box(profile);
            }
            Self::Delete(caller) => accounts::delete_user(store, &caller, now, LinkTrust::Any)
                .await
                .map_err(failed)?,
            Self::Sessions(caller) => {
                let listed = devices::list_sessions(store, &caller, now)
                    .await
                    .map_err(failed)?;
                std::hint::black_box(listed);
            }
            Self::EndSession(caller) => {
                devices::end_session(store, &caller, caller.session_id, now)
                    .await
                    .map_err(failed)?
            }
            Self::Forgot(email, client) => recovery::forgot_password(
                store,
                &NoQueue,
                email,
                &client,
                context.forgot_per_source,
                now,
            )
            .await
            .map_err(failed)?,
            Self::Reset(token) => {
                recovery::reset_password(store, &NoQueue, &token, NEW_PASSWORD.into(), now)
                    .await
                    .map_err(failed)?
            }
            Self::VerifyEmail(token) => {
                recovery::verify_email(store, &NoQueue, &token, now)
                    .await
                    .map_err(failed)?;
            }
            Self::Resend(caller) => {
                recovery::resend_verification(store, &NoQueue, &context.policy, &caller, now)
                    .await
                    .map_err(failed)?
            }
            Self::ChangePassword(caller) => recovery::change_password(
                store,
                &NoQueue,
                &caller,
                password()?,
                NEW_PASSWORD.into(),
                now,
            )
            .await
            .map_err(failed)?,
            Self::ChangeEmail(caller, new_email) => recovery::change_email(
                store,
                &NoQueue,
                &context.policy,
                &caller,
                password()?,
                new_email,
                now,
            )
            .await
            .map_err(failed)?,
            Self::CancelEmailChange(caller) => {
                if !recovery::cancel_email_change(store, &caller, now)
                    .await
                    .map_err(failed)?
                {
                    return Err("floor: no e-mail change was pending".into());
                }
            }
            Self::CancelByLink(token) => {
                recovery::cancel_email_change_by_link(store, &token, false, now)
                    .await
                    .map_err(failed)?;
            }
            Self::Enrol(caller) => {
                let enrolment =
                    mfa::enrol(store, &NoQueue, &context.mfa, &caller, password()?, now)
                        .await
                        .map_err(failed)?;
                std::hint::black_box(enrolment.qr_svg);
            }
            Self::Confirm(caller, code) => {
                mfa::confirm(store, &NoQueue, &context.mfa, &caller, code, now)
                    .await
                    .map_err(failed)?;
            }
            Self::Disable(caller, code) => mfa::disable(
                store,
                &NoQueue,
                &context.mfa,
                &caller,
                password()?,
                Proof::Recovery(code),
                now,
            )
            .await
            .map_err(failed)?,
            Self::Regenerate(caller, code) => {
                mfa::regenerate_recovery_codes(store, &NoQueue, &context.mfa, &caller, code, now)
                    .await
                    .map_err(failed)?;
            }
            Self::VerifyMfa(mfa_token, code) => {
                mfa::verify(
                    store,
                    issuer,
                    &context.mfa,
                    &mfa_token,
                    Proof::Recovery(code),
                    ClientInfo::default(),
                    now,
                )
                .await
                .map_err(failed)?;
            }
            Self::SendMail(request) => {
                let outcome = recovery::send_requested_mail(
                    store,
                    &NoTransport,
                    &context.mail,
                    &request,
                    now,
                )
                .await
                .map_err(failed)?;
                if outcome != MailOutcome::Sent {
                    return Err(format!("floor: send-mail {}", outcome.as_str()).into());
                }
            }
            Self::Ingest(bodies) => {
                for body in bodies {
                    let message = users_core::sqs::parse(&body, now)
                        .map_err(|error| format!("floor: inbound message: {error}"))?;
                    inbound::apply(store, message, context.links.trust(), now)
                        .await
                        .map_err(failed)?;
                }
            }
            Self::Publish => {
                let summary = publishing::publish(store, &AcceptingBus)
                    .await
                    .map_err(failed)?;
                if summary.published == 0 {
                    return Err("floor: the outbox held nothing to publish".into());
                }
            }
            Self::Rotate => {
                // Parsed here, as createSecret parses the current set.
                let current = KeySet::parse(&context.signing_keys)
                    .map_err(|error| format!("floor: the signing keys: {error}"))?;
                let rotated = users_core::keygen::next_key_set(
                    Some(current),
                    now.as_millis(),
                    context.min_next_age,
                )
                .map_err(|error| format!("floor: key generation: {error}"))?;
                std::hint::black_box(rotated);
            }
            Self::Token(grant) => {
                let registry = bench_registry()?;
                let client = registry.find(BENCH_CLIENT).ok_or("no bench client")?;
                let tokens =
                    oauth::exchange_code(store, issuer, client, &grant, ClientInfo::default(), now)
                        .await
                        .map_err(|error| format!("floor: {error:?}"))?;
                std::hint::black_box(tokens.pair);
            }
            Self::UserInfo(caller) => {
                // What userinfo reads behind the signature: the session, the account.
                sessions::ensure_session_open(store, &caller, now)
                    .await
                    .map_err(failed)?;
                let account = store
                    .find_account(caller.user_id)
                    .await
                    .map_err(|error| format!("floor: {error}"))?;
                std::hint::black_box(account);
            }
            Self::Revoke(token) => {
                let registry = bench_registry()?;
                let client = registry.find(BENCH_CLIENT).ok_or("no bench client")?;
                grants::revoke(store, &issuer.verifier, client, &token, now)
                    .await
                    .map_err(|error| format!("floor: {error:?}"))?;
            }
            Self::Introspect(token) => {
                let registry = bench_registry()?;
                let client = registry
                    .find(BENCH_CONFIDENTIAL)
                    .ok_or("no confidential bench client")?;
                let answer = grants::introspect(
                    store,
                    &issuer.verifier,
                    issuer.signer.issuer(),
                    client,
                    &token,
                    now,
                )
                .await
                .map_err(|error| format!("floor: {error:?}"))?;
                if answer["active"] != json!(true) {
                    return Err("floor: the introspected grant is not active".into());
                }
            }
            Self::RegisterClient(metadata, source) => {
                let client =
                    registration::register(store, context.registration, &metadata, &source, now)
                        .await
                        .map_err(|error| format!("floor: {error:?}"))?;
                std::hint::black_box(client);
            }
            Self::ListPasskeys(caller) => {
                let listed = users_core::domain::passkeys::list(store, &caller, now)
                    .await
                    .map_err(failed)?;
                std::hint::black_box(listed);
            }
            Self::RemovePasskey(caller, passkey_id) => users_core::domain::passkeys::remove(
                store,
                &NoQueue,
                context.relying_party.step_up_max_age,
                &caller,
                passkey_id,
                now,
            )
            .await
            .map_err(failed)?,
            Self::RenamePasskey(caller, passkey_id, name) => {
                let renamed =
                    users_core::domain::passkeys::rename(store, &caller, passkey_id, &name, now)
                        .await
                        .map_err(failed)?;
                std::hint::black_box(renamed);
            }
            Self::PasskeyRegisterOptions(caller, source) => {
                let begun = users_core::passkeys::begin_registration(
                    store,
                    &context.relying_party,
                    &caller,
                    &source,
                    now,
                )
                .await
                .map_err(failed)?;
                std::hint::black_box(begun);
            }
            Self::PasskeySignInOptions(source) => {
                // The discoverable request (no e-mail), as the button sends it.
                let begun = users_core::passkeys::begin_sign_in(
                    store,
                    &context.relying_party,
                    None,
                    &source,
                    now,
                )
                .await
                .map_err(failed)?;
                std::hint::black_box(begun);
            }
            Self::AddPasskey(caller, ceremony, credential) => {
                let added = users_core::passkeys::finish_registration(
                    store,
                    &NoQueue,
                    &context.relying_party,
                    &caller,
                    &ceremony,
                    "Bench key floor",
                    credential,
                    now,
                )
                .await
                .map_err(failed)?;
                std::hint::black_box(added);
            }
            Self::PasskeySignIn(ceremony, credential) => {
                let pair = users_core::passkeys::finish_sign_in(
                    store,
                    issuer,
                    &context.relying_party,
                    &ceremony,
                    credential,
                    ClientInfo::default(),
                    now,
                )
                .await
                .map_err(failed)?;
                std::hint::black_box(pair);
            }
            Self::PasskeyMfaOptions(mfa_token, source) => {
                let begun = users_core::passkeys::begin_second_factor(
                    store,
                    &context.relying_party,
                    &mfa_token,
                    &source,
                    now,
                )
                .await
                .map_err(failed)?;
                std::hint::black_box(begun);
            }
            Self::PasskeyPageOptions(cookie, source) => {
                // What the page does with the database: the session its
                // cookie names, then the begin.
                let caller = sessions::browser_caller(store, &issuer.policy.secrets, &cookie, now)
                    .await
                    .map_err(failed)?
                    .ok_or("floor: the browser session is gone")?;
                Box::pin(Self::PasskeyRegisterOptions(caller, source).run(store, context)).await?;
            }
            Self::Restore(token) => {
                deletion::restore_by_link(store, &token, now)
                    .await
                    .map_err(failed)?;
            }
            Self::Export(caller) => {
                let document = export::export_account(
                    store,
                    &caller,
                    &ExportSettings::default(),
                    now,
                    context.links.trust(),
                )
                .await
                .map_err(failed)?;
                std::hint::black_box(document);
            }
            Self::Purge => {
                let summary =
                    deletion::purge_due(store, now, context.links.trust(), PurgeLimits::default())
                        .await
                        .map_err(failed)?;
                if summary.deleted != 1 {
                    return Err(format!("floor: the purge deleted {}", summary.deleted).into());
                }
            }
        }
        Ok(())
    }
}
