//! The benchmark's passkeys: a software authenticator for each subject that
//! holds one, and the finish request staged for its next invocation or
//! floor. A ceremony's finish needs an authenticator's signature over a
//! challenge the relying party made moments before, so `Dataset::stage`
//! begins the ceremony (as the begin function would) and signs just before
//! the timed call; the event and the floor read what it staged.

use std::sync::Mutex;

use serde_json::Value;

use crate::Error;

// The tests' authenticator, compiled here too, rather than a second one:
// 1Password's software CTAP2 authenticator playing the browser's part.
#[path = "../../tests/tests/api/passkeys/authenticator.rs"]
#[allow(dead_code)]
mod authenticator;

pub use authenticator::Browser;

/// A subject's authenticator (holding at most one passkey), and the finish
/// staged for it.
pub struct Holder {
    key: tokio::sync::Mutex<authenticator::SoftKey>,
    staged: Mutex<Option<Staged>>,
}

/// A begun ceremony's id (none for a second factor, which its `mfa_token`
/// finds) and the authenticator's answer, as `toJSON()` gives it.
#[derive(Clone)]
pub struct Staged {
    pub ceremony: String,
    pub credential: Value,
}

impl Holder {
    /// An authenticator that verifies its user (the passkey ceremonies
    /// require it), with no passkey yet.
    pub fn new() -> Self {
        Self {
            key: tokio::sync::Mutex::new(authenticator::SoftKey::new(true)),
            staged: Mutex::new(None),
        }
    }

    /// `navigator.credentials.create()` on options `{"publicKey": …}`.
    pub async fn create(&self, options: &Value, browser: Browser<'_>) -> Value {
        self.key.lock().await.create(options, browser).await
    }

    /// `navigator.credentials.get()` on options `{"publicKey": …}`.
    pub async fn get(&self, options: &Value, browser: Browser<'_>) -> Value {
        self.key.lock().await.get(options, browser).await
    }

    pub fn stage(&self, staged: Staged) -> Result<(), Error> {
        *self.staged.lock().map_err(|_| "a poisoned lock")? = Some(staged);
        Ok(())
    }

    /// What the last `stage` left: each is used once, by the one event or
    /// floor staged for.
    pub fn take(&self) -> Result<Staged, Error> {
        self.staged
            .lock()
            .map_err(|_| "a poisoned lock")?
            .take()
            .ok_or_else(|| "no passkey ceremony staged".into())
    }
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Holder { .. }")
    }
}
