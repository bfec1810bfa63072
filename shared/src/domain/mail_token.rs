//! The one-time token a mailed link carries: 256 OS-random bits, base64url;
//! only its SHA-256 is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::field::FieldError;
use super::values::hex;

/// Random bytes per token: 256 bits, twice ASVS's minimum.
const TOKEN_BYTES: usize = 32;
/// Ours are 43 characters; the limit keeps junk out of the digest.
const TOKEN_MAX_CHARS: usize = 128;
/// A one-time token as the client sends it back. `Debug` is redacted.
pub struct MailToken(SecretString);

impl MailToken {
    /// A fresh token: `TOKEN_BYTES` from the OS, base64url.
    pub(crate) fn generate() -> Self {
        use rand_core::{OsRng, RngCore};
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    pub fn parse(raw: String) -> Result<Self, FieldError> {
        let shaped = (1..=TOKEN_MAX_CHARS).contains(&raw.len())
            && raw
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !shaped {
            return Err(FieldError::new(
                "token",
                format!("must be 1 to {TOKEN_MAX_CHARS} base64url characters"),
            ));
        }
        Ok(Self(raw.into()))
    }

    /// What is stored and looked up: the SHA-256, so that a database reader
    /// cannot use a token. The lookup is by this digest, an index key, not a
    /// comparison of secrets.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.0.expose_secret().as_bytes()))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for MailToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailToken([REDACTED])")
    }
}
