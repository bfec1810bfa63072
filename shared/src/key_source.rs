//! Where a key set is read from: below both `config` (which chooses the
//! source) and `keystore` (which reads and refreshes the set).

use std::path::PathBuf;

use crate::aws::secrets::SecretsClient;

/// Where a key set is read from.
#[derive(Clone)]
pub enum KeySource {
    Secret {
        client: SecretsClient,
        arn: String,
    },
    File(PathBuf),
    /// The document itself (tests).
    Inline(String),
}

impl KeySource {
    /// The document, or a reason that never quotes it.
    pub async fn read(&self) -> Result<String, String> {
        match self {
            Self::Secret { client, arn } => client.get_secret_value(arn).await,
            Self::File(path) => tokio::task::spawn_blocking({
                let path = path.clone();
                move || std::fs::read_to_string(&path)
            })
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| format!("cannot read {}: {error}", path.display())),
            Self::Inline(document) => Ok(document.clone()),
        }
    }
}
