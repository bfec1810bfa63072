//! The lifecycle events a store writes to the outbox with the change they
//! describe. Their details carry ids and timestamps only: never a password,
//! hash, token, e-mail or username.

use serde_json::{json, Map, Value};

use super::activity::{Activity, ActivityKind};
use super::ports::RevocationReason;
use super::values::{PasskeyId, SessionId, Timestamp, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    UserRegistered {
        user_id: UserId,
    },
    /// Only when the id (or its proof) changed: re-linking the same id is no event.
    ExternalIdLinked {
        user_id: UserId,
        external_id: String,
        previous_external_id: Option<String>,
        /// Whether the owning system vouched for it (a code or its own message).
        proven: bool,
    },
    /// The owning system linked the id to another user.
    ExternalIdUnlinked {
        user_id: UserId,
        external_id: String,
    },
    /// Carries the external id, when its link was proven, so that downstream
    /// systems can erase too.
    UserDeleted {
        user_id: UserId,
        external_id: Option<String>,
    },
    /// The owner asked for deletion under `DELETION_GRACE_DAYS`: every
    /// session ended; the account is deleted at `deletion_scheduled_for`
    /// (`UserDeleted` then) unless restored first.
    UserDeletionScheduled {
        user_id: UserId,
        deletion_scheduled_for: Timestamp,
    },
    /// A scheduled deletion was called off by the restore link.
    UserDeletionCancelled {
        user_id: UserId,
    },
    /// The owner downloaded their data (`GET /users/{id}/export`).
    AccountExported {
        user_id: UserId,
        bytes: u64,
    },
    /// Sessions ended by `logout_all` or by refresh-token reuse (not by a plain
    /// logout), so that downstream caches of the user's sessions can drop them.
    SessionsRevoked {
        user_id: UserId,
        reason: RevocationReason,
        sessions_ended: u64,
    },
    /// One session ended by its owner (`DELETE /users/{id}/sessions/{sid}`),
    /// from that session or another. A plain logout emits none, as before.
    SessionEnded {
        user_id: UserId,
        session_id: SessionId,
        reason: RevocationReason,
    },
    /// A password set through a reset link; every session of the user ended.
    PasswordReset {
        user_id: UserId,
        sessions_ended: u64,
    },
    /// A password changed by its owner; their other sessions ended.
    PasswordChanged {
        user_id: UserId,
        sessions_ended: u64,
    },
    EmailVerified {
        user_id: UserId,
    },
    /// The account's address changed (proven by a link sent to it).
    EmailChanged {
        user_id: UserId,
    },
    /// A TOTP factor was confirmed: the account now needs it at login.
    MfaEnabled {
        user_id: UserId,
    },
    MfaDisabled {
        user_id: UserId,
    },
    /// One recovery code was spent (which one is not said).
    RecoveryCodeUsed {
        user_id: UserId,
        codes_left: u64,
    },
    /// Ids only: never the credential, its name or its public key.
    PasskeyAdded {
        user_id: UserId,
        passkey_id: PasskeyId,
    },
    PasskeyRemoved {
        user_id: UserId,
        passkey_id: PasskeyId,
    },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::ExternalIdLinked { .. } => "ExternalIdLinked",
            Self::ExternalIdUnlinked { .. } => "ExternalIdUnlinked",
            Self::UserDeleted { .. } => "UserDeleted",
            Self::UserDeletionScheduled { .. } => "UserDeletionScheduled",
            Self::UserDeletionCancelled { .. } => "UserDeletionCancelled",
            Self::AccountExported { .. } => "AccountExported",
            Self::SessionsRevoked { .. } => "SessionsRevoked",
            Self::SessionEnded { .. } => "SessionEnded",
            Self::PasswordReset { .. } => "PasswordReset",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::EmailVerified { .. } => "EmailVerified",
            Self::EmailChanged { .. } => "EmailChanged",
            Self::MfaEnabled { .. } => "MfaEnabled",
            Self::MfaDisabled { .. } => "MfaDisabled",
            Self::RecoveryCodeUsed { .. } => "RecoveryCodeUsed",
            Self::PasskeyAdded { .. } => "PasskeyAdded",
            Self::PasskeyRemoved { .. } => "PasskeyRemoved",
        }
    }

    /// The entry of the account's security activity this event is, if any
    /// (`domain::activity`): the stores write it with the event, from the
    /// request's client.
    pub fn activity(&self) -> Option<Activity> {
        use ActivityKind as Kind;
        let (user_id, kind, detail) = match self {
            Self::UserRegistered { user_id } => (user_id, Kind::AccountCreated, None),
            Self::UserDeletionScheduled { user_id, .. } => (user_id, Kind::DeletionScheduled, None),
            Self::UserDeletionCancelled { user_id } => (user_id, Kind::DeletionCancelled, None),
            Self::AccountExported { user_id, .. } => (user_id, Kind::AccountExported, None),
            // Everywhere at the owner's request; one session on a replay.
            Self::SessionsRevoked {
                user_id, reason, ..
            } => match reason {
                RevocationReason::UserRequest => (user_id, Kind::SessionsEnded, None),
                RevocationReason::RefreshTokenReuse => (
                    user_id,
                    Kind::SessionEnded,
                    Some("a replaced refresh token was used again"),
                ),
                RevocationReason::AuthorizationCodeReuse => (
                    user_id,
                    Kind::SessionEnded,
                    Some("an authorization code was used again"),
                ),
            },
            Self::SessionEnded { user_id, .. } => (user_id, Kind::SessionEnded, None),
            Self::PasswordReset { user_id, .. } => (user_id, Kind::PasswordReset, None),
            Self::PasswordChanged { user_id, .. } => (user_id, Kind::PasswordChanged, None),
            Self::EmailVerified { user_id } => (user_id, Kind::EmailVerified, None),
            Self::EmailChanged { user_id } => (user_id, Kind::EmailChanged, None),
            Self::MfaEnabled { user_id } => (user_id, Kind::TotpEnabled, None),
            Self::MfaDisabled { user_id } => (user_id, Kind::TotpDisabled, None),
            Self::RecoveryCodeUsed { user_id, .. } => (user_id, Kind::RecoveryCodeUsed, None),
            Self::PasskeyAdded { user_id, .. } => (user_id, Kind::PasskeyAdded, None),
            Self::PasskeyRemoved { user_id, .. } => (user_id, Kind::PasskeyRemoved, None),
            // Not a change of the account's security, or the account is gone.
            Self::ExternalIdLinked { .. }
            | Self::ExternalIdUnlinked { .. }
            | Self::UserDeleted { .. } => return None,
        };
        Some(Activity::now(*user_id, kind, detail))
    }

    /// The event's own fields, as published in `detail`.
    pub fn detail(&self) -> Map<String, Value> {
        let detail = match self {
            Self::UserRegistered { user_id } => json!({ "user_id": user_id.to_hex() }),
            Self::ExternalIdLinked {
                user_id,
                external_id,
                previous_external_id,
                proven,
            } => json!({
                "user_id": user_id.to_hex(),
                "external_id": external_id,
                "previous_external_id": previous_external_id,
                "proven": proven,
            }),
            Self::ExternalIdUnlinked {
                user_id,
                external_id,
            } => json!({ "user_id": user_id.to_hex(), "external_id": external_id }),
            Self::UserDeleted {
                user_id,
                external_id,
            } => json!({ "user_id": user_id.to_hex(), "external_id": external_id }),
            Self::UserDeletionScheduled {
                user_id,
                deletion_scheduled_for,
            } => json!({
                "user_id": user_id.to_hex(),
                "deletion_scheduled_for": deletion_scheduled_for.to_rfc3339(),
            }),
            Self::UserDeletionCancelled { user_id } => json!({ "user_id": user_id.to_hex() }),
            Self::AccountExported { user_id, bytes } => {
                json!({ "user_id": user_id.to_hex(), "bytes": bytes })
            }
            Self::SessionsRevoked {
                user_id,
                reason,
                sessions_ended,
            } => json!({
                "user_id": user_id.to_hex(),
                "reason": reason.as_str(),
                "sessions_ended": sessions_ended,
            }),
            Self::SessionEnded {
                user_id,
                session_id,
                reason,
            } => json!({
                "user_id": user_id.to_hex(),
                "session_id": session_id.to_hex(),
                "reason": reason.as_str(),
            }),
            Self::PasswordReset {
                user_id,
                sessions_ended,
            }
            | Self::PasswordChanged {
                user_id,
                sessions_ended,
            } => json!({ "user_id": user_id.to_hex(), "sessions_ended": sessions_ended }),
            Self::EmailVerified { user_id } | Self::EmailChanged { user_id } => {
                json!({ "user_id": user_id.to_hex() })
            }
            Self::MfaEnabled { user_id } | Self::MfaDisabled { user_id } => {
                json!({ "user_id": user_id.to_hex() })
            }
            Self::RecoveryCodeUsed {
                user_id,
                codes_left,
            } => json!({ "user_id": user_id.to_hex(), "codes_left": codes_left }),
            Self::PasskeyAdded {
                user_id,
                passkey_id,
            }
            | Self::PasskeyRemoved {
                user_id,
                passkey_id,
            } => json!({ "user_id": user_id.to_hex(), "passkey_id": passkey_id.to_hex() }),
        };
        match detail {
            Value::Object(fields) => fields,
            _ => unreachable!("every detail is a JSON object"),
        }
    }
}
