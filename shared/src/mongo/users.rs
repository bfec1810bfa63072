//! Users and the linked collection: registration, credentials, linking, the
//! profile join and deletion.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::error::Error as MongoError;
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use super::bson_json::document_to_json;
use super::{datetime, oid, Atomic, MongoStore};
use crate::domain::events::Event;
use crate::domain::ports::{
    LinkKind, LinkTrust, NewUser, Profile, Stored, StoredCredentials, Users,
};
use crate::domain::values::{Email, ExternalId, SessionId, Timestamp, UserId};

/// A user as stored. `username_key` is the lower-cased username: its unique index
/// makes usernames unique case-insensitively without relying on collations.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UserRecord {
    #[serde(rename = "_id")]
    id: ObjectId,
    username: String,
    username_key: String,
    email: String,
    hashed_password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    created_at: DateTime,
    /// Users from before verification existed have none: unverified.
    #[serde(default)]
    email_verified: bool,
}

/// What login reads.
#[derive(Debug, Deserialize)]
struct CredentialsRecord {
    #[serde(rename = "_id")]
    user_id: ObjectId,
    hashed_password: String,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    mfa: Option<MfaFlag>,
    #[serde(default)]
    deletion_scheduled_for: Option<DateTime>,
}

/// Whether the account's factor is confirmed (mongo::mfa has the rest).
#[derive(Debug, Deserialize)]
struct MfaFlag {
    #[serde(default)]
    confirmed: bool,
}

impl Users for MongoStore {
    /// Inserts the user with its `UserRegistered` event.
    async fn insert_user(&self, user: NewUser) -> Stored<()> {
        let record = UserRecord {
            id: oid(user.id.bytes()),
            username_key: user.username.key(),
            username: user.username.as_str().to_string(),
            email: user.email.as_str().to_string(),
            hashed_password: user.hashed_password,
            external_id: None,
            created_at: datetime(user.created_at),
            email_verified: false,
        };
        self.atomically(Atomic::Register(record)).await?;
        Ok(())
    }

    async fn find_credentials(&self, email: &Email) -> Stored<Option<StoredCredentials>> {
        self.deployment().await?;
        let found = self
            .users
            .clone_with_type::<CredentialsRecord>()
            .find_one(doc! { "email": email.as_str() })
            .projection(doc! {
                "_id": 1, "hashed_password": 1, "email_verified": 1, "mfa.confirmed": 1,
                super::deletions::SCHEDULED: 1,
            })
            .await?;
        Ok(found.map(|record| StoredCredentials {
            user_id: UserId::from_bytes(record.user_id.bytes()),
            hashed_password: record.hashed_password,
            email_verified: record.email_verified,
            mfa: record.mfa.is_some_and(|mfa| mfa.confirmed),
            deletion_scheduled_for: record.deletion_scheduled_for.map(super::timestamp),
        }))
    }

    async fn replace_password_hash(
        &self,
        user_id: UserId,
        verified_hash: &str,
        new_hash: &str,
    ) -> Stored<()> {
        self.users
            .update_one(
                doc! { "_id": oid(user_id.bytes()), "hashed_password": verified_hash },
                doc! { "$set": { "hashed_password": new_hash } },
            )
            .await?;
        Ok(())
    }

    async fn link_external_id(
        &self,
        user_id: UserId,
        external_id: &ExternalId,
        how: LinkKind,
    ) -> Stored<bool> {
        self.atomically(Atomic::LinkExternalId {
            user_id: oid(user_id.bytes()),
            external_id: external_id.as_str().to_string(),
            how,
        })
        .await
        .map(|linked| linked > 0)
    }

    /// The user's profile and linked data in one aggregation round trip: the
    /// document whose `_id` is the user's external id (the original `$lookup`)
    /// and those whose `user_id` is the user (the original delete filter). The
    /// same round trip checks that the caller's session is still open.
    async fn full_profile(
        &self,
        user_id: UserId,
        session: SessionId,
        now: Timestamp,
        trust: LinkTrust,
    ) -> Stored<Option<Profile>> {
        self.deployment().await?;
        let (user_oid, session_oid) = (oid(user_id.bytes()), oid(session.bytes()));
        // The external id the join follows: under `ProvenOnly`, none unless
        // the owning system vouched for the link.
        let trusted_external_id = match trust {
            LinkTrust::Any => Bson::String("$external_id".into()),
            LinkTrust::ProvenOnly => Bson::Document(doc! {
                "$cond": [{ "$eq": ["$external_id_proven", true] }, "$external_id", null],
            }),
        };
        // Every lookup joins on a field (`localField`/`foreignField`), so that
        // it reads by index; a lookup with a pipeline alone is an uncorrelated
        // subquery, which some servers run over the whole collection. The
        // joined values are set on the user document first.
        let pipeline = [
            doc! { "$match": { "_id": user_oid } },
            doc! { "$set": {
                "_session": { "$literal": session_oid },
                "_owners": { "$literal": [user_oid, user_id.to_hex()] },
            } },
            doc! { "$lookup": {
                "from": self.sessions.name(),
                "localField": "_session",
                "foreignField": "_id",
                "pipeline": [
                    { "$match": { "user_id": user_oid, "expires_at": { "$gt": datetime(now) } } },
                    { "$project": { "_id": 1 } },
                ],
                "as": "open_session",
            } },
            doc! { "$match": { "open_session": { "$ne": [] } } },
            doc! { "$set": { "external_id": trusted_external_id } },
            // The original's join (the document whose `_id` is the external
            // id) and its delete filter's (those whose `user_id` is the user).
            // A document found by both is kept once.
            doc! { "$lookup": {
                "from": self.linked.name(),
                "localField": "external_id",
                "foreignField": "_id",
                "as": "linked_by_external_id",
            } },
            doc! { "$lookup": {
                "from": self.linked.name(),
                "localField": "_owners",
                "foreignField": "user_id",
                // Tombstones of deleted records (mongo::linked) are not data.
                "pipeline": [{ "$match": { "deleted_at": { "$exists": false } } }],
                "as": "linked_by_user_id",
            } },
            // An allow-list: fields added to users later stay private by default.
            doc! { "$project": {
                "username": 1, "email": 1, "external_id": 1, "created_at": 1,
                "linked_by_external_id": 1, "linked_by_user_id": 1, "email_verified": 1,
            } },
        ];
        let mut cursor = self.users.aggregate(pipeline).await?;
        if !cursor.advance().await? {
            return Ok(None);
        }
        let document = cursor.deserialize_current()?;
        Ok(Some(profile_from(user_id, document)))
    }

    /// `delete_cascade` (below), the one the scheduled purge runs too.
    async fn delete_user(
        &self,
        user_id: UserId,
        session: Option<SessionId>,
        now: Timestamp,
        trust: LinkTrust,
    ) -> Stored<bool> {
        self.delete_cascade(user_id, session, None, now, trust)
            .await
    }
}

impl MongoStore {
    /// The one delete cascade, for the immediate delete (with the caller's
    /// session), the erasure (without) and the scheduled purge (`due`: only
    /// if the user's deletion is due then). Atomic where the deployment has
    /// transactions; elsewhere linked data goes first, the user after and
    /// the event last, so a failure midway leaves the user in place to retry.
    pub(super) async fn delete_cascade(
        &self,
        user_id: UserId,
        session: Option<SessionId>,
        due: Option<Timestamp>,
        now: Timestamp,
        trust: LinkTrust,
    ) -> Stored<bool> {
        let deleted = self
            .atomically(Atomic::DeleteUser {
                user_id: oid(user_id.bytes()),
                session_id: session.map(|session| oid(session.bytes())),
                due: due.map(datetime),
                now: datetime(now),
                trust,
            })
            .await?
            > 0;
        if deleted {
            // A login racing the delete may insert its session after the
            // transaction's snapshot and touch the user before the commit; a
            // server that lets that write pass without a conflict (as
            // SecantusDB did in `no_session_outlives_its_user_when_a_login_
            // races_the_delete`) leaves the session. The user is gone now,
            // so whatever session is left is swept; a later insert finds no
            // user to touch and takes its session back (`insert_session`).
            self.sessions
                .delete_many(doc! { "user_id": oid(user_id.bytes()) })
                .await?;
            // What the person allowed OAuth clients goes with them (#22).
            self.consents
                .delete_many(doc! { "user_id": oid(user_id.bytes()) })
                .await?;
        }
        Ok(deleted)
    }
}

impl MongoStore {
    pub(super) async fn register_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        record: &UserRecord,
    ) -> Result<u64, MongoError> {
        in_session!(session, self.users.insert_one(record))?;
        let user_id = UserId::from_bytes(record.id.bytes());
        self.record_event(session, &Event::UserRegistered { user_id })
            .await?;
        Ok(1)
    }

    pub(super) async fn link_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        external_id: &str,
        how: LinkKind,
    ) -> Result<u64, MongoError> {
        let users = self.users.clone_with_type::<Document>();
        if how == LinkKind::Authoritative {
            // The owning system's word moves the id, but only to a user that
            // exists: checked first, so that nothing is taken for nobody.
            let exists = in_session!(
                session,
                users
                    .find_one(doc! { "_id": user_id })
                    .projection(doc! { "_id": 1 })
            )?;
            if exists.is_none() {
                return Ok(0);
            }
            // Here and below a read, then an update of what was read: not a
            // findAndModify, which costs a pass over the whole collection on
            // SecantusDB when it matches (docs/performance.md). With
            // transactions the pair is one snapshot; without, the update's
            // filter repeats the read's, so a holder is unlinked once.
            let holder = in_session!(
                session,
                users
                    // The partial unique index serves a query that states
                    // its filter (`$type: string`); MongoDB uses it. (SecantusDB
                    // plans no partial index: a scan there, docs/performance.md.)
                    .find_one(doc! {
                        "external_id": { "$eq": external_id, "$type": "string" },
                        "_id": { "$ne": user_id },
                    })
                    .projection(doc! { "_id": 1 })
            )?
            .and_then(|holder| holder.get_object_id("_id").ok());
            let unlinked = match holder {
                Some(holder) => {
                    in_session!(
                        session,
                        users.update_one(
                            doc! { "_id": holder, "external_id": external_id },
                            doc! { "$unset": { "external_id": "", "external_id_proven": "" } },
                        )
                    )?
                    .modified_count
                        == 1
                }
                None => false,
            };
            if let Some(holder) = holder.filter(|_| unlinked) {
                let event = Event::ExternalIdUnlinked {
                    user_id: UserId::from_bytes(holder.bytes()),
                    external_id: external_id.to_string(),
                };
                self.record_event(session.as_deref_mut(), &event).await?;
            }
        }
        let proven = how != LinkKind::Claimed;
        let before = in_session!(
            session,
            users
                .find_one(doc! { "_id": user_id })
                .projection(doc! { "external_id": 1, "external_id_proven": 1 })
        )?;
        let Some(before) = before else {
            return Ok(0);
        };
        let set = in_session!(
            session,
            users.update_one(
                doc! { "_id": user_id },
                doc! { "$set": { "external_id": external_id, "external_id_proven": proven } },
            )
        )?;
        if set.matched_count == 0 {
            return Ok(0);
        }
        let previous_external_id = before.get_str("external_id").ok().map(str::to_string);
        let was_proven = before.get_bool("external_id_proven").unwrap_or(false);
        if previous_external_id.as_deref() != Some(external_id) || was_proven != proven {
            let event = Event::ExternalIdLinked {
                user_id: UserId::from_bytes(user_id.bytes()),
                external_id: external_id.to_string(),
                previous_external_id,
                proven,
            };
            self.record_event(session, &event).await?;
        }
        Ok(1)
    }

    pub(super) async fn delete_steps(
        &self,
        mut session: Option<&mut ClientSession>,
        user_id: ObjectId,
        session_id: Option<ObjectId>,
        due: Option<DateTime>,
        now: DateTime,
        trust: LinkTrust,
    ) -> Result<u64, MongoError> {
        if let Some(session_id) = session_id {
            if !self
                .session_is_open_in(session.as_deref_mut(), user_id, session_id, now)
                .await?
            {
                return Ok(0);
            }
        }
        let users = self.users.clone_with_type::<Document>();
        // The scheduled purge deletes only a user whose deletion is still
        // due: restored since, it stays whole.
        let mut this_user = doc! { "_id": user_id };
        if let Some(due) = due {
            this_user.insert(super::deletions::SCHEDULED, doc! { "$lte": due });
        }
        let user = in_session!(
            session,
            users
                .find_one(this_user.clone())
                .projection(doc! { "external_id": 1, "external_id_proven": 1 })
        )?;
        let Some(user) = user else {
            return Ok(0);
        };
        // Only a trusted link's record is the user's to delete, and to name
        // in `UserDeleted` (on which downstream systems erase).
        let proven = user.get_bool("external_id_proven").unwrap_or(false);
        let external_id = user
            .get_str("external_id")
            .ok()
            .filter(|_| proven || trust == LinkTrust::Any)
            .map(str::to_string);
        // Two deletes that each use an index (a top-level `$or` may not): the
        // record of the external id, read first for its version, and the
        // records naming the user. A versioned record (from the inbound queue)
        // leaves its tombstone, so that a late, older upsert for the external
        // id cannot bring the data back. A read and a delete, not one
        // findAndModify: that costs a pass over the whole collection on
        // SecantusDB when it matches (docs/performance.md).
        let versioned = match &external_id {
            Some(external_id) => {
                let record = in_session!(
                    session,
                    self.linked
                        .find_one(doc! { "_id": external_id })
                        .projection(doc! { "version": 1 })
                )?;
                match record {
                    Some(record) => {
                        let deleted = in_session!(
                            session,
                            self.linked.delete_one(doc! { "_id": external_id })
                        )?;
                        // Only the deletion that removed it leaves the tombstone.
                        record
                            .get("version")
                            .cloned()
                            .filter(|_| deleted.deleted_count == 1)
                    }
                    None => None,
                }
            }
            None => None,
        };
        in_session!(
            session,
            self.linked
                .delete_many(doc! { "user_id": { "$in": [user_id, user_id.to_hex()] } })
        )?;
        if let (Some(external_id), Some(version)) = (&external_id, versioned) {
            in_session!(
                session,
                self.linked.insert_one(doc! {
                    "_id": external_id, "version": version, "deleted_at": DateTime::now(),
                })
            )?;
        }
        let deleted = in_session!(session, self.users.delete_one(this_user))?;
        in_session!(
            session,
            self.sessions.delete_many(doc! { "user_id": user_id })
        )?;
        in_session!(
            session,
            self.passkeys.delete_many(doc! { "user_id": user_id })
        )?;
        // The account's security activity (issue #24) goes with it.
        in_session!(
            session,
            self.security_activity
                .delete_many(doc! { "user_id": user_id })
        )?;
        if deleted.deleted_count == 0 {
            return Ok(0);
        }
        let event = Event::UserDeleted {
            user_id: UserId::from_bytes(user_id.bytes()),
            external_id,
        };
        self.record_event(session, &event).await?;
        Ok(1)
    }
}

fn profile_from(user_id: UserId, mut document: Document) -> Profile {
    let mut text = |field: &str| match document.remove(field) {
        Some(Bson::String(value)) => Some(value),
        _ => None,
    };
    let username = text("username").unwrap_or_default();
    let email = text("email").unwrap_or_default();
    let external_id = text("external_id");
    let email_verified = document.get_bool("email_verified").unwrap_or(false);
    let created_at = document
        .get_datetime("created_at")
        .ok()
        .and_then(|instant| instant.try_to_rfc3339_string().ok())
        .unwrap_or_default();
    let mut documents = |field: &str| match document.remove(field) {
        Some(Bson::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Bson::Document(linked) => Some(linked),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let by_user_id: Vec<Document> = documents("linked_by_user_id");
    let by_external_id = documents("linked_by_external_id")
        .into_iter()
        .filter(|linked| {
            // Tombstones are not data; one found by user id too is listed there already.
            !linked.contains_key("deleted_at")
                && !by_user_id
                    .iter()
                    .any(|other| other.get("_id") == linked.get("_id"))
        });
    let linked_data = by_external_id
        .chain(by_user_id.iter().cloned())
        .map(document_to_json)
        .collect();
    Profile {
        id: user_id,
        username,
        email,
        external_id,
        created_at,
        linked_data,
        email_verified,
    }
}
