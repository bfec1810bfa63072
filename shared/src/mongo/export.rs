//! The export's read (issue #24): the profile with its linked data (the
//! same aggregation as the profile, which checks the session), and beside
//! it the account's pending address, schedule, second factor (whether
//! confirmed, how many recovery codes are left: never the digests or the
//! sealed secret), passkeys (names, dates, flags: never the credential),
//! open sessions, consents and the security activity.

use mongodb::bson::{doc, Document};

use super::{oid, timestamp, MongoStore};
use crate::domain::activity::{self, SecurityActivity as _};
use crate::domain::events::Event;
use crate::domain::ports::{
    AccountData, ConsentInfo, Exports, FactorInfo, LinkTrust, PasskeyInfo, Sessions as _,
    StoreError, Stored, Users as _,
};
use crate::domain::values::{SessionId, Timestamp, UserId};

/// The most sessions an export lists (a user has far fewer open).
pub const EXPORT_SESSIONS: usize = 1000;

impl Exports for MongoStore {
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
        let users = self.users.clone_with_type::<Document>();
        let (account, sessions, consents, passkeys, activity) = tokio::try_join!(
            async {
                Ok::<_, StoreError>(
                    users
                        .find_one(doc! { "_id": oid(user_id.bytes()) })
                        .projection(doc! {
                            "pending_email": 1, "deletion_scheduled_for": 1,
                            "mfa.confirmed": 1, "mfa.recovery_codes": 1,
                        })
                        .await?,
                )
            },
            self.list_sessions(user_id, now, EXPORT_SESSIONS),
            async {
                let mut cursor = self
                    .consents
                    // By `oauth_consents_user_id`, as the account page reads
                    // them: an anchored `_id` prefix was a collection scan on
                    // SecantusDB (issue #19). A person has a handful, sorted in memory.
                    .find(doc! { "user_id": oid(user_id.bytes()) })
                    .sort(doc! { "client_id": 1 })
                    .await?;
                let mut consents = Vec::new();
                while cursor.advance().await? {
                    let document = cursor.deserialize_current()?;
                    consents.push(ConsentInfo {
                        client_id: document.get_str("client_id").unwrap_or_default().into(),
                        scope: document.get_str("scope").unwrap_or_default().into(),
                        granted_at: document
                            .get_datetime("granted_at")
                            .ok()
                            .map(|at| timestamp(*at)),
                    });
                }
                Ok::<_, StoreError>(consents)
            },
            self.passkey_metadata(user_id),
            self.recent_activity(user_id, activity::EXPORTED),
        )?;
        let account = account.unwrap_or_default();
        let second_factor = account.get_document("mfa").ok().map(|mfa| FactorInfo {
            confirmed: mfa.get_bool("confirmed").unwrap_or(false),
            recovery_codes_left: mfa
                .get_array("recovery_codes")
                .map_or(0, |codes| codes.len() as u64),
        });
        Ok(Some(AccountData {
            profile,
            pending_email: account.get_str("pending_email").ok().map(str::to_string),
            deletion_scheduled_for: account
                .get_datetime("deletion_scheduled_for")
                .ok()
                .map(|at| timestamp(*at)),
            sessions,
            second_factor,
            passkeys,
            consents,
            activity,
        }))
    }

    async fn record_export(&self, user_id: UserId, bytes: u64) -> Stored<()> {
        self.deployment().await?;
        self.record_event(None, &Event::AccountExported { user_id, bytes })
            .await?;
        Ok(())
    }
}

impl MongoStore {
    /// The user's passkeys as the export shows them, oldest first: the
    /// projection leaves the credential (public key) and its id in the
    /// database.
    async fn passkey_metadata(&self, user_id: UserId) -> Stored<Vec<PasskeyInfo>> {
        let mut cursor = self
            .passkeys
            .find(doc! { "user_id": oid(user_id.bytes()) })
            .projection(doc! {
                "name": 1, "created_at": 1, "last_used_at": 1,
                "backup_eligible": 1, "backup_state": 1,
            })
            .sort(doc! { "_id": 1 })
            .await?;
        let mut passkeys = Vec::new();
        while cursor.advance().await? {
            let document = cursor.deserialize_current()?;
            let when = |field: &str| document.get_datetime(field).ok().map(|at| timestamp(*at));
            passkeys.push(PasskeyInfo {
                name: document.get_str("name").unwrap_or_default().into(),
                created_at: when("created_at").unwrap_or(Timestamp::from_millis(0)),
                last_used_at: when("last_used_at"),
                backup_eligible: document.get_bool("backup_eligible").unwrap_or(false),
                backup_state: document.get_bool("backup_state").unwrap_or(false),
            });
        }
        Ok(passkeys)
    }
}
