//! Recovery and change: one-time tokens (their digests) and the account
//! writes of resets, password and e-mail changes, each with its event.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;

use super::{datetime, oid, timestamp, Atomic, MongoStore};
use crate::domain::activity::{Activity, ActivityKind};
use crate::domain::events::Event;
use crate::domain::ports::{
    Account, Accounts, ChangeSide, EmailChangeStep, OneTimeToken, OneTimeTokens, Stored,
    TokenPurpose,
};
use crate::domain::values::{Email, SessionId, Timestamp, UserId};

/// The fields of a pending e-mail change on the user's document.
const PENDING_EMAIL: &str = "pending_email";
const PENDING_NEEDS_CURRENT: &str = "pending_needs_current";
const CONFIRMED_NEW: &str = "pending_confirmed_new";
const CONFIRMED_CURRENT: &str = "pending_confirmed_current";

fn no_pending_change() -> Document {
    doc! {
        PENDING_EMAIL: "", PENDING_NEEDS_CURRENT: "", CONFIRMED_NEW: "", CONFIRMED_CURRENT: "",
    }
}

/// The purposes of the tokens a pending change has out.
fn change_purposes() -> Document {
    doc! { "$in": [
        TokenPurpose::EmailChange.as_str(),
        TokenPurpose::EmailChangeCurrent.as_str(),
        TokenPurpose::EmailChangeCancel.as_str(),
    ] }
}

fn token_from(document: Document) -> Option<OneTimeToken> {
    Some(OneTimeToken {
        digest: document.get_str("_id").ok()?.to_string(),
        user_id: UserId::from_bytes(document.get_object_id("user_id").ok()?.bytes()),
        purpose: TokenPurpose::parse(document.get_str("purpose").ok()?)?,
        email: document.get_str("email").unwrap_or_default().to_string(),
        expires_at: timestamp(*document.get_datetime("expires_at").ok()?),
    })
}

fn account_from(document: Document) -> Option<Account> {
    let text = |field: &str| document.get_str(field).ok().map(str::to_string);
    Some(Account {
        user_id: UserId::from_bytes(document.get_object_id("_id").ok()?.bytes()),
        username: text("username").unwrap_or_default(),
        email: text("email")?,
        email_verified: document.get_bool("email_verified").unwrap_or(false),
        pending_email: text(PENDING_EMAIL),
        pending_needs_current: document.get_bool(PENDING_NEEDS_CURRENT).unwrap_or(false),
        hashed_password: text("hashed_password").unwrap_or_default(),
    })
}

const ACCOUNT_FIELDS: fn() -> Document = || {
    doc! {
        "username": 1, "email": 1, "email_verified": 1, PENDING_EMAIL: 1,
        PENDING_NEEDS_CURRENT: 1, "hashed_password": 1,
    }
};

impl OneTimeTokens for MongoStore {
    async fn insert_token(&self, token: &OneTimeToken) -> Stored<()> {
        self.deployment().await?;
        self.tokens
            .insert_one(doc! {
                "_id": &token.digest,
                "user_id": oid(token.user_id.bytes()),
                "purpose": token.purpose.as_str(),
                "email": &token.email,
                // The TTL index (`one_time_tokens_expire`) removes it then.
                "expires_at": datetime(token.expires_at),
            })
            .await?;
        Ok(())
    }

    async fn find_token(
        &self,
        digest: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Stored<Option<OneTimeToken>> {
        self.deployment().await?;
        let mut filter = token_filter(digest, now);
        filter.insert("purpose", purpose.as_str());
        let found = self.tokens.find_one(filter).await?;
        Ok(found.and_then(token_from))
    }

    async fn take_token(
        &self,
        digest: &str,
        purposes: &[TokenPurpose],
        now: Timestamp,
    ) -> Stored<Option<OneTimeToken>> {
        self.deployment().await?;
        let purposes: Vec<&str> = purposes.iter().map(|purpose| purpose.as_str()).collect();
        let mut filter = token_filter(digest, now);
        filter.insert("purpose", doc! { "$in": purposes });
        // A read, then a delete under the same filter: of two takers only
        // one deletes it. Not findAndModify, which costs a pass over the
        // whole collection on SecantusDB when it matches (docs/performance.md).
        let Some(found) = self.tokens.find_one(filter.clone()).await? else {
            return Ok(None);
        };
        if self.tokens.delete_one(filter).await?.deleted_count == 0 {
            return Ok(None);
        }
        Ok(token_from(found))
    }
}

fn token_filter(digest: &str, now: Timestamp) -> Document {
    doc! {
        "_id": digest,
        // The TTL monitor runs once a minute: an expired token may still be there.
        "expires_at": { "$gt": datetime(now) },
    }
}

impl Accounts for MongoStore {
    async fn find_account(&self, user_id: UserId) -> Stored<Option<Account>> {
        self.deployment().await?;
        let found = self
            .users
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": oid(user_id.bytes()) })
            .projection(ACCOUNT_FIELDS())
            .await?;
        Ok(found.and_then(account_from))
    }

    async fn find_account_by_email(&self, email: &Email) -> Stored<Option<Account>> {
        self.deployment().await?;
        let found = self
            .users
            .clone_with_type::<Document>()
            .find_one(doc! { "email": email.as_str() })
            .projection(ACCOUNT_FIELDS())
            .await?;
        Ok(found.and_then(account_from))
    }

    async fn reset_password(&self, user_id: UserId, new_hash: &str) -> Stored<Option<u64>> {
        let done = self
            .atomically(Atomic::ResetPassword {
                user_id: oid(user_id.bytes()),
                new_hash: new_hash.to_string(),
            })
            .await?;
        Ok(done.checked_sub(1))
    }

    async fn change_password(
        &self,
        user_id: UserId,
        verified_hash: &str,
        new_hash: &str,
        keep: SessionId,
        now: Timestamp,
    ) -> Stored<Option<u64>> {
        let done = self
            .atomically(Atomic::ChangePassword {
                user_id: oid(user_id.bytes()),
                verified_hash: verified_hash.to_string(),
                new_hash: new_hash.to_string(),
                keep: oid(keep.bytes()),
                now: datetime(now),
            })
            .await?;
        Ok(done.checked_sub(1))
    }

    async fn mark_email_verified(&self, user_id: UserId, email: &str) -> Stored<bool> {
        let done = self
            .atomically(Atomic::VerifyEmail {
                user_id: oid(user_id.bytes()),
                email: email.to_string(),
            })
            .await?;
        Ok(done > 0)
    }

    async fn set_pending_email(
        &self,
        user_id: UserId,
        email: &Email,
        needs_current: bool,
    ) -> Stored<bool> {
        self.deployment().await?;
        let updated = self
            .users
            .update_one(
                doc! { "_id": oid(user_id.bytes()) },
                doc! {
                    "$set": { PENDING_EMAIL: email.as_str(), PENDING_NEEDS_CURRENT: needs_current },
                    "$unset": { CONFIRMED_NEW: "", CONFIRMED_CURRENT: "" },
                },
            )
            .await?;
        if updated.matched_count == 0 {
            return Ok(false);
        }
        let requested = Activity::now(user_id, ActivityKind::EmailChangeRequested, None);
        self.record_activity_after(&requested).await;
        Ok(true)
    }

    async fn confirm_email_change(
        &self,
        user_id: UserId,
        email: &str,
        side: ChangeSide,
    ) -> Stored<EmailChangeStep> {
        self.deployment().await?;
        let confirmed = match side {
            ChangeSide::New => CONFIRMED_NEW,
            ChangeSide::Current => CONFIRMED_CURRENT,
        };
        // This side's confirmation, then what both sides have confirmed:
        // an update and a read, not one findAndModify, which costs a pass
        // over the whole collection on SecantusDB when it matches
        // (docs/performance.md).
        let users = self.users.clone_with_type::<Document>();
        let marked = users
            .update_one(
                doc! { "_id": oid(user_id.bytes()), PENDING_EMAIL: email },
                doc! { "$set": { confirmed: true } },
            )
            .await?;
        if marked.matched_count == 0 {
            return Ok(EmailChangeStep::NotPending);
        }
        let found = users
            .find_one(doc! { "_id": oid(user_id.bytes()), PENDING_EMAIL: email })
            .projection(doc! {
                "email": 1, PENDING_NEEDS_CURRENT: 1, CONFIRMED_NEW: 1, CONFIRMED_CURRENT: 1,
            })
            .await?;
        let Some(found) = found else {
            return Ok(EmailChangeStep::NotPending);
        };
        let flag = |field: &str| found.get_bool(field).unwrap_or(false);
        if !flag(CONFIRMED_NEW) || (flag(PENDING_NEEDS_CURRENT) && !flag(CONFIRMED_CURRENT)) {
            return Ok(EmailChangeStep::Waiting);
        }
        let previous = found.get_str("email").unwrap_or_default().to_string();
        let done = self
            .atomically(Atomic::ChangeEmail {
                user_id: oid(user_id.bytes()),
                email: email.to_string(),
            })
            .await?;
        Ok(if done > 0 {
            EmailChangeStep::Applied { previous }
        } else {
            EmailChangeStep::NotPending
        })
    }

    async fn cancel_email_change(&self, user_id: UserId, email: Option<&str>) -> Stored<bool> {
        self.deployment().await?;
        let raw_user_id = user_id;
        let user_id = oid(user_id.bytes());
        let filter = match email {
            Some(email) => doc! { "_id": user_id, PENDING_EMAIL: email },
            None => doc! { "_id": user_id, PENDING_EMAIL: { "$exists": true } },
        };
        let updated = self
            .users
            .update_one(filter, doc! { "$unset": no_pending_change() })
            .await?;
        // After the change is gone, so that its links find nothing pending
        // even if this delete never happens.
        self.tokens
            .delete_many(doc! { "user_id": user_id, "purpose": change_purposes() })
            .await?;
        let cancelled = updated.modified_count > 0;
        if cancelled {
            let entry = Activity::now(raw_user_id, ActivityKind::EmailChangeCancelled, None);
            self.record_activity_after(&entry).await;
        }
        Ok(cancelled)
    }
}

impl MongoStore {
    /// 1 + the sessions ended, or 0 when the user is gone.
    pub(super) async fn reset_password_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        new_hash: &str,
    ) -> Result<u64, MongoError> {
        let updated = in_session!(
            session,
            self.users.update_one(
                doc! { "_id": user_id },
                doc! { "$set": { "hashed_password": new_hash } },
            )
        )?;
        if updated.matched_count == 0 {
            return Ok(0);
        }
        self.void_pending_steps(session.as_deref_mut(), user_id)
            .await?;
        let ended = in_session!(
            session,
            self.sessions.delete_many(doc! { "user_id": user_id })
        )?
        .deleted_count;
        let event = Event::PasswordReset {
            user_id: UserId::from_bytes(user_id.bytes()),
            sessions_ended: ended,
        };
        self.record_event(session, &event).await?;
        Ok(1 + ended)
    }

    /// 1 + the other sessions ended, or 0 when the caller's session is not
    /// open or the hash changed meanwhile.
    pub(super) async fn change_password_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        verified_hash: &str,
        new_hash: &str,
        keep: ObjectId,
        now: DateTime,
    ) -> Result<u64, MongoError> {
        if !self
            .session_is_open_in(session.as_deref_mut(), user_id, keep, now)
            .await?
        {
            return Ok(0);
        }
        let updated = in_session!(
            session,
            self.users.update_one(
                doc! { "_id": user_id, "hashed_password": verified_hash },
                doc! { "$set": { "hashed_password": new_hash } },
            )
        )?;
        if updated.matched_count == 0 {
            return Ok(0);
        }
        self.void_pending_steps(session.as_deref_mut(), user_id)
            .await?;
        let ended = in_session!(
            session,
            self.sessions
                .delete_many(doc! { "user_id": user_id, "_id": { "$ne": keep } })
        )?
        .deleted_count;
        let event = Event::PasswordChanged {
            user_id: UserId::from_bytes(user_id.bytes()),
            sessions_ended: ended,
        };
        self.record_event(session, &event).await?;
        Ok(1 + ended)
    }

    /// The owner's remedies (reset, password change, ending every session)
    /// void what is pending, whoever started it: a pending e-mail change,
    /// every one-time mail token and every `mfa_token` of the user.
    pub(super) async fn void_pending_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
    ) -> Result<(), MongoError> {
        in_session!(
            session,
            self.users.update_one(
                doc! { "_id": user_id, PENDING_EMAIL: { "$exists": true } },
                doc! { "$unset": no_pending_change() },
            )
        )?;
        in_session!(
            session,
            self.tokens.delete_many(doc! { "user_id": user_id })
        )?;
        in_session!(
            session,
            self.mfa_challenges.delete_many(doc! { "user_id": user_id })
        )?;
        Ok(())
    }

    pub(super) async fn verify_email_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        email: &str,
    ) -> Result<u64, MongoError> {
        let updated = in_session!(
            session,
            self.users.update_one(
                doc! { "_id": user_id, "email": email },
                doc! { "$set": { "email_verified": true } },
            )
        )?;
        if updated.matched_count == 0 {
            return Ok(0);
        }
        if updated.modified_count > 0 {
            let event = Event::EmailVerified {
                user_id: UserId::from_bytes(user_id.bytes()),
            };
            self.record_event(session, &event).await?;
        }
        Ok(1)
    }

    /// The unique e-mail index refuses an address another account has (`EmailTaken`).
    pub(super) async fn change_email_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        email: &str,
    ) -> Result<u64, MongoError> {
        let updated = in_session!(
            session,
            self.users.update_one(
                doc! { "_id": user_id, PENDING_EMAIL: email },
                doc! {
                    "$set": { "email": email, "email_verified": true },
                    "$unset": no_pending_change(),
                },
            )
        )?;
        if updated.matched_count == 0 {
            return Ok(0);
        }
        // Every link out was sent for the old address or for this change.
        in_session!(
            session,
            self.tokens.delete_many(doc! { "user_id": user_id })
        )?;
        let event = Event::EmailChanged {
            user_id: UserId::from_bytes(user_id.bytes()),
        };
        self.record_event(session, &event).await?;
        Ok(1)
    }
}
