//! What a function builds once per execution environment and reuses across invocations.

use std::fmt;
use std::sync::Arc;

use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;

use crate::config::{Config, ConfigError, ProcessEnvironment};
use crate::refresh::SessionPolicy;
use crate::store::{client_options, StoreError, UserStore};
use crate::tokens::TokenKeys;

/// Why a function could not start. `Debug` reads like `Display`, so the one line
/// the runtime prints when `main` returns it names the problem plainly.
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

pub struct AppState {
    pub store: Arc<UserStore>,
    pub tokens: TokenKeys,
    pub sessions: SessionPolicy,
}

impl AppState {
    /// Reads the configuration and builds the state, then starts connecting to
    /// MongoDB in the background so the first request finds a warm connection.
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::load(&ProcessEnvironment).await?;
        let state = Self::new(&config).await?;
        let store = Arc::clone(&state.store);
        tokio::spawn(async move {
            if let Err(error) = store.prepare().await {
                tracing::warn!(%error, "database not ready at cold start; retrying on first request");
            }
        });
        Ok(state)
    }

    /// Builds the state without touching the database (a `mongodb+srv` URI does
    /// resolve its DNS records here).
    pub async fn new(config: &Config) -> Result<Self, InitError> {
        let options = ClientOptions::parse(&config.mongodb_uri)
            .await
            // Not the driver's message: it may quote the URI, credentials included.
            .map_err(|error| {
                InitError::Database(match *error.kind {
                    ErrorKind::DnsResolve { .. } => "its DNS (SRV/TXT) lookup failed".into(),
                    _ => "not a valid MongoDB connection string".into(),
                })
            })?;
        let store = UserStore::new(
            client_options(options),
            &config.database,
            &config.linked_collection,
        )
        .map_err(|error: StoreError| InitError::Database(error.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            tokens: TokenKeys::new(config),
            sessions: SessionPolicy::new(config),
        })
    }
}
