//! Configuration, read once per execution environment at cold start, in
//! pieces: each function loads only the pieces it uses, so that one that
//! signs no token neither reads nor is granted the private keys.
//!
//! Secrets come from AWS Secrets Manager when their `*_ARN` variable is set,
//! so that a deployed function never carries them in plain environment
//! variables; locally they come straight from the environment.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::aws::secrets::SecretsClient;
use crate::domain::keys::check_rotation_period;
use crate::domain::linking::LinkVerification;
use crate::domain::login::LoginPolicy;
use crate::domain::recovery::{EmailChangeConfirmation, MailRequestPolicy, MailSettings};
use crate::domain::tokens::TokenSettings;
use crate::env::{ConfigError, Environment};
use crate::key_source::KeySource;

/// Where the users live. `Debug` redacts the URI (it may hold a password).
pub struct DatabaseSettings {
    pub uri: SecretString,
    pub database: String,
    pub linked_collection: String,
    pub max_pool_size: u32,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("uri", &"<redacted>")
            .field("database", &self.database)
            .field("linked_collection", &self.linked_collection)
            .field("max_pool_size", &self.max_pool_size)
            .finish()
    }
}

const MONGODB_URI: Secret = Secret {
    variable: "MONGODB_URI",
    arn_variable: "MONGODB_URI_SECRET_ARN",
};

/// The database settings.
pub async fn load_database(env: &impl Environment) -> Result<DatabaseSettings, ConfigError> {
    database(env, MONGODB_URI.resolve(env).await?)
}

/// Which key set a function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySetKind {
    /// Private keys and the refresh-token key: login, refresh, the rotation.
    Signing,
    /// Public keys: the verifying functions and the JWKS endpoint.
    Public,
}

impl KeySetKind {
    /// The variable naming the set's secret (AWS) and its file (locally).
    pub fn variables(self) -> (&'static str, &'static str) {
        match self {
            Self::Signing => ("SIGNING_KEYS_SECRET_ARN", "SIGNING_KEYS_FILE"),
            Self::Public => ("PUBLIC_KEYS_SECRET_ARN", "PUBLIC_KEYS_FILE"),
        }
    }
}

/// Where the key set is, and the variable that said so: a Secrets Manager
/// secret (`*_SECRET_ARN`, in AWS) or a file (`*_FILE`, locally; `make dev`
/// writes them).
pub fn key_source(env: &impl Environment, kind: KeySetKind) -> Result<KeySource, ConfigError> {
    let (arn_variable, file_variable) = kind.variables();
    if let Some(arn) = env.var(arn_variable) {
        return Ok(KeySource::Secret {
            client: SecretsClient::from_environment(env)?,
            arn,
        });
    }
    match env.var(file_variable) {
        Some(path) => Ok(KeySource::File(path.into())),
        None => Err(ConfigError::Missing {
            variable: arn_variable,
        }),
    }
}

/// Where the OAuth clients are (`domain::clients`): a Secrets Manager
/// secret (`OAUTH_CLIENTS_SECRET_ARN`, in AWS) or a file
/// (`OAUTH_CLIENTS_FILE`, locally; `make dev` writes one), read and re-read
/// as the key sets are.
pub fn clients_source(env: &impl Environment) -> Result<KeySource, ConfigError> {
    if let Some(arn) = env.var(CLIENTS_ARN) {
        return Ok(KeySource::Secret {
            client: SecretsClient::from_environment(env)?,
            arn,
        });
    }
    match env.var(CLIENTS_FILE) {
        Some(path) => Ok(KeySource::File(path.into())),
        None => Err(ConfigError::Missing {
            variable: CLIENTS_ARN,
        }),
    }
}

pub const CLIENTS_ARN: &str = "OAUTH_CLIENTS_SECRET_ARN";
pub const CLIENTS_FILE: &str = "OAUTH_CLIENTS_FILE";

/// Whether linking an external id needs proof from the system that owns it
/// (`LINK_VERIFICATION`: `required`, the default, or `off`, the original
/// API's unsafe behaviour, for clients that cannot send a code).
pub fn link_verification(env: &impl Environment) -> Result<LinkVerification, ConfigError> {
    let raw = env
        .var("LINK_VERIFICATION")
        .unwrap_or_else(|| "required".into());
    LinkVerification::parse(&raw).ok_or(ConfigError::Invalid {
        variable: "LINK_VERIFICATION",
        reason: "must be `required` or `off`".into(),
    })
}

/// The claims' rules: `iss` is the API's public base URL, where verifiers
/// find `/.well-known/openid-configuration`.
pub fn token_settings(env: &impl Environment) -> Result<TokenSettings, ConfigError> {
    let issuer = base_url(env, "PUBLIC_BASE_URL")?;
    Ok(TokenSettings {
        issuer,
        audience: env
            .var("JWT_AUDIENCE")
            .unwrap_or_else(|| "user-management-api".into()),
        access_token_ttl: seconds(env, "ACCESS_TOKEN_TTL_SECONDS", 1800, 60..=86_400)?,
    })
}

/// The key rotation period (`SIGNING_KEY_ROTATION_DAYS`, default 30), refused
/// if keys would not outlive the tokens and caches that need them.
pub fn rotation_period(
    env: &impl Environment,
    tokens: &TokenSettings,
) -> Result<Duration, ConfigError> {
    let days = number(env, "SIGNING_KEY_ROTATION_DAYS", 30, 1..=365)?;
    let period = Duration::from_secs(days * 86_400);
    check_rotation_period(period, tokens.access_token_ttl).map_err(|reason| {
        ConfigError::Invalid {
            variable: "SIGNING_KEY_ROTATION_DAYS",
            reason,
        }
    })?;
    Ok(period)
}

/// How long sessions last (login and refresh): a session ends this long after
/// its last refresh, and at the latest its maximum lifetime after its login;
/// a just-replaced refresh token still gets the same successor during the
/// grace window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    pub sliding: Duration,
    pub max: Duration,
    pub grace: Duration,
}

pub fn session_lifetimes(env: &impl Environment) -> Result<SessionLifetimes, ConfigError> {
    let sliding = seconds(
        env,
        "REFRESH_TOKEN_TTL_SECONDS",
        30 * 86_400,
        3600..=365 * 86_400,
    )?;
    let max = seconds(
        env,
        "SESSION_MAX_LIFETIME_SECONDS",
        90 * 86_400,
        3600..=365 * 86_400,
    )?;
    if max < sliding {
        return Err(ConfigError::Invalid {
            variable: "SESSION_MAX_LIFETIME_SECONDS",
            reason: "must not be shorter than REFRESH_TOKEN_TTL_SECONDS".into(),
        });
    }
    Ok(SessionLifetimes {
        sliding,
        max,
        grace: seconds(env, "REFRESH_GRACE_SECONDS", 10, 0..=60)?,
    })
}

pub fn database(env: &impl Environment, uri: String) -> Result<DatabaseSettings, ConfigError> {
    if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
        return Err(ConfigError::Invalid {
            variable: "MONGODB_URI",
            reason: "must start with mongodb:// or mongodb+srv://".into(),
        });
    }
    Ok(DatabaseSettings {
        uri: uri.into(),
        database: name_or_default(env, "MONGODB_DB", "user_management")?,
        linked_collection: name_or_default(env, "LINKED_COLLECTION", "linked_collection")?,
        max_pool_size: number(env, "MONGODB_MAX_POOL_SIZE", 2, 1..=100)? as u32,
    })
}

/// A secret given either directly (`variable`, for local runs) or as the ARN
/// of a Secrets Manager secret (`arn_variable`, deployed).
struct Secret {
    variable: &'static str,
    arn_variable: &'static str,
}

impl Secret {
    async fn resolve(&self, env: &impl Environment) -> Result<String, ConfigError> {
        let value = match env.var(self.arn_variable) {
            Some(arn) => {
                SecretsClient::from_environment(env)?
                    .resolve(self.variable, Some(arn), env)
                    .await?
            }
            None => env.var(self.variable),
        };
        value.ok_or(ConfigError::Missing {
            variable: self.variable,
        })
    }
}

/// The mail flows' settings (`send-mail`): where links point, token
/// lifetimes (`RESET_TOKEN_TTL_SECONDS`, `VERIFICATION_TOKEN_TTL_SECONDS`) and
/// the per-address limit (`MAILS_PER_ADDRESS_PER_HOUR`).
pub fn mail_settings(env: &impl Environment) -> Result<MailSettings, ConfigError> {
    Ok(MailSettings {
        reset_ttl: seconds(env, "RESET_TOKEN_TTL_SECONDS", 1800, 300..=86_400)?,
        verification_ttl: seconds(
            env,
            "VERIFICATION_TOKEN_TTL_SECONDS",
            86_400,
            3600..=7 * 86_400,
        )?,
        mails_per_address_per_hour: number(env, "MAILS_PER_ADDRESS_PER_HOUR", 3, 1..=100)? as i64,
    })
}

/// `APP_BASE_URL`: where the links in mail point (the mail adapter's);
/// unset or empty, the stack's own pages (`PUBLIC_BASE_URL`), so that mail
/// works with no other web app.
pub fn app_base_url(env: &impl Environment) -> Result<String, ConfigError> {
    match env.var("APP_BASE_URL") {
        Some(url) if !url.is_empty() => base_url(env, "APP_BASE_URL"),
        _ => base_url(env, "PUBLIC_BASE_URL"),
    }
}

/// The pages' branding and origin: `SITE_NAME` (default "Account"), an
/// optional `LOGO_URL` (https), an optional `ACCENT_COLOR` (`#rgb` or
/// `#rrggbb`), under `PUBLIC_BASE_URL`.
pub fn site(env: &impl Environment) -> Result<crate::pages::site::Site, ConfigError> {
    let public_base_url = base_url(env, "PUBLIC_BASE_URL")?;
    let name = env
        .var("SITE_NAME")
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "Account".into());
    if name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(ConfigError::Invalid {
            variable: "SITE_NAME",
            reason: "must be at most 60 characters, without control characters".into(),
        });
    }
    let logo_url = match env.var("LOGO_URL").filter(|url| !url.is_empty()) {
        None => None,
        Some(_) => {
            let url = base_url(env, "LOGO_URL")?;
            if !url.starts_with("https://") {
                return Err(ConfigError::Invalid {
                    variable: "LOGO_URL",
                    reason: "must be an https:// URL".into(),
                });
            }
            Some(url)
        }
    };
    let accent = match env.var("ACCENT_COLOR").filter(|colour| !colour.is_empty()) {
        None => None,
        Some(colour) => {
            let hex = colour.strip_prefix('#').unwrap_or_default();
            if !matches!(hex.len(), 3 | 6) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError::Invalid {
                    variable: "ACCENT_COLOR",
                    reason: "must be a hex colour, #rgb or #rrggbb".into(),
                });
            }
            Some(colour)
        }
    };
    Ok(crate::pages::site::Site::new(
        name,
        logo_url,
        accent,
        &public_base_url,
    ))
}

/// A base URL the service puts in front of people (the issuer, the links in
/// mail): `https://`, or `http://` only for a loopback host (`localhost`,
/// 127.0.0.0/8, `[::1]`), where nothing crosses a network; no trailing slash,
/// query, fragment or character that would need escaping in a mail.
fn base_url(env: &impl Environment, variable: &'static str) -> Result<String, ConfigError> {
    let url = env.var(variable).ok_or(ConfigError::Missing { variable })?;
    let invalid = |reason: &str| ConfigError::Invalid {
        variable,
        reason: reason.into(),
    };
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !is_loopback(rest.split('/').next().unwrap_or_default()) {
            return Err(invalid(
                "must be https:// (http:// only for localhost, 127.0.0.0/8 or [::1]): links and tokens would travel in clear text",
            ));
        }
        rest
    } else {
        return Err(invalid("must be an https:// URL"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty()
        || url.ends_with('/')
        || url.contains(['?', '#', ' ', '"', '<', '>', '\\', '\''])
        || url.chars().any(char::is_control)
    {
        return Err(invalid(
            "must be an http(s) URL with a host, without a trailing slash, query or fragment",
        ));
    }
    Ok(url)
}

/// Whether an URL's authority (`host[:port]`) names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

/// How the routes that ask for mail for an account are tuned:
/// `MAILS_PER_ACCOUNT_PER_HOUR` (default 3) and `EMAIL_CHANGE_CONFIRMATION`
/// (`both`, the default, or `new`).
pub fn mail_request_policy(env: &impl Environment) -> Result<MailRequestPolicy, ConfigError> {
    let email_change_confirmation = match env.var("EMAIL_CHANGE_CONFIRMATION") {
        None => EmailChangeConfirmation::default(),
        Some(raw) => EmailChangeConfirmation::parse(&raw).ok_or(ConfigError::Invalid {
            variable: "EMAIL_CHANGE_CONFIRMATION",
            reason: "must be `both` or `new`".into(),
        })?,
    };
    Ok(MailRequestPolicy {
        mails_per_account_per_hour: number(env, "MAILS_PER_ACCOUNT_PER_HOUR", 3, 1..=100)? as i64,
        email_change_confirmation,
    })
}

/// `MAIL_SENDER`: the verified SES identity mail comes from.
pub fn mail_sender(env: &impl Environment) -> Result<String, ConfigError> {
    let sender = env.var("MAIL_SENDER").ok_or(ConfigError::Missing {
        variable: "MAIL_SENDER",
    })?;
    crate::domain::values::Email::parse(&sender).map_err(|_| ConfigError::Invalid {
        variable: "MAIL_SENDER",
        reason: "must be a bare ASCII e-mail address".into(),
    })?;
    Ok(sender)
}

/// `FORGOT_PASSWORD_PER_SOURCE_PER_HOUR`: forgotten-password requests per
/// client address per hour.
pub fn forgot_per_source(env: &impl Environment) -> Result<i64, ConfigError> {
    Ok(number(
        env,
        "FORGOT_PASSWORD_PER_SOURCE_PER_HOUR",
        20,
        1..=1_000_000,
    )? as i64)
}

/// `REQUIRE_VERIFIED_EMAIL` (`true` or `false`, the default).
pub fn login_policy(env: &impl Environment) -> Result<LoginPolicy, ConfigError> {
    let require_verified_email = match env.var("REQUIRE_VERIFIED_EMAIL").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ConfigError::Invalid {
                variable: "REQUIRE_VERIFIED_EMAIL",
                reason: "must be `true` or `false`".into(),
            })
        }
    };
    Ok(LoginPolicy {
        require_verified_email,
        ..LoginPolicy::default()
    })
}

/// `DELETION_GRACE_DAYS`: 0 (the default: deletion at once, the original
/// contract) to 30 days (docs/account-deletion.md recommends 7).
pub fn deletion_grace(
    env: &impl Environment,
) -> Result<crate::domain::deletion::GracePeriod, ConfigError> {
    let days = number(env, "DELETION_GRACE_DAYS", 0, 0..=30)?;
    crate::domain::deletion::GracePeriod::days(days as u8).ok_or(ConfigError::Invalid {
        variable: "DELETION_GRACE_DAYS",
        reason: "must be 0 to 30".into(),
    })
}

fn seconds(
    env: &impl Environment,
    variable: &'static str,
    default: u64,
    allowed: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    number(env, variable, default, allowed).map(Duration::from_secs)
}

fn number(
    env: &impl Environment,
    variable: &'static str,
    default: u64,
    allowed: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = env.var(variable) else {
        return Ok(default);
    };
    raw.parse::<u64>()
        .ok()
        .filter(|value| allowed.contains(value))
        .ok_or(ConfigError::Invalid {
            variable,
            reason: format!(
                "expected a whole number from {} to {}, got {raw:?}",
                allowed.start(),
                allowed.end()
            ),
        })
}

/// Database and collection names: MongoDB refuses `$`, `.`-edge cases and NULs at
/// query time; refusing them here turns a runtime 500 into an init error.
fn name_or_default(
    env: &impl Environment,
    variable: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let name = env.var(variable).unwrap_or_else(|| default.to_string());
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(name)
    } else {
        Err(ConfigError::Invalid {
            variable,
            reason: "use 1-64 characters of A-Z, a-z, 0-9, '_' and '-'".into(),
        })
    }
}

/// The second factor's settings (the MFA functions): the key that seals
/// TOTP secrets, from Secrets Manager (`MFA_KEY_SECRET_ARN`) or a file
/// (`MFA_KEY_FILE`, locally; `make dev` writes one), the issuer authenticator
/// apps show (`TOTP_ISSUER`), and how recent a login step-up operations need
/// (`STEP_UP_MAX_AGE_SECONDS`).
pub async fn mfa_settings(
    env: &impl Environment,
) -> Result<crate::domain::mfa::MfaSettings, ConfigError> {
    use crate::domain::sealing::SealingKey;
    let (material, variable) = if let Some(arn) = env.var("MFA_KEY_SECRET_ARN") {
        let client = SecretsClient::from_environment(env)?;
        let value = client
            .get_secret_value(&arn)
            .await
            .map_err(|reason| ConfigError::Secret {
                variable: "MFA_KEY_SECRET_ARN",
                reason,
            })?;
        (value, "MFA_KEY_SECRET_ARN")
    } else {
        let path = env.var("MFA_KEY_FILE").ok_or(ConfigError::Missing {
            variable: "MFA_KEY_SECRET_ARN",
        })?;
        let value =
            tokio::fs::read_to_string(&path)
                .await
                .map_err(|error| ConfigError::Invalid {
                    variable: "MFA_KEY_FILE",
                    reason: format!("cannot read {path}: {error}"),
                })?;
        (value, "MFA_KEY_FILE")
    };
    let key = SealingKey::from_material(&material).map_err(|error| ConfigError::Invalid {
        variable,
        reason: error.to_string(),
    })?;
    Ok(crate::domain::mfa::MfaSettings {
        key,
        issuer: env
            .var("TOTP_ISSUER")
            .unwrap_or_else(|| "User Management API".into()),
        step_up_max_age: seconds(env, "STEP_UP_MAX_AGE_SECONDS", 600, 60..=86_400)?,
    })
}

/// The export's bounds (issue #24): `STEP_UP_MAX_AGE_SECONDS` as the
/// second factor's step-up reads it; the size and rate are fixed.
pub fn export_settings(
    env: &impl Environment,
) -> Result<crate::domain::export::ExportSettings, ConfigError> {
    Ok(crate::domain::export::ExportSettings {
        step_up_max_age: seconds(env, "STEP_UP_MAX_AGE_SECONDS", 600, 60..=86_400)?,
        ..Default::default()
    })
}

/// The passkeys' relying party: its id (`PASSKEY_RP_ID`, default the host of
/// `PUBLIC_BASE_URL`), the origins whose pages may use it (`PASSKEY_ORIGINS`,
/// comma-separated, default `PUBLIC_BASE_URL`'s origin), its name
/// (`SITE_NAME`) and how recent a login adding or removing one needs
/// (`STEP_UP_MAX_AGE_SECONDS`). A loopback address is no valid RP ID in
/// browsers: there the default is `localhost`, and its origin too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySettings {
    pub rp_id: String,
    pub rp_name: String,
    pub origins: Vec<String>,
    pub step_up_max_age: Duration,
}

pub fn passkey_settings(env: &impl Environment) -> Result<PasskeySettings, ConfigError> {
    let base = base_url(env, "PUBLIC_BASE_URL")?;
    let url = url::Url::parse(&base).map_err(|error| ConfigError::Invalid {
        variable: "PUBLIC_BASE_URL",
        reason: error.to_string(),
    })?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = if is_loopback(&host) || host == "[::1]" {
        "localhost".to_string()
    } else {
        host
    };
    let default_origin = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    let rp_id = env
        .var("PASSKEY_RP_ID")
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| host.clone());
    let origins: Vec<String> = match env.var("PASSKEY_ORIGINS").filter(|value| !value.is_empty()) {
        Some(list) => list
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_string())
            .filter(|origin| !origin.is_empty())
            .collect(),
        None => vec![default_origin],
    };
    if origins.is_empty() {
        return Err(ConfigError::Invalid {
            variable: "PASSKEY_ORIGINS",
            reason: "names no origin".into(),
        });
    }
    Ok(PasskeySettings {
        rp_id,
        rp_name: env
            .var("SITE_NAME")
            .unwrap_or_else(|| "User Management API".into()),
        origins,
        step_up_max_age: seconds(env, "STEP_UP_MAX_AGE_SECONDS", 600, 60..=86_400)?,
    })
}

/// `OAUTH_REQUESTS_PER_SOURCE_PER_MINUTE` and
/// `OAUTH_REQUESTS_PER_CLIENT_PER_MINUTE` (issue #22): the token,
/// revocation and introspection endpoints' budgets.
pub fn oauth_limits(
    env: &impl Environment,
) -> Result<crate::domain::oauth::OAuthLimits, ConfigError> {
    let defaults = crate::domain::oauth::OAuthLimits::default();
    Ok(crate::domain::oauth::OAuthLimits {
        per_source_per_minute: number(
            env,
            "OAUTH_REQUESTS_PER_SOURCE_PER_MINUTE",
            defaults.per_source_per_minute as u64,
            1..=1_000_000,
        )? as i64,
        per_client_per_minute: number(
            env,
            "OAUTH_REQUESTS_PER_CLIENT_PER_MINUTE",
            defaults.per_client_per_minute as u64,
            1..=1_000_000,
        )? as i64,
    })
}

/// `DYNAMIC_CLIENT_REGISTRATION` (`off`, the default, or `open`) and
/// `CLIENT_REGISTRATIONS_PER_SOURCE_PER_HOUR` (issue #22).
pub fn registration_policy(
    env: &impl Environment,
) -> Result<crate::domain::registration::RegistrationPolicy, ConfigError> {
    use crate::domain::registration::{RegistrationMode, RegistrationPolicy};
    let raw = env
        .var("DYNAMIC_CLIENT_REGISTRATION")
        .unwrap_or_else(|| "off".into());
    let mode = RegistrationMode::parse(&raw).ok_or(ConfigError::Invalid {
        variable: "DYNAMIC_CLIENT_REGISTRATION",
        reason: "must be `off` or `open`".into(),
    })?;
    Ok(RegistrationPolicy {
        mode,
        per_source_per_hour: number(
            env,
            "CLIENT_REGISTRATIONS_PER_SOURCE_PER_HOUR",
            10,
            1..=1_000_000,
        )? as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Vars;

    /// Review finding 8: clear-text links only where nothing crosses a network.
    #[test]
    fn base_urls_are_https_but_on_loopback() {
        for good in [
            "https://auth.example.com",
            "https://auth.example.com:8443/id",
            "http://localhost:9000",
            "http://LOCALHOST",
            "http://127.0.0.1:9000",
            "http://127.8.9.10",
            "http://[::1]:9000",
        ] {
            let env = Vars(&[("APP_BASE_URL", good), ("PUBLIC_BASE_URL", good)]);
            assert_eq!(base_url(&env, "APP_BASE_URL").unwrap(), good);
            assert_eq!(token_settings(&env).unwrap().issuer, good);
        }
        for bad in [
            "http://app.example.com",
            "http://localhost.example.com",
            "http://128.0.0.1",
            "http://10.0.0.1:9000",
            "http://[::2]",
            "http://localhost@evil.example",
            "ftp://localhost",
            "https://",
            "https://auth.example.com/",
            "https://auth.example.com?x=1",
            "https://auth.example.com/a\"b",
        ] {
            let env = Vars(&[("APP_BASE_URL", bad), ("PUBLIC_BASE_URL", bad)]);
            let error = app_base_url(&env).unwrap_err();
            assert_eq!(error.variable(), "APP_BASE_URL", "{bad}");
            assert_eq!(
                token_settings(&env).unwrap_err().variable(),
                "PUBLIC_BASE_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn app_base_url_defaults_to_the_pages_and_the_branding_is_checked() {
        let public = ("PUBLIC_BASE_URL", "https://auth.example.com");
        assert_eq!(
            app_base_url(&Vars(&[public])).unwrap(),
            "https://auth.example.com"
        );
        let empty = Vars(&[public, ("APP_BASE_URL", "")]);
        assert_eq!(app_base_url(&empty).unwrap(), "https://auth.example.com");
        let app = Vars(&[public, ("APP_BASE_URL", "https://app.example.com")]);
        assert_eq!(app_base_url(&app).unwrap(), "https://app.example.com");

        let branded = site(&Vars(&[
            public,
            ("SITE_NAME", "Example"),
            ("ACCENT_COLOR", "#a0b"),
            ("LOGO_URL", "https://cdn.example.com/logo.png"),
        ]))
        .unwrap();
        assert_eq!(branded.name, "Example");
        assert!(branded.https);
        assert!(branded.style.contains("#a0b"));
        assert_eq!(site(&Vars(&[public])).unwrap().name, "Account");
        for (variable, bad) in [
            ("ACCENT_COLOR", "red"),
            ("ACCENT_COLOR", "#12345"),
            ("ACCENT_COLOR", "#123;} body{display:none"),
            ("LOGO_URL", "http://cdn.example.com/logo.png"),
            ("LOGO_URL", "javascript:alert(1)"),
            ("SITE_NAME", "a\u{1b}[31mb"),
        ] {
            let env = Vars(&[public, (variable, bad)]);
            assert_eq!(site(&env).unwrap_err().variable(), variable, "{bad}");
        }
    }

    #[test]
    fn mail_request_policy_defaults_to_both_and_three() {
        let policy = mail_request_policy(&Vars(&[])).unwrap();
        assert_eq!(policy, MailRequestPolicy::default());
        assert_eq!(
            policy.email_change_confirmation,
            EmailChangeConfirmation::Both
        );
        let env = Vars(&[("EMAIL_CHANGE_CONFIRMATION", "sometimes")]);
        assert_eq!(
            mail_request_policy(&env).unwrap_err().variable(),
            "EMAIL_CHANGE_CONFIRMATION"
        );
        let env = Vars(&[("MAILS_PER_ACCOUNT_PER_HOUR", "0")]);
        assert_eq!(
            mail_request_policy(&env).unwrap_err().variable(),
            "MAILS_PER_ACCOUNT_PER_HOUR"
        );
    }

    #[tokio::test]
    async fn defaults_apply() {
        let env = Vars(&[
            ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
            ("PUBLIC_BASE_URL", "https://auth.example.com"),
        ]);
        let database = load_database(&env).await.unwrap();
        assert_eq!(database.database, "user_management");
        assert_eq!(database.linked_collection, "linked_collection");
        assert_eq!(database.max_pool_size, 2);
        let tokens = token_settings(&env).unwrap();
        assert_eq!(tokens.issuer, "https://auth.example.com");
        assert_eq!(tokens.audience, "user-management-api");
        assert_eq!(tokens.access_token_ttl, Duration::from_secs(1800));
        assert_eq!(
            rotation_period(&env, &tokens).unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        let lifetimes = session_lifetimes(&env).unwrap();
        assert_eq!(lifetimes.sliding, Duration::from_secs(30 * 86_400));
        assert_eq!(lifetimes.max, Duration::from_secs(90 * 86_400));
        assert_eq!(lifetimes.grace, Duration::from_secs(10));
        let debug = format!("{database:?}");
        assert!(!debug.contains("27017"), "{debug}");
    }

    #[test]
    fn a_key_set_comes_from_a_secret_or_a_file() {
        let file = Vars(&[("SIGNING_KEYS_FILE", "/tmp/keys.json")]);
        assert!(matches!(
            key_source(&file, KeySetKind::Signing),
            Ok(KeySource::File(_))
        ));
        let error = key_source(&file, KeySetKind::Public).err().unwrap();
        assert_eq!(error.variable(), "PUBLIC_KEYS_SECRET_ARN");
    }

    #[tokio::test]
    async fn each_bad_variable_is_named() {
        let base = [
            ("MONGODB_URI", "mongodb://h"),
            ("PUBLIC_BASE_URL", "https://auth.example.com"),
        ];
        let cases: [(&[(&str, &str)], &str); 9] = [
            (
                &[("SESSION_MAX_LIFETIME_SECONDS", "7200")],
                "SESSION_MAX_LIFETIME_SECONDS",
            ),
            (&[("REFRESH_GRACE_SECONDS", "600")], "REFRESH_GRACE_SECONDS"),
            (&[("MONGODB_URI", "")], "MONGODB_URI"),
            (&[("MONGODB_URI", "postgres://h")], "MONGODB_URI"),
            (&[("PUBLIC_BASE_URL", "")], "PUBLIC_BASE_URL"),
            (
                &[("PUBLIC_BASE_URL", "https://auth.example.com/")],
                "PUBLIC_BASE_URL",
            ),
            (
                &[("ACCESS_TOKEN_TTL_SECONDS", "ten")],
                "ACCESS_TOKEN_TTL_SECONDS",
            ),
            (&[("MONGODB_DB", "bad.name")], "MONGODB_DB"),
            // A one-day period cannot outlast 24-hour tokens plus API Gateway's key cache.
            (
                &[
                    ("SIGNING_KEY_ROTATION_DAYS", "1"),
                    ("ACCESS_TOKEN_TTL_SECONDS", "86400"),
                ],
                "SIGNING_KEY_ROTATION_DAYS",
            ),
        ];
        for (overrides, variable) in cases {
            let mut vars: Vec<(&str, &str)> = overrides.to_vec();
            vars.extend(
                base.iter()
                    .filter(|(name, _)| !overrides.iter().any(|(o, _)| o == name)),
            );
            let env = Vars(&vars);
            let error = async {
                load_database(&env).await?;
                let tokens = token_settings(&env)?;
                rotation_period(&env, &tokens)?;
                session_lifetimes(&env)?;
                Ok::<_, ConfigError>(())
            }
            .await
            .unwrap_err();
            assert_eq!(error.variable(), variable, "{error}");
            assert!(error.to_string().starts_with(variable), "{error}");
        }
    }
}
