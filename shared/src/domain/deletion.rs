//! Deletion with a grace period (issue #24): `DELETION_GRACE_DAYS` of 0
//! deletes at once (the original contract); more schedules the deletion,
//! ends every session and mails a restore link. `purge_due` (the scheduled
//! `purge-deletions` function) then deletes what is due with the same
//! cascade as the immediate delete (`Users::delete_user`).

use std::time::Duration;

use super::accounts;
use super::audit;
use super::error::DomainError;
use super::mail_token::MailToken;
use super::notices::notify;
use super::ports::{
    Deletions, LinkTrust, MailRequest, MailRequests, OneTimeTokens, TokenPurpose, Users,
};
use super::tokens::Caller;
use super::values::{Timestamp, UserId};

const DAY: Duration = Duration::from_secs(86_400);

/// `DELETION_GRACE_DAYS`: 0 (the default: delete at once) to 30.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GracePeriod {
    days: u8,
}

impl GracePeriod {
    pub const MAX_DAYS: u8 = 30;

    pub fn days(days: u8) -> Option<Self> {
        (days <= Self::MAX_DAYS).then_some(Self { days })
    }

    pub fn is_immediate(self) -> bool {
        self.days == 0
    }

    pub fn duration(self) -> Duration {
        DAY * u32::from(self.days)
    }
}

/// What a deletion request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionOutcome {
    /// Deleted now (no grace period).
    Deleted,
    /// Deleted at this time unless restored first.
    Scheduled { until: Timestamp },
}

/// `DELETE /users/{user_id}` (and the account page's delete): at once
/// without a grace period, else scheduled, every session ended and a
/// restore link requested for the account's address.
pub async fn request_deletion<S: Users + Deletions, Q: MailRequests>(
    store: &S,
    queue: &Q,
    caller: &Caller,
    grace: GracePeriod,
    now: Timestamp,
    trust: LinkTrust,
) -> Result<DeletionOutcome, DomainError> {
    if grace.is_immediate() {
        accounts::delete_user(store, caller, now, trust).await?;
        return Ok(DeletionOutcome::Deleted);
    }
    let until = now.plus(grace.duration());
    if !store
        .schedule_deletion(caller.user_id, caller.session_id, now, until)
        .await?
    {
        return Err(DomainError::SessionEnded);
    }
    audit::user_event("user_deletion_scheduled", &caller.user_id.to_hex());
    // The deletion stands if the mail cannot be asked for: the sign-in page
    // restores it too, after the password.
    let request = MailRequest::AccountRestore {
        user_id: caller.user_id,
        until,
    };
    notify(queue, request).await;
    Ok(DeletionOutcome::Scheduled { until })
}

/// `POST /auth/account/restore`: the mailed link calls the deletion off,
/// once, while it is still ahead.
pub async fn restore_by_link<S: Deletions + OneTimeTokens>(
    store: &S,
    token: &MailToken,
    now: Timestamp,
) -> Result<UserId, DomainError> {
    let taken = store
        .take_token(&token.digest(), &[TokenPurpose::AccountRestore], now)
        .await?
        .ok_or(DomainError::MailTokenInvalid)?;
    restore(store, taken.user_id, now).await?;
    Ok(taken.user_id)
}

/// Calls off `user_id`'s scheduled deletion (the link, or the sign-in page
/// after the password). `MailTokenInvalid` when none is ahead any more.
pub async fn restore<S: Deletions>(
    store: &S,
    user_id: UserId,
    now: Timestamp,
) -> Result<(), DomainError> {
    if !store.cancel_deletion(user_id, now).await? {
        return Err(DomainError::MailTokenInvalid);
    }
    audit::user_event("user_deletion_cancelled", &user_id.to_hex());
    Ok(())
}

/// How `purge_due` is bounded: `batch` users per read, at most `batches`
/// reads per run; the next scheduled run goes on from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeLimits {
    pub batch: usize,
    pub batches: usize,
}

impl Default for PurgeLimits {
    fn default() -> Self {
        Self {
            batch: 100,
            batches: 10,
        }
    }
}

/// What one run of `purge_due` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeSummary {
    pub deleted: u64,
    /// Due users another run deleted (or restored) first.
    pub skipped: u64,
    /// Whether the run stopped at its limits with more perhaps due.
    pub more: bool,
}

/// The scheduled function: deletes every user whose deletion is due at
/// `now`, each with the immediate delete's cascade, all or nothing per user.
/// Idempotent: a user deleted already (by a run that crashed before its
/// summary, or a concurrent one) is skipped, and a user whose deletion
/// stopped halfway on a server without transactions is still found due and
/// finished.
pub async fn purge_due<S: Deletions>(
    store: &S,
    now: Timestamp,
    trust: LinkTrust,
    limits: PurgeLimits,
) -> Result<PurgeSummary, DomainError> {
    let mut summary = PurgeSummary::default();
    for _ in 0..limits.batches {
        let due = store.due_deletions(now, limits.batch).await?;
        let full = due.len() == limits.batch;
        for user_id in due {
            if store.purge_user(user_id, now, trust).await? {
                audit::user_event("user_deleted", &user_id.to_hex());
                summary.deleted += 1;
            } else {
                summary.skipped += 1;
            }
        }
        if !full {
            return Ok(summary);
        }
    }
    summary.more = true;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::{register, Registration};
    use crate::domain::ports::Sessions as _;
    use crate::domain::values::{Email, Password, Username};
    use crate::memory::{test_issuer, MemoryMail, MemoryStore};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
    }

    async fn signed_up(store: &MemoryStore, name: &str) -> Caller {
        let user_id = register(
            store,
            Registration {
                username: Username::parse(name).unwrap(),
                email: Email::parse(&format!("{name}@example.com")).unwrap(),
                password: Password::parse_for_login("correct horse battery staple".into()).unwrap(),
            },
            at(0),
        )
        .await
        .unwrap();
        let (session, _) = test_issuer().open_session(user_id, at(0));
        assert!(store.insert_session(&session).await.unwrap());
        Caller {
            user_id,
            session_id: session.id,
            auth: session.auth,
        }
    }

    const WEEK: GracePeriod = GracePeriod { days: 7 };

    #[test]
    fn the_grace_period_is_zero_to_thirty_days() {
        assert!(GracePeriod::default().is_immediate());
        assert_eq!(GracePeriod::days(30).unwrap().duration(), DAY * 30);
        assert_eq!(GracePeriod::days(31), None);
    }

    #[tokio::test]
    async fn without_a_grace_period_the_delete_is_immediate() {
        let (store, mail) = (MemoryStore::default(), MemoryMail::default());
        let ada = signed_up(&store, "ada").await;
        let outcome = request_deletion(
            &store,
            &mail,
            &ada,
            GracePeriod::default(),
            at(1),
            LinkTrust::Any,
        )
        .await
        .unwrap();
        assert_eq!(outcome, DeletionOutcome::Deleted);
        assert_eq!(store.events_of_kind("UserDeleted"), 1);
        assert!(mail.requests().is_empty());
    }

    #[tokio::test]
    async fn a_scheduled_deletion_ends_sessions_mails_a_link_and_is_purged_when_due() {
        let (store, mail) = (MemoryStore::default(), MemoryMail::default());
        let ada = signed_up(&store, "ada").await;
        let bob = signed_up(&store, "bob").await;
        let outcome = request_deletion(&store, &mail, &ada, WEEK, at(1), LinkTrust::Any)
            .await
            .unwrap();
        let until = at(1).plus(DAY * 7);
        assert_eq!(outcome, DeletionOutcome::Scheduled { until });
        assert_eq!(store.open_sessions(ada.user_id), 0);
        assert_eq!(
            mail.requests(),
            [MailRequest::AccountRestore {
                user_id: ada.user_id,
                until
            }]
        );
        assert_eq!(store.events_of_kind("UserDeletionScheduled"), 1);
        // Asked again (another session cannot: every one ended) changes nothing.
        assert!(matches!(
            request_deletion(&store, &mail, &ada, WEEK, at(2), LinkTrust::Any).await,
            Err(DomainError::SessionEnded)
        ));

        // Not due yet: nothing purged.
        let early = purge_due(&store, at(3), LinkTrust::Any, PurgeLimits::default())
            .await
            .unwrap();
        assert_eq!(early, PurgeSummary::default());
        // Due: purged once, Bob untouched; a second run finds nothing.
        let due = purge_due(&store, until, LinkTrust::Any, PurgeLimits::default())
            .await
            .unwrap();
        assert_eq!(due.deleted, 1);
        assert_eq!(store.events_of_kind("UserDeleted"), 1);
        assert_eq!(store.open_sessions(bob.user_id), 1);
        let again = purge_due(
            &store,
            until.plus(DAY),
            LinkTrust::Any,
            PurgeLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(again, PurgeSummary::default());
        assert_eq!(store.events_of_kind("UserDeleted"), 1);
    }

    #[tokio::test]
    async fn the_restore_link_works_once_and_only_while_the_deletion_is_ahead() {
        let (store, mail) = (MemoryStore::default(), MemoryMail::default());
        let ada = signed_up(&store, "ada").await;
        request_deletion(&store, &mail, &ada, WEEK, at(1), LinkTrust::Any)
            .await
            .unwrap();
        let settings = crate::domain::recovery::MailSettings {
            reset_ttl: Duration::from_secs(3600),
            verification_ttl: Duration::from_secs(3600),
            mails_per_address_per_hour: 3,
        };
        crate::domain::recovery::send_requested_mail(
            &store,
            &mail,
            &settings,
            &mail.requests()[0],
            at(2),
        )
        .await
        .unwrap();
        let token = mail
            .link_token("restore-account")
            .expect("a restore link was mailed");
        let token = MailToken::parse(token).unwrap();
        let restored = restore_by_link(&store, &token, at(3)).await.unwrap();
        assert_eq!(restored, ada.user_id);
        assert_eq!(store.events_of_kind("UserDeletionCancelled"), 1);
        assert!(matches!(
            restore_by_link(&store, &token, at(4)).await,
            Err(DomainError::MailTokenInvalid)
        ));
        // Restored: never purged.
        let purged = purge_due(
            &store,
            at(1).plus(DAY * 8),
            LinkTrust::Any,
            PurgeLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(purged.deleted, 0);
        // Too late: once due, the deletion cannot be called off.
        let (session, _) = test_issuer().open_session(ada.user_id, at(5));
        assert!(store.insert_session(&session).await.unwrap());
        let again = Caller {
            user_id: ada.user_id,
            session_id: session.id,
            auth: session.auth,
        };
        request_deletion(&store, &mail, &again, WEEK, at(6), LinkTrust::Any)
            .await
            .unwrap();
        assert!(matches!(
            restore(&store, ada.user_id, at(6).plus(DAY * 7)).await,
            Err(DomainError::MailTokenInvalid)
        ));
    }

    #[tokio::test]
    async fn the_purge_works_in_bounded_batches() {
        let store = MemoryStore::default();
        let mail = MemoryMail::default();
        for n in 0..5 {
            let user = signed_up(&store, &format!("user{n}")).await;
            request_deletion(&store, &mail, &user, WEEK, at(n), LinkTrust::Any)
                .await
                .unwrap();
        }
        let limits = PurgeLimits {
            batch: 2,
            batches: 2,
        };
        let due = at(10).plus(DAY * 7);
        let first = purge_due(&store, due, LinkTrust::Any, limits)
            .await
            .unwrap();
        assert_eq!((first.deleted, first.more), (4, true));
        let second = purge_due(&store, due, LinkTrust::Any, limits)
            .await
            .unwrap();
        assert_eq!((second.deleted, second.more), (1, false));
        assert_eq!(store.events_of_kind("UserDeleted"), 5);
    }
}
