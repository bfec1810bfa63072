//! The audit trail: one JSON log line per security event, with an event name
//! an operator can alert on (the template's metric filters do), the account
//! as a keyed hash (never the e-mail) or a user id, and the client's address
//! and request id (from the request's span, `http::routes`).

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::values::hex;

/// A process-wide key for the account hashes, so that a log reader cannot
/// test e-mails against them. Lines of one environment can be correlated;
/// across environments the user id (when there is one) does it.
fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        use rand_core::{OsRng, RngCore};
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        key
    })
}

/// The account as the audit trail names it: HMAC-SHA256 of the e-mail, 16 bytes.
pub fn account_hash(email: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key()).expect("HMAC accepts any key");
    mac.update(email.as_bytes());
    hex(&mac.finalize().into_bytes()[..16])
}

/// A login event of an account known by its e-mail only.
pub fn login_event(event: &'static str, email: &str, client: &str) {
    tracing::warn!(audit = event, account = %account_hash(email), source_ip = %client, "audit");
}

/// An event of a known user; the request's span adds the client's address.
pub fn user_event(event: &'static str, user_id: &str) {
    tracing::warn!(audit = event, user_id, "audit");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_hash_is_keyed_stable_and_not_the_email() {
        let hash = account_hash("ada@example.com");
        assert_eq!(hash, account_hash("ada@example.com"));
        assert_ne!(hash, account_hash("bob@example.com"));
        assert_eq!(hash.len(), 32);
        assert!(!hash.contains("ada"));
    }
}
