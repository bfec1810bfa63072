//! The signing keys and their life: `next` (published, not signing yet),
//! `current` (signing), `retired` (published, no longer signing).
//!
//! Each rotation promotes `next` to `current`, demotes `current` to
//! `retired`, drops the keys retired at the rotation before, and adds a new
//! `next`. So a key is published a whole rotation period before it signs, and
//! stays published a period after it stops: every verifier's key cache has
//! it before its first token and keeps it until its last token has expired.
//!
//! Two documents hold them. The private key set (Secrets Manager in AWS)
//! holds the private keys and the refresh-token key; only login, refresh and
//! the rotation read it. The public key set holds the public halves; the
//! verifying functions and the JWKS endpoint read that one.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::RsaKeyPair;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// RSA keys shorter than this are refused (RFC 7518 §3.3 asks for 2048 or more).
pub const MIN_RSA_BITS: usize = 2048;
/// How often a function re-reads the key sets, and how long verifiers may
/// cache the JWKS (`Cache-Control: max-age`).
pub const REREAD_INTERVAL: Duration = Duration::from_secs(300);
/// How long API Gateway's JWT authorizer caches the JWKS at most.
pub const API_GATEWAY_KEY_CACHE: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Current,
    Retired,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("the key set is not valid JSON of the expected shape")]
    Malformed,
    #[error("key {kid}: {reason}")]
    BadKey { kid: String, reason: &'static str },
    #[error("the key set must have exactly one current key, has {0}")]
    Current(usize),
    #[error("the key set must have at most one next key, has {0}")]
    Next(usize),
    #[error("the refresh-token key must be 32 bytes or more")]
    RefreshKey,
    #[error("there is no next key to promote")]
    NothingToPromote,
    #[error("the next key was published less than {min_age_seconds} s ago: verifiers may not have it yet")]
    TooSoon { min_age_seconds: u64 },
}

/// An RSA public key, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    pub state: KeyState,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl PublicKey {
    /// The JWK (RFC 7517) of the key: public parameters only.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
        })
    }
}

/// The RFC 7638 thumbprint of an RSA key: the `kid` of every key here.
pub fn thumbprint(n: &[u8], e: &[u8]) -> String {
    // The members in lexicographic order, no whitespace, as RFC 7638 §3.2 requires.
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(e),
        URL_SAFE_NO_PAD.encode(n)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A private signing key: a PKCS#8 DER RSA key. `Debug` shows the kid only.
pub struct SigningKey {
    pub kid: String,
    pub state: KeyState,
    /// Unix milliseconds.
    pub created_at: i64,
    pkcs8: SecretBox<Vec<u8>>,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PKCS#8 RSA key: 2048 bits or more; its kid is its thumbprint.
    pub fn from_pkcs8(
        pkcs8: Vec<u8>,
        state: KeyState,
        created_at: i64,
    ) -> Result<Self, KeySetError> {
        let bad = |reason| KeySetError::BadKey {
            kid: "(new)".into(),
            reason,
        };
        let pair =
            RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| bad("not a PKCS#8 RSA private key"))?;
        if pair.public().modulus_len() * 8 < MIN_RSA_BITS {
            return Err(bad("shorter than 2048 bits"));
        }
        let components: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
        let kid = thumbprint(&components.n, &components.e);
        Ok(Self {
            public: PublicKey {
                kid: kid.clone(),
                state,
                n: components.n,
                e: components.e,
            },
            kid,
            state,
            created_at,
            pkcs8: SecretBox::new(Box::new(pkcs8)),
        })
    }

    pub fn pkcs8(&self) -> &[u8] {
        self.pkcs8.expose_secret()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            state: self.state,
            ..self.public.clone()
        }
    }

    fn with_state(self, state: KeyState) -> Self {
        Self { state, ..self }
    }
}

/// The private key set.
#[derive(Debug)]
pub struct KeySet {
    pub keys: Vec<SigningKey>,
    /// Derives refresh tokens (`domain::refresh`); never rotated, since that
    /// would end every session.
    pub refresh_token_key: SecretBox<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    refresh_token_key: String,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    state: KeyState,
    created_at: i64,
    /// Standard base64 of the PKCS#8 DER.
    private_key: String,
}

impl KeySet {
    /// Reads and checks a stored private key set.
    pub fn parse(json: &str) -> Result<Self, KeySetError> {
        let stored: StoredKeySet =
            serde_json::from_str(json).map_err(|_| KeySetError::Malformed)?;
        let refresh_token_key = STANDARD
            .decode(&stored.refresh_token_key)
            .map_err(|_| KeySetError::RefreshKey)?;
        if refresh_token_key.len() < 32 {
            return Err(KeySetError::RefreshKey);
        }
        let keys = stored
            .keys
            .into_iter()
            .map(|key| {
                let der = STANDARD
                    .decode(&key.private_key)
                    .map_err(|_| KeySetError::BadKey {
                        kid: key.kid.clone(),
                        reason: "the private key is not base64",
                    })?;
                let parsed =
                    SigningKey::from_pkcs8(der, key.state, key.created_at).map_err(|error| {
                        match error {
                            KeySetError::BadKey { reason, .. } => KeySetError::BadKey {
                                kid: key.kid.clone(),
                                reason,
                            },
                            other => other,
                        }
                    })?;
                if parsed.kid != key.kid {
                    return Err(KeySetError::BadKey {
                        kid: key.kid,
                        reason: "the kid is not the key's RFC 7638 thumbprint",
                    });
                }
                Ok(parsed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let set = Self {
            keys,
            refresh_token_key: SecretBox::new(Box::new(refresh_token_key)),
        };
        set.check()?;
        Ok(set)
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        let stored = StoredKeySet {
            refresh_token_key: STANDARD.encode(self.refresh_token_key.expose_secret()),
            keys: self
                .keys
                .iter()
                .map(|key| StoredKey {
                    kid: key.kid.clone(),
                    state: key.state,
                    created_at: key.created_at,
                    private_key: STANDARD.encode(key.pkcs8()),
                })
                .collect(),
        };
        serde_json::to_string(&stored).expect("a key set serialises")
    }

    fn check(&self) -> Result<(), KeySetError> {
        let count = |state| self.keys.iter().filter(|key| key.state == state).count();
        match (count(KeyState::Current), count(KeyState::Next)) {
            (1, 0 | 1) => Ok(()),
            (1, next) => Err(KeySetError::Next(next)),
            (current, _) => Err(KeySetError::Current(current)),
        }
    }

    /// The key that signs.
    pub fn current(&self) -> &SigningKey {
        self.keys
            .iter()
            .find(|key| key.state == KeyState::Current)
            .expect("a checked key set has a current key")
    }

    /// The public halves of every key, as published.
    pub fn public(&self) -> PublicKeySet {
        PublicKeySet {
            keys: self.keys.iter().map(SigningKey::public).collect(),
        }
    }

    /// The first key set: `first` signs from now, `second` is published to
    /// sign from the first rotation on.
    pub fn first(first: SigningKey, second: SigningKey, refresh_token_key: Vec<u8>) -> Self {
        Self {
            keys: vec![
                first.with_state(KeyState::Current),
                second.with_state(KeyState::Next),
            ],
            refresh_token_key: SecretBox::new(Box::new(refresh_token_key)),
        }
    }

    /// One rotation: `next` signs from now, `current` is retired, the keys
    /// retired before are dropped, and `new_next` is published.
    pub fn rotated(self, new_next: SigningKey) -> Result<Self, KeySetError> {
        if !self.keys.iter().any(|key| key.state == KeyState::Next) {
            return Err(KeySetError::NothingToPromote);
        }
        let mut keys: Vec<SigningKey> = self
            .keys
            .into_iter()
            .filter_map(|key| match key.state {
                KeyState::Retired => None,
                KeyState::Current => Some(key.with_state(KeyState::Retired)),
                KeyState::Next => Some(key.with_state(KeyState::Current)),
            })
            .collect();
        keys.push(new_next.with_state(KeyState::Next));
        let set = Self {
            keys,
            refresh_token_key: self.refresh_token_key,
        };
        set.check()?;
        Ok(set)
    }
}

/// The public key set: what verifiers and the JWKS endpoint read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeySet {
    pub keys: Vec<PublicKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredPublicKeySet {
    keys: Vec<StoredPublicKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredPublicKey {
    kid: String,
    state: KeyState,
    n: String,
    e: String,
}

impl PublicKeySet {
    pub fn parse(json: &str) -> Result<Self, KeySetError> {
        let stored: StoredPublicKeySet =
            serde_json::from_str(json).map_err(|_| KeySetError::Malformed)?;
        let keys = stored
            .keys
            .into_iter()
            .map(|key| {
                let decode = |value: &str| {
                    URL_SAFE_NO_PAD
                        .decode(value)
                        .map_err(|_| KeySetError::BadKey {
                            kid: key.kid.clone(),
                            reason: "n and e must be base64url",
                        })
                };
                let (n, e) = (decode(&key.n)?, decode(&key.e)?);
                if n.len() * 8 < MIN_RSA_BITS {
                    return Err(KeySetError::BadKey {
                        kid: key.kid,
                        reason: "shorter than 2048 bits",
                    });
                }
                if thumbprint(&n, &e) != key.kid {
                    return Err(KeySetError::BadKey {
                        kid: key.kid,
                        reason: "the kid is not the key's RFC 7638 thumbprint",
                    });
                }
                Ok(PublicKey {
                    kid: key.kid,
                    state: key.state,
                    n,
                    e,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    pub fn to_json(&self) -> String {
        let stored = StoredPublicKeySet {
            keys: self
                .keys
                .iter()
                .map(|key| StoredPublicKey {
                    kid: key.kid.clone(),
                    state: key.state,
                    n: URL_SAFE_NO_PAD.encode(&key.n),
                    e: URL_SAFE_NO_PAD.encode(&key.e),
                })
                .collect(),
        };
        serde_json::to_string(&stored).expect("a key set serialises")
    }

    /// The JWKS document (RFC 7517 §5): every published key, public parameters only.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(PublicKey::jwk).collect::<Vec<_>>() })
    }
}

/// How long a `next` key must have been published before it may sign: the
/// longest verifier cache, plus the lifetime of the tokens of the key that
/// the promotion drops.
pub fn min_publication(access_token_ttl: Duration) -> Duration {
    access_token_ttl + API_GATEWAY_KEY_CACHE.max(REREAD_INTERVAL)
}

/// Whether keys outlive every token and cache that can still need them: a
/// key is published a rotation period before it signs and after it stops,
/// so the period must exceed the access-token lifetime plus the longest
/// verifier cache (API Gateway's two hours, or our own re-read interval).
pub fn check_rotation_period(period: Duration, access_token_ttl: Duration) -> Result<(), String> {
    let needed = min_publication(access_token_ttl);
    if period > needed {
        Ok(())
    } else {
        Err(format!(
            "the rotation period ({} s) must exceed the access-token lifetime plus API Gateway's key cache ({} s)",
            period.as_secs(),
            needed.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keygen::{generate_signing_key, next_key_set};

    fn key() -> SigningKey {
        generate_signing_key(0).unwrap()
    }

    fn first_set() -> KeySet {
        KeySet::first(key(), key(), vec![7; 32])
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1's example key and thumbprint.
        let n = URL_SAFE_NO_PAD
            .decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
            .unwrap();
        let e = URL_SAFE_NO_PAD.decode("AQAB").unwrap();
        assert_eq!(
            thumbprint(&n, &e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_key_set_round_trips_and_its_kids_are_thumbprints() {
        let set = first_set();
        let again = KeySet::parse(&set.to_json()).unwrap();
        assert_eq!(again.current().kid, set.current().kid);
        assert_eq!(again.public(), set.public());
        let public = PublicKeySet::parse(&set.public().to_json()).unwrap();
        assert_eq!(public, set.public());
        for key in &public.keys {
            assert_eq!(key.kid, thumbprint(&key.n, &key.e));
            assert!(key.n.len() * 8 >= MIN_RSA_BITS);
        }
    }

    #[test]
    fn the_jwks_has_no_private_parameter() {
        let jwks = first_set().public().jwks();
        for key in jwks["keys"].as_array().unwrap() {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "{private} in {key}");
            }
            assert_eq!(key["kty"], "RSA");
            assert_eq!(key["alg"], "RS256");
            assert_eq!(key["use"], "sig");
        }
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn each_rotation_promotes_next_retires_current_and_drops_the_old_retired() {
        let set = first_set();
        let (first, second) = (set.current().kid.clone(), set.keys[1].kid.clone());
        let once = set.rotated(key()).unwrap();
        let states = |set: &KeySet| -> Vec<(String, KeyState)> {
            set.keys
                .iter()
                .map(|key| (key.kid.clone(), key.state))
                .collect()
        };
        let third = once.keys[2].kid.clone();
        assert_eq!(
            states(&once),
            [
                (first.clone(), KeyState::Retired),
                (second.clone(), KeyState::Current),
                (third.clone(), KeyState::Next)
            ]
        );
        let twice = once.rotated(key()).unwrap();
        let kids: Vec<_> = twice.keys.iter().map(|key| key.kid.clone()).collect();
        assert!(
            !kids.contains(&first),
            "dropped after its period as retired"
        );
        assert_eq!(twice.current().kid, third);
        assert_eq!(&states(&twice)[0], &(second, KeyState::Retired));
    }

    #[test]
    fn bad_sets_are_refused_with_the_reason() {
        let set = first_set();
        let json: Value = serde_json::from_str(&set.to_json()).unwrap();
        let with = |change: &dyn Fn(&mut Value)| {
            let mut json = json.clone();
            change(&mut json);
            KeySet::parse(&json.to_string()).unwrap_err()
        };
        assert_eq!(
            with(&|json| json["keys"][1]["state"] = "current".into()),
            KeySetError::Current(2)
        );
        assert_eq!(
            with(&|json| json["keys"][0]["state"] = "retired".into()),
            KeySetError::Current(0)
        );
        assert!(matches!(
            with(&|json| json["keys"][0]["kid"] = "made-up".into()),
            KeySetError::BadKey { .. }
        ));
        assert_eq!(
            with(&|json| json["refresh_token_key"] = STANDARD.encode([1u8; 8]).into()),
            KeySetError::RefreshKey
        );
        assert_eq!(KeySet::parse("{}").unwrap_err(), KeySetError::Malformed);
        // Without a next key there is nothing to promote.
        let lone = KeySet {
            keys: vec![key().with_state(KeyState::Current)],
            refresh_token_key: SecretBox::new(Box::new(vec![7; 32])),
        };
        assert_eq!(
            lone.rotated(key()).unwrap_err(),
            KeySetError::NothingToPromote
        );
    }

    #[test]
    fn a_next_key_younger_than_caches_and_tokens_is_not_promoted() {
        let hour = 3_600_000;
        let set = next_key_set(None, 0, Duration::ZERO).unwrap();
        let min_age = min_publication(Duration::from_secs(1800));
        let refused = next_key_set(Some(set), 2 * hour, min_age).unwrap_err();
        assert_eq!(
            refused,
            KeySetError::TooSoon {
                min_age_seconds: 9000
            }
        );
        let set = next_key_set(None, 0, Duration::ZERO).unwrap();
        assert!(next_key_set(Some(set), 3 * hour, min_age).is_ok());
    }

    #[test]
    fn the_rotation_period_must_outlast_tokens_and_caches() {
        let day = Duration::from_secs(86_400);
        assert!(check_rotation_period(30 * day, Duration::from_secs(1800)).is_ok());
        assert!(
            check_rotation_period(Duration::from_secs(3 * 3600), Duration::from_secs(3600))
                .is_err()
        );
        assert!(
            check_rotation_period(Duration::from_secs(9000), Duration::from_secs(1800)).is_err()
        );
    }
}
