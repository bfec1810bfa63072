//! Where configuration values come from (the process environment, or a
//! stand-in in tests) and how reading one fails: the error always names the
//! variable, never its value.

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
    #[error("the key set named by {variable} cannot be used: {reason}")]
    KeySet {
        variable: &'static str,
        reason: String,
    },
}

impl ConfigError {
    /// The variable to fix.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Missing { variable }
            | Self::Invalid { variable, .. }
            | Self::Secret { variable, .. }
            | Self::KeySet { variable, .. } => variable,
        }
    }
}

pub trait Environment: Sync {
    /// The value of `name`; an empty value counts as unset.
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

/// A fixed list of variables, for tests.
pub struct Vars<'a>(pub &'a [(&'a str, &'a str)]);

impl Environment for Vars<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
            .filter(|value| !value.is_empty())
    }
}
