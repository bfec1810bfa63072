//! Configuration read once per execution environment, at cold start.
//!
//! Secrets come from AWS Secrets Manager when their `*_ARN` variable is set, so
//! that a deployed function never carries them in plain environment variables;
//! locally they come straight from the environment.

use std::fmt;
use std::time::Duration;

/// Shortest HS256 key we accept: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is not set")]
    Missing { variable: &'static str },
    #[error("{variable} is invalid: {reason}")]
    Invalid {
        variable: &'static str,
        reason: String,
    },
    #[error("could not read {variable} from AWS Secrets Manager: {reason}")]
    Secret {
        variable: &'static str,
        reason: String,
    },
}

/// Everything a function needs to build its state. `Debug` redacts the secrets.
#[derive(Clone)]
pub struct Config {
    pub mongodb_uri: String,
    pub database: String,
    pub linked_collection: String,
    pub jwt_secret: Vec<u8>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long a just-rotated refresh token still returns the same successor.
    pub refresh_grace: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mongodb_uri", &"<redacted>")
            .field("database", &self.database)
            .field("linked_collection", &self.linked_collection)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("refresh_grace", &self.refresh_grace)
            .finish()
    }
}

/// Where a value comes from: the process environment, or a stand-in for tests.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

impl Config {
    /// Reads the configuration, fetching secrets from Secrets Manager where an ARN is given.
    pub async fn load(env: &impl Environment) -> Result<Self, ConfigError> {
        let jwt_arn = env.var("JWT_SECRET_ARN");
        let uri_arn = env.var("MONGODB_URI_SECRET_ARN");
        let (jwt_secret, mongodb_uri) = if jwt_arn.is_some() || uri_arn.is_some() {
            let secrets = crate::secrets::SecretsClient::from_environment(env)?;
            // Both lookups run at once: cold start waits for the slower one only.
            tokio::join!(
                secrets.resolve("JWT_SECRET", jwt_arn, env),
                secrets.resolve("MONGODB_URI", uri_arn, env),
            )
        } else {
            (Ok(env.var("JWT_SECRET")), Ok(env.var("MONGODB_URI")))
        };
        Self::from_values(env, jwt_secret?, mongodb_uri?)
    }

    /// Builds and validates the configuration from already-resolved secrets.
    pub fn from_values(
        env: &impl Environment,
        jwt_secret: Option<String>,
        mongodb_uri: Option<String>,
    ) -> Result<Self, ConfigError> {
        let mongodb_uri = mongodb_uri.ok_or(ConfigError::Missing {
            variable: "MONGODB_URI",
        })?;
        if !(mongodb_uri.starts_with("mongodb://") || mongodb_uri.starts_with("mongodb+srv://")) {
            return Err(ConfigError::Invalid {
                variable: "MONGODB_URI",
                reason: "must start with mongodb:// or mongodb+srv://".into(),
            });
        }
        let jwt_secret = jwt_secret.ok_or(ConfigError::Missing {
            variable: "JWT_SECRET",
        })?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                variable: "JWT_SECRET",
                reason: format!(
                    "must be at least {MIN_JWT_SECRET_BYTES} bytes, got {}",
                    jwt_secret.len()
                ),
            });
        }
        Ok(Self {
            mongodb_uri,
            database: name_or_default(env, "MONGODB_DB", "user_management")?,
            linked_collection: name_or_default(env, "LINKED_COLLECTION", "linked_collection")?,
            jwt_secret: jwt_secret.into_bytes(),
            jwt_issuer: env
                .var("JWT_ISSUER")
                .unwrap_or_else(|| "user-management-api".into()),
            jwt_audience: env
                .var("JWT_AUDIENCE")
                .unwrap_or_else(|| "user-management-api".into()),
            access_token_ttl: seconds(env, "ACCESS_TOKEN_TTL_SECONDS", 1800, 60..=86_400)?,
            refresh_token_ttl: seconds(
                env,
                "REFRESH_TOKEN_TTL_SECONDS",
                30 * 86_400,
                3600..=365 * 86_400,
            )?,
            refresh_grace: seconds(env, "REFRESH_GRACE_SECONDS", 10, 0..=60)?,
        })
    }
}

fn seconds(
    env: &impl Environment,
    variable: &'static str,
    default: u64,
    allowed: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    let Some(raw) = env.var(variable) else {
        return Ok(Duration::from_secs(default));
    };
    raw.parse::<u64>()
        .ok()
        .filter(|value| allowed.contains(value))
        .map(Duration::from_secs)
        .ok_or(ConfigError::Invalid {
            variable,
            reason: format!(
                "expected whole seconds from {} to {}, got {raw:?}",
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

/// A fixed list of variables, for tests.
#[cfg(test)]
pub(crate) struct Vars<'a>(pub &'a [(&'a str, &'a str)]);

#[cfg(test)]
impl Environment for Vars<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn load(env: &impl Environment) -> Result<Config, ConfigError> {
        Config::from_values(env, env.var("JWT_SECRET"), env.var("MONGODB_URI"))
    }

    #[test]
    fn defaults_apply_when_only_secrets_are_set() {
        let config = load(&Vars(&[
            ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
            ("JWT_SECRET", SECRET),
        ]))
        .unwrap();
        assert_eq!(config.database, "user_management");
        assert_eq!(config.linked_collection, "linked_collection");
        assert_eq!(config.access_token_ttl, Duration::from_secs(1800));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(config.refresh_grace, Duration::from_secs(10));
        let debug = format!("{config:?}");
        assert!(
            !debug.contains(SECRET) && !debug.contains("27017"),
            "{debug}"
        );
    }

    #[test]
    fn each_bad_variable_is_named() {
        let cases: [(&[(&str, &str)], &str); 6] = [
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
        ];
        for (vars, variable) in cases {
            let env = Vars(vars);
            let error = load(&env).unwrap_err().to_string();
            assert!(error.starts_with(variable), "{error}");
        }
    }
}
