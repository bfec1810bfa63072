//! Second factors on the user document (`mfa`: the sealed secret, whether
//! it is confirmed, the last accepted time step and the recovery codes'
//! digests), and login challenges in `mfa_challenges`, by token digest, which
//! a TTL index forgets once expired.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;

use super::{datetime, oid, timestamp, Atomic, MongoStore};
use crate::domain::activity::{Activity, ActivityKind};
use crate::domain::events::Event;
use crate::domain::ports::{MfaAccount, MfaChallenge, MfaStore, Stored, TotpFactor};
use crate::domain::sealing::SealedSecret;
use crate::domain::values::{Timestamp, UserId};

/// The writes of a factor that commit with their outbox event.
pub(super) enum MfaChange {
    Confirm {
        user_id: ObjectId,
        sealed: SealedSecret,
        step: i64,
        recovery_sha256: Vec<String>,
    },
    UseRecoveryCode {
        user_id: ObjectId,
        code_sha256: String,
    },
    Remove {
        user_id: ObjectId,
    },
}

fn sealed_document(sealed: &SealedSecret) -> Document {
    doc! { "key_id": &sealed.key_id, "nonce": &sealed.nonce, "ciphertext": &sealed.ciphertext }
}

fn factor_from(mfa: &Document) -> Option<TotpFactor> {
    let sealed = mfa.get_document("sealed").ok()?;
    Some(TotpFactor {
        sealed: SealedSecret {
            key_id: sealed.get_str("key_id").ok()?.to_string(),
            nonce: sealed.get_str("nonce").ok()?.to_string(),
            ciphertext: sealed.get_str("ciphertext").ok()?.to_string(),
        },
        confirmed: mfa.get_bool("confirmed").unwrap_or(false),
        last_step: mfa.get_i64("last_step").unwrap_or(-1),
    })
}

fn challenge_from(document: &Document) -> Option<MfaChallenge> {
    Some(MfaChallenge {
        token_sha256: document.get_str("_id").ok()?.to_string(),
        user_id: UserId::from_bytes(document.get_object_id("user_id").ok()?.bytes()),
        password_checked_at: timestamp(*document.get_datetime("password_checked_at").ok()?),
        expires_at: timestamp(*document.get_datetime("expires_at").ok()?),
        attempts: document.get_i64("attempts").unwrap_or(0),
    })
}

impl MfaStore for MongoStore {
    async fn mfa_account(&self, user_id: UserId) -> Stored<Option<MfaAccount>> {
        self.deployment().await?;
        let found = self
            .users
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": oid(user_id.bytes()) })
            .projection(doc! { "email": 1, "hashed_password": 1, "mfa": 1 })
            .await?;
        Ok(found.map(|user| MfaAccount {
            user_id,
            email: user.get_str("email").unwrap_or_default().to_string(),
            hashed_password: user
                .get_str("hashed_password")
                .unwrap_or_default()
                .to_string(),
            factor: user.get_document("mfa").ok().and_then(factor_from),
        }))
    }

    async fn put_pending_factor(&self, user_id: UserId, sealed: &SealedSecret) -> Stored<bool> {
        self.deployment().await?;
        let updated = self
            .users
            .update_one(
                doc! { "_id": oid(user_id.bytes()), "mfa.confirmed": { "$ne": true } },
                doc! { "$set": { "mfa": {
                    "sealed": sealed_document(sealed),
                    "confirmed": false,
                    "last_step": -1_i64,
                    "recovery_codes": [],
                } } },
            )
            .await?;
        Ok(updated.matched_count == 1)
    }

    async fn confirm_factor(
        &self,
        user_id: UserId,
        sealed: &SealedSecret,
        step: i64,
        recovery_sha256: &[String],
    ) -> Stored<bool> {
        let change = MfaChange::Confirm {
            user_id: oid(user_id.bytes()),
            sealed: sealed.clone(),
            step,
            recovery_sha256: recovery_sha256.to_vec(),
        };
        Ok(self.atomically(Atomic::Mfa(change)).await? > 0)
    }

    async fn accept_step(&self, user_id: UserId, step: i64) -> Stored<bool> {
        let updated = self
            .users
            .update_one(
                doc! {
                    "_id": oid(user_id.bytes()),
                    "mfa.confirmed": true,
                    "mfa.last_step": { "$lt": step },
                },
                doc! { "$set": { "mfa.last_step": step } },
            )
            .await?;
        Ok(updated.modified_count == 1)
    }

    async fn use_recovery_code(&self, user_id: UserId, code_sha256: &str) -> Stored<bool> {
        let change = MfaChange::UseRecoveryCode {
            user_id: oid(user_id.bytes()),
            code_sha256: code_sha256.to_string(),
        };
        Ok(self.atomically(Atomic::Mfa(change)).await? > 0)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        recovery_sha256: &[String],
    ) -> Stored<bool> {
        let updated = self
            .users
            .update_one(
                doc! { "_id": oid(user_id.bytes()), "mfa.confirmed": true },
                doc! { "$set": { "mfa.recovery_codes": recovery_sha256 } },
            )
            .await?;
        if updated.matched_count == 0 {
            return Ok(false);
        }
        let entry = Activity::now(user_id, ActivityKind::RecoveryCodesRegenerated, None);
        self.record_activity_after(&entry).await;
        Ok(true)
    }

    async fn remove_factor(&self, user_id: UserId) -> Stored<bool> {
        let change = MfaChange::Remove {
            user_id: oid(user_id.bytes()),
        };
        Ok(self.atomically(Atomic::Mfa(change)).await? > 0)
    }

    async fn insert_challenge(&self, challenge: &MfaChallenge) -> Stored<()> {
        self.deployment().await?;
        self.mfa_challenges
            .insert_one(doc! {
                "_id": &challenge.token_sha256,
                "user_id": oid(challenge.user_id.bytes()),
                "password_checked_at": datetime(challenge.password_checked_at),
                // The TTL index (`mfa_challenges_expire`) forgets it then.
                "expires_at": datetime(challenge.expires_at),
                "attempts": challenge.attempts,
            })
            .await?;
        Ok(())
    }

    async fn charge_challenge(
        &self,
        token_sha256: &str,
        now: Timestamp,
        max_attempts: i64,
    ) -> Stored<Option<MfaChallenge>> {
        self.deployment().await?;
        // The attempt is charged before the code is checked; then the
        // challenge is read. Two commands, not one findAndModify: that costs
        // a pass over the whole collection on SecantusDB when it matches
        // (docs/performance.md).
        let charged = self
            .mfa_challenges
            .update_one(
                doc! {
                    "_id": token_sha256,
                    "expires_at": { "$gt": datetime(now) },
                    "attempts": { "$lt": max_attempts },
                },
                doc! { "$inc": { "attempts": 1_i64 } },
            )
            .await?;
        if charged.matched_count == 0 {
            return Ok(None);
        }
        let challenge = self
            .mfa_challenges
            .find_one(doc! { "_id": token_sha256 })
            .await?;
        Ok(challenge.as_ref().and_then(challenge_from))
    }

    async fn open_challenge(
        &self,
        token_sha256: &str,
        now: Timestamp,
        max_attempts: i64,
    ) -> Stored<Option<MfaChallenge>> {
        self.deployment().await?;
        let challenge = self
            .mfa_challenges
            .find_one(doc! {
                "_id": token_sha256,
                "expires_at": { "$gt": datetime(now) },
                "attempts": { "$lt": max_attempts },
            })
            .await?;
        Ok(challenge.as_ref().and_then(challenge_from))
    }

    async fn take_challenge(&self, token_sha256: &str) -> Stored<bool> {
        let deleted = self
            .mfa_challenges
            .delete_one(doc! { "_id": token_sha256 })
            .await?;
        Ok(deleted.deleted_count == 1)
    }
}

impl MongoStore {
    pub(super) async fn mfa_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        change: &MfaChange,
    ) -> Result<u64, MongoError> {
        let users = self.users.clone_with_type::<Document>();
        let (user_id, event) = match change {
            MfaChange::Confirm {
                user_id,
                sealed,
                step,
                recovery_sha256,
            } => {
                let updated = in_session!(
                    session,
                    users.update_one(
                        doc! {
                            "_id": user_id,
                            "mfa.confirmed": false,
                            "mfa.sealed": sealed_document(sealed),
                        },
                        doc! { "$set": {
                            "mfa.confirmed": true,
                            "mfa.last_step": step,
                            "mfa.recovery_codes": recovery_sha256,
                        } },
                    )
                )?;
                if updated.modified_count == 0 {
                    return Ok(0);
                }
                let user_id = UserId::from_bytes(user_id.bytes());
                (user_id, Event::MfaEnabled { user_id })
            }
            MfaChange::UseRecoveryCode {
                user_id,
                code_sha256,
            } => {
                // The pull spends the code once (its filter names it); the
                // count left is read after. Not one findAndModify: that costs
                // a pass over the whole collection on SecantusDB when it
                // matches (docs/performance.md).
                let pulled = in_session!(
                    session,
                    users.update_one(
                        doc! {
                            "_id": user_id,
                            "mfa.confirmed": true,
                            "mfa.recovery_codes": code_sha256,
                        },
                        doc! { "$pull": { "mfa.recovery_codes": code_sha256 } },
                    )
                )?;
                if pulled.modified_count == 0 {
                    return Ok(0);
                }
                let after = in_session!(
                    session,
                    users
                        .find_one(doc! { "_id": user_id })
                        .projection(doc! { "mfa.recovery_codes": 1 })
                )?
                .unwrap_or_default();
                let codes_left = match after
                    .get_document("mfa")
                    .map(|mfa| mfa.get("recovery_codes"))
                {
                    Ok(Some(Bson::Array(codes))) => codes.len() as u64,
                    _ => 0,
                };
                let user_id = UserId::from_bytes(user_id.bytes());
                (
                    user_id,
                    Event::RecoveryCodeUsed {
                        user_id,
                        codes_left,
                    },
                )
            }
            MfaChange::Remove { user_id } => {
                let updated = in_session!(
                    session,
                    users.update_one(
                        doc! { "_id": user_id, "mfa.confirmed": true },
                        doc! { "$unset": { "mfa": "" } },
                    )
                )?;
                if updated.modified_count == 0 {
                    return Ok(0);
                }
                let user_id = UserId::from_bytes(user_id.bytes());
                (user_id, Event::MfaDisabled { user_id })
            }
        };
        tracing::debug!(user_id = %user_id, kind = event.kind(), "second factor changed");
        self.record_event(session, &event).await?;
        Ok(1)
    }
}
