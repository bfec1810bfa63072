//! The key rotation (`functions/rotate-signing-keys`), as Secrets Manager's
//! rotation protocol runs it: four steps, each invoked on its own and each
//! safe to repeat.
//!
//! - `createSecret`: the rotated key set (`keygen::next_key_set`: the first
//!   one if the secret holds none yet) becomes the `AWSPENDING` version.
//! - `setSecret`: the pending set's public keys are published (the public-keys
//!   secret). Publishing before the switch is safe: the promoted key has been
//!   published for a whole period, and the demoted one stays published.
//! - `testSecret`: the pending set parses, its current key signs a token that
//!   the published keys verify.
//! - `finishSecret`: `AWSCURRENT` moves to the pending version; login and
//!   refresh sign with the new current key from their next re-read on.
//!
//! The local key tool (`signing-keys`) makes the same rotated set with the
//! same `next_key_set`, and writes files instead.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::aws::secrets::SecretsClient;
use crate::domain::keys::{KeySet, PublicKeySet};
use crate::domain::tokens::{Caller, TokenSettings, TokenSigner, TokenVerifier};
use crate::domain::values::{SessionId, Timestamp, UserId};
use crate::keygen::next_key_set;

/// What Secrets Manager sends the rotation function.
#[derive(Debug, Deserialize)]
pub struct RotationEvent {
    #[serde(rename = "Step")]
    pub step: String,
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    #[serde(rename = "ClientRequestToken")]
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("unknown rotation step {0:?}")]
    UnknownStep(String),
    #[error("Secrets Manager: {0}")]
    Aws(String),
    #[error("the {which} key set is invalid: {reason}")]
    KeySet { which: &'static str, reason: String },
    #[error("the pending version {0} is missing")]
    NoPending(String),
    #[error("the pending key set failed its test: {0}")]
    Test(String),
    #[error("the secret's versions are not as expected: {0}")]
    Versions(String),
}

/// The rotation's parts: the Secrets Manager client, the public-keys secret,
/// the token rules the test signs with, and how long a `next` key must have
/// been published before a rotation may promote it (`min_publication`).
pub struct Rotation {
    pub client: SecretsClient,
    pub public_keys_arn: String,
    pub settings: TokenSettings,
    pub min_next_age: std::time::Duration,
}

impl Rotation {
    pub async fn run(&self, event: &RotationEvent) -> Result<(), RotationError> {
        tracing::info!(step = %event.step, version = %event.token, "rotating the signing keys");
        // A step repeated after the rotation finished has nothing left to do.
        if event.step != "finishSecret"
            && self.current_version(event).await?.as_deref() == Some(event.token.as_str())
        {
            return Ok(());
        }
        match event.step.as_str() {
            "createSecret" => self.create(event).await,
            "setSecret" => self.set(event).await,
            "testSecret" => self.test(event).await,
            "finishSecret" => self.finish(event).await,
            other => Err(RotationError::UnknownStep(other.to_string())),
        }
    }

    async fn create(&self, event: &RotationEvent) -> Result<(), RotationError> {
        if self.pending(event).await?.is_some() {
            return Ok(());
        }
        let current = self
            .client
            .get_secret_version(&event.secret_id, Some(("VersionStage", "AWSCURRENT")))
            .await
            .map_err(RotationError::Aws)?;
        let current = match current.as_deref().map(str::trim) {
            // The secret as the template creates it: no keys yet.
            None | Some("" | "{}") => None,
            Some(document) => {
                Some(
                    KeySet::parse(document).map_err(|error| RotationError::KeySet {
                        which: "current",
                        reason: error.to_string(),
                    })?,
                )
            }
        };
        let rotated = next_key_set(current, Timestamp::now().as_millis(), self.min_next_age)
            .map_err(|error| RotationError::KeySet {
                which: "rotated",
                reason: error.to_string(),
            })?;
        self.client
            .call_json(
                "PutSecretValue",
                &json!({
                    "SecretId": event.secret_id,
                    "ClientRequestToken": event.token,
                    "SecretString": rotated.to_json(),
                    "VersionStages": ["AWSPENDING"],
                }),
            )
            .await
            .map_err(RotationError::Aws)?;
        tracing::info!(next = %rotated.keys.last().map_or("", |key| key.kid.as_str()), current = %rotated.current().kid, "pending key set created");
        Ok(())
    }

    async fn set(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let pending = self.pending_set(event).await?;
        self.client
            .call_json(
                "PutSecretValue",
                &json!({
                    "SecretId": self.public_keys_arn,
                    "SecretString": pending.public().to_json(),
                }),
            )
            .await
            .map_err(RotationError::Aws)?;
        Ok(())
    }

    async fn test(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let pending = self.pending_set(event).await?;
        let published = self
            .client
            .get_secret_value(&self.public_keys_arn)
            .await
            .map_err(RotationError::Aws)?;
        let published = PublicKeySet::parse(&published).map_err(|error| RotationError::KeySet {
            which: "published",
            reason: error.to_string(),
        })?;
        if published != pending.public() {
            return Err(RotationError::Test(
                "the published keys are not the pending set's".into(),
            ));
        }
        let caller = Caller {
            user_id: UserId::new(),
            session_id: SessionId::new(),
            auth: Default::default(),
        };
        let token = TokenSigner::new(&self.settings, pending.current())
            .issue(&caller, Timestamp::now().as_secs(), "rotation-test".into())
            .token;
        TokenVerifier::new(&self.settings, &published)
            .verify(&token)
            .map_err(|error| RotationError::Test(error.to_string()))?;
        Ok(())
    }

    async fn current_version(
        &self,
        event: &RotationEvent,
    ) -> Result<Option<String>, RotationError> {
        let described = self
            .client
            .call_json("DescribeSecret", &json!({ "SecretId": event.secret_id }))
            .await
            .map_err(RotationError::Aws)?;
        Ok(version_with_stage(&described, "AWSCURRENT"))
    }

    async fn finish(&self, event: &RotationEvent) -> Result<(), RotationError> {
        let current = self.current_version(event).await?;
        if current.as_deref() == Some(event.token.as_str()) {
            return Ok(());
        }
        let mut request = json!({
            "SecretId": event.secret_id,
            "VersionStage": "AWSCURRENT",
            "MoveToVersionId": event.token,
        });
        if let Some(current) = current {
            request["RemoveFromVersionId"] = current.into();
        }
        self.client
            .call_json("UpdateSecretVersionStage", &request)
            .await
            .map_err(RotationError::Aws)?;
        tracing::info!(version = %event.token, "the rotated key set is current");
        Ok(())
    }

    async fn pending(&self, event: &RotationEvent) -> Result<Option<String>, RotationError> {
        self.client
            .get_secret_version(&event.secret_id, Some(("VersionId", event.token.as_str())))
            .await
            .map_err(RotationError::Aws)
    }

    async fn pending_set(&self, event: &RotationEvent) -> Result<KeySet, RotationError> {
        let document = self
            .pending(event)
            .await?
            .ok_or_else(|| RotationError::NoPending(event.token.clone()))?;
        KeySet::parse(&document).map_err(|error| RotationError::KeySet {
            which: "pending",
            reason: error.to_string(),
        })
    }
}

/// The version that carries `stage`, from a `DescribeSecret` answer.
fn version_with_stage(described: &Value, stage: &str) -> Option<String> {
    described
        .get("VersionIdsToStages")?
        .as_object()?
        .iter()
        .find(|(_, stages)| {
            stages
                .as_array()
                .is_some_and(|stages| stages.iter().any(|s| s == stage))
        })
        .map(|(version, _)| version.clone())
}

/// The local rotation (`make rotate-keys`, and `make dev`'s first run): the
/// same `next_key_set`, written to files, without the minimum age of the next
/// key, so that a person can watch several rotations in a row. The private
/// file is readable by its owner only.
pub fn rotate_files(signing: &std::path::Path, public: &std::path::Path) -> Result<KeySet, String> {
    let current = match std::fs::read_to_string(signing) {
        Ok(document) => Some(KeySet::parse(&document).map_err(|error| error.to_string())?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(format!("cannot read {}: {error}", signing.display())),
    };
    let rotated = next_key_set(
        current,
        Timestamp::now().as_millis(),
        std::time::Duration::ZERO,
    )
    .map_err(|error| error.to_string())?;
    // Public first: a verifier must know a key before anything signs with it.
    write_atomically(public, &rotated.public().to_json(), 0o644)?;
    write_atomically(signing, &rotated.to_json(), 0o600)?;
    Ok(rotated)
}

fn write_atomically(path: &std::path::Path, contents: &str, mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let failed = |error: std::io::Error| format!("cannot write {}: {error}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .map_err(failed)?;
    file.write_all(contents.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_version_is_found_among_the_stages() {
        let described = json!({
            "VersionIdsToStages": {
                "v1": ["AWSPREVIOUS"],
                "v2": ["AWSCURRENT"],
                "v3": ["AWSPENDING"],
            }
        });
        assert_eq!(
            version_with_stage(&described, "AWSCURRENT").as_deref(),
            Some("v2")
        );
        assert_eq!(
            version_with_stage(&described, "AWSPENDING").as_deref(),
            Some("v3")
        );
        assert_eq!(version_with_stage(&json!({}), "AWSCURRENT"), None);
    }

    #[test]
    fn local_rotation_creates_then_rotates_the_files() {
        let dir = std::env::temp_dir().join(format!("keys-{}", UserId::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let (signing, public) = (dir.join("signing.json"), dir.join("public.json"));
        let first = rotate_files(&signing, &public).unwrap();
        assert_eq!(first.keys.len(), 2);
        let second = rotate_files(&signing, &public).unwrap();
        assert_eq!(
            second.current().kid,
            first.keys[1].kid,
            "next became current"
        );
        let published = PublicKeySet::parse(&std::fs::read_to_string(&public).unwrap()).unwrap();
        assert_eq!(published, second.public());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&signing).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the private keys are the owner's only");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
