//! What the use cases need from storage, as narrow traits. Time is an
//! argument (`now`) wherever a rule depends on it, so tests set it.
//! `mongo::MongoStore` implements them against MongoDB, `memory::MemoryStore`
//! in memory for unit tests. Writes that must commit together (a change and
//! its outbox event) are one method each, so every store keeps them atomic.

use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value};

use super::activity::Activity;
use super::mail_token::MailToken;
pub use super::records::{
    Authentication, ClientInfo, OAuthGrant, SealedSecret, StoreError, Stored,
};
use super::values::{Email, EventId, ExternalId, SessionId, Timestamp, UserId, Username};

/// A user about to be registered.
#[derive(Debug)]
pub struct NewUser {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    pub hashed_password: String,
    pub created_at: Timestamp,
}

/// What login needs to know about an account.
#[derive(Debug, Clone)]
pub struct StoredCredentials {
    pub user_id: UserId,
    pub hashed_password: String,
    /// Whether the address was proven by a verification link.
    pub email_verified: bool,
    /// Whether the account has a confirmed second factor.
    pub mfa: bool,
    /// When the account is to be deleted, if its owner asked for that
    /// under a grace period (`domain::deletion`): it cannot sign in.
    pub deletion_scheduled_for: Option<Timestamp>,
}

/// The public view of a user with the linked data: no credential field can reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub external_id: Option<String>,
    /// RFC 3339, as stored.
    pub created_at: String,
    pub linked_data: Vec<Value>,
    pub email_verified: bool,
}

pub trait Users: Sync {
    /// Inserts the user with its `UserRegistered` event; a taken e-mail or
    /// username (case-insensitively) is `EmailTaken` / `UsernameTaken`.
    fn insert_user(&self, user: NewUser) -> impl Future<Output = Stored<()>> + Send;

    fn find_credentials(
        &self,
        email: &Email,
    ) -> impl Future<Output = Stored<Option<StoredCredentials>>> + Send;

    /// Replaces a hash only if it is still `verified_hash`, so that a
    /// concurrent password change is never overwritten by a stale re-hash.
    fn replace_password_hash(
        &self,
        user_id: UserId,
        verified_hash: &str,
        new_hash: &str,
    ) -> impl Future<Output = Stored<()>> + Send;

    /// Links `external_id` as `how`, with an `ExternalIdLinked` event when
    /// the id or its proof changed. False when the user does not exist. A
    /// claimed or proven link gets `ExternalIdTaken` when another user has
    /// the id; an authoritative one takes it from them (with an
    /// `ExternalIdUnlinked` event for them).
    fn link_external_id(
        &self,
        user_id: UserId,
        external_id: &ExternalId,
        how: LinkKind,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// The profile with its linked data (the record whose id is the user's
    /// external id, and those whose `user_id` is the user), if the user exists
    /// and `session` of theirs is open at `now`.
    fn full_profile(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        trust: LinkTrust,
    ) -> impl Future<Output = Stored<Option<Profile>>> + Send;

    /// Deletes the user, the linked data the profile shows (under `trust`)
    /// and every session of the user, with a `UserDeleted` event (naming the
    /// external id only when it is trusted), all or nothing. With `session`,
    /// only if that session of the user is open at `now`. False when nothing
    /// was deleted.
    fn delete_user(
        &self,
        user_id: UserId,
        session: Option<SessionId>,
        now: Timestamp,
        trust: LinkTrust,
    ) -> impl Future<Output = Stored<bool>> + Send;
}

/// Deletion with a grace period (`domain::deletion`, issue #24). The purge
/// runs the one delete cascade of `Users::delete_user`.
pub trait Deletions: Sync {
    /// Marks the user to be deleted at `until`, if `session` of theirs is
    /// open at `now` and no deletion is scheduled yet; ends every session of
    /// the user, with a `UserDeletionScheduled` event, all or nothing.
    /// False when nothing changed.
    fn schedule_deletion(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Calls off the user's scheduled deletion if it is still ahead of
    /// `now`, with a `UserDeletionCancelled` event; false when none was.
    fn cancel_deletion(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Up to `limit` users whose deletion is due at `now`, earliest first.
    fn due_deletions(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Stored<Vec<UserId>>> + Send;

    /// `Users::delete_user`'s cascade (with its `UserDeleted` event), only
    /// if the user's deletion is still due at `now`; false when nothing was
    /// deleted (restored, or deleted already).
    fn purge_user(
        &self,
        user_id: UserId,
        now: Timestamp,
        trust: LinkTrust,
    ) -> impl Future<Output = Stored<bool>> + Send;
}

/// What an account export shows (`domain::export`, issue #24): nothing
/// a secret could be read or derived from.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountData {
    pub profile: Profile,
    pub pending_email: Option<String>,
    pub deletion_scheduled_for: Option<Timestamp>,
    /// Open sessions, newest first.
    pub sessions: Vec<SessionView>,
    pub second_factor: Option<FactorInfo>,
    /// Oldest first.
    pub passkeys: Vec<PasskeyInfo>,
    pub consents: Vec<ConsentInfo>,
    /// The account's security activity, newest first (`domain::activity`).
    pub activity: Vec<Activity>,
}

/// A passkey as the export shows it: its name and dates, and whether it is
/// synced; never its public key or credential id (no secret, and of no use
/// to its owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// A second factor as the export shows it: never its secret or codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorInfo {
    pub confirmed: bool,
    pub recovery_codes_left: u64,
}

/// What the user allowed one third-party client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentInfo {
    pub client_id: String,
    pub scope: String,
    pub granted_at: Option<Timestamp>,
}

pub trait Exports: Sync {
    /// Everything the export shows, if `session` of the user is open at `now`.
    fn account_data(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        trust: LinkTrust,
    ) -> impl Future<Output = Stored<Option<AccountData>>> + Send;

    /// Writes an `AccountExported` event (how many bytes) to the outbox.
    fn record_export(&self, user_id: UserId, bytes: u64)
        -> impl Future<Output = Stored<()>> + Send;
}

/// How an external id came to be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Said by the user alone (`LINK_VERIFICATION=off`): proves nothing.
    Claimed,
    /// With a one-time code the owning system issued.
    Proven,
    /// By the owning system itself, over the inbound queue.
    Authoritative,
}

/// Which links the profile joins and the delete cascade follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTrust {
    /// Proven and authoritative links only (`LINK_VERIFICATION=required`).
    ProvenOnly,
    /// Every link, as the original API did (`LINK_VERIFICATION=off`).
    Any,
}

/// A one-time link code offered by the owning system; only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOffer {
    pub code_sha256: String,
    pub external_id: ExternalId,
    pub expires_at: Timestamp,
}

pub trait LinkOffers: Sync {
    /// Stores the offer (again: the same code offered twice is one offer).
    fn offer_link(&self, offer: &LinkOffer) -> impl Future<Output = Stored<()>> + Send;

    /// Charges one attempt to every live offer of `external_id`, then takes
    /// the one whose code has `code_sha256` if its attempts (this one
    /// included) are at most `max_attempts`: true once, false ever after.
    /// A refused attempt burns (deletes) the id's offers that have used up
    /// `max_attempts`, whoever guessed: the count is per offer, not per
    /// guesser, and charged before the code is compared, so parallel
    /// guesses cannot exceed it.
    fn redeem_link_offer(
        &self,
        external_id: &ExternalId,
        code_sha256: &str,
        max_attempts: i64,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    /// Per-session randomness from which each generation's tokens are derived.
    pub nonce: String,
    pub generation: i64,
    /// The SHA-256 of the current generation's refresh token.
    pub refresh_digest: String,
    pub created_at: Timestamp,
    pub rotated_at: Timestamp,
    pub expires_at: Timestamp,
    // Devices: where it was opened from, and where last refreshed from (at
    // `rotated_at`). Shown to the owner only; never part of a token.
    pub created_from: ClientInfo,
    pub last_used_from: ClientInfo,
    /// How and when the login that opened it authenticated: every token
    /// of the session carries it (`amr`, `auth_time`).
    pub auth: Authentication,
    /// The OAuth client whose code opened it; none for `/auth/login`'s.
    pub grant: Option<OAuthGrant>,
}

/// A session as its owner's listing shows it: no nonce, no digest, nothing
/// a token could be derived or checked from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: SessionId,
    pub created_at: Timestamp,
    /// The last refresh, or the login when there has been none.
    pub last_used_at: Timestamp,
    pub created_from: ClientInfo,
    pub last_used_from: ClientInfo,
    /// The name of the OAuth client that opened it, if one did.
    pub client_name: Option<String>,
    /// And its id.
    pub client_id: Option<String>,
}

/// Why sessions were ended, for the `SessionsRevoked` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// The user ended all their sessions (`logout_all`).
    UserRequest,
    /// A replaced refresh token was presented again: presumed stolen.
    RefreshTokenReuse,
    /// An authorization code was presented again (RFC 6749 §4.1.2): the
    /// session its first use opened is presumed stolen.
    AuthorizationCodeReuse,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRequest => "user_request",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::AuthorizationCodeReuse => "authorization_code_reuse",
        }
    }
}

pub trait Sessions: Sync {
    /// Stores a new session, only if its user still exists at that moment:
    /// false (and nothing stored) when the user is gone, so that no session
    /// outlives its user, even one opened by a login racing the deletion.
    fn insert_session(&self, session: &SessionRecord) -> impl Future<Output = Stored<bool>> + Send;

    fn find_session(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<SessionRecord>>> + Send;

    /// Moves the session to its next generation, only if `from_digest` is
    /// still current: of two concurrent rotations exactly one wins (`Some`).
    /// `rotated_at` becomes `now`, `last_used_from` the refresher, and
    /// `expires_at` the given time.
    fn rotate_session(
        &self,
        session: &SessionRecord,
        from_digest: &str,
        to_digest: &str,
        now: Timestamp,
        expires_at: Timestamp,
        used_from: &ClientInfo,
    ) -> impl Future<Output = Stored<Option<SessionRecord>>> + Send;

    /// Ends one session of the user; false when it was not open at `now`.
    fn end_session(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Ends every session of the user, or only `only`, with a
    /// `SessionsRevoked` event when any ended; how many ended. Ending every
    /// session also voids what is pending, as a password reset does (a
    /// pending e-mail change, every one-time mail token, every `mfa_token`).
    fn revoke_sessions(
        &self,
        user_id: UserId,
        only: Option<SessionId>,
        reason: RevocationReason,
    ) -> impl Future<Output = Stored<u64>> + Send;

    fn session_is_open(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Up to `limit` of the user's sessions open at `now`, newest (by
    /// `created_at`) first.
    fn list_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Stored<Vec<SessionView>>> + Send;

    /// Ends one session of the user, if open at `now`, with a `SessionEnded`
    /// event, all or nothing; false when there was no such open session.
    fn revoke_session(
        &self,
        user_id: UserId,
        session: SessionId,
        reason: RevocationReason,
        now: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;
}

/// Login throttling state of one key (a normalised e-mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptCount {
    /// Consecutive failures, counting attempts in progress as failures.
    pub failures: i64,
    pub locked_until: Option<Timestamp>,
    /// When the store may forget the count.
    pub forget_at: Timestamp,
}

/// Compare-and-swap primitives over the count; the schedule is the domain's
/// (`throttle::admit`).
pub trait LoginAttempts: Sync {
    /// Writes the first count of `key`; false when one exists already.
    fn insert_count(
        &self,
        key: &str,
        count: AttemptCount,
    ) -> impl Future<Output = Stored<bool>> + Send;

    fn find_count(&self, key: &str) -> impl Future<Output = Stored<Option<AttemptCount>>> + Send;

    /// Replaces the count only if it still has `expected_failures`.
    fn replace_count(
        &self,
        key: &str,
        expected_failures: i64,
        count: AttemptCount,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Counts one event against `key` in one atomic step when its window is
    /// open (`forget_at` after `now`) with fewer than `limit` events, or
    /// starts a window ending at `window_end` when there is no count; false
    /// for a full or a passed window, which the caller then reads.
    fn count_if_under(
        &self,
        key: &str,
        limit: i64,
        now: Timestamp,
        window_end: Timestamp,
    ) -> impl Future<Output = Stored<bool>> + Send;

    fn clear_count(&self, key: &str) -> impl Future<Output = Stored<()>> + Send;

    /// Takes one failure off the count if it has any, in one atomic step
    /// (a reservation given back after a right password).
    fn release_count(&self, key: &str) -> impl Future<Output = Stored<()>> + Send;
}

/// What a versioned write of linked data did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkedWrite {
    Applied,
    /// The stored version was the same or newer: nothing changed.
    Stale,
}

/// The external system's records, keyed by external id and versioned:
/// messages arrive out of order and more than once.
pub trait LinkedData: Sync {
    /// Replaces the record of `external_id` with `data` at `version`, if what
    /// is stored (record or tombstone) is older or has no version.
    fn upsert_linked(
        &self,
        external_id: &ExternalId,
        data: Map<String, Value>,
        version: i64,
    ) -> impl Future<Output = Stored<LinkedWrite>> + Send;

    /// Replaces the record of `external_id` by a tombstone at `version`, if
    /// what is stored is older; the tombstone keeps older upserts out.
    fn delete_linked(
        &self,
        external_id: &ExternalId,
        version: i64,
    ) -> impl Future<Output = Stored<LinkedWrite>> + Send;
}

/// An outbox entry on its way to the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: EventId,
    pub kind: String,
    pub occurred_at: Timestamp,
    /// The event's own fields (ids only).
    pub detail: Map<String, Value>,
}

/// The publisher's side of the outbox; entries are written by the store
/// methods above, in the same transaction as their change.
pub trait Outbox: Sync {
    /// Up to `limit` unpublished entries, oldest first.
    fn unpublished(&self, limit: usize) -> impl Future<Output = Stored<Vec<OutboxEntry>>> + Send;

    fn count_unpublished(&self) -> impl Future<Output = Stored<u64>> + Send;

    fn mark_published(&self, ids: &[EventId]) -> impl Future<Output = Stored<()>> + Send;
}

/// Where published events go (EventBridge in AWS).
pub trait EventSink: Sync {
    /// Sends `batch` in order; how many, from the first, were accepted.
    fn send(&self, batch: &[OutboxEntry]) -> impl Future<Output = usize> + Send;
}

/// What a one-time token sent by mail is for; each is redeemed only as that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    /// Proves the account's current address.
    EmailVerification,
    /// Proves a new address, which becomes the account's once redeemed
    /// (and, under `EMAIL_CHANGE_CONFIRMATION=both`, once the current
    /// address confirmed too).
    EmailChange,
    /// The current address confirms a change to the pending address it is
    /// bound to (`EMAIL_CHANGE_CONFIRMATION=both`).
    EmailChangeCurrent,
    /// The current address cancels the change to the pending address it is
    /// bound to.
    EmailChangeCancel,
    /// Calls off the account's scheduled deletion.
    AccountRestore,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::EmailChange => "email_change",
            Self::EmailChangeCurrent => "email_change_current",
            Self::EmailChangeCancel => "email_change_cancel",
            Self::AccountRestore => "account_restore",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::PasswordReset,
            Self::EmailVerification,
            Self::EmailChange,
            Self::EmailChangeCurrent,
            Self::EmailChangeCancel,
            Self::AccountRestore,
        ]
        .into_iter()
        .find(|purpose| purpose.as_str() == raw)
    }
}

/// A one-time token as stored: only its SHA-256, bound to one user, one
/// purpose and (for the e-mail purposes) the address it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub digest: String,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub email: String,
    pub expires_at: Timestamp,
}

pub trait OneTimeTokens: Sync {
    fn insert_token(&self, token: &OneTimeToken) -> impl Future<Output = Stored<()>> + Send;

    /// The token of `digest` for `purpose`, if it has not expired at `now`,
    /// without using it.
    fn find_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<OneTimeToken>>> + Send;

    /// Takes (deletes) the token of `digest` if it is for one of `purposes`
    /// and has not expired at `now`: of two concurrent takes, exactly one
    /// gets it.
    fn take_token(
        &self,
        digest: &str,
        purposes: &[TokenPurpose],
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<OneTimeToken>>> + Send;
}

/// What the recovery and change flows read of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user_id: UserId,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// An address the user asked to change to, not yet proven.
    pub pending_email: Option<String>,
    /// Whether the pending change also waits for the current address's
    /// confirmation (`EMAIL_CHANGE_CONFIRMATION=both` when it was asked for).
    pub pending_needs_current: bool,
    pub hashed_password: String,
}

/// Which address confirms a pending e-mail change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSide {
    /// The new address, by the link sent to it.
    New,
    /// The account's current address (`EMAIL_CHANGE_CONFIRMATION=both`).
    Current,
}

/// What one confirmation of a pending e-mail change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChangeStep {
    /// The new address is the account's now; `previous` was.
    Applied { previous: String },
    /// Recorded; the change waits for the other address.
    Waiting,
    /// The address is no longer pending (cancelled, replaced or applied).
    NotPending,
}

/// The account writes of recovery and change, each with its outbox event.
pub trait Accounts: Sync {
    fn find_account(&self, user_id: UserId)
        -> impl Future<Output = Stored<Option<Account>>> + Send;

    fn find_account_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Stored<Option<Account>>> + Send;

    /// Sets the password hash, ends every session of the user and voids what
    /// is pending (a pending e-mail change, every one-time mail token and
    /// every `mfa_token`), with a `PasswordReset` event; how many sessions
    /// ended, or `None` when the user is gone.
    fn reset_password(
        &self,
        user_id: UserId,
        new_hash: &str,
    ) -> impl Future<Output = Stored<Option<u64>>> + Send;

    /// Replaces the hash only if it is still `verified_hash` and `keep` is an
    /// open session of the user at `now`; ends every other session and voids
    /// what is pending (as `reset_password`), with a `PasswordChanged`
    /// event. `None` when nothing changed.
    fn change_password(
        &self,
        user_id: UserId,
        verified_hash: &str,
        new_hash: &str,
        keep: SessionId,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<u64>>> + Send;

    /// Marks the account's address verified if it is still `email`, with an
    /// `EmailVerified` event; false otherwise.
    fn mark_email_verified(
        &self,
        user_id: UserId,
        email: &str,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Records `email` as the address the user asked to change to, in place
    /// of any earlier pending change (whose links then find nothing
    /// pending), waiting for the current address too when `needs_current`.
    fn set_pending_email(
        &self,
        user_id: UserId,
        email: &Email,
        needs_current: bool,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Records `side`'s confirmation of the change to `email` if it is still
    /// pending; once every side it needs has confirmed, makes `email` the
    /// account's (verified) address and deletes every one-time token of the
    /// user (reset links were bound to the old address), with an
    /// `EmailChanged` event. `EmailTaken` if another account has it by then.
    fn confirm_email_change(
        &self,
        user_id: UserId,
        email: &str,
        side: ChangeSide,
    ) -> impl Future<Output = Stored<EmailChangeStep>> + Send;

    /// Cancels the pending change (only if it is to `email`, when given) and
    /// deletes the user's tokens of the change; false when none was pending.
    fn cancel_email_change(
        &self,
        user_id: UserId,
        email: Option<&str>,
    ) -> impl Future<Output = Stored<bool>> + Send;
}

/// A mail to be sent after the answer: what the queue carries. Never a
/// token: `send-mail` makes the token when it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailRequest {
    /// To the account of `email`, if there is one.
    PasswordReset { email: Email },
    /// To the account's current address, unless already verified.
    EmailVerification { user_id: UserId },
    /// A verification link to the new address, a notice to the old one.
    EmailChange { user_id: UserId, new_email: Email },
    /// A notice (no link) to the account's address: its password was reset or changed.
    PasswordChangedNotice { user_id: UserId },
    /// A notice (no link) to the address the account had before a change.
    EmailChangedNotice { user_id: UserId, previous: Email },
    /// A notice (no secret, no code) to the account's address: its second
    /// factor changed.
    MfaChangedNotice {
        user_id: UserId,
        change: FactorChange,
    },
    /// A restore link to the account's address, valid until the deletion
    /// scheduled for `until`.
    AccountRestore { user_id: UserId, until: Timestamp },
}

/// A change of the second factor, as its notice names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorChange {
    /// A factor is being set up (not yet confirmed).
    Enrolled,
    /// The factor was confirmed: it is required at sign-in from now on.
    Enabled,
    Disabled,
    RecoveryCodesRegenerated,
    PasskeyAdded,
    PasskeyRemoved,
}

impl FactorChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrolled => "enrolled",
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Enrolled,
            Self::Enabled,
            Self::Disabled,
            Self::RecoveryCodesRegenerated,
            Self::PasskeyAdded,
            Self::PasskeyRemoved,
        ]
        .into_iter()
        .find(|change| change.as_str() == raw)
    }
}

/// Where mail requests go (an SQS queue in AWS and locally under moto).
pub trait MailRequests: Sync {
    /// The reason is for the log: it never holds the request.
    fn request_mail(
        &self,
        request: &MailRequest,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// A mail as the domain decides it: to whom, what it says, and the token
/// of each link. The mail adapter (`crate::mail`) renders it: its words, and
/// its links under the web app's base URL.
#[derive(Debug)]
pub struct Mail {
    pub to: String,
    pub content: MailContent,
}

#[derive(Debug)]
pub enum MailContent {
    /// One link: a reset, a verification, or the new address of a change.
    Link {
        purpose: TokenPurpose,
        token: MailToken,
        valid_for: Duration,
    },
    /// To the current address when a change to another is asked for: a
    /// link that cancels it and, when the change needs it, one that confirms.
    ChangeRequested {
        confirm: Option<MailToken>,
        cancel: MailToken,
        valid_for: Duration,
    },
    /// Notices, with no link: the password was reset or changed; the address
    /// this goes to is no longer the account's; the second factor changed.
    PasswordChanged,
    EmailChanged,
    FactorChanged(FactorChange),
}

/// Renders and sends a mail (SES, or files locally).
pub trait MailTransport: Sync {
    /// An id for the log (SES's message id, the file's name).
    fn send_mail(&self, mail: &Mail) -> impl Future<Output = Result<String, String>> + Send;
}

/// A TOTP factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub sealed: SealedSecret,
    /// Pending until a first code confirms it.
    pub confirmed: bool,
    /// The last time step a code was accepted for (−1: none yet): only later
    /// steps are accepted, so a code works once.
    pub last_step: i64,
}

/// What the second-factor use cases read about an account.
#[derive(Debug, Clone)]
pub struct MfaAccount {
    pub user_id: UserId,
    /// The label of the factor in authenticator apps.
    pub email: String,
    pub hashed_password: String,
    pub factor: Option<TotpFactor>,
}

/// The second step of a login with a second factor, found by the SHA-256 of
/// its `mfa_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub token_sha256: String,
    pub user_id: UserId,
    /// When the password was checked: the session's `auth_time`.
    pub password_checked_at: Timestamp,
    pub expires_at: Timestamp,
    /// Codes tried with it so far, this one included.
    pub attempts: i64,
}

/// Second factors, their recovery codes and login challenges. Every change
/// that has an event writes it in the same transaction.
pub trait MfaStore: Sync {
    fn mfa_account(
        &self,
        user_id: UserId,
    ) -> impl Future<Output = Stored<Option<MfaAccount>>> + Send;

    /// Stores a pending factor in place of any pending one; false when the
    /// user is gone or already has a confirmed factor.
    fn put_pending_factor(
        &self,
        user_id: UserId,
        sealed: &SealedSecret,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Confirms the pending factor `sealed` with a code of `step`, replacing
    /// any recovery codes by `recovery_sha256`, with an `MfaEnabled` event;
    /// false when that factor is no longer pending.
    fn confirm_factor(
        &self,
        user_id: UserId,
        sealed: &SealedSecret,
        step: i64,
        recovery_sha256: &[String],
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Records `step` as the confirmed factor's last accepted one, only if it
    /// is later than the stored one: of two uses of a code exactly one wins.
    fn accept_step(&self, user_id: UserId, step: i64) -> impl Future<Output = Stored<bool>> + Send;

    /// Takes the recovery code whose digest is `code_sha256`, with a
    /// `RecoveryCodeUsed` event: true once, false ever after.
    fn use_recovery_code(
        &self,
        user_id: UserId,
        code_sha256: &str,
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Replaces the recovery codes of a confirmed factor; false without one.
    fn replace_recovery_codes(
        &self,
        user_id: UserId,
        recovery_sha256: &[String],
    ) -> impl Future<Output = Stored<bool>> + Send;

    /// Removes the factor and its recovery codes, with an `MfaDisabled`
    /// event when a confirmed one was removed.
    fn remove_factor(&self, user_id: UserId) -> impl Future<Output = Stored<bool>> + Send;

    fn insert_challenge(&self, challenge: &MfaChallenge)
        -> impl Future<Output = Stored<()>> + Send;

    /// Counts one more attempt on the challenge, if it is open at `now` and
    /// has attempts left (fewer than `max_attempts`), and returns it as
    /// counted; parallel attempts cannot exceed the limit.
    fn charge_challenge(
        &self,
        token_sha256: &str,
        now: Timestamp,
        max_attempts: i64,
    ) -> impl Future<Output = Stored<Option<MfaChallenge>>> + Send;

    /// The challenge if it is open at `now` and has attempts left, without
    /// charging one (a passkey's begin: its finish is what is charged).
    fn open_challenge(
        &self,
        token_sha256: &str,
        now: Timestamp,
        max_attempts: i64,
    ) -> impl Future<Output = Stored<Option<MfaChallenge>>> + Send;

    /// Deletes the challenge: true for the one caller that took it.
    fn take_challenge(&self, token_sha256: &str) -> impl Future<Output = Stored<bool>> + Send;
}

/// An authorization code as stored: only its SHA-256, with everything the
/// code was issued for. Kept past `valid_until` (to `expires_at`) so that a
/// late second use is still recognised as reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub digest: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// The PKCE S256 challenge, when the request had one.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// Space-separated, as granted.
    pub scope: String,
    /// RFC 8707 resources of the request, normalised.
    pub resources: Vec<String>,
    pub user_id: UserId,
    pub auth: Authentication,
    pub valid_until: Timestamp,
    /// When the store may forget it.
    pub expires_at: Timestamp,
    /// The session its first (and only) exchange opened.
    pub spent_by: Option<SessionId>,
}

pub trait AuthorizationCodes: Sync {
    fn insert_code(&self, code: &CodeRecord) -> impl Future<Output = Stored<()>> + Send;

    /// The code with `digest`, spent or not, until the store forgets it.
    fn find_code(&self, digest: &str) -> impl Future<Output = Stored<Option<CodeRecord>>> + Send;

    /// Marks the code spent by `session`, only if it is not spent yet: of
    /// two exchanges at once exactly one gets true.
    fn spend_code(
        &self,
        digest: &str,
        session: SessionId,
    ) -> impl Future<Output = Stored<bool>> + Send;
}

/// What a person allowed a third-party client: per user and client, the
/// union of the scopes granted so far (space-separated). A request for a
/// subset needs no consent page (issue #21).
pub trait Consents: Sync {
    fn consented_scope(
        &self,
        user_id: UserId,
        client_id: &str,
    ) -> impl Future<Output = Stored<Option<String>>> + Send;

    /// Sets what `user_id` allowed `client_id` (the caller passes the union).
    fn record_consent(
        &self,
        user_id: UserId,
        client_id: &str,
        scope: &str,
        now: Timestamp,
    ) -> impl Future<Output = Stored<()>> + Send;

    /// Every client `user_id` allowed something (issue #22's "apps with
    /// access"), at most `limit`.
    fn list_consents(
        &self,
        user_id: UserId,
        limit: usize,
    ) -> impl Future<Output = Stored<Vec<ConsentView>>> + Send;

    /// Forgets what `user_id` allowed `client_id`.
    fn delete_consent(
        &self,
        user_id: UserId,
        client_id: &str,
    ) -> impl Future<Output = Stored<()>> + Send;
}

/// One remembered consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentView {
    pub client_id: String,
    /// Space-separated.
    pub scope: String,
    pub granted_at: Timestamp,
}

/// A client registered dynamically (RFC 7591, issue #22): public and
/// third-party, kept while it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredClient {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Space-separated.
    pub scope: String,
    /// Whether it asked for `refresh_token` too.
    pub refresh: bool,
    pub created_at: Timestamp,
    /// When the store forgets it: 30 days after its last use.
    pub expires_at: Timestamp,
}

/// The dynamically registered clients.
pub trait DynamicClients: Sync {
    fn insert_registered_client(
        &self,
        client: &RegisteredClient,
    ) -> impl Future<Output = Stored<()>> + Send;

    fn find_registered_client(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Stored<Option<RegisteredClient>>> + Send;

    /// Moves its expiry to `expires_at` (it was used).
    fn touch_registered_client(
        &self,
        client_id: &str,
        expires_at: Timestamp,
    ) -> impl Future<Output = Stored<()>> + Send;
}
