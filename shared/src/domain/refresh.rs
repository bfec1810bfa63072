//! Refresh tokens: opaque 256-bit values, of which only the SHA-256 is stored.
//!
//! Each session has a random 256-bit nonce; the refresh token of its n-th
//! rotation is HMAC-SHA256(key, nonce, n), with a key derived from the token
//! secret. Deriving rather than drawing each token lets a refresh retried
//! within the grace window get the very same successor back without the
//! database ever holding a usable token: a copy of the database alone yields
//! neither refresh tokens nor access tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::values::hex;

type HmacSha256 = Hmac<Sha256>;

/// The key refresh tokens and access-token ids are derived with.
pub struct SessionSecrets {
    key: [u8; 32],
}

impl SessionSecrets {
    pub fn new(jwt_secret: &[u8]) -> Self {
        // Domain separation: this key signs nothing that a JWT verifier would accept.
        Self {
            key: hmac(jwt_secret, &[b"user-management-api/refresh-tokens/v1"]),
        }
    }

    pub fn refresh_token(&self, nonce: &str, generation: i64) -> String {
        URL_SAFE_NO_PAD.encode(hmac(
            &self.key,
            &[b"refresh", nonce.as_bytes(), &generation.to_be_bytes()],
        ))
    }

    /// The `jti` of the access token issued with a generation's refresh token.
    pub fn access_token_id(&self, nonce: &str, generation: i64) -> String {
        hex(&hmac(
            &self.key,
            &[b"jti", nonce.as_bytes(), &generation.to_be_bytes()],
        )[..16])
    }
}

/// What the database stores and looks refresh tokens up by.
pub fn digest(refresh_token: &str) -> String {
    hex(&Sha256::digest(refresh_token.as_bytes()))
}

/// A fresh session nonce: 256 random bits, hex-encoded.
pub fn new_nonce() -> String {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_stable_per_generation_and_distinct_across() {
        let secrets = SessionSecrets::new(b"0123456789abcdef0123456789abcdef");
        let nonce = new_nonce();
        let first = secrets.refresh_token(&nonce, 1);
        assert_eq!(URL_SAFE_NO_PAD.decode(&first).unwrap().len(), 32);
        assert_eq!(first, secrets.refresh_token(&nonce, 1));
        assert_ne!(first, secrets.refresh_token(&nonce, 2));
        assert_ne!(first, secrets.refresh_token(&new_nonce(), 1));
        let other_key = SessionSecrets::new(b"another secret, also 32 bytes long");
        assert_ne!(first, other_key.refresh_token(&nonce, 1));
        assert_eq!(secrets.access_token_id(&nonce, 1).len(), 32);
        assert_ne!(
            secrets.access_token_id(&nonce, 1),
            secrets.access_token_id(&nonce, 2)
        );
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
