//! In-memory implementations of the store traits, for unit tests of the use
//! cases without a database. They keep the contracts the MongoDB store keeps
//! (uniqueness, compare-and-swap, all-or-nothing writes with their event), so
//! that a rule tested here behaves the same there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::domain::activity::{Activity, ActivityKind, SecurityActivity, EXPORTED};
use crate::domain::devices::ClientInfo;
use crate::domain::events::Event;
use crate::domain::ports::{
    Account, AccountData, Accounts, AttemptCount, AuthorizationCodes, ChangeSide, CodeRecord,
    ConsentInfo, ConsentView, Consents, Deletions, DynamicClients, EmailChangeStep, Exports,
    FactorInfo, LinkKind, LinkOffer, LinkOffers, LinkTrust, LinkedData, LinkedWrite, LoginAttempts,
    Mail, MailRequest, MailRequests, MailTransport, MfaAccount, MfaChallenge, MfaStore, NewUser,
    OneTimeToken, OneTimeTokens, Outbox, OutboxEntry, Profile, RegisteredClient, RevocationReason,
    SessionRecord, SessionView, Sessions, StoreError, Stored, StoredCredentials, TokenPurpose,
    TotpFactor, Users,
};
use crate::domain::refresh::SessionSecrets;
use crate::domain::sealing::SealedSecret;
use crate::domain::sessions::{Issuer, SessionPolicy};
use crate::domain::tokens::{TokenSettings, TokenSigner, TokenVerifier};
use crate::domain::values::{Email, EventId, ExternalId, SessionId, Timestamp, UserId};
use crate::mail::OutgoingMail;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    users: Vec<UserRow>,
    sessions: Vec<SessionRecord>,
    attempts: HashMap<String, AttemptCount>,
    linked: HashMap<String, Map<String, Value>>,
    outbox: Vec<(OutboxEntry, bool)>,
    /// Each offer with the attempts charged to it.
    offers: Vec<(LinkOffer, i64)>,
    tokens: Vec<OneTimeToken>,
    challenges: Vec<MfaChallenge>,
    codes: Vec<CodeRecord>,
    /// (user, client) → the scopes allowed.
    consents: HashMap<(UserId, String), String>,
    /// Users whose deletion is scheduled, and when (`Deletions`).
    scheduled: HashMap<UserId, Timestamp>,
    registered_clients: Vec<RegisteredClient>,
    /// Security activity, oldest first.
    activity: Vec<Activity>,
}

struct UserRow {
    user: NewUser,
    external_id: Option<String>,
    /// Whether the link was proven (a code or the owning system's message).
    proven: bool,
    email_verified: bool,
    pending: Option<PendingChange>,
    mfa: Option<(TotpFactor, Vec<String>)>,
}

/// A pending e-mail change and who has confirmed it.
struct PendingChange {
    email: String,
    needs_current: bool,
    confirmed_new: bool,
    confirmed_current: bool,
}

impl UserRow {
    /// The external id the profile and the delete cascade follow.
    fn trusted_external_id(&self, trust: LinkTrust) -> Option<&String> {
        self.external_id
            .as_ref()
            .filter(|_| self.proven || trust == LinkTrust::Any)
    }
}

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("no test panics while holding the state")
    }

    /// Records `event` in the outbox, as the stores do with a change.
    pub fn record(&self, event: Event) -> EventId {
        self.state().record(event)
    }

    pub fn events_of_kind(&self, kind: &str) -> usize {
        self.state()
            .outbox
            .iter()
            .filter(|(entry, _)| entry.kind == kind)
            .count()
    }

    pub fn attempt_count(&self, key: &str) -> Option<AttemptCount> {
        self.state().attempts.get(key).copied()
    }

    pub fn linked_record(&self, external_id: &str) -> Option<Map<String, Value>> {
        self.state().linked.get(external_id).cloned()
    }

    /// A registered user, for tests that need one to exist.
    pub fn a_user(&self) -> UserId {
        let id = UserId::new();
        let name = format!("user{}", &id.to_hex()[16..]);
        self.state().users.push(UserRow {
            user: NewUser {
                id,
                username: crate::domain::values::Username::parse(&name).expect("a valid name"),
                email: Email::parse(&format!("{name}@example.com")).expect("a valid e-mail"),
                hashed_password: String::new(),
                created_at: Timestamp::now(),
            },
            external_id: None,
            proven: false,
            email_verified: false,
            pending: None,
            mfa: None,
        });
        id
    }

    pub fn open_sessions(&self, user_id: UserId) -> usize {
        self.state()
            .sessions
            .iter()
            .filter(|session| session.user_id == user_id)
            .count()
    }
}

impl State {
    fn record(&mut self, event: Event) -> EventId {
        let id = EventId::new();
        let entry = OutboxEntry {
            id,
            kind: event.kind().to_string(),
            occurred_at: Timestamp::now(),
            detail: event.detail(),
        };
        self.outbox.push((entry, false));
        self.activity.extend(event.activity());
        id
    }

    /// What the owner's remedies void (`Accounts::reset_password`).
    fn void_pending(&mut self, user_id: UserId) {
        if let Some(row) = self.users.iter_mut().find(|row| row.user.id == user_id) {
            row.pending = None;
        }
        self.tokens.retain(|t| t.user_id != user_id);
        self.challenges.retain(|c| c.user_id != user_id);
    }

    fn open(&self, user_id: UserId, session: SessionId, now: Timestamp) -> bool {
        self.sessions
            .iter()
            .any(|s| s.id == session && s.user_id == user_id && s.expires_at > now)
    }
}

fn version_of(record: &Map<String, Value>) -> Option<i64> {
    record.get("version").and_then(Value::as_i64)
}

impl Users for MemoryStore {
    async fn insert_user(&self, user: NewUser) -> Stored<()> {
        let mut state = self.state();
        if state.users.iter().any(|row| row.user.email == user.email) {
            return Err(StoreError::EmailTaken);
        }
        if state
            .users
            .iter()
            .any(|row| row.user.username.key() == user.username.key())
        {
            return Err(StoreError::UsernameTaken);
        }
        let user_id = user.id;
        state.users.push(UserRow {
            user,
            external_id: None,
            proven: false,
            email_verified: false,
            pending: None,
            mfa: None,
        });
        state.record(Event::UserRegistered { user_id });
        Ok(())
    }

    async fn find_credentials(&self, email: &Email) -> Stored<Option<StoredCredentials>> {
        let state = self.state();
        let state_scheduled = &state.scheduled;
        Ok(state
            .users
            .iter()
            .find(|row| &row.user.email == email)
            .map(|row| StoredCredentials {
                deletion_scheduled_for: state_scheduled.get(&row.user.id).copied(),
                user_id: row.user.id,
                hashed_password: row.user.hashed_password.clone(),
                email_verified: row.email_verified,
                mfa: row.mfa.as_ref().is_some_and(|(factor, _)| factor.confirmed),
            }))
    }

    async fn replace_password_hash(
        &self,
        user_id: UserId,
        verified_hash: &str,
        new_hash: &str,
    ) -> Stored<()> {
        let mut state = self.state();
        if let Some(row) = state
            .users
            .iter_mut()
            .find(|row| row.user.id == user_id && row.user.hashed_password == verified_hash)
        {
            row.user.hashed_password = new_hash.to_string();
        }
        Ok(())
    }

    async fn link_external_id(
        &self,
        user_id: UserId,
        external_id: &ExternalId,
        how: LinkKind,
    ) -> Stored<bool> {
        let mut state = self.state();
        if !state.users.iter().any(|row| row.user.id == user_id) {
            return Ok(false);
        }
        let holder = state.users.iter().position(|row| {
            row.user.id != user_id && row.external_id.as_deref() == Some(external_id.as_str())
        });
        if let Some(holder) = holder {
            if how != LinkKind::Authoritative {
                return Err(StoreError::ExternalIdTaken);
            }
            let row = &mut state.users[holder];
            row.external_id = None;
            row.proven = false;
            let unlinked = row.user.id;
            state.record(Event::ExternalIdUnlinked {
                user_id: unlinked,
                external_id: external_id.as_str().to_string(),
            });
        }
        let proven = how != LinkKind::Claimed;
        let row = state
            .users
            .iter_mut()
            .find(|row| row.user.id == user_id)
            .expect("checked above");
        let previous = row.external_id.replace(external_id.as_str().to_string());
        let was_proven = std::mem::replace(&mut row.proven, proven);
        if previous.as_deref() != Some(external_id.as_str()) || was_proven != proven {
            state.record(Event::ExternalIdLinked {
                user_id,
                external_id: external_id.as_str().to_string(),
                previous_external_id: previous,
                proven,
            });
        }
        Ok(true)
    }

    async fn full_profile(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        trust: LinkTrust,
    ) -> Stored<Option<Profile>> {
        let state = self.state();
        if !state.open(user_id, session, now) {
            return Ok(None);
        }
        let Some(row) = state.users.iter().find(|row| row.user.id == user_id) else {
            return Ok(None);
        };
        let linked_data = row
            .trusted_external_id(trust)
            .and_then(|id| state.linked.get(id).map(|record| (id, record)))
            .filter(|(_, record)| !record.contains_key("deleted_at"))
            .map(|(id, record)| {
                let mut shown = Map::new();
                shown.insert("_id".into(), json!(id));
                shown.extend(record.clone());
                Value::Object(shown)
            })
            .into_iter()
            .collect();
        Ok(Some(Profile {
            id: user_id,
            username: row.user.username.as_str().to_string(),
            email: row.user.email.as_str().to_string(),
            external_id: row.trusted_external_id(trust).cloned(),
            created_at: format!("@{}", row.user.created_at.as_millis()),
            linked_data,
            email_verified: row.email_verified,
        }))
    }

    async fn delete_user(
        &self,
        user_id: UserId,
        session: Option<SessionId>,
        now: Timestamp,
        trust: LinkTrust,
    ) -> Stored<bool> {
        let mut state = self.state();
        if session.is_some_and(|session| !state.open(user_id, session, now)) {
            return Ok(false);
        }
        Ok(state.delete_cascade(user_id, now, trust))
    }
}

impl State {
    /// The one delete cascade: the immediate delete, the erasure and the
    /// scheduled purge all run it.
    fn delete_cascade(&mut self, user_id: UserId, now: Timestamp, trust: LinkTrust) -> bool {
        let state = self;
        let Some(index) = state.users.iter().position(|row| row.user.id == user_id) else {
            return false;
        };
        let row = state.users.remove(index);
        state.consents.retain(|(user, _), _| *user != user_id);
        let external_id = row.trusted_external_id(trust).cloned();
        if let Some(external_id) = &external_id {
            // A versioned record leaves its tombstone, so that a late, older
            // upsert cannot bring the data back.
            match state.linked.get(external_id).and_then(version_of) {
                Some(version) => {
                    let tombstone = json!({ "version": version, "deleted_at": now.as_millis() });
                    state.linked.insert(
                        external_id.clone(),
                        tombstone.as_object().cloned().unwrap_or_default(),
                    );
                }
                None => {
                    state.linked.remove(external_id);
                }
            }
        }
        state.sessions.retain(|s| s.user_id != user_id);
        state.activity.retain(|entry| entry.user_id != user_id);
        state.scheduled.remove(&user_id);
        state.record(Event::UserDeleted {
            user_id,
            external_id,
        });
        true
    }
}

impl Deletions for MemoryStore {
    async fn schedule_deletion(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        until: Timestamp,
    ) -> Stored<bool> {
        let mut state = self.state();
        if !state.open(user_id, session, now) || state.scheduled.contains_key(&user_id) {
            return Ok(false);
        }
        state.scheduled.insert(user_id, until);
        state.sessions.retain(|s| s.user_id != user_id);
        state.record(Event::UserDeletionScheduled {
            user_id,
            deletion_scheduled_for: until,
        });
        Ok(true)
    }

    async fn cancel_deletion(&self, user_id: UserId, now: Timestamp) -> Stored<bool> {
        let mut state = self.state();
        if state
            .scheduled
            .get(&user_id)
            .is_none_or(|until| *until <= now)
        {
            return Ok(false);
        }
        state.scheduled.remove(&user_id);
        state.record(Event::UserDeletionCancelled { user_id });
        Ok(true)
    }

    async fn due_deletions(&self, now: Timestamp, limit: usize) -> Stored<Vec<UserId>> {
        let state = self.state();
        let mut due: Vec<(Timestamp, UserId)> = state
            .scheduled
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(user_id, until)| (*until, *user_id))
            .collect();
        due.sort_by_key(|(until, user_id)| (*until, user_id.to_hex()));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|(_, user_id)| user_id)
            .collect())
    }

    async fn purge_user(&self, user_id: UserId, now: Timestamp, trust: LinkTrust) -> Stored<bool> {
        let mut state = self.state();
        if state
            .scheduled
            .get(&user_id)
            .is_none_or(|until| *until > now)
        {
            return Ok(false);
        }
        Ok(state.delete_cascade(user_id, now, trust))
    }
}

impl SecurityActivity for MemoryStore {
    async fn recent_activity(&self, user_id: UserId, limit: usize) -> Stored<Vec<Activity>> {
        Ok(self
            .state()
            .activity
            .iter()
            .rev()
            .filter(|entry| entry.user_id == user_id)
            .take(limit)
            .cloned()
            .collect())
    }
}

impl Exports for MemoryStore {
    async fn account_data(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        trust: LinkTrust,
    ) -> Stored<Option<AccountData>> {
        let Some(profile) = self.full_profile(user_id, session, now, trust).await? else {
            return Ok(None);
        };
        let sessions = self.list_sessions(user_id, now, 1000).await?;
        let activity = self.recent_activity(user_id, EXPORTED).await?;
        let state = self.state();
        let Some(row) = state.users.iter().find(|row| row.user.id == user_id) else {
            return Ok(None);
        };
        let mut consents: Vec<ConsentInfo> = state
            .consents
            .iter()
            .filter(|((user, _), _)| *user == user_id)
            .map(|((_, client_id), scope)| ConsentInfo {
                client_id: client_id.clone(),
                scope: scope.clone(),
                granted_at: None,
            })
            .collect();
        consents.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(Some(AccountData {
            profile,
            pending_email: row.pending.as_ref().map(|pending| pending.email.clone()),
            deletion_scheduled_for: state.scheduled.get(&user_id).copied(),
            sessions,
            second_factor: row.mfa.as_ref().map(|(factor, codes)| FactorInfo {
                confirmed: factor.confirmed,
                recovery_codes_left: codes.len() as u64,
            }),
            // This store keeps no passkeys (`crate::passkeys` needs MongoDB).
            passkeys: Vec::new(),
            consents,
            activity,
        }))
    }

    async fn record_export(&self, user_id: UserId, bytes: u64) -> Stored<()> {
        self.state()
            .record(Event::AccountExported { user_id, bytes });
        Ok(())
    }
}

impl Sessions for MemoryStore {
    async fn insert_session(&self, session: &SessionRecord) -> Stored<bool> {
        let mut state = self.state();
        // No session for an account scheduled for deletion, as for one deleted.
        if !state.users.iter().any(|row| row.user.id == session.user_id)
            || state.scheduled.contains_key(&session.user_id)
        {
            return Ok(false);
        }
        state.sessions.push(session.clone());
        let app = session
            .grant
            .as_ref()
            .map(|grant| grant.client_name.as_str());
        let entry = Activity::sign_in(
            session.user_id,
            &session.auth,
            app,
            &session.created_from,
            session.created_at,
        );
        state.activity.push(entry);
        Ok(true)
    }

    async fn find_session(&self, id: SessionId, now: Timestamp) -> Stored<Option<SessionRecord>> {
        Ok(self
            .state()
            .sessions
            .iter()
            .find(|s| s.id == id && s.expires_at > now)
            .cloned())
    }

    async fn rotate_session(
        &self,
        session: &SessionRecord,
        from_digest: &str,
        to_digest: &str,
        now: Timestamp,
        expires_at: Timestamp,
        used_from: &ClientInfo,
    ) -> Stored<Option<SessionRecord>> {
        let mut state = self.state();
        let Some(stored) = state
            .sessions
            .iter_mut()
            .find(|s| s.id == session.id && s.refresh_digest == from_digest)
        else {
            return Ok(None);
        };
        stored.refresh_digest = to_digest.to_string();
        stored.generation = session.generation + 1;
        stored.rotated_at = now;
        stored.expires_at = expires_at;
        stored.last_used_from = used_from.clone();
        Ok(Some(stored.clone()))
    }

    async fn end_session(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Stored<bool> {
        let mut state = self.state();
        let open = state.open(user_id, session, now);
        state.sessions.retain(|s| s.id != session);
        Ok(open)
    }

    async fn revoke_sessions(
        &self,
        user_id: UserId,
        only: Option<SessionId>,
        reason: RevocationReason,
    ) -> Stored<u64> {
        let mut state = self.state();
        if only.is_none() {
            state.void_pending(user_id);
        }
        let before = state.sessions.len();
        state
            .sessions
            .retain(|s| !(s.user_id == user_id && only.is_none_or(|id| id == s.id)));
        let ended = (before - state.sessions.len()) as u64;
        if ended > 0 {
            state.record(Event::SessionsRevoked {
                user_id,
                reason,
                sessions_ended: ended,
            });
        }
        Ok(ended)
    }

    async fn session_is_open(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Stored<bool> {
        Ok(self.state().open(user_id, session, now))
    }

    async fn list_sessions(
        &self,
        user_id: UserId,
        now: Timestamp,
        limit: usize,
    ) -> Stored<Vec<SessionView>> {
        let mut open: Vec<SessionView> = self
            .state()
            .sessions
            .iter()
            .filter(|s| s.user_id == user_id && s.expires_at > now)
            .map(|s| SessionView {
                id: s.id,
                created_at: s.created_at,
                last_used_at: s.rotated_at,
                created_from: s.created_from.clone(),
                last_used_from: s.last_used_from.clone(),
                client_name: s.grant.as_ref().map(|grant| grant.client_name.clone()),
                client_id: s.grant.as_ref().map(|grant| grant.client_id.clone()),
            })
            .collect();
        open.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        open.truncate(limit);
        Ok(open)
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        session: SessionId,
        reason: RevocationReason,
        now: Timestamp,
    ) -> Stored<bool> {
        let mut state = self.state();
        if !state.open(user_id, session, now) {
            return Ok(false);
        }
        state.sessions.retain(|s| s.id != session);
        state.record(Event::SessionEnded {
            user_id,
            session_id: session,
            reason,
        });
        Ok(true)
    }
}

impl Consents for MemoryStore {
    async fn consented_scope(&self, user_id: UserId, client_id: &str) -> Stored<Option<String>> {
        Ok(self
            .state()
            .consents
            .get(&(user_id, client_id.to_string()))
            .cloned())
    }

    async fn record_consent(
        &self,
        user_id: UserId,
        client_id: &str,
        scope: &str,
        _now: Timestamp,
    ) -> Stored<()> {
        self.state()
            .consents
            .insert((user_id, client_id.to_string()), scope.to_string());
        Ok(())
    }

    async fn list_consents(&self, user_id: UserId, limit: usize) -> Stored<Vec<ConsentView>> {
        let mut listed: Vec<ConsentView> = self
            .state()
            .consents
            .iter()
            .filter(|((user, _), _)| *user == user_id)
            .map(|((_, client_id), scope)| ConsentView {
                client_id: client_id.clone(),
                scope: scope.clone(),
                granted_at: Timestamp::from_millis(0),
            })
            .collect();
        listed.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        listed.truncate(limit);
        Ok(listed)
    }

    async fn delete_consent(&self, user_id: UserId, client_id: &str) -> Stored<()> {
        self.state()
            .consents
            .remove(&(user_id, client_id.to_string()));
        Ok(())
    }
}

impl DynamicClients for MemoryStore {
    async fn insert_registered_client(&self, client: &RegisteredClient) -> Stored<()> {
        self.state().registered_clients.push(client.clone());
        Ok(())
    }

    async fn find_registered_client(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> Stored<Option<RegisteredClient>> {
        Ok(self
            .state()
            .registered_clients
            .iter()
            .find(|client| client.client_id == client_id && client.expires_at > now)
            .cloned())
    }

    async fn touch_registered_client(&self, client_id: &str, expires_at: Timestamp) -> Stored<()> {
        let mut state = self.state();
        if let Some(client) = state
            .registered_clients
            .iter_mut()
            .find(|client| client.client_id == client_id)
        {
            client.expires_at = expires_at;
        }
        Ok(())
    }
}

impl AuthorizationCodes for MemoryStore {
    async fn insert_code(&self, code: &CodeRecord) -> Stored<()> {
        self.state().codes.push(code.clone());
        Ok(())
    }

    async fn find_code(&self, digest: &str) -> Stored<Option<CodeRecord>> {
        Ok(self
            .state()
            .codes
            .iter()
            .find(|code| code.digest == digest)
            .cloned())
    }

    async fn spend_code(&self, digest: &str, session: SessionId) -> Stored<bool> {
        let mut state = self.state();
        match state
            .codes
            .iter_mut()
            .find(|code| code.digest == digest && code.spent_by.is_none())
        {
            Some(code) => {
                code.spent_by = Some(session);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl LoginAttempts for MemoryStore {
    async fn insert_count(&self, key: &str, count: AttemptCount) -> Stored<bool> {
        let mut state = self.state();
        if state.attempts.contains_key(key) {
            return Ok(false);
        }
        state.attempts.insert(key.to_string(), count);
        Ok(true)
    }

    async fn find_count(&self, key: &str) -> Stored<Option<AttemptCount>> {
        Ok(self.state().attempts.get(key).copied())
    }

    async fn replace_count(
        &self,
        key: &str,
        expected_failures: i64,
        count: AttemptCount,
    ) -> Stored<bool> {
        let mut state = self.state();
        match state.attempts.get_mut(key) {
            Some(stored) if stored.failures == expected_failures => {
                *stored = count;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn count_if_under(
        &self,
        key: &str,
        limit: i64,
        now: Timestamp,
        window_end: Timestamp,
    ) -> Stored<bool> {
        let mut state = self.state();
        match state.attempts.get_mut(key) {
            Some(count) if count.forget_at > now && count.failures < limit => {
                count.failures += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => {
                let first = AttemptCount {
                    failures: 1,
                    locked_until: None,
                    forget_at: window_end,
                };
                state.attempts.insert(key.to_string(), first);
                Ok(true)
            }
        }
    }

    async fn clear_count(&self, key: &str) -> Stored<()> {
        self.state().attempts.remove(key);
        Ok(())
    }

    async fn release_count(&self, key: &str) -> Stored<()> {
        if let Some(count) = self.state().attempts.get_mut(key) {
            count.failures = (count.failures - 1).max(0);
        }
        Ok(())
    }
}

impl LinkedData for MemoryStore {
    async fn upsert_linked(
        &self,
        external_id: &ExternalId,
        data: Map<String, Value>,
        version: i64,
    ) -> Stored<LinkedWrite> {
        let mut record = data;
        record.insert("version".into(), json!(version));
        Ok(self.replace_if_newer(external_id, version, record))
    }

    async fn delete_linked(&self, external_id: &ExternalId, version: i64) -> Stored<LinkedWrite> {
        let tombstone = json!({ "version": version, "deleted_at": Timestamp::now().as_millis() });
        Ok(self.replace_if_newer(
            external_id,
            version,
            tombstone.as_object().cloned().unwrap_or_default(),
        ))
    }
}

impl MemoryStore {
    fn replace_if_newer(
        &self,
        external_id: &ExternalId,
        version: i64,
        record: Map<String, Value>,
    ) -> LinkedWrite {
        let mut state = self.state();
        let older = state
            .linked
            .get(external_id.as_str())
            .is_none_or(|stored| version_of(stored).is_none_or(|stored| stored < version));
        if older {
            state
                .linked
                .insert(external_id.as_str().to_string(), record);
            LinkedWrite::Applied
        } else {
            LinkedWrite::Stale
        }
    }
}

impl Outbox for MemoryStore {
    async fn unpublished(&self, limit: usize) -> Stored<Vec<OutboxEntry>> {
        Ok(self
            .state()
            .outbox
            .iter()
            .filter(|(_, published)| !published)
            .take(limit)
            .map(|(entry, _)| entry.clone())
            .collect())
    }

    async fn count_unpublished(&self) -> Stored<u64> {
        Ok(self
            .state()
            .outbox
            .iter()
            .filter(|(_, published)| !published)
            .count() as u64)
    }

    async fn mark_published(&self, ids: &[EventId]) -> Stored<()> {
        for (entry, published) in self.state().outbox.iter_mut() {
            if ids.contains(&entry.id) {
                *published = true;
            }
        }
        Ok(())
    }
}

impl LinkOffers for MemoryStore {
    async fn offer_link(&self, offer: &LinkOffer) -> Stored<()> {
        let mut state = self.state();
        state
            .offers
            .retain(|(stored, _)| stored.code_sha256 != offer.code_sha256);
        state.offers.push((offer.clone(), 0));
        Ok(())
    }

    async fn redeem_link_offer(
        &self,
        external_id: &ExternalId,
        code_sha256: &str,
        max_attempts: i64,
        now: Timestamp,
    ) -> Stored<bool> {
        let mut state = self.state();
        let live = |offer: &LinkOffer| &offer.external_id == external_id && offer.expires_at > now;
        for (offer, attempts) in state.offers.iter_mut() {
            if live(offer) {
                *attempts += 1;
            }
        }
        let found = state.offers.iter().position(|(offer, attempts)| {
            offer.code_sha256 == code_sha256 && live(offer) && *attempts <= max_attempts
        });
        if let Some(index) = found {
            state.offers.remove(index);
            return Ok(true);
        }
        state.offers.retain(|(offer, attempts)| {
            !(&offer.external_id == external_id && *attempts >= max_attempts)
        });
        Ok(false)
    }
}

impl UserRow {
    fn account(&self) -> Account {
        Account {
            user_id: self.user.id,
            username: self.user.username.as_str().to_string(),
            email: self.user.email.as_str().to_string(),
            email_verified: self.email_verified,
            pending_email: self.pending.as_ref().map(|p| p.email.clone()),
            pending_needs_current: self.pending.as_ref().is_some_and(|p| p.needs_current),
            hashed_password: self.user.hashed_password.clone(),
        }
    }
}

impl OneTimeTokens for MemoryStore {
    async fn insert_token(&self, token: &OneTimeToken) -> Stored<()> {
        self.state().tokens.push(token.clone());
        Ok(())
    }

    async fn find_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Stored<Option<OneTimeToken>> {
        Ok(self
            .state()
            .tokens
            .iter()
            .find(|t| t.digest == digest && t.purpose == purpose && t.expires_at > now)
            .cloned())
    }

    async fn take_token(
        &self,
        digest: &str,
        purposes: &[TokenPurpose],
        now: Timestamp,
    ) -> Stored<Option<OneTimeToken>> {
        let mut state = self.state();
        let found = state.tokens.iter().position(|t| {
            t.digest == digest && purposes.contains(&t.purpose) && t.expires_at > now
        });
        Ok(found.map(|index| state.tokens.remove(index)))
    }
}

impl Accounts for MemoryStore {
    async fn find_account(&self, user_id: UserId) -> Stored<Option<Account>> {
        let state = self.state();
        Ok(state
            .users
            .iter()
            .find(|row| row.user.id == user_id)
            .map(UserRow::account))
    }

    async fn find_account_by_email(&self, email: &Email) -> Stored<Option<Account>> {
        let state = self.state();
        Ok(state
            .users
            .iter()
            .find(|row| &row.user.email == email)
            .map(UserRow::account))
    }

    async fn reset_password(&self, user_id: UserId, new_hash: &str) -> Stored<Option<u64>> {
        let mut state = self.state();
        let Some(row) = state.users.iter_mut().find(|row| row.user.id == user_id) else {
            return Ok(None);
        };
        row.user.hashed_password = new_hash.to_string();
        state.void_pending(user_id);
        let before = state.sessions.len();
        state.sessions.retain(|s| s.user_id != user_id);
        let ended = (before - state.sessions.len()) as u64;
        state.record(Event::PasswordReset {
            user_id,
            sessions_ended: ended,
        });
        Ok(Some(ended))
    }

    async fn change_password(
        &self,
        user_id: UserId,
        verified_hash: &str,
        new_hash: &str,
        keep: SessionId,
        now: Timestamp,
    ) -> Stored<Option<u64>> {
        let mut state = self.state();
        if !state.open(user_id, keep, now) {
            return Ok(None);
        }
        let Some(row) = state
            .users
            .iter_mut()
            .find(|row| row.user.id == user_id && row.user.hashed_password == verified_hash)
        else {
            return Ok(None);
        };
        row.user.hashed_password = new_hash.to_string();
        state.void_pending(user_id);
        let before = state.sessions.len();
        state
            .sessions
            .retain(|s| s.user_id != user_id || s.id == keep);
        let ended = (before - state.sessions.len()) as u64;
        state.record(Event::PasswordChanged {
            user_id,
            sessions_ended: ended,
        });
        Ok(Some(ended))
    }

    async fn mark_email_verified(&self, user_id: UserId, email: &str) -> Stored<bool> {
        let mut state = self.state();
        let Some(row) = state
            .users
            .iter_mut()
            .find(|row| row.user.id == user_id && row.user.email.as_str() == email)
        else {
            return Ok(false);
        };
        let newly = !row.email_verified;
        row.email_verified = true;
        if newly {
            state.record(Event::EmailVerified { user_id });
        }
        Ok(true)
    }

    async fn set_pending_email(
        &self,
        user_id: UserId,
        email: &Email,
        needs_current: bool,
    ) -> Stored<bool> {
        let mut state = self.state();
        let Some(row) = state.users.iter_mut().find(|row| row.user.id == user_id) else {
            return Ok(false);
        };
        row.pending = Some(PendingChange {
            email: email.as_str().to_string(),
            needs_current,
            confirmed_new: false,
            confirmed_current: false,
        });
        state.activity.push(Activity::now(
            user_id,
            ActivityKind::EmailChangeRequested,
            None,
        ));
        Ok(true)
    }

    async fn confirm_email_change(
        &self,
        user_id: UserId,
        email: &str,
        side: ChangeSide,
    ) -> Stored<EmailChangeStep> {
        let mut state = self.state();
        let Some(index) = state.users.iter().position(|row| {
            row.user.id == user_id && row.pending.as_ref().is_some_and(|p| p.email == email)
        }) else {
            return Ok(EmailChangeStep::NotPending);
        };
        let pending = state.users[index].pending.as_mut().expect("found pending");
        match side {
            ChangeSide::New => pending.confirmed_new = true,
            ChangeSide::Current => pending.confirmed_current = true,
        }
        if !pending.confirmed_new || (pending.needs_current && !pending.confirmed_current) {
            return Ok(EmailChangeStep::Waiting);
        }
        if state
            .users
            .iter()
            .any(|row| row.user.id != user_id && row.user.email.as_str() == email)
        {
            return Err(StoreError::EmailTaken);
        }
        let row = &mut state.users[index];
        let previous = row.user.email.as_str().to_string();
        row.user.email = Email::parse(email).map_err(|error| StoreError::Failed(error.message))?;
        row.email_verified = true;
        row.pending = None;
        state.tokens.retain(|t| t.user_id != user_id);
        state.record(Event::EmailChanged { user_id });
        Ok(EmailChangeStep::Applied { previous })
    }

    async fn cancel_email_change(&self, user_id: UserId, email: Option<&str>) -> Stored<bool> {
        let mut state = self.state();
        let Some(row) = state.users.iter_mut().find(|row| {
            row.user.id == user_id
                && row
                    .pending
                    .as_ref()
                    .is_some_and(|p| email.is_none_or(|email| p.email == email))
        }) else {
            return Ok(false);
        };
        row.pending = None;
        let change = [
            TokenPurpose::EmailChange,
            TokenPurpose::EmailChangeCurrent,
            TokenPurpose::EmailChangeCancel,
        ];
        state
            .tokens
            .retain(|t| !(t.user_id == user_id && change.contains(&t.purpose)));
        state.activity.push(Activity::now(
            user_id,
            ActivityKind::EmailChangeCancelled,
            None,
        ));
        Ok(true)
    }
}

/// The web app of the links in the mails `MemoryMail` renders.
pub const TEST_APP_BASE_URL: &str = "https://app.example.com";

/// The mail queue and transport in memory: requests wait until taken, sent
/// mails are kept.
#[derive(Default)]
pub struct MemoryMail {
    requests: Mutex<Vec<MailRequest>>,
    sent: Mutex<Vec<OutgoingMail>>,
}

impl MemoryMail {
    pub fn requests(&self) -> Vec<MailRequest> {
        self.requests.lock().expect("not poisoned").clone()
    }

    pub fn take_requests(&self) -> Vec<MailRequest> {
        std::mem::take(&mut *self.requests.lock().expect("not poisoned"))
    }

    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.sent.lock().expect("not poisoned").clone()
    }

    /// The tokens of the links in the mails sent so far, in order.
    /// The token of the latest link to `/{page}?token=` in any sent mail.
    pub fn link_token(&self, page: &str) -> Option<String> {
        let marker = format!("/{page}?token=");
        self.sent().iter().rev().find_map(|mail| {
            let (_, rest) = mail.text.split_once(&marker)?;
            Some(rest.split_whitespace().next()?.to_string())
        })
    }

    pub fn tokens(&self) -> Vec<String> {
        self.sent()
            .iter()
            .filter_map(|mail| {
                let (_, rest) = mail.text.split_once("?token=")?;
                Some(rest.split_whitespace().next()?.to_string())
            })
            .collect()
    }
}

impl MailRequests for MemoryMail {
    async fn request_mail(&self, request: &MailRequest) -> Result<(), String> {
        self.requests
            .lock()
            .expect("not poisoned")
            .push(request.clone());
        Ok(())
    }
}

impl MailTransport for MemoryMail {
    /// Rendered as `send-mail` would, with links under `TEST_APP_BASE_URL`.
    async fn send_mail(&self, mail: &Mail) -> Result<String, String> {
        let mut sent = self.sent.lock().expect("not poisoned");
        sent.push(crate::mail::render(mail, TEST_APP_BASE_URL));
        Ok(format!("memory-{}", sent.len()))
    }
}

/// One key set per test process: RSA key generation is slow.
fn test_keys() -> &'static crate::domain::keys::KeySet {
    static KEYS: std::sync::OnceLock<crate::domain::keys::KeySet> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        crate::keygen::next_key_set(None, 0, std::time::Duration::ZERO).expect("RSA keys generate")
    })
}

fn test_token_settings() -> TokenSettings {
    TokenSettings {
        issuer: "http://127.0.0.1:9000".into(),
        audience: "user-management-api".into(),
        access_token_ttl: Duration::from_secs(1800),
    }
}

/// An issuer with the test key set, 30-minute access tokens, 30-day sessions
/// capped at 90 days, and a 10-second grace window (the defaults).
pub fn test_issuer() -> Issuer {
    use secrecy::ExposeSecret;
    Issuer {
        signer: TokenSigner::new(&test_token_settings(), test_keys().current()),
        verifier: TokenVerifier::new(&test_token_settings(), &test_keys().public()),
        policy: SessionPolicy {
            secrets: SessionSecrets::new(test_keys().refresh_token_key.expose_secret()),
            lifetime: Duration::from_secs(30 * 86_400),
            max_lifetime: Duration::from_secs(90 * 86_400),
            grace: Duration::from_secs(10),
        },
    }
}

/// The verifier of `test_issuer`'s tokens.
pub fn test_verifier() -> TokenVerifier {
    TokenVerifier::new(&test_token_settings(), &test_keys().public())
}

impl State {
    fn factor_of(&mut self, user_id: UserId) -> Option<&mut Option<(TotpFactor, Vec<String>)>> {
        self.users
            .iter_mut()
            .find(|row| row.user.id == user_id)
            .map(|row| &mut row.mfa)
    }
}

impl MfaStore for MemoryStore {
    async fn mfa_account(&self, user_id: UserId) -> Stored<Option<MfaAccount>> {
        Ok(self
            .state()
            .users
            .iter()
            .find(|row| row.user.id == user_id)
            .map(|row| MfaAccount {
                user_id,
                email: row.user.email.as_str().to_string(),
                hashed_password: row.user.hashed_password.clone(),
                factor: row.mfa.as_ref().map(|(factor, _)| factor.clone()),
            }))
    }

    async fn put_pending_factor(&self, user_id: UserId, sealed: &SealedSecret) -> Stored<bool> {
        let mut state = self.state();
        match state.factor_of(user_id) {
            Some(mfa) if !mfa.as_ref().is_some_and(|(factor, _)| factor.confirmed) => {
                let factor = TotpFactor {
                    sealed: sealed.clone(),
                    confirmed: false,
                    last_step: -1,
                };
                *mfa = Some((factor, Vec::new()));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn confirm_factor(
        &self,
        user_id: UserId,
        sealed: &SealedSecret,
        step: i64,
        recovery_sha256: &[String],
    ) -> Stored<bool> {
        let mut state = self.state();
        let Some(Some((factor, codes))) = state.factor_of(user_id) else {
            return Ok(false);
        };
        if factor.confirmed || &factor.sealed != sealed {
            return Ok(false);
        }
        factor.confirmed = true;
        factor.last_step = step;
        *codes = recovery_sha256.to_vec();
        state.record(Event::MfaEnabled { user_id });
        Ok(true)
    }

    async fn accept_step(&self, user_id: UserId, step: i64) -> Stored<bool> {
        let mut state = self.state();
        match state.factor_of(user_id) {
            Some(Some((factor, _))) if factor.confirmed && factor.last_step < step => {
                factor.last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_recovery_code(&self, user_id: UserId, code_sha256: &str) -> Stored<bool> {
        let mut state = self.state();
        let Some(Some((factor, codes))) = state.factor_of(user_id) else {
            return Ok(false);
        };
        let Some(index) = codes.iter().position(|code| code == code_sha256) else {
            return Ok(false);
        };
        if !factor.confirmed {
            return Ok(false);
        }
        codes.remove(index);
        let codes_left = codes.len() as u64;
        state.record(Event::RecoveryCodeUsed {
            user_id,
            codes_left,
        });
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        recovery_sha256: &[String],
    ) -> Stored<bool> {
        let mut state = self.state();
        match state.factor_of(user_id) {
            Some(Some((factor, codes))) if factor.confirmed => {
                *codes = recovery_sha256.to_vec();
                state.activity.push(Activity::now(
                    user_id,
                    ActivityKind::RecoveryCodesRegenerated,
                    None,
                ));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_factor(&self, user_id: UserId) -> Stored<bool> {
        let mut state = self.state();
        let Some(mfa) = state.factor_of(user_id) else {
            return Ok(false);
        };
        let was_confirmed = mfa.take().is_some_and(|(factor, _)| factor.confirmed);
        if was_confirmed {
            state.record(Event::MfaDisabled { user_id });
        }
        Ok(was_confirmed)
    }

    async fn insert_challenge(&self, challenge: &MfaChallenge) -> Stored<()> {
        self.state().challenges.push(challenge.clone());
        Ok(())
    }

    async fn charge_challenge(
        &self,
        token_sha256: &str,
        now: Timestamp,
        max_attempts: i64,
    ) -> Stored<Option<MfaChallenge>> {
        let mut state = self.state();
        let found = state.challenges.iter_mut().find(|challenge| {
            challenge.token_sha256 == token_sha256
                && challenge.expires_at > now
                && challenge.attempts < max_attempts
        });
        Ok(found.map(|challenge| {
            challenge.attempts += 1;
            challenge.clone()
        }))
    }

    async fn open_challenge(
        &self,
        token_sha256: &str,
        now: Timestamp,
        max_attempts: i64,
    ) -> Stored<Option<MfaChallenge>> {
        let state = self.state();
        Ok(state
            .challenges
            .iter()
            .find(|challenge| {
                challenge.token_sha256 == token_sha256
                    && challenge.expires_at > now
                    && challenge.attempts < max_attempts
            })
            .cloned())
    }

    async fn take_challenge(&self, token_sha256: &str) -> Stored<bool> {
        let mut state = self.state();
        let before = state.challenges.len();
        state
            .challenges
            .retain(|challenge| challenge.token_sha256 != token_sha256);
        Ok(state.challenges.len() < before)
    }
}
