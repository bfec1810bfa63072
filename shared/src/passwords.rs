//! Password hashing with argon2id at the OWASP parameters, in PHC string format.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};

/// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// Verified against when the e-mail is unknown, so that an unknown account costs
/// the same argon2 work as a wrong password. It protects nothing: its password is
/// random and thrown away.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$9GvdDx0/QQvThcfhf6DyVg$2ZJSn2g1e8jnyazrtKWGNrRWdkLxcg4x7RLN9EJ4y7o";

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// What checking a password against a stored hash found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    Match,
    /// Right password, but the stored hash is weaker than today's parameters.
    MatchNeedsRehash,
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| HashError(error.to_string()))
}

/// Checks `password` against a stored PHC string. A stored value that is not a
/// valid hash never matches, rather than failing the request.
pub fn verify_password(password: &str, stored: &str) -> Verification {
    let Ok(parsed) = PasswordHash::new(stored) else {
        tracing::error!("a stored password hash is not a valid PHC string");
        return Verification::Mismatch;
    };
    // The verifier takes the algorithm and parameters from the stored hash.
    if Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_err()
    {
        return Verification::Mismatch;
    }
    if is_current(&parsed) {
        Verification::Match
    } else {
        Verification::MatchNeedsRehash
    }
}

/// Spends the same work as `verify_password` on a hash that never matches.
pub fn verify_dummy(password: &str) {
    let _ = verify_password(password, DUMMY_HASH);
}

fn is_current(hash: &PasswordHash<'_>) -> bool {
    let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && param("m") >= MEMORY_KIB
        && param("t") >= ITERATIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_phc_with_owasp_parameters_and_verifies() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            verify_password("correct horse battery staple", &hash),
            Verification::Match
        );
        assert_eq!(
            verify_password("correct horse battery stapl", &hash),
            Verification::Mismatch
        );
    }

    #[test]
    fn same_password_gets_a_fresh_salt() {
        assert_ne!(
            hash_password("p4ssw0rd!").unwrap(),
            hash_password("p4ssw0rd!").unwrap()
        );
    }

    #[test]
    fn weaker_hashes_verify_but_ask_for_a_rehash() {
        let weak = |algorithm, m, t| {
            let params = Params::new(m, t, 1, None).unwrap();
            Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"hunter2hunter2", &SaltString::generate(&mut OsRng))
                .unwrap()
                .to_string()
        };
        for stored in [
            weak(Algorithm::Argon2id, 4096, 3),
            weak(Algorithm::Argon2id, MEMORY_KIB, 1),
            weak(Algorithm::Argon2i, MEMORY_KIB, ITERATIONS),
        ] {
            assert_eq!(
                verify_password("hunter2hunter2", &stored),
                Verification::MatchNeedsRehash,
                "{stored}"
            );
            assert_eq!(verify_password("hunter2", &stored), Verification::Mismatch);
        }
    }

    #[test]
    fn garbage_stored_value_never_matches() {
        assert_eq!(verify_password("", ""), Verification::Mismatch);
        assert_eq!(verify_password("x", "plaintext"), Verification::Mismatch);
    }

    #[test]
    fn dummy_hash_has_production_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert!(is_current(&parsed));
    }
}
