//! New RSA signing keys, for the key rotation (functions/rotate-signing-keys
//! and the local `signing-keys` tool). ring, which signs and verifies, cannot
//! generate RSA keys; aws-lc-rs can, and is linked only where keys are made.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};

use crate::domain::keys::{KeySet, KeySetError, KeyState, SigningKey};

/// A fresh RSA-2048 key, created at `created_at` (Unix milliseconds).
pub fn generate_signing_key(created_at: i64) -> Result<SigningKey, KeySetError> {
    let failed = |reason| KeySetError::BadKey {
        kid: "(new)".into(),
        reason,
    };
    let pair =
        KeyPair::generate(KeySize::Rsa2048).map_err(|_| failed("RSA key generation failed"))?;
    let der = pair
        .as_der()
        .map_err(|_| failed("PKCS#8 encoding failed"))?;
    SigningKey::from_pkcs8(der.as_ref().to_vec(), KeyState::Next, created_at)
}

/// A fresh 256-bit refresh-token key.
pub fn generate_refresh_token_key() -> Vec<u8> {
    use rand_core::{OsRng, RngCore};
    let mut key = vec![0u8; 32];
    OsRng.fill_bytes(&mut key);
    key
}

/// The rotation's one step, the same in AWS and locally: the first key set
/// when there is none yet, else the set rotated once. A `next` key younger
/// than `min_next_age` is refused promotion: verifiers might not have cached
/// it yet, and the key it would retire-and-drop might still sign live tokens.
pub fn next_key_set(
    current: Option<KeySet>,
    now_millis: i64,
    min_next_age: std::time::Duration,
) -> Result<KeySet, KeySetError> {
    match current {
        None => Ok(KeySet::first(
            generate_signing_key(now_millis)?,
            generate_signing_key(now_millis)?,
            generate_refresh_token_key(),
        )),
        Some(set) => {
            let next_created = set
                .keys
                .iter()
                .find(|key| key.state == KeyState::Next)
                .map_or(i64::MIN, |key| key.created_at);
            if now_millis.saturating_sub(next_created) < min_next_age.as_millis() as i64 {
                return Err(KeySetError::TooSoon {
                    min_age_seconds: min_next_age.as_secs(),
                });
            }
            set.rotated(generate_signing_key(now_millis)?)
        }
    }
}
