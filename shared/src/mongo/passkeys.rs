//! Passkeys (`passkeys`: unique `credential_id`, by `user_id`) and begun
//! ceremonies (`passkey_ceremonies`: by the id's SHA-256, removed by the TTL
//! index at `expires_at`).
//!
//! An add or removal writes its change, then its outbox event: not one
//! transaction, because a duplicate credential id is a write error that
//! would abort it; as on a standalone server, an event can be lost if the
//! process dies in between, never describe a change that did not happen.

use mongodb::bson::{doc, Bson, Document};

use super::{datetime, is_duplicate_key, oid, timestamp, MongoStore};
use crate::domain::events::Event;
use crate::domain::passkeys::{Ceremony, CeremonyPurpose, PasskeyRecord, PasskeyStore};
use crate::domain::ports::StoreError;
use crate::domain::records::Stored;
use crate::domain::values::{PasskeyId, Timestamp, UserId};

pub(super) const CREDENTIAL_INDEX: &str = "passkeys_credential_id_unique";

fn document_of(passkey: &PasskeyRecord) -> Document {
    doc! {
        "_id": oid(passkey.id.bytes()),
        "user_id": oid(passkey.user_id.bytes()),
        "credential_id": &passkey.credential_id,
        "name": &passkey.name,
        "credential": &passkey.credential,
        "counter": i64::from(passkey.counter),
        "backup_eligible": passkey.backup_eligible,
        "backup_state": passkey.backup_state,
        "created_at": datetime(passkey.created_at),
        "last_used_at": passkey.last_used_at.map(datetime),
    }
}

fn record_of(document: &Document) -> Option<PasskeyRecord> {
    let when = |field: &str| match document.get(field) {
        Some(Bson::DateTime(at)) => Some(timestamp(*at)),
        _ => None,
    };
    Some(PasskeyRecord {
        id: PasskeyId::from_bytes(document.get_object_id("_id").ok()?.bytes()),
        user_id: UserId::from_bytes(document.get_object_id("user_id").ok()?.bytes()),
        credential_id: document.get_str("credential_id").ok()?.to_string(),
        name: document.get_str("name").ok()?.to_string(),
        credential: document.get_str("credential").ok()?.to_string(),
        counter: u32::try_from(document.get_i64("counter").ok()?).ok()?,
        backup_eligible: document.get_bool("backup_eligible").unwrap_or(false),
        backup_state: document.get_bool("backup_state").unwrap_or(false),
        created_at: when("created_at")?,
        last_used_at: when("last_used_at"),
    })
}

/// The `passkey_settings` document of the decoy key.
const DECOY_KEY: &str = "decoy-key";

fn purpose_fields(purpose: &CeremonyPurpose) -> Document {
    match purpose {
        CeremonyPurpose::Register(user_id) => {
            doc! { "purpose": "register", "user_id": oid(user_id.bytes()) }
        }
        CeremonyPurpose::SignIn => doc! { "purpose": "sign_in" },
        CeremonyPurpose::SignInAs(user_id) => {
            doc! { "purpose": "sign_in_as", "user_id": oid(user_id.bytes()) }
        }
        CeremonyPurpose::SecondFactor { mfa_token_sha256 } => {
            doc! { "purpose": "second_factor", "mfa_token_sha256": mfa_token_sha256 }
        }
    }
}

fn purpose_of(document: &Document) -> Option<CeremonyPurpose> {
    match document.get_str("purpose").ok()? {
        "register" => Some(CeremonyPurpose::Register(UserId::from_bytes(
            document.get_object_id("user_id").ok()?.bytes(),
        ))),
        "sign_in" => Some(CeremonyPurpose::SignIn),
        "sign_in_as" => Some(CeremonyPurpose::SignInAs(UserId::from_bytes(
            document.get_object_id("user_id").ok()?.bytes(),
        ))),
        "second_factor" => Some(CeremonyPurpose::SecondFactor {
            mfa_token_sha256: document.get_str("mfa_token_sha256").ok()?.to_string(),
        }),
        _ => None,
    }
}

impl PasskeyStore for MongoStore {
    async fn count_passkeys(&self, user_id: UserId) -> Stored<u64> {
        self.deployment().await?;
        Ok(self
            .passkeys
            .count_documents(doc! { "user_id": oid(user_id.bytes()) })
            .await?)
    }

    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Stored<bool> {
        self.deployment().await?;
        match self.passkeys.insert_one(document_of(passkey)).await {
            Ok(_) => {}
            Err(error) if is_duplicate_key(&error) => return Ok(false),
            Err(error) => return Err(error.into()),
        }
        let event = Event::PasskeyAdded {
            user_id: passkey.user_id,
            passkey_id: passkey.id,
        };
        self.record_event(None, &event).await?;
        Ok(true)
    }

    async fn passkeys_of(&self, user_id: UserId) -> Stored<Vec<PasskeyRecord>> {
        self.deployment().await?;
        let mut cursor = self
            .passkeys
            .find(doc! { "user_id": oid(user_id.bytes()) })
            .sort(doc! { "_id": 1 })
            .await?;
        let mut passkeys = Vec::new();
        while cursor.advance().await? {
            if let Some(passkey) = record_of(&cursor.deserialize_current()?) {
                passkeys.push(passkey);
            }
        }
        Ok(passkeys)
    }

    async fn passkey_by_credential(&self, credential_id: &str) -> Stored<Option<PasskeyRecord>> {
        self.deployment().await?;
        let document = self
            .passkeys
            .find_one(doc! { "credential_id": credential_id })
            .await?;
        Ok(document.as_ref().and_then(record_of))
    }

    async fn record_passkey_use(&self, used: &PasskeyRecord, seen_counter: u32) -> Stored<bool> {
        self.deployment().await?;
        let updated = self
            .passkeys
            .update_one(
                doc! { "_id": oid(used.id.bytes()), "counter": i64::from(seen_counter) },
                doc! { "$set": {
                    "credential": &used.credential,
                    "counter": i64::from(used.counter),
                    "backup_eligible": used.backup_eligible,
                    "backup_state": used.backup_state,
                    "last_used_at": used.last_used_at.map(datetime),
                } },
            )
            .await?;
        Ok(updated.matched_count == 1)
    }

    async fn remove_passkey(&self, user_id: UserId, passkey_id: PasskeyId) -> Stored<bool> {
        self.deployment().await?;
        let deleted = self
            .passkeys
            .delete_one(doc! { "_id": oid(passkey_id.bytes()), "user_id": oid(user_id.bytes()) })
            .await?;
        if deleted.deleted_count == 0 {
            return Ok(false);
        }
        let event = Event::PasskeyRemoved {
            user_id,
            passkey_id,
        };
        self.record_event(None, &event).await?;
        Ok(true)
    }

    async fn rename_passkey(
        &self,
        user_id: UserId,
        passkey_id: PasskeyId,
        name: &str,
    ) -> Stored<bool> {
        self.deployment().await?;
        let updated = self
            .passkeys
            .update_one(
                doc! { "_id": oid(passkey_id.bytes()), "user_id": oid(user_id.bytes()) },
                doc! { "$set": { "name": name } },
            )
            .await?;
        Ok(updated.matched_count == 1)
    }

    async fn insert_ceremony(&self, ceremony: &Ceremony) -> Stored<()> {
        self.deployment().await?;
        let mut document = doc! {
            "_id": &ceremony.digest,
            "state": &ceremony.state,
            "expires_at": datetime(ceremony.expires_at),
        };
        document.extend(purpose_fields(&ceremony.purpose));
        // A replace, so that a second factor's new begin takes the place of
        // the earlier one of its login (its id comes from the `mfa_token`);
        // every other id is random and new.
        self.passkey_ceremonies
            .replace_one(doc! { "_id": &ceremony.digest }, document)
            .upsert(true)
            .await?;
        Ok(())
    }

    async fn decoy_key(&self) -> Stored<[u8; 32]> {
        self.deployment().await?;
        let read = || async {
            let found = self
                .passkey_settings
                .find_one(doc! { "_id": DECOY_KEY })
                .await?;
            Ok::<_, StoreError>(found.and_then(|document| match document.get("key") {
                Some(Bson::Binary(binary)) => <[u8; 32]>::try_from(binary.bytes.as_slice()).ok(),
                _ => None,
            }))
        };
        if let Some(key) = read().await? {
            return Ok(key);
        }
        // The first use makes it; of two first uses racing, the insert that
        // lost reads the winner's.
        let mut key = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
        let binary = mongodb::bson::Binary {
            subtype: mongodb::bson::spec::BinarySubtype::Generic,
            bytes: key.to_vec(),
        };
        match self
            .passkey_settings
            .insert_one(doc! { "_id": DECOY_KEY, "key": binary })
            .await
        {
            Ok(_) => Ok(key),
            Err(error) if is_duplicate_key(&error) => read()
                .await?
                .ok_or_else(|| StoreError::Failed("a malformed decoy key".into())),
            Err(error) => Err(error.into()),
        }
    }

    async fn take_ceremony(&self, digest: &str, now: Timestamp) -> Stored<Option<Ceremony>> {
        self.deployment().await?;
        // A read, then the delete that decides: of two finishes racing, only
        // the one whose delete removed it goes on (no findAndModify:
        // docs/performance.md).
        let Some(document) = self
            .passkey_ceremonies
            .find_one(doc! { "_id": digest })
            .await?
        else {
            return Ok(None);
        };
        let deleted = self
            .passkey_ceremonies
            .delete_one(doc! { "_id": digest })
            .await?;
        if deleted.deleted_count != 1 {
            return Ok(None);
        }
        let expires_at = match document.get("expires_at") {
            Some(Bson::DateTime(at)) => timestamp(*at),
            _ => return Err(StoreError::Failed("a ceremony without expires_at".into())),
        };
        // The TTL monitor runs once a minute: an expired one may linger.
        if expires_at <= now {
            return Ok(None);
        }
        let (Some(purpose), Ok(state)) = (purpose_of(&document), document.get_str("state")) else {
            return Err(StoreError::Failed("a malformed ceremony".into()));
        };
        Ok(Some(Ceremony {
            digest: digest.to_string(),
            purpose,
            state: state.to_string(),
            expires_at,
        }))
    }
}
