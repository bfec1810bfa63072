//! Access tokens: RS256 JWTs typed `at+jwt` (RFC 9068) with the signing key's
//! thumbprint as `kid`, verified per RFC 8725 against the published keys only.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{PublicKeySet, SigningKey};
pub use super::records::Authentication;
use super::rs256;
use super::values::{SessionId, UserId};

const TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated on `exp` and `nbf` between the functions' hosts.
const LEEWAY_SECONDS: u64 = 5;
/// Header members that would have the verifier fetch or trust a key the
/// token names itself, or understand an extension: none is ever honoured,
/// so a token that carries one is refused rather than read past.
const REFUSED_HEADERS: [&str; 5] = ["crit", "jku", "jwk", "x5u", "x5c"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not an access token")]
    WrongType,
    #[error("the token is signed with an algorithm this API does not accept")]
    WrongAlgorithm,
    #[error("the token names a key this API does not publish")]
    UnknownKey,
    #[error("the token's header has a member this API does not accept")]
    RefusedHeader,
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
    aud: Audience,
    jti: String,
    /// The session this token belongs to: ending the session ends the token.
    sid: String,
    /// RFC 8176 methods of the login: `pwd`, plus `otp` after a second factor.
    /// Tokens from before these claims lack both: no `otp`, and an
    /// `auth_time` of 0, which no step-up accepts.
    #[serde(default)]
    amr: Vec<String>,
    #[serde(default)]
    auth_time: u64,
    /// RFC 9068: the OAuth client a token was issued to, and what it was
    /// granted. Tokens of `/auth/login` have neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// Set on every client's token: whether the client is ours, and so may
    /// use the account routes. A client token without it is third-party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_party: Option<bool>,
}

/// `aud`: the API's own audience, or the RFC 8707 resources a client's
/// token was issued for (one string when one, as RFC 7519 §4.1.3 allows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// `resources`, or `default` when there are none.
    pub fn of(resources: &[String], default: &str) -> Self {
        match resources {
            [] => Self::One(default.to_string()),
            [one] => Self::One(one.clone()),
            many => Self::Many(many.to_vec()),
        }
    }

    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|one| one == audience),
        }
    }

    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one.clone()],
            Self::Many(many) => many.clone(),
        }
    }
}

/// A machine token's claims (`client_credentials`, RFC 9068 §2.2): the
/// client is the subject; no user, no session, so no `sid`, and no
/// verifier of the account routes ever takes it.
#[derive(Debug, Serialize)]
struct MachineClaims<'a> {
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    iss: &'a str,
    aud: Audience,
    jti: String,
    client_id: &'a str,
    scope: &'a str,
}

/// What introspection (RFC 7662) reads of any access token we signed,
/// whatever its audience: a user's (with `sid`) or a machine's (without).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Inspected {
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: Audience,
    pub jti: String,
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
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
    pub auth: Authentication,
}

/// The OAuth client a token was issued to (none for `/auth/login`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClient {
    pub client_id: String,
    /// Space-separated, as the `scope` claim.
    pub scope: String,
    pub first_party: bool,
}

/// A verified token: its caller, and the client it was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub caller: Caller,
    pub client: Option<TokenClient>,
}

impl Verified {
    /// Tokens of `/auth/login` and of first-party clients: the ones the
    /// account routes (`/users/*`) accept. The one rule, read in one place
    /// (`http::edge::authorized_caller`).
    pub fn is_first_party(&self) -> bool {
        self.client.as_ref().is_none_or(|client| client.first_party)
    }
}

/// The rules signing and verification share.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `iss`: the API's public base URL, where `/.well-known/` is served.
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
}

/// Signs with the key set's current key; built once per key-set read.
pub struct TokenSigner {
    kid: String,
    encoding: EncodingKey,
    settings: TokenSettings,
}

impl TokenSigner {
    pub fn new(settings: &TokenSettings, key: &SigningKey) -> Self {
        rs256::install();
        Self {
            kid: key.kid.clone(),
            encoding: EncodingKey::from_rsa_der(key.pkcs8()),
            settings: settings.clone(),
        }
    }

    /// Signs a token for `caller`. The same inputs give the same token
    /// (PKCS#1 v1.5 signatures are deterministic), which is what lets a
    /// refresh retried within the grace window answer identically.
    pub fn issue(&self, caller: &Caller, issued_at: u64, jti: String) -> AccessToken {
        self.issue_for(caller, None, &[], issued_at, jti)
    }

    /// `issue`, for `client` when the token is an OAuth client's, meant for
    /// `resources` (RFC 8707) when it names any, else for the API.
    pub fn issue_for(
        &self,
        caller: &Caller,
        client: Option<&TokenClient>,
        resources: &[String],
        issued_at: u64,
        jti: String,
    ) -> AccessToken {
        let ttl = self.settings.access_token_ttl.as_secs();
        let claims = Claims {
            sub: caller.user_id.to_hex(),
            iat: issued_at,
            nbf: issued_at,
            exp: issued_at + ttl,
            iss: self.settings.issuer.clone(),
            aud: Audience::of(resources, &self.settings.audience),
            jti,
            sid: caller.session_id.to_hex(),
            amr: caller.auth.amr(),
            auth_time: caller.auth.auth_time,
            client_id: client.map(|client| client.client_id.clone()),
            scope: client.map(|client| client.scope.clone()),
            first_party: client.map(|client| client.first_party),
        };
        let header = Header {
            typ: Some(TOKEN_TYPE.into()),
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::RS256)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("a checked RSA key signs");
        AccessToken {
            token,
            expires_in: ttl,
        }
    }

    /// A machine token of `client_id` (the `client_credentials` grant) for
    /// `resources`, with a random `jti`.
    pub fn issue_machine(
        &self,
        client_id: &str,
        scope: &str,
        resources: &[String],
        issued_at: u64,
    ) -> AccessToken {
        let ttl = self.settings.access_token_ttl.as_secs();
        let claims = MachineClaims {
            sub: client_id,
            iat: issued_at,
            nbf: issued_at,
            exp: issued_at + ttl,
            iss: &self.settings.issuer,
            aud: Audience::of(resources, &self.settings.audience),
            jti: super::refresh::new_nonce(),
            client_id,
            scope,
        };
        let header = Header {
            typ: Some(TOKEN_TYPE.into()),
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::RS256)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("a checked RSA key signs");
        AccessToken {
            token,
            expires_in: ttl,
        }
    }

    /// An OpenID Connect ID token: `claims` signed with the current key,
    /// typed `JWT` so that no verifier of ours takes it for an access token.
    pub fn sign_id_token(&self, claims: &serde_json::Value) -> String {
        let header = Header {
            typ: Some("JWT".into()),
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::RS256)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("a checked RSA key signs")
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub fn access_token_ttl(&self) -> Duration {
        self.settings.access_token_ttl
    }
}

/// Verifies against the published keys, found by `kid`.
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(settings: &TokenSettings, published: &PublicKeySet) -> Self {
        rs256::install();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["sub", "exp", "nbf", "iss", "aud"]);
        let keys = published
            .keys
            .iter()
            .map(|key| {
                let decoding = DecodingKey::from_rsa_raw_components(&key.n, &key.e);
                (key.kid.clone(), decoding)
            })
            .collect();
        Self { keys, validation }
    }

    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        self.verify_access(token).map(|verified| verified.caller)
    }

    /// Any access token we signed with a published key, unexpired, whatever
    /// its audience: what introspection and revocation read. Whether it is
    /// still active (its session open) is the caller's question.
    pub fn inspect(&self, token: &str) -> Result<Inspected, TokenError> {
        let kid = checked_header(token)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = self.validation.clone();
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Inspected>(token, key, &validation)
            .map_err(|error| classify(error.kind()))?;
        Ok(data.claims)
    }

    /// `verify`, with the client the token was issued to.
    pub fn verify_access(&self, token: &str) -> Result<Verified, TokenError> {
        let kid = checked_header(token)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|error| classify(error.kind()))?;
        let user_id = UserId::parse(&data.claims.sub).map_err(|_| TokenError::Malformed)?;
        let session_id = SessionId::parse(&data.claims.sid).map_err(|_| TokenError::Malformed)?;
        let auth = Authentication::from_amr(&data.claims.amr, data.claims.auth_time);
        let claims = data.claims;
        let client = match (claims.client_id, claims.scope) {
            (Some(client_id), Some(scope)) => Some(TokenClient {
                client_id,
                scope,
                first_party: claims.first_party == Some(true),
            }),
            (None, None) => None,
            _ => return Err(TokenError::Malformed),
        };
        Ok(Verified {
            caller: Caller {
                user_id,
                session_id,
                auth,
            },
            client,
        })
    }
}

/// Who an `id_token_hint` names (OpenID Connect Core §3.1.2.1, RP-Initiated
/// Logout §2): checked like any of our tokens but for its lifetime, since a
/// hint is typically an ID token that expired long ago.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub user_id: UserId,
    /// The client it was issued to (`aud`).
    pub client_id: String,
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: String,
}

impl TokenVerifier {
    /// The subject and audience of an ID token we signed with any published
    /// key (current, next or retired), expired or not.
    pub fn id_token_hint(&self, token: &str) -> Result<IdTokenHint, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::WrongAlgorithm);
        }
        // An access token is no ID token: only `JWT` (what `sign_id_token` writes).
        if header.typ.as_deref() != Some("JWT") {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["sub", "iss", "aud"]);
        let data = jsonwebtoken::decode::<HintClaims>(token, key, &validation)
            .map_err(|error| classify(error.kind()))?;
        Ok(IdTokenHint {
            user_id: UserId::parse(&data.claims.sub).map_err(|_| TokenError::Malformed)?,
            client_id: data.claims.aud,
        })
    }
}

/// The `kid` of a token whose header passes: RS256, typed `at+jwt`, naming
/// a key, and carrying none of the refused members.
pub fn checked_header(token: &str) -> Result<String, TokenError> {
    let encoded = token.split('.').next().ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    let Ok(Value::Object(header)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(TokenError::Malformed);
    };
    if REFUSED_HEADERS
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err(TokenError::RefusedHeader);
    }
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(TokenError::WrongAlgorithm);
    }
    let typ = header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|typ| typ.eq_ignore_ascii_case(TOKEN_TYPE)) {
        return Err(TokenError::WrongType);
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) => Ok(kid.to_string()),
        None => Err(TokenError::UnknownKey),
    }
}

/// The `kid` a token names, if its header is readable at all: what decides
/// whether an unknown key is worth a re-read of the key set.
pub fn named_kid(token: &str) -> Option<String> {
    checked_header(token).ok()
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
    use std::sync::OnceLock;

    use hmac::{Hmac, Mac};
    use serde_json::json;

    use super::*;
    use crate::domain::keys::KeySet;
    use crate::keygen::next_key_set;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "https://auth.example.com".into(),
            audience: "audience".into(),
            access_token_ttl: Duration::from_secs(1800),
        }
    }

    /// Generated once: RSA key generation is the slow part of these tests.
    fn key_set() -> &'static KeySet {
        static SET: OnceLock<KeySet> = OnceLock::new();
        SET.get_or_init(|| next_key_set(None, 0, std::time::Duration::ZERO).unwrap())
    }

    fn signer() -> TokenSigner {
        TokenSigner::new(&settings(), key_set().current())
    }

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(&settings(), &key_set().public())
    }

    fn caller() -> Caller {
        Caller {
            user_id: UserId::new(),
            session_id: SessionId::new(),
            auth: Authentication::password_and_otp(crate::domain::values::Timestamp::from_millis(
                1_700_000_000_000,
            )),
        }
    }

    fn parts(token: &str) -> (Value, Value) {
        let parts: Vec<_> = token.split('.').collect();
        let decode =
            |part: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
        (decode(parts[0]), decode(parts[1]))
    }

    /// Signs arbitrary header and claims with the current key, bypassing `TokenSigner`.
    fn forge(header: &Value, claims: &Value) -> String {
        rs256::install();
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = EncodingKey::from_rsa_der(key_set().current().pkcs8());
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::RS256).unwrap();
        format!("{signing_input}.{signature}")
    }

    #[test]
    fn an_id_token_hint_names_its_user_expired_or_signed_by_a_retired_key() {
        let user = UserId::new();
        let claims = json!({
            "iss": "https://auth.example.com", "sub": user.to_hex(), "aud": "spa",
            "iat": 1_000, "exp": 1_300,
        });
        let expired = signer().sign_id_token(&claims);
        let hint = verifier().id_token_hint(&expired).unwrap();
        assert_eq!(hint.user_id, user);
        assert_eq!(hint.client_id, "spa");
        // Rotated once: the signing key is retired, still published, still read.
        let copy = KeySet::parse(&key_set().to_json()).unwrap();
        let rotated = next_key_set(Some(copy), 0, Duration::ZERO).unwrap();
        let after = TokenVerifier::new(&settings(), &rotated.public());
        assert_eq!(after.id_token_hint(&expired).unwrap().user_id, user);
        // Not a hint: an access token, another issuer's, a forged signature.
        let access = signer().issue(&caller(), unix_now(), "j".into()).token;
        assert_eq!(
            verifier().id_token_hint(&access),
            Err(TokenError::WrongType)
        );
        let mut foreign = claims.clone();
        foreign["iss"] = json!("https://evil.example");
        let foreign = signer().sign_id_token(&foreign);
        assert_eq!(
            verifier().id_token_hint(&foreign),
            Err(TokenError::WrongIssuer)
        );
        let mut tampered = expired.clone();
        tampered.pop();
        tampered.push(if expired.ends_with('A') { 'B' } else { 'A' });
        assert!(verifier().id_token_hint(&tampered).is_err());
    }

    fn good_header() -> Value {
        json!({"alg": "RS256", "typ": "at+jwt", "kid": key_set().current().kid})
    }

    fn good_claims(caller: &Caller) -> Value {
        let now = unix_now();
        json!({
            "sub": caller.user_id.to_hex(), "iat": now, "nbf": now, "exp": now + 600,
            "iss": "https://auth.example.com", "aud": "audience", "jti": "j",
            "sid": caller.session_id.to_hex(),
            "amr": caller.auth.amr(), "auth_time": caller.auth.auth_time
        })
    }

    fn with(value: &Value, key: &str, new: Value) -> Value {
        let mut value = value.clone();
        value[key] = new;
        value
    }

    #[test]
    fn an_issued_token_verifies_names_its_key_and_carries_every_claim() {
        let caller = caller();
        let token = signer().issue(&caller, unix_now(), "jti".into());
        assert_eq!(token.expires_in, 1800);
        assert_eq!(verifier().verify(&token.token), Ok(caller.clone()));
        let (header, claims) = parts(&token.token);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], key_set().current().kid.as_str());
        assert_eq!(claims["amr"], json!(["pwd", "otp"]));
        assert_eq!(claims["auth_time"], 1_700_000_000);
        for claim in [
            "sub",
            "iat",
            "nbf",
            "exp",
            "iss",
            "aud",
            "jti",
            "sid",
            "amr",
            "auth_time",
        ] {
            assert!(claims.get(claim).is_some(), "missing {claim}: {claims}");
        }
        assert_eq!(claims["iss"], "https://auth.example.com");
        // Deterministic: the same inputs sign the same token.
        assert_eq!(
            signer().issue(&caller, 1_000, "j".into()).token,
            signer().issue(&caller, 1_000, "j".into()).token
        );
    }

    #[test]
    fn a_forged_token_with_the_right_shape_verifies() {
        // Guards the forge helper itself, so that the rejections below mean something.
        let caller = caller();
        assert_eq!(
            verifier().verify(&forge(&good_header(), &good_claims(&caller))),
            Ok(caller)
        );
    }

    #[test]
    fn every_rejection_case() {
        let claims = good_claims(&caller());
        let header = good_header();
        let now = unix_now();
        let cases = [
            (
                forge(&header, &with(&claims, "exp", (now - 60).into())),
                TokenError::Expired,
            ),
            (
                forge(&header, &with(&claims, "nbf", (now + 600).into())),
                TokenError::NotYetValid,
            ),
            (
                forge(&header, &with(&claims, "iss", "someone-else".into())),
                TokenError::WrongIssuer,
            ),
            (
                forge(&header, &with(&claims, "aud", "another-api".into())),
                TokenError::WrongAudience,
            ),
            (
                forge(&with(&header, "typ", "JWT".into()), &claims),
                TokenError::WrongType,
            ),
            (
                forge(&json!({"alg": "RS256", "kid": header["kid"]}), &claims),
                TokenError::WrongType,
            ),
            (
                forge(&with(&header, "kid", "unknown".into()), &claims),
                TokenError::UnknownKey,
            ),
            (
                forge(&json!({"alg": "RS256", "typ": "at+jwt"}), &claims),
                TokenError::UnknownKey,
            ),
            (
                forge(&with(&header, "crit", json!(["exp"])), &claims),
                TokenError::RefusedHeader,
            ),
            (
                forge(
                    &with(&header, "jku", "https://evil.example/jwks".into()),
                    &claims,
                ),
                TokenError::RefusedHeader,
            ),
            (
                forge(&with(&header, "jwk", json!({"kty": "RSA"})), &claims),
                TokenError::RefusedHeader,
            ),
            (
                forge(
                    &with(&header, "x5u", "https://evil.example/cert".into()),
                    &claims,
                ),
                TokenError::RefusedHeader,
            ),
            (
                forge(&with(&header, "alg", "RS512".into()), &claims),
                TokenError::WrongAlgorithm,
            ),
            (
                forge(&header, &with(&claims, "sub", "not-an-id".into())),
                TokenError::Malformed,
            ),
            (
                forge(&header, &with(&claims, "sid", "not-an-id".into())),
                TokenError::Malformed,
            ),
            ("not.a.token".to_string(), TokenError::Malformed),
            (String::new(), TokenError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(
                verifier().verify(&token),
                Err(expected.clone()),
                "{expected:?}"
            );
        }
    }

    #[test]
    fn an_hs256_token_keyed_with_the_public_key_is_refused() {
        // The classic confusion: HMAC over the token with the public key as the secret.
        let claims = good_claims(&caller());
        let public = key_set().public().keys[0].jwk().to_string();
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": key_set().current().kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        let token = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(verifier().verify(&token), Err(TokenError::WrongAlgorithm));
    }

    #[test]
    fn alg_none_and_a_tampered_payload_are_refused() {
        let claims = good_claims(&caller());
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert_eq!(
            verifier().verify(&unsigned),
            Err(TokenError::WrongAlgorithm)
        );
        let token = signer().issue(&caller(), unix_now(), "j".into()).token;
        let segments: Vec<_> = token.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            segments[0],
            URL_SAFE_NO_PAD.encode(good_claims(&caller()).to_string()),
            segments[2]
        );
        assert_eq!(verifier().verify(&tampered), Err(TokenError::BadSignature));
    }

    #[test]
    fn missing_exp_is_refused() {
        let mut claims = good_claims(&caller());
        claims.as_object_mut().unwrap().remove("exp");
        let outcome = verifier().verify(&forge(&good_header(), &claims));
        assert!(
            matches!(
                outcome,
                Err(TokenError::MissingClaim | TokenError::Malformed)
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_token_of_another_key_set_is_refused() {
        let foreign = next_key_set(None, 0, std::time::Duration::ZERO).unwrap();
        let token = TokenSigner::new(&settings(), foreign.current())
            .issue(&caller(), unix_now(), "j".into())
            .token;
        assert_eq!(verifier().verify(&token), Err(TokenError::UnknownKey));
    }
}
