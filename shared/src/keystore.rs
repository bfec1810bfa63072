//! Where the key sets come from (a Secrets Manager secret in AWS, a file
//! locally), and keeping them fresh: each function re-reads its set at most
//! every `REREAD_INTERVAL`, and a verifier also when a token names a key it
//! does not know, at most once per `UNKNOWN_KID_REREAD`, so that tokens with
//! made-up key ids cannot flood Secrets Manager.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::config::SessionLifetimes;
use crate::domain::clients::ClientRegistry;
use crate::domain::keys::{KeySet, PublicKeySet, REREAD_INTERVAL};
use crate::domain::sessions::{Issuer, SessionPolicy};
use crate::domain::tokens::{
    named_kid, Caller, TokenError, TokenSettings, TokenSigner, TokenVerifier, Verified,
};
pub use crate::key_source::KeySource;

/// How often at most a token with an unknown `kid` makes a verifier re-read.
pub const UNKNOWN_KID_REREAD: Duration = Duration::from_secs(30);

/// The public keys, re-read as they change: what verifies access tokens and
/// what the JWKS endpoint publishes.
pub struct PublishedKeys {
    source: KeySource,
    settings: TokenSettings,
    state: Mutex<Published>,
}

impl std::fmt::Debug for PublishedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedKeys").finish_non_exhaustive()
    }
}

struct Published {
    keys: Arc<PublicKeySet>,
    verifier: Arc<TokenVerifier>,
    read_at: Instant,
    unknown_kid_read_at: Option<Instant>,
}

impl PublishedKeys {
    /// Reads the set once; a function that cannot read it does not start.
    pub async fn load(source: KeySource, settings: TokenSettings) -> Result<Self, String> {
        let keys = read_public(&source).await?;
        let state = Published {
            verifier: Arc::new(TokenVerifier::new(&settings, &keys)),
            keys: Arc::new(keys),
            read_at: Instant::now(),
            unknown_kid_read_at: None,
        };
        Ok(Self {
            source,
            settings,
            state: Mutex::new(state),
        })
    }

    /// Verifies `token`; a key unknown so far makes one re-read first, if
    /// the last such re-read is long enough ago.
    pub async fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        self.verify_access(token)
            .await
            .map(|verified| verified.caller)
    }

    /// `verify`, with the OAuth client the token was issued to.
    pub async fn verify_access(&self, token: &str) -> Result<Verified, TokenError> {
        let verifier = self.fresh().await.1;
        match verifier.verify_access(token) {
            Err(TokenError::UnknownKey) => {
                let Some(kid) = named_kid(token) else {
                    return Err(TokenError::UnknownKey);
                };
                match self.reread_for_unknown(&kid).await {
                    Some(verifier) => verifier.verify_access(token),
                    None => Err(TokenError::UnknownKey),
                }
            }
            outcome => outcome,
        }
    }

    /// The verifier of the published keys as of at most `REREAD_INTERVAL`
    /// ago (revocation and introspection read tokens of any audience).
    pub async fn verifier(&self) -> Arc<TokenVerifier> {
        self.fresh().await.1
    }

    /// `iss` of the tokens these keys verify.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The published keys as of at most `REREAD_INTERVAL` ago.
    pub async fn keys(&self) -> Arc<PublicKeySet> {
        self.fresh().await.0
    }

    async fn fresh(&self) -> (Arc<PublicKeySet>, Arc<TokenVerifier>) {
        let mut state = self.state.lock().await;
        if state.read_at.elapsed() >= REREAD_INTERVAL {
            self.reread(&mut state).await;
        }
        (Arc::clone(&state.keys), Arc::clone(&state.verifier))
    }

    async fn reread_for_unknown(&self, kid: &str) -> Option<Arc<TokenVerifier>> {
        let mut state = self.state.lock().await;
        if !state.verifier.knows(kid) {
            let recent = state
                .unknown_kid_read_at
                .is_some_and(|at| at.elapsed() < UNKNOWN_KID_REREAD);
            if recent {
                return None;
            }
            state.unknown_kid_read_at = Some(Instant::now());
            self.reread(&mut state).await;
        }
        state
            .verifier
            .knows(kid)
            .then(|| Arc::clone(&state.verifier))
    }

    /// A failed re-read keeps the keys it had and tries again next interval.
    async fn reread(&self, state: &mut Published) {
        state.read_at = Instant::now();
        match read_public(&self.source).await {
            Ok(keys) => {
                state.verifier = Arc::new(TokenVerifier::new(&self.settings, &keys));
                state.keys = Arc::new(keys);
            }
            Err(error) => {
                tracing::warn!(%error, "re-reading the public keys failed; keeping the last ones")
            }
        }
    }
}

async fn read_public(source: &KeySource) -> Result<PublicKeySet, String> {
    PublicKeySet::parse(&source.read().await?).map_err(|error| error.to_string())
}

/// The private key set's current key and the session policy: what login and
/// refresh issue token pairs with. The refresh-token key never changes; the
/// signing key does at each rotation, which a re-read picks up.
pub struct SigningKeys {
    source: KeySource,
    settings: TokenSettings,
    lifetimes: SessionLifetimes,
    state: Mutex<(Arc<Issuer>, Instant)>,
}

impl SigningKeys {
    pub async fn load(
        source: KeySource,
        settings: TokenSettings,
        lifetimes: SessionLifetimes,
    ) -> Result<Self, String> {
        let set = read_private(&source).await?;
        let issuer = issuer(&set, &settings, lifetimes);
        Ok(Self {
            source,
            settings,
            lifetimes,
            state: Mutex::new((Arc::new(issuer), Instant::now())),
        })
    }

    pub async fn issuer(&self) -> Arc<Issuer> {
        let mut state = self.state.lock().await;
        if state.1.elapsed() >= REREAD_INTERVAL {
            state.1 = Instant::now();
            match read_private(&self.source).await {
                Ok(set) => {
                    state.0 = Arc::new(issuer(&set, &self.settings, self.lifetimes));
                }
                Err(error) => {
                    tracing::warn!(%error, "re-reading the signing keys failed; keeping the last ones")
                }
            }
        }
        Arc::clone(&state.0)
    }
}

fn issuer(set: &KeySet, settings: &TokenSettings, lifetimes: SessionLifetimes) -> Issuer {
    use secrecy::ExposeSecret;
    Issuer {
        signer: TokenSigner::new(settings, set.current()),
        verifier: TokenVerifier::new(settings, &set.public()),
        policy: SessionPolicy {
            secrets: crate::domain::refresh::SessionSecrets::new(
                set.refresh_token_key.expose_secret(),
            ),
            lifetime: lifetimes.sliding,
            max_lifetime: lifetimes.max,
            grace: lifetimes.grace,
        },
    }
}

async fn read_private(source: &KeySource) -> Result<KeySet, String> {
    KeySet::parse(&source.read().await?).map_err(|error| error.to_string())
}

/// The registered OAuth clients, re-read at most every `REREAD_INTERVAL`
/// (a client added to the secret is served within minutes, no deploy).
pub struct RegisteredClients {
    source: KeySource,
    state: Mutex<(Arc<ClientRegistry>, Instant)>,
}

impl RegisteredClients {
    /// Reads the document once; a function that cannot read it does not start.
    pub async fn load(source: KeySource) -> Result<Self, String> {
        let registry = read_clients(&source).await?;
        Ok(Self {
            source,
            state: Mutex::new((Arc::new(registry), Instant::now())),
        })
    }

    pub async fn registry(&self) -> Arc<ClientRegistry> {
        let mut state = self.state.lock().await;
        if state.1.elapsed() >= REREAD_INTERVAL {
            state.1 = Instant::now();
            match read_clients(&self.source).await {
                Ok(registry) => state.0 = Arc::new(registry),
                Err(error) => {
                    tracing::warn!(%error, "re-reading the OAuth clients failed; keeping the last ones")
                }
            }
        }
        Arc::clone(&state.0)
    }
}

async fn read_clients(source: &KeySource) -> Result<ClientRegistry, String> {
    ClientRegistry::parse(&source.read().await?).map_err(|error| error.to_string())
}
