//! Password hashing with argon2id at the OWASP parameters, in PHC string format.

use std::sync::Mutex;

use argon2::password_hash::{
    self, rand_core::OsRng, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher,
    Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, PasswordVerifier, Version};

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

fn current_params() -> Params {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the OWASP argon2 parameters are valid")
}

pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    ReusedMemoryArgon2
        .hash_password_customized(
            password.as_bytes(),
            Some(Algorithm::Argon2id.ident()),
            Some(Version::V0x13.into()),
            current_params(),
            &salt,
        )
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
    if ReusedMemoryArgon2
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

/// Allocates the work area on a side thread at cold start. Faulting in 19 MiB
/// takes longer than the rest of init (about 12 ms here); this way it overlaps
/// with the wait for the first event and the database instead. The thread holds
/// the areas' lock from before this returns until the area is ready, so a hash
/// that comes sooner waits for this area rather than allocating a second one.
pub fn prepare_work_area() {
    WORK_AREAS.prepare();
}

fn is_current(hash: &PasswordHash<'_>) -> bool {
    let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && param("m") >= MEMORY_KIB
        && param("t") >= ITERATIONS
}

/// Work areas of finished hashes, kept for the next one. The stock hasher
/// allocates its 19 MiB afresh on every call; the allocator rarely returns that
/// memory, so each blocking thread ended up holding its own copy (a warm
/// register function grew past 200 MiB) and every hash paid the page faults of
/// fresh memory. One execution environment serves one request at a time, so
/// this holds a single area there; concurrent callers (tests) each get their own.
static WORK_AREAS: WorkAreas = WorkAreas(Mutex::new(Vec::new()));

/// Larger areas (a stored hash with a higher `m`) are used once, not kept.
const KEPT_AREA_BLOCKS: usize = MEMORY_KIB as usize;

struct WorkAreas(Mutex<Vec<Vec<Block>>>);

impl WorkAreas {
    fn with<R>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> R) -> R {
        let mut area = self.lock().pop().unwrap_or_default();
        if area.len() < blocks {
            area.resize(blocks, Block::default());
        }
        let result = work(&mut area[..blocks]);
        if area.len() <= KEPT_AREA_BLOCKS {
            self.lock().push(area);
        }
        result
    }

    fn prepare(&'static self) {
        let (locked, wait_until_locked) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut areas = self.lock();
            let _ = locked.send(());
            if areas.is_empty() {
                areas.push(vec![Block::default(); KEPT_AREA_BLOCKS]);
            }
        });
        let _ = wait_until_locked.recv();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        // The areas hold no invariant a panicking hash could break.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// argon2's own hasher, computing in a reused work area. Implementing
/// `PasswordHasher` keeps the PHC encoding and the constant-time comparison of
/// `PasswordVerifier` the crate's, not ours.
struct ReusedMemoryArgon2;

impl PasswordHasher for ReusedMemoryArgon2 {
    type Params = Params;

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = algorithm
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let salt = salt.into();
        let mut salt_buffer = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let hash = Output::init_with(output_len, |out| {
            WORK_AREAS
                .with(params.block_count(), |blocks| {
                    argon2.hash_password_into_with_memory(password, salt_bytes, out, blocks)
                })
                .map_err(Into::into)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(hash),
        })
    }
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
    fn agrees_with_the_stock_argon2_both_ways() {
        let stock = Argon2::new(Algorithm::Argon2id, Version::V0x13, current_params());
        let ours = hash_password("tr0ub4dor&3").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(stock.verify_password(b"tr0ub4dor&3", &parsed).is_ok());
        assert!(stock.verify_password(b"tr0ub4dor&4", &parsed).is_err());

        let theirs = stock
            .hash_password(b"tr0ub4dor&3", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(verify_password("tr0ub4dor&3", &theirs), Verification::Match);
        assert_eq!(
            verify_password("tr0ub4dor&4", &theirs),
            Verification::Mismatch
        );
    }

    #[test]
    fn work_area_is_reused_and_oversized_ones_are_not_kept() {
        let areas = WorkAreas(Mutex::new(Vec::new()));
        let address = |blocks| areas.with(blocks, |area: &mut [Block]| area.as_ptr() as usize);
        let first = address(KEPT_AREA_BLOCKS);
        assert_eq!(address(KEPT_AREA_BLOCKS), first);
        assert_eq!(address(1024), first, "a smaller hash borrows the same area");
        assert_eq!(areas.lock().len(), 1);

        areas.lock().clear();
        address(KEPT_AREA_BLOCKS * 2);
        assert!(areas.lock().is_empty());
    }

    #[test]
    fn a_hash_right_after_prepare_waits_for_the_prepared_area() {
        static AREAS: WorkAreas = WorkAreas(Mutex::new(Vec::new()));
        AREAS.prepare();
        let used = AREAS.with(KEPT_AREA_BLOCKS, |area: &mut [Block]| area.len());
        assert_eq!(used, KEPT_AREA_BLOCKS);
        assert_eq!(AREAS.lock().len(), 1, "no second area was allocated");
    }

    #[test]
    fn dummy_hash_has_production_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert!(is_current(&parsed));
    }
}
