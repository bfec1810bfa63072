//! TOTP secrets at rest: sealed with AES-256-GCM under a key that is not in
//! the database (`MFA_KEY_SECRET_ARN` / `MFA_KEY_FILE`), so that a copy of
//! the database yields no second factor. The additional data binds each
//! ciphertext to its user and purpose: one user's sealed secret copied onto
//! another's record does not open.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

pub use super::records::SealedSecret;
use super::values::{hex, UserId};

const PURPOSE: &[u8] = b"user-management-api/mfa-totp/v1";
/// Shortest key material accepted: `GenerateSecretString` makes 64 characters.
pub const MIN_KEY_MATERIAL: usize = 32;

/// The sealing key, derived from the configured key material.
pub struct SealingKey {
    id: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealingError {
    #[error("the key material must have at least {MIN_KEY_MATERIAL} characters")]
    WeakKeyMaterial,
    #[error("the secret was sealed with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("the sealed secret does not open")]
    Corrupt,
}

impl SealingKey {
    /// The key of `material` (a high-entropy string, such as Secrets
    /// Manager's generated one): HMAC-SHA-256 of it, domain-separated, so
    /// that the same material could key another purpose without overlap. Its
    /// id is a digest of the key, stored with each ciphertext, so that a
    /// rotation can tell old ciphertexts from new.
    pub fn from_material(material: &str) -> Result<Self, SealingError> {
        let material = material.trim();
        if material.len() < MIN_KEY_MATERIAL {
            return Err(SealingError::WeakKeyMaterial);
        }
        let derived = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, material.as_bytes()),
            PURPOSE,
        );
        let id = hex(&Sha256::digest([b"key-id".as_slice(), derived.as_ref()].concat())[..8]);
        let key = UnboundKey::new(&AES_256_GCM, derived.as_ref()).expect("32 bytes key AES-256");
        Ok(Self {
            id,
            key: LessSafeKey::new(key),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `secret` of `user_id` under a fresh random 96-bit nonce.
    pub fn seal(&self, user_id: UserId, secret: &[u8]) -> SealedSecret {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut in_out = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(user_id)),
                &mut in_out,
            )
            .expect("AES-GCM seals any short input");
        SealedSecret {
            key_id: self.id.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(in_out),
        }
    }

    pub fn open(&self, user_id: UserId, sealed: &SealedSecret) -> Result<Vec<u8>, SealingError> {
        if sealed.key_id != self.id {
            return Err(SealingError::UnknownKey(sealed.key_id.clone()));
        }
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(&sealed.nonce)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(SealingError::Corrupt)?;
        let mut in_out = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| SealingError::Corrupt)?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(user_id)),
                &mut in_out,
            )
            .map_err(|_| SealingError::Corrupt)?;
        Ok(plain.to_vec())
    }
}

fn aad(user_id: UserId) -> Vec<u8> {
    [PURPOSE, b"|", &user_id.bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATERIAL: &str = "a-test-key-material-of-forty-characters!";

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let key = SealingKey::from_material(MATERIAL).unwrap();
        let (ada, bob) = (UserId::new(), UserId::new());
        let sealed = key.seal(ada, b"twenty bytes secret!");
        assert_eq!(key.open(ada, &sealed).unwrap(), b"twenty bytes secret!");
        assert!(!sealed.ciphertext.contains("twenty"));
        assert_ne!(
            sealed,
            key.seal(ada, b"twenty bytes secret!"),
            "fresh nonce each time"
        );
        assert_eq!(key.open(bob, &sealed), Err(SealingError::Corrupt));
        let other = SealingKey::from_material(&MATERIAL.replace('a', "b")).unwrap();
        assert!(matches!(
            other.open(ada, &sealed),
            Err(SealingError::UnknownKey(_))
        ));
        let mut tampered = sealed.clone();
        tampered.ciphertext = STANDARD.encode(vec![0u8; 36]);
        assert_eq!(key.open(ada, &tampered), Err(SealingError::Corrupt));
        assert_eq!(
            SealingKey::from_material("short").unwrap_err(),
            SealingError::WeakKeyMaterial
        );
    }
}
