//! Refresh tokens: opaque to clients, of which the database keeps only the
//! SHA-256 of the current one.
//!
//! Each session has a random 256-bit nonce; the refresh token of its n-th
//! rotation is the session id, n, and HMAC-SHA256(key, nonce, n), with the
//! refresh-token key of the private key set. Deriving rather than drawing
//! each token lets a refresh retried within the grace window get the very
//! same successor back without the database ever holding a usable token: a
//! copy of the database alone yields neither refresh nor access tokens. And
//! since a token says which generation it is, presenting any earlier
//! generation is recognised as reuse, however many rotations ago it was.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::values::{hex, SessionId};

type HmacSha256 = Hmac<Sha256>;

/// The key refresh tokens and access-token ids are derived with.
pub struct SessionSecrets {
    key: [u8; 32],
}

/// A refresh token, read: whose session, which generation, and the MAC that
/// proves it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    pub session_id: SessionId,
    pub generation: i64,
    mac: [u8; 32],
}

/// Session id, generation and MAC: 12 + 8 + 32 bytes.
const TOKEN_BYTES: usize = 52;

impl PresentedToken {
    /// `None` for anything that is not a token of ours in shape.
    pub fn parse(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_BYTES {
            return None;
        }
        Some(Self {
            session_id: SessionId::from_bytes(bytes[..12].try_into().ok()?),
            generation: i64::from_be_bytes(bytes[12..20].try_into().ok()?),
            mac: bytes[20..].try_into().ok()?,
        })
    }
}

impl SessionSecrets {
    /// `key` is the private key set's refresh-token key (32 bytes or more).
    pub fn new(key: &[u8]) -> Self {
        // Domain separation: this key signs nothing that a JWT verifier would accept.
        Self {
            key: hmac(key, &[b"user-management-api/refresh-tokens/v2"]),
        }
    }

    pub fn refresh_token(&self, session_id: SessionId, nonce: &str, generation: i64) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_BYTES);
        bytes.extend_from_slice(&session_id.bytes());
        bytes.extend_from_slice(&generation.to_be_bytes());
        bytes.extend_from_slice(&self.mac(nonce, generation));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `token` was issued for the session with `nonce`, in constant time.
    pub fn was_issued(&self, token: &PresentedToken, nonce: &str) -> bool {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        feed(
            &mut mac,
            &[
                b"refresh",
                nonce.as_bytes(),
                &token.generation.to_be_bytes(),
            ],
        );
        mac.verify_slice(&token.mac).is_ok()
    }

    fn mac(&self, nonce: &str, generation: i64) -> [u8; 32] {
        hmac(
            &self.key,
            &[b"refresh", nonce.as_bytes(), &generation.to_be_bytes()],
        )
    }

    /// The `jti` of the access token issued with a generation's refresh token.
    pub fn access_token_id(&self, nonce: &str, generation: i64) -> String {
        hex(&hmac(
            &self.key,
            &[b"jti", nonce.as_bytes(), &generation.to_be_bytes()],
        )[..16])
    }
}

/// A browser session's cookie, read: whose session, and the MAC that proves
/// it was issued for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCookie {
    pub session_id: SessionId,
    mac: [u8; 32],
}

/// Session id and MAC: 12 + 32 bytes.
const COOKIE_BYTES: usize = 44;

impl PresentedCookie {
    /// `None` for anything that is not a session cookie of ours in shape.
    pub fn parse(cookie: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        if bytes.len() != COOKIE_BYTES {
            return None;
        }
        Some(Self {
            session_id: SessionId::from_bytes(bytes[..12].try_into().ok()?),
            mac: bytes[12..].try_into().ok()?,
        })
    }
}

// The pages' browser sessions (shared/src/pages) are sessions like the API's:
// their cookie is derived from the session's nonce as its refresh tokens are,
// so the database holds nothing a cookie can be made from, and ending the
// session (logout, logout everywhere, its lifetime) ends the cookie with it.
impl SessionSecrets {
    /// The cookie of a browser session: the session id and
    /// HMAC(key, "browser", nonce). Not a refresh token: no generation, and
    /// `/auth/refresh` refuses it (another label, another length).
    pub fn browser_cookie(&self, session_id: SessionId, nonce: &str) -> String {
        let mut bytes = Vec::with_capacity(COOKIE_BYTES);
        bytes.extend_from_slice(&session_id.bytes());
        bytes.extend_from_slice(&hmac(&self.key, &[b"browser", nonce.as_bytes()]));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `cookie` was issued for the session with `nonce`, in constant time.
    pub fn cookie_was_issued(&self, cookie: &PresentedCookie, nonce: &str) -> bool {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        feed(&mut mac, &[b"browser", nonce.as_bytes()]);
        mac.verify_slice(&cookie.mac).is_ok()
    }

    /// The CSRF token of the forms shown to the holder of `cookie` (a
    /// session or pre-session cookie): HMAC(key, "csrf", cookie). A page
    /// from another site can neither read the cookie nor compute this.
    pub fn csrf_token(&self, cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac(&self.key, &[b"csrf", cookie.as_bytes()]))
    }

    /// Whether `presented` is `cookie`'s CSRF token, in constant time.
    pub fn csrf_matches(&self, cookie: &str, presented: &str) -> bool {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        feed(&mut mac, &[b"csrf", cookie.as_bytes()]);
        mac.verify_slice(&presented).is_ok()
    }
}

/// A fresh pre-session cookie: 256 random bits, before any sign-in.
pub fn new_pre_session() -> String {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
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
    feed(&mut mac, parts);
    mac.finalize().into_bytes().into()
}

fn feed(mac: &mut HmacSha256, parts: &[&[u8]]) {
    for part in parts {
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_session_and_generation_and_verify_only_for_their_nonce() {
        let secrets = SessionSecrets::new(b"0123456789abcdef0123456789abcdef");
        let (session, nonce) = (SessionId::new(), new_nonce());
        let first = secrets.refresh_token(session, &nonce, 1);
        assert_eq!(first.len(), 70);
        assert_eq!(
            first,
            secrets.refresh_token(session, &nonce, 1),
            "stable per generation"
        );
        assert_ne!(first, secrets.refresh_token(session, &nonce, 2));
        let presented = PresentedToken::parse(&first).unwrap();
        assert_eq!((presented.session_id, presented.generation), (session, 1));
        assert!(secrets.was_issued(&presented, &nonce));
        assert!(!secrets.was_issued(&presented, &new_nonce()));
        let other_key = SessionSecrets::new(b"another secret, also 32 bytes long");
        assert!(!other_key.was_issued(&presented, &nonce));
        // A generation changed by the holder no longer matches its MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(&first).unwrap();
        bytes[19] ^= 1;
        let tampered = PresentedToken::parse(&URL_SAFE_NO_PAD.encode(bytes)).unwrap();
        assert!(!secrets.was_issued(&tampered, &nonce));
        for junk in ["", "abc", &"A".repeat(70), "not base64!"] {
            assert!(
                PresentedToken::parse(junk).is_none_or(|token| !secrets.was_issued(&token, &nonce)),
                "{junk}"
            );
        }
        assert_eq!(secrets.access_token_id(&nonce, 1).len(), 32);
        assert_ne!(
            secrets.access_token_id(&nonce, 1),
            secrets.access_token_id(&nonce, 2)
        );
    }

    #[test]
    fn browser_cookies_verify_only_for_their_session_and_csrf_tokens_only_for_their_cookie() {
        let secrets = SessionSecrets::new(b"0123456789abcdef0123456789abcdef");
        let (session, nonce) = (SessionId::new(), new_nonce());
        let cookie = secrets.browser_cookie(session, &nonce);
        let presented = PresentedCookie::parse(&cookie).unwrap();
        assert_eq!(presented.session_id, session);
        assert!(secrets.cookie_was_issued(&presented, &nonce));
        assert!(!secrets.cookie_was_issued(&presented, &new_nonce()));
        // Neither kind passes for the other.
        assert!(PresentedToken::parse(&cookie).is_none());
        assert!(PresentedCookie::parse(&secrets.refresh_token(session, &nonce, 0)).is_none());
        let token = secrets.csrf_token(&cookie);
        assert!(secrets.csrf_matches(&cookie, &token));
        assert!(!secrets.csrf_matches(&new_pre_session(), &token));
        assert!(!secrets.csrf_matches(&cookie, ""));
        assert!(!secrets.csrf_matches(&cookie, "not base64!"));
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
