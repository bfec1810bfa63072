//! The records the ports carry and the errors of a store: below `ports`,
//! so that the modules whose use cases the ports serve (devices, sessions,
//! second factor, tokens) never import what imports them.

use std::time::Duration;

use super::values::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("e-mail already registered")]
    EmailTaken,
    #[error("username already registered")]
    UsernameTaken,
    #[error("external id already linked to another user")]
    ExternalIdTaken,
    /// No server to talk to, or a transient failure: retrying later may help.
    #[error("database unreachable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Failed(String),
}

pub type Stored<T> = Result<T, StoreError>;

/// The longest user agent kept, in characters: real ones are well under it,
/// and a client must not make every listing of its owner large.
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// A client as API Gateway saw it. Both parts are the client's word (the
/// address less so) and are shown to the session's owner only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub source_ip: Option<String>,
}

impl ClientInfo {
    /// From the raw `User-Agent` header (any bytes) and the source address
    /// (`-` when the event has none). Control characters are dropped, so a
    /// stored value cannot forge lines in a log or a terminal, and the rest is
    /// cut to `USER_AGENT_MAX_CHARS`.
    pub fn new(user_agent: Option<&[u8]>, source_ip: &str) -> Self {
        let user_agent = user_agent.and_then(|raw| {
            let cleaned: String = String::from_utf8_lossy(raw)
                .chars()
                .filter(|c| !c.is_control())
                .take(USER_AGENT_MAX_CHARS)
                .collect();
            let trimmed = cleaned.trim();
            (!trimmed.is_empty()).then(|| trimmed.to_string())
        });
        let source_ip = source_ip.trim();
        let source_ip = (!source_ip.is_empty() && source_ip != "-").then(|| {
            source_ip
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect()
        });
        Self {
            user_agent,
            source_ip,
        }
    }
}

/// How a session's login authenticated, and when (Unix seconds): what
/// `amr` and `auth_time` say, and what step-up checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Authentication {
    /// A TOTP or recovery code was checked besides the password.
    pub otp: bool,
    pub auth_time: u64,
    /// A passkey signed the login (alone, or after the password).
    pub passkey: Option<PasskeyUse>,
}

/// What a passkey assertion proved (RFC 8176 `amr`): possession of a key
/// (`pop`), device-bound (`hwk`) or synced (`swk`), and whether the
/// authenticator verified its user (PIN or biometrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasskeyUse {
    /// Whether a password was checked before it (the passkey as second factor).
    pub after_password: bool,
    pub synced: bool,
    pub user_verified: bool,
}

impl Authentication {
    pub fn password(at: Timestamp) -> Self {
        Self {
            otp: false,
            auth_time: at.as_secs(),
            passkey: None,
        }
    }

    pub fn password_and_otp(at: Timestamp) -> Self {
        Self {
            otp: true,
            auth_time: at.as_secs(),
            passkey: None,
        }
    }

    pub fn passkey(passkey: PasskeyUse, at: Timestamp) -> Self {
        Self {
            otp: false,
            auth_time: at.as_secs(),
            passkey: Some(passkey),
        }
    }

    /// RFC 8176 values: `pwd` (and `otp`) as before; a passkey adds `pop`
    /// and `hwk` or `swk`, and `mfa` when it was a second factor or its
    /// authenticator verified the user.
    pub fn amr(self) -> Vec<String> {
        let mut methods = Vec::new();
        if self.passkey.is_none_or(|passkey| passkey.after_password) {
            methods.push("pwd".to_string());
        }
        if self.otp {
            methods.push("otp".into());
        }
        if let Some(passkey) = self.passkey {
            methods.push("pop".into());
            methods.push(if passkey.synced { "swk" } else { "hwk" }.into());
            if passkey.after_password || passkey.user_verified {
                methods.push("mfa".into());
            }
        }
        methods
    }

    /// The inverse of `amr` (tokens and sessions store the list). An empty
    /// list is a password login from before `amr` was stored.
    pub fn from_amr(amr: &[String], auth_time: u64) -> Self {
        let has = |method: &str| amr.iter().any(|stored| stored == method);
        let passkey = has("pop").then(|| PasskeyUse {
            after_password: has("pwd"),
            synced: has("swk"),
            user_verified: has("mfa"),
        });
        Self {
            otp: has("otp"),
            auth_time,
            passkey,
        }
    }

    /// Whether the login is at most `max_age` old at `now`.
    pub fn is_recent(self, now: Timestamp, max_age: Duration) -> bool {
        self.auth_time > 0 && now.as_secs().saturating_sub(self.auth_time) <= max_age.as_secs()
    }
}

/// What an OAuth client was granted in a session it opened with a code:
/// every token of the session carries it, and the device list names the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    pub client_id: String,
    pub client_name: String,
    /// Space-separated, as granted at the code's issue.
    pub scope: String,
    pub first_party: bool,
    /// RFC 8707 resources granted (normalised): the audiences its access
    /// tokens may have; none, the API's own audience.
    pub resources: Vec<String>,
}

/// A secret as stored: which key sealed it, the nonce and the ciphertext
/// (with its tag), base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
}
