//! The HTTP functions, by what an invocation needs and what its floor is.
//!
//! The floor of an operation is `users_core::domain`'s use case for it, called
//! from the benchmark process on a `MongoStore` built from the same
//! configuration: by construction the very MongoDB commands the function
//! sends, with the same driver, plus its argon2id work (register, login).
//! What the function adds on top (the Runtime API round trip, the API Gateway
//! event and response, request parsing and validation, token verification,
//! logging) is its overhead.

use serde_json::json;
use users_core::domain::accounts::{self, Registration};
use users_core::domain::devices::{self, ClientInfo};
use users_core::domain::linking::{self, LinkVerification};
use users_core::domain::login::{self, Credentials};
use users_core::domain::ports::LinkTrust;
use users_core::domain::sessions::{self, Issuer};
use users_core::domain::tokens::Caller;
use users_core::domain::values::{
    Email, ExternalId, Password, RefreshToken, Timestamp, UserId, Username,
};
use users_core::mongo::MongoStore;

use crate::events::HttpEvent;
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
}

/// Functions the benchmark leaves out, knowingly: each needs a TOTP factor
/// whose codes work once per 30-second step, which the data set does not
/// build yet. `make bench-mfa` measures the login with a second factor (both
/// steps) against a running API instead.
pub const NOT_BENCHMARKED: [&str; 5] = [
    "enrol-totp",
    "confirm-totp",
    "disable-totp",
    "regenerate-recovery-codes",
    "verify-mfa",
];

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
            _ => return None,
        })
    }

    /// Register and login each cost one argon2id hash or verification.
    pub fn argon2_bound(self) -> bool {
        matches!(self, Self::Register | Self::Login)
    }

    pub fn uses_database(self) -> bool {
        !matches!(self, Self::Docs | Self::Jwks)
    }

    pub fn expected_status(self) -> u16 {
        match self {
            Self::Register => 201,
            _ => 200,
        }
    }

    /// What each invocation acts on, and whether invocations share it.
    pub fn needs(self) -> Needs {
        match self {
            Self::Register => Needs::Each(Kind::NewUser),
            Self::Login => Needs::Each(Kind::Account),
            Self::Refresh | Self::Logout => Needs::Each(Kind::SessionOfSharedUser),
            Self::LogoutAll | Self::EndSession => Needs::Each(Kind::UserWithSession),
            Self::Sessions => Needs::Shared(Kind::UserWithSession),
            Self::Delete => Needs::Each(Kind::UserWithLinkedData),
            Self::Link => Needs::Shared(Kind::UserWithSession),
            Self::Profile => Needs::Shared(Kind::UserWithLinkedData),
            Self::Docs | Self::Jwks => Needs::Nothing,
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
}

/// What an invocation (or floor) acts on.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user_id: UserId,
    pub username: String,
    pub email: String,
    pub session: Option<OpenSession>,
}

#[derive(Debug, Clone)]
pub struct OpenSession {
    pub caller: Caller,
    pub access_token: String,
    pub refresh_token: String,
}

impl Subject {
    fn session(&self) -> Result<&OpenSession, Error> {
        self.session
            .as_ref()
            .ok_or_else(|| format!("{} has no session", self.username).into())
    }
}

/// The API Gateway event of invocation `i` of `operation` on `subject`.
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
        source_ip: crate::events::source_ip(i),
        request_id,
    };
    let (hex, session_route);
    let subject = match (operation, subject) {
        (Operation::Docs | Operation::Jwks, _) => return Ok(event.to_bytes()),
        (_, Some(subject)) => subject,
        (_, None) => return Err(format!("{operation:?} needs a subject").into()),
    };
    match operation {
        Operation::Register => {
            event.body = Some(
                json!({ "username": subject.username, "email": subject.email, "password": PASSWORD })
                    .to_string(),
            );
        }
        Operation::Login => {
            event.body = Some(json!({ "email": subject.email, "password": PASSWORD }).to_string());
        }
        Operation::Refresh => {
            event.body =
                Some(json!({ "refresh_token": subject.session()?.refresh_token }).to_string());
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
        Operation::Link | Operation::Profile | Operation::Delete | Operation::Sessions => {
            hex = subject.user_id.to_hex();
            event.user_id = Some(&hex);
            event.bearer = Some(&subject.session()?.access_token);
            if operation == Operation::Link {
                event.body = Some(json!({ "external_id": format!("crm-{i}") }).to_string());
            }
        }
        Operation::Docs | Operation::Jwks => unreachable!("answered above"),
    }
    Ok(event.to_bytes())
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
}

impl Floor {
    /// The floor of invocation `i` of `operation` on `subject`; `None` for a
    /// function with no use case behind it (api-docs, jwks).
    pub fn new(
        operation: Operation,
        subject: Option<&Subject>,
        i: usize,
    ) -> Result<Option<Self>, Error> {
        let Some(subject) = subject else {
            return match operation {
                Operation::Docs | Operation::Jwks => Ok(None),
                _ => Err(format!("{operation:?} needs a subject").into()),
            };
        };
        let invalid = |error: users_core::domain::FieldError| -> Error {
            format!("{}: {}", error.field, error.message).into()
        };
        let caller = || subject.session().map(|session| session.caller.clone());
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
            Operation::Docs | Operation::Jwks => return Ok(None),
        }))
    }

    /// Runs the use case; the caller times it.
    pub async fn run(self, store: &MongoStore, issuer: &Issuer) -> Result<(), Error> {
        let now = Timestamp::now();
        let failed = |error: users_core::domain::DomainError| -> Error {
            format!("floor: {error} ({error:?})").into()
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
        }
        Ok(())
    }
}
