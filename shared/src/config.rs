//! Configuration, read once per execution environment at cold start, in
//! pieces: each function loads only the pieces it uses, so that one that
//! verifies no token neither reads nor is granted the token secret.
//!
//! Secrets come from AWS Secrets Manager when their `*_ARN` variable is set,
//! so that a deployed function never carries them in plain environment
//! variables; locally they come straight from the environment.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::aws::secrets::SecretsClient;
use crate::domain::refresh::SessionSecrets;
use crate::domain::sessions::SessionPolicy;
use crate::domain::tokens::{TokenSettings, MIN_SECRET_BYTES};
use crate::env::{ConfigError, Environment};

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
const JWT_SECRET: Secret = Secret {
    variable: "JWT_SECRET",
    arn_variable: "JWT_SECRET_ARN",
};

/// The database settings (register, ingest-events, publish-events).
pub async fn load_database(env: &impl Environment) -> Result<DatabaseSettings, ConfigError> {
    database(env, MONGODB_URI.resolve(env).await?)
}

/// The database and the token settings, whose secrets are fetched at once so
/// that cold start waits for the slower one only.
pub async fn load_database_and_tokens(
    env: &impl Environment,
) -> Result<(DatabaseSettings, TokenSettings), ConfigError> {
    let (secret, uri) = tokio::join!(JWT_SECRET.resolve(env), MONGODB_URI.resolve(env));
    let tokens = tokens(env, secret?)?;
    Ok((database(env, uri?)?, tokens))
}

/// How sessions are kept (login and refresh), keyed from the token secret.
pub fn session_policy(
    env: &impl Environment,
    tokens: &TokenSettings,
) -> Result<SessionPolicy, ConfigError> {
    Ok(SessionPolicy {
        secrets: SessionSecrets::new(tokens.secret.expose_secret()),
        lifetime: seconds(
            env,
            "REFRESH_TOKEN_TTL_SECONDS",
            30 * 86_400,
            3600..=365 * 86_400,
        )?,
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

pub fn tokens(env: &impl Environment, secret: String) -> Result<TokenSettings, ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            variable: "JWT_SECRET",
            reason: format!(
                "must be at least {MIN_SECRET_BYTES} bytes, got {}",
                secret.len()
            ),
        });
    }
    Ok(TokenSettings {
        secret: SecretBox::new(Box::new(secret.into_bytes())),
        issuer: env
            .var("JWT_ISSUER")
            .unwrap_or_else(|| "user-management-api".into()),
        audience: env
            .var("JWT_AUDIENCE")
            .unwrap_or_else(|| "user-management-api".into()),
        access_token_ttl: seconds(env, "ACCESS_TOKEN_TTL_SECONDS", 1800, 60..=86_400)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Vars;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    async fn load(vars: &[(&str, &str)]) -> Result<(), ConfigError> {
        let env = Vars(vars);
        let (_, tokens) = load_database_and_tokens(&env).await?;
        session_policy(&env, &tokens)?;
        Ok(())
    }

    #[tokio::test]
    async fn defaults_apply_when_only_secrets_are_set() {
        let env = Vars(&[
            ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
            ("JWT_SECRET", SECRET),
        ]);
        let (database, tokens) = load_database_and_tokens(&env).await.unwrap();
        assert_eq!(database.database, "user_management");
        assert_eq!(database.linked_collection, "linked_collection");
        assert_eq!(database.max_pool_size, 2);
        assert_eq!(tokens.access_token_ttl, Duration::from_secs(1800));
        let policy = session_policy(&env, &tokens).unwrap();
        assert_eq!(policy.lifetime, Duration::from_secs(30 * 86_400));
        assert_eq!(policy.grace, Duration::from_secs(10));
        let debug = format!("{database:?}");
        assert!(!debug.contains("27017"), "{debug}");
    }

    #[tokio::test]
    async fn the_database_alone_needs_no_token_secret() {
        let env = Vars(&[("MONGODB_URI", "mongodb://127.0.0.1:27017")]);
        assert!(load_database(&env).await.is_ok());
    }

    #[tokio::test]
    async fn each_bad_variable_is_named() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (
                &[
                    ("MONGODB_URI", "mongodb://h"),
                    ("JWT_SECRET", SECRET),
                    ("REFRESH_GRACE_SECONDS", "600"),
                ],
                "REFRESH_GRACE_SECONDS",
            ),
            (&[("JWT_SECRET", SECRET)], "MONGODB_URI"),
            (&[("MONGODB_URI", "mongodb://h")], "JWT_SECRET"),
            (
                &[("MONGODB_URI", "mongodb://h"), ("JWT_SECRET", "short")],
                "JWT_SECRET",
            ),
            (
                &[
                    ("MONGODB_URI", "mongodb://h"),
                    ("JWT_SECRET", SECRET),
                    ("ACCESS_TOKEN_TTL_SECONDS", "ten"),
                ],
                "ACCESS_TOKEN_TTL_SECONDS",
            ),
            (
                &[
                    ("MONGODB_URI", "mongodb://h"),
                    ("JWT_SECRET", SECRET),
                    ("MONGODB_DB", "bad.name"),
                ],
                "MONGODB_DB",
            ),
            (
                &[
                    ("MONGODB_URI", "mongodb://h"),
                    ("JWT_SECRET", SECRET),
                    ("MONGODB_MAX_POOL_SIZE", "0"),
                ],
                "MONGODB_MAX_POOL_SIZE",
            ),
        ];
        for (vars, variable) in cases {
            let error = load(vars).await.unwrap_err();
            assert_eq!(error.variable(), variable, "{error}");
            assert!(error.to_string().starts_with(variable), "{error}");
        }
    }
}
