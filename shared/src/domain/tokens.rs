//! Access tokens: HS256 JWTs typed `at+jwt` (RFC 9068), verified per RFC 8725.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};

use super::values::{SessionId, UserId};

const TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated on `exp` and `nbf` between the functions' hosts.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not an access token")]
    WrongType,
    #[error("the token is signed with an algorithm this API does not accept")]
    WrongAlgorithm,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token lacks a required claim")]
    MissingClaim,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    iss: String,
    aud: String,
    jti: String,
    /// The session this token belongs to: ending the session ends the token.
    sid: String,
}

/// A freshly signed access token, as login returns it.
#[derive(Debug)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
}

/// Who a verified access token speaks for, and in which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// Shortest HS256 key we accept: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_SECRET_BYTES: usize = 32;

/// What signing and verification are built from. `Debug` redacts the secret.
#[derive(Debug)]
pub struct TokenSettings {
    pub secret: SecretBox<Vec<u8>>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
}

/// Signing and verification keys with the rules both follow; built once at cold start.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(settings: &TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["sub", "exp", "nbf", "iss", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(settings.secret.expose_secret()),
            decoding: DecodingKey::from_secret(settings.secret.expose_secret()),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl: settings.access_token_ttl,
        }
    }

    /// Signs a token for `caller`. The same inputs give the same token, which
    /// is what lets a refresh retried within the grace window answer identically.
    pub fn issue(&self, caller: &Caller, issued_at: u64, jti: String) -> AccessToken {
        let claims = Claims {
            sub: caller.user_id.to_hex(),
            iat: issued_at,
            nbf: issued_at,
            exp: issued_at + self.ttl.as_secs(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti,
            sid: caller.session_id.to_hex(),
        };
        let header = Header {
            typ: Some(TOKEN_TYPE.into()),
            ..Header::new(Algorithm::HS256)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail");
        AccessToken {
            token,
            expires_in: self.ttl.as_secs(),
        }
    }

    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| classify(error.kind()))?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::WrongAlgorithm);
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case(TOKEN_TYPE))
        {
            return Err(TokenError::WrongType);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| classify(error.kind()))?;
        let user_id = UserId::parse(&data.claims.sub).map_err(|_| TokenError::Malformed)?;
        let session_id = SessionId::parse(&data.claims.sid).map_err(|_| TokenError::Malformed)?;
        Ok(Caller {
            user_id,
            session_id,
        })
    }
}

fn classify(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => TokenError::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
        _ => TokenError::Malformed,
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const SECRET: &str = "an-hs256-test-secret-of-32-bytes!!";

    fn config(secret: &str, issuer: &str, audience: &str) -> TokenSettings {
        TokenSettings {
            secret: SecretBox::new(Box::new(secret.as_bytes().to_vec())),
            issuer: issuer.into(),
            audience: audience.into(),
            access_token_ttl: Duration::from_secs(1800),
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(&config(SECRET, "issuer", "audience"))
    }

    fn caller() -> Caller {
        Caller {
            user_id: UserId::new(),
            session_id: SessionId::new(),
        }
    }

    fn issue(keys: &TokenKeys, caller: &Caller) -> AccessToken {
        keys.issue(caller, unix_now(), "jti".into())
    }

    /// Signs arbitrary header and claims with `secret`, bypassing `TokenKeys`.
    fn forge(header: &serde_json::Value, claims: &serde_json::Value, secret: &str) -> String {
        use hmac::{Hmac, Mac};
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    fn good_claims(caller: &Caller) -> serde_json::Value {
        let now = unix_now();
        serde_json::json!({
            "sub": caller.user_id.to_hex(), "iat": now, "nbf": now, "exp": now + 600,
            "iss": "issuer", "aud": "audience", "jti": "j", "sid": caller.session_id.to_hex()
        })
    }

    fn with(claims: &serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
        let mut claims = claims.clone();
        claims[key] = value;
        claims
    }

    #[test]
    fn issued_token_verifies_and_names_the_user_and_session() {
        let caller = caller();
        let token = issue(&keys(), &caller);
        assert_eq!(token.expires_in, 1800);
        assert_eq!(keys().verify(&token.token), Ok(caller.clone()));
        // Deterministic: the same inputs sign the same token.
        assert_eq!(
            keys().issue(&caller, 1_000, "j".into()).token,
            keys().issue(&caller, 1_000, "j".into()).token
        );
    }

    #[test]
    fn issued_token_carries_every_claim_and_the_at_jwt_type() {
        let token = issue(&keys(), &caller()).token;
        let parts: Vec<_> = token.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "HS256");
        for claim in ["sub", "iat", "nbf", "exp", "iss", "aud", "jti", "sid"] {
            assert!(claims.get(claim).is_some(), "missing {claim}: {claims}");
        }
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            1800
        );
    }

    #[test]
    fn a_forged_token_with_the_right_shape_verifies() {
        // Guards the forge helper itself, so that the rejections below mean something.
        let caller = caller();
        let token = forge(
            &serde_json::json!({"alg": "HS256", "typ": "at+jwt"}),
            &good_claims(&caller),
            SECRET,
        );
        assert_eq!(keys().verify(&token), Ok(caller));
    }

    #[test]
    fn every_rejection_case() {
        let claims = good_claims(&caller());
        let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt"});
        let now = unix_now();
        let cases = [
            (
                forge(&header, &with(&claims, "exp", (now - 60).into()), SECRET),
                TokenError::Expired,
            ),
            (
                forge(&header, &with(&claims, "nbf", (now + 600).into()), SECRET),
                TokenError::NotYetValid,
            ),
            (
                forge(
                    &header,
                    &with(&claims, "iss", "someone-else".into()),
                    SECRET,
                ),
                TokenError::WrongIssuer,
            ),
            (
                forge(&header, &with(&claims, "aud", "another-api".into()), SECRET),
                TokenError::WrongAudience,
            ),
            (
                forge(
                    &serde_json::json!({"alg": "HS256", "typ": "JWT"}),
                    &claims,
                    SECRET,
                ),
                TokenError::WrongType,
            ),
            (
                forge(&serde_json::json!({"alg": "HS256"}), &claims, SECRET),
                TokenError::WrongType,
            ),
            (
                forge(&header, &claims, "another-secret-that-is-32-bytes-long"),
                TokenError::BadSignature,
            ),
            (
                forge(
                    &serde_json::json!({"alg": "HS512", "typ": "at+jwt"}),
                    &claims,
                    SECRET,
                ),
                TokenError::WrongAlgorithm,
            ),
            (
                forge(
                    &header,
                    &with(&claims, "sub", "not-an-object-id".into()),
                    SECRET,
                ),
                TokenError::Malformed,
            ),
            (
                forge(
                    &header,
                    &with(&claims, "sid", "not-an-object-id".into()),
                    SECRET,
                ),
                TokenError::Malformed,
            ),
            ("not.a.token".to_string(), TokenError::Malformed),
            (String::new(), TokenError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(keys().verify(&token), Err(expected), "{token}");
        }
    }

    #[test]
    fn missing_exp_is_rejected() {
        let mut claims = good_claims(&caller());
        claims.as_object_mut().unwrap().remove("exp");
        let token = forge(
            &serde_json::json!({"alg": "HS256", "typ": "at+jwt"}),
            &claims,
            SECRET,
        );
        let outcome = keys().verify(&token);
        assert!(
            matches!(
                outcome,
                Err(TokenError::MissingClaim | TokenError::Malformed)
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let claims = good_claims(&caller());
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert!(keys().verify(&unsigned).is_err());
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let token = issue(&keys(), &caller()).token;
        let parts: Vec<_> = token.split('.').collect();
        let other = good_claims(&caller());
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(other.to_string()),
            parts[2]
        );
        assert_eq!(keys().verify(&tampered), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_token_from_another_deployment_is_rejected() {
        let foreign = TokenKeys::new(&config(
            "another-secret-that-is-32-bytes-long",
            "issuer",
            "audience",
        ));
        let token = issue(&foreign, &caller()).token;
        assert_eq!(keys().verify(&token), Err(TokenError::BadSignature));
    }
}
