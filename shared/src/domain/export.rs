//! Self-service export (issue #24, GDPR articles 15 and 20): one JSON
//! document of what the account holds, for its owner, after a recent
//! sign-in, a few times an hour, bounded in size. Its shape is
//! `docs/export.schema.json`; it never carries a secret (no hash, token,
//! digest or sealed factor: the store's `AccountData` has none to give).

use std::time::Duration;

use serde_json::{json, Value};

use super::activity::Activity;
use super::audit;
use super::error::DomainError;
use super::ports::{AccountData, Exports, LinkTrust, LoginAttempts, SessionView};
use super::throttle;
use super::tokens::Caller;
use super::values::Timestamp;

const HOUR: Duration = Duration::from_secs(3600);

/// The largest export answered: 4 MiB, under Lambda's 6 MB response limit
/// with room for the body's escaping in the API Gateway envelope.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The document's `format`, and its version (bumped on a breaking change).
pub const FORMAT: &str = "user-management-api/account-export";
pub const VERSION: u32 = 1;

/// How exports are bounded (`config::export_settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSettings {
    /// `STEP_UP_MAX_AGE_SECONDS`: how recent the sign-in must be.
    pub step_up_max_age: Duration,
    /// A larger document is refused (413): `MAX_BYTES` as deployed.
    pub max_bytes: usize,
    /// Exports per account per hour; then 429.
    pub per_hour: i64,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            step_up_max_age: Duration::from_secs(600),
            max_bytes: MAX_BYTES,
            per_hour: 3,
        }
    }
}

/// `GET /users/{user_id}/export` (and the account page's button): the
/// document as JSON text, with an audit line and an `AccountExported` event.
pub async fn export_account<S: Exports + LoginAttempts>(
    store: &S,
    caller: &Caller,
    settings: &ExportSettings,
    now: Timestamp,
    trust: LinkTrust,
) -> Result<String, DomainError> {
    if !caller.auth.is_recent(now, settings.step_up_max_age) {
        return Err(DomainError::ReauthenticationRequired);
    }
    let key = format!("export|{}", caller.user_id.to_hex());
    let spent = throttle::count_in_window(store, &key, Some(settings.per_hour), HOUR, now).await?;
    if let Some(retry_after) = spent {
        audit::user_event("account_export_throttled", &caller.user_id.to_hex());
        return Err(DomainError::TooManyRequests { retry_after });
    }
    let data = store
        .account_data(caller.user_id, caller.session_id, now, trust)
        .await?
        .ok_or(DomainError::SessionEnded)?;
    let text = document(&data, now).to_string();
    if text.len() > settings.max_bytes {
        audit::user_event("account_export_too_large", &caller.user_id.to_hex());
        return Err(DomainError::ExportTooLarge {
            limit: settings.max_bytes,
        });
    }
    store
        .record_export(caller.user_id, text.len() as u64)
        .await?;
    audit::user_event("account_exported", &caller.user_id.to_hex());
    Ok(text)
}

/// The document (`docs/export.schema.json`).
pub fn document(data: &AccountData, now: Timestamp) -> Value {
    let profile = &data.profile;
    json!({
        "format": FORMAT,
        "version": VERSION,
        "generated_at": now.to_rfc3339(),
        "profile": {
            "id": profile.id.to_hex(),
            "username": profile.username,
            "email": profile.email,
            "email_verified": profile.email_verified,
            "pending_email": data.pending_email,
            "external_id": profile.external_id,
            "created_at": profile.created_at,
            "deletion_scheduled_for": data.deletion_scheduled_for.map(Timestamp::to_rfc3339),
        },
        "linked_data": profile.linked_data,
        "sessions": data.sessions.iter().map(session).collect::<Vec<_>>(),
        "second_factor": data.second_factor.as_ref().map(|factor| json!({
            "type": "totp",
            "confirmed": factor.confirmed,
            "recovery_codes_left": factor.recovery_codes_left,
        })),
        "passkeys": data.passkeys.iter().map(|passkey| json!({
            "name": passkey.name,
            "created_at": passkey.created_at.to_rfc3339(),
            "last_used_at": passkey.last_used_at.map(Timestamp::to_rfc3339),
            "backup_eligible": passkey.backup_eligible,
            "backup_state": passkey.backup_state,
        })).collect::<Vec<_>>(),
        "consents": data.consents.iter().map(|consent| json!({
            "client_id": consent.client_id,
            "scope": consent.scope,
            "granted_at": consent.granted_at.map(Timestamp::to_rfc3339),
        })).collect::<Vec<_>>(),
        "security_activity": data.activity.iter().map(activity).collect::<Vec<_>>(),
    })
}

fn activity(entry: &Activity) -> Value {
    json!({
        "kind": entry.kind.as_str(),
        "at": entry.at.to_rfc3339(),
        "detail": entry.detail,
        "source_ip": entry.from.source_ip,
        "user_agent": entry.from.user_agent,
    })
}

fn session(view: &SessionView) -> Value {
    let client = |info: &super::records::ClientInfo| json!({ "user_agent": info.user_agent, "source_ip": info.source_ip });
    json!({
        "id": view.id.to_hex(),
        "created_at": view.created_at.to_rfc3339(),
        "last_used_at": view.last_used_at.to_rfc3339(),
        "created_from": client(&view.created_from),
        "last_used_from": client(&view.last_used_from),
        "client": view.client_name,
    })
}
