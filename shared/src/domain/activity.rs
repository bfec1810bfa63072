//! An account's security activity (issue #24): one entry per sign-in and
//! per change of a credential, an address, a factor or a passkey, per
//! session ended and per deletion scheduled or called off, kept
//! `RETENTION` for the owner's account page ("recent activity") and export.
//!
//! The stores write each entry with the change it describes: the entries of
//! changes that have an outbox event come from the event
//! (`events::Event::activity`) and go in the same write as it (the same
//! transaction where there is one); a session's opening, a requested or
//! cancelled change of address and new recovery codes, which have no event,
//! are written by the store method that makes them. So no use case can forget
//! one. An entry holds the kind, the time, a few words the kind does not say
//! (how a sign-in authenticated, why sessions ended), and the client's
//! address and user agent where the request had them: never a secret, token,
//! code, e-mail address or credential id.
//!
//! Failed sign-ins are not entries: anyone who knows the address could write
//! them without limit and push the owner's own sign-ins out of the listing.
//! The audit log and the sign-in throttle keep them.

use std::future::Future;
use std::time::Duration;

use super::records::{Authentication, ClientInfo, Stored};
use super::values::{Timestamp, UserId};

/// How long an entry is kept (a TTL index removes it then).
pub const RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// How many entries the account page shows, newest first.
pub const RECENT: usize = 20;

/// How many entries the export carries at most (newest first): far more
/// than `RETENTION` holds for a person, and a bound on the document.
pub const EXPORTED: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    AccountCreated,
    /// A session was opened: by a password (and code), a passkey, or an
    /// OAuth client's code.
    SignedIn,
    PasswordChanged,
    PasswordReset,
    EmailVerified,
    EmailChangeRequested,
    EmailChanged,
    EmailChangeCancelled,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodesRegenerated,
    RecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRemoved,
    /// One session ended: by its owner, or because a token of it was
    /// presented again (presumed stolen).
    SessionEnded,
    /// Every session ended at the owner's request.
    SessionsEnded,
    DeletionScheduled,
    DeletionCancelled,
    AccountExported,
}

const KINDS: [ActivityKind; 19] = [
    ActivityKind::AccountCreated,
    ActivityKind::SignedIn,
    ActivityKind::PasswordChanged,
    ActivityKind::PasswordReset,
    ActivityKind::EmailVerified,
    ActivityKind::EmailChangeRequested,
    ActivityKind::EmailChanged,
    ActivityKind::EmailChangeCancelled,
    ActivityKind::TotpEnabled,
    ActivityKind::TotpDisabled,
    ActivityKind::RecoveryCodesRegenerated,
    ActivityKind::RecoveryCodeUsed,
    ActivityKind::PasskeyAdded,
    ActivityKind::PasskeyRemoved,
    ActivityKind::SessionEnded,
    ActivityKind::SessionsEnded,
    ActivityKind::DeletionScheduled,
    ActivityKind::DeletionCancelled,
    ActivityKind::AccountExported,
];

impl ActivityKind {
    /// As stored and exported (`docs/export.schema.json` lists them).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account_created",
            Self::SignedIn => "signed_in",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::EmailVerified => "email_verified",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::EmailChangeCancelled => "email_change_cancelled",
            Self::TotpEnabled => "totp_enabled",
            Self::TotpDisabled => "totp_disabled",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::SessionEnded => "session_ended",
            Self::SessionsEnded => "sessions_ended",
            Self::DeletionScheduled => "deletion_scheduled",
            Self::DeletionCancelled => "deletion_cancelled",
            Self::AccountExported => "account_exported",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        KINDS.into_iter().find(|kind| kind.as_str() == raw)
    }

    /// What the account page says.
    pub fn label(self) -> &'static str {
        match self {
            Self::AccountCreated => "Account created",
            Self::SignedIn => "Signed in",
            Self::PasswordChanged => "Password changed",
            Self::PasswordReset => "Password reset by e-mail link",
            Self::EmailVerified => "E-mail address confirmed",
            Self::EmailChangeRequested => "Change of e-mail address requested",
            Self::EmailChanged => "E-mail address changed",
            Self::EmailChangeCancelled => "Change of e-mail address cancelled",
            Self::TotpEnabled => "Two-step sign-in turned on",
            Self::TotpDisabled => "Two-step sign-in turned off",
            Self::RecoveryCodesRegenerated => "New recovery codes made",
            Self::RecoveryCodeUsed => "Recovery code used",
            Self::PasskeyAdded => "Passkey added",
            Self::PasskeyRemoved => "Passkey removed",
            Self::SessionEnded => "A device was signed out",
            Self::SessionsEnded => "Every device was signed out",
            Self::DeletionScheduled => "Account deletion scheduled",
            Self::DeletionCancelled => "Account deletion cancelled",
            Self::AccountExported => "Data downloaded",
        }
    }
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub user_id: UserId,
    pub kind: ActivityKind,
    pub at: Timestamp,
    /// What the kind does not say, in a few fixed words: how a sign-in
    /// authenticated (`password`, `password and code`, `passkey`, …) and
    /// for which app; why every session ended. Never a secret.
    pub detail: Option<String>,
    /// The request's client, where it had one (`origin`).
    pub from: ClientInfo,
}

impl Activity {
    /// A session's opening: its login's methods, the OAuth client whose code
    /// opened it (if one did), and where from.
    pub fn sign_in(
        user_id: UserId,
        auth: &Authentication,
        app: Option<&str>,
        from: &ClientInfo,
        at: Timestamp,
    ) -> Self {
        let method = match auth.passkey {
            Some(passkey) if passkey.after_password => "password and passkey",
            Some(_) => "passkey",
            None if auth.otp => "password and code",
            None => "password",
        };
        let detail = match app {
            Some(app) => format!("{method}, for {app}"),
            None => method.to_string(),
        };
        Self {
            user_id,
            kind: ActivityKind::SignedIn,
            at,
            detail: Some(detail),
            from: from.clone(),
        }
    }

    /// An entry of the request being answered (`origin`).
    pub fn now(user_id: UserId, kind: ActivityKind, detail: Option<&str>) -> Self {
        Self {
            user_id,
            kind,
            at: Timestamp::now(),
            detail: detail.map(str::to_string),
            from: origin(),
        }
    }
}

/// The reads of the activity; the writes come with the changes (above).
pub trait SecurityActivity: Sync {
    /// Up to `limit` of the user's entries, newest first.
    fn recent_activity(
        &self,
        user_id: UserId,
        limit: usize,
    ) -> impl Future<Output = Stored<Vec<Activity>>> + Send;
}

tokio::task_local! {
    static ORIGIN: ClientInfo;
}

/// Runs `work` (one request's answer) with `client` as the origin of the
/// entries its changes write, as the request's tracing span gives its audit
/// lines their address: the stores write the entries, and no store method
/// takes the request.
pub async fn from_client<F: Future>(client: ClientInfo, work: F) -> F::Output {
    ORIGIN.scope(client, work).await
}

/// The client of the request being answered; unknown outside one (a
/// scheduled function, a queue's message).
pub fn origin() -> ClientInfo {
    ORIGIN.try_with(ClientInfo::clone).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::PasskeyUse;

    #[test]
    fn every_kind_round_trips_and_has_a_label() {
        for kind in KINDS {
            assert_eq!(ActivityKind::parse(kind.as_str()), Some(kind));
            assert!(!kind.label().is_empty());
        }
        assert_eq!(ActivityKind::parse("nothing"), None);
    }

    #[test]
    fn a_sign_in_says_how_and_for_which_app() {
        let at = Timestamp::from_millis(1_000_000);
        let user = UserId::new();
        let from = ClientInfo::new(Some(b"curl/8"), "192.0.2.1");
        let password = Activity::sign_in(user, &Authentication::password(at), None, &from, at);
        assert_eq!(password.detail.as_deref(), Some("password"));
        assert_eq!(password.from, from);
        let code = Authentication::password_and_otp(at);
        let app = Activity::sign_in(user, &code, Some("Notes"), &from, at);
        assert_eq!(app.detail.as_deref(), Some("password and code, for Notes"));
        let passkey = Authentication::passkey(
            PasskeyUse {
                after_password: false,
                synced: true,
                user_verified: true,
            },
            at,
        );
        let alone = Activity::sign_in(user, &passkey, None, &from, at);
        assert_eq!(alone.detail.as_deref(), Some("passkey"));
    }

    #[tokio::test]
    async fn the_origin_is_the_requests_and_unknown_outside_one() {
        assert_eq!(origin(), ClientInfo::default());
        let client = ClientInfo::new(Some(b"Firefox/1"), "198.51.100.4");
        let inside = from_client(client.clone(), async { origin() }).await;
        assert_eq!(inside, client);
        assert_eq!(origin(), ClientInfo::default());
    }
}
