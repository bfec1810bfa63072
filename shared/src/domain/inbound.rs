//! Operations other systems send over the inbound queue: versioned writes of
//! their linked records, and erasure of a user. Every one is idempotent, so a
//! redelivered message leaves the same state.

use serde_json::{Map, Value};

use super::accounts::erase_user;
use super::error::{DomainError, FieldError};
use super::ports::{LinkKind, LinkOffer, LinkOffers, LinkTrust, LinkedData, LinkedWrite, Users};
use super::values::{ExternalId, Timestamp, UserId};

/// Fields a record's `data` may not set: the store's own, and `user_id`,
/// through which a record would attach itself to any user it names.
pub const RESERVED_DATA_FIELDS: [&str; 4] = ["_id", "version", "deleted_at", "user_id"];

/// One inbound operation, validated.
#[derive(Debug)]
pub enum Inbound {
    UpsertLinked {
        external_id: ExternalId,
        data: LinkedRecord,
        version: i64,
    },
    DeleteLinked {
        external_id: ExternalId,
        version: i64,
    },
    EraseUser {
        user_id: UserId,
    },
    /// The owning system links the id to the user: authoritative, it takes
    /// the id from whoever had it.
    LinkUser {
        user_id: UserId,
        external_id: ExternalId,
    },
    /// The owning system offers a one-time code for the id.
    OfferLink(LinkOffer),
}

impl Inbound {
    pub fn op(&self) -> &'static str {
        match self {
            Self::UpsertLinked { .. } => "upsert_linked",
            Self::DeleteLinked { .. } => "delete_linked",
            Self::EraseUser { .. } => "erase_user",
            Self::LinkUser { .. } => "link_user",
            Self::OfferLink(_) => "offer_link",
        }
    }
}

/// A linked record's fields: a JSON object with none of the reserved fields
/// and no field name starting with `$` at any depth (MongoDB reads those as
/// operators).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedRecord(Map<String, Value>);

impl LinkedRecord {
    pub fn parse(data: Map<String, Value>) -> Result<Self, FieldError> {
        if let Some(reserved) = RESERVED_DATA_FIELDS.iter().find(|f| data.contains_key(**f)) {
            return Err(FieldError::new(&format!("data.{reserved}"), "is reserved"));
        }
        if has_operator_name(&data) {
            return Err(FieldError::new(
                "data",
                "must not have field names starting with `$`",
            ));
        }
        Ok(Self(data))
    }

    pub fn into_inner(self) -> Map<String, Value> {
        self.0
    }
}

fn has_operator_name(object: &Map<String, Value>) -> bool {
    fn any(value: &Value) -> bool {
        match value {
            Value::Object(object) => has_operator_name(object),
            Value::Array(items) => items.iter().any(any),
            _ => false,
        }
    }
    object
        .iter()
        .any(|(key, value)| key.starts_with('$') || any(value))
}

/// Applies one operation; what it did, for the log.
pub async fn apply<S: Users + LinkedData + LinkOffers>(
    store: &S,
    message: Inbound,
    trust: LinkTrust,
    now: Timestamp,
) -> Result<&'static str, DomainError> {
    let written = match message {
        Inbound::UpsertLinked {
            external_id,
            data,
            version,
        } => {
            store
                .upsert_linked(&external_id, data.into_inner(), version)
                .await?
        }
        Inbound::DeleteLinked {
            external_id,
            version,
        } => store.delete_linked(&external_id, version).await?,
        Inbound::EraseUser { user_id } => {
            erase_user(store, user_id, now, trust).await?;
            return Ok("erased");
        }
        Inbound::LinkUser {
            user_id,
            external_id,
        } => {
            return if store
                .link_external_id(user_id, &external_id, LinkKind::Authoritative)
                .await?
            {
                Ok("linked")
            } else {
                Err(DomainError::UnknownUser)
            };
        }
        Inbound::OfferLink(offer) => {
            store.offer_link(&offer).await?;
            return Ok("offered");
        }
    };
    Ok(match written {
        LinkedWrite::Applied => "applied",
        LinkedWrite::Stale => "stale or duplicate: no change",
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::memory::MemoryStore;

    fn record(value: Value) -> LinkedRecord {
        LinkedRecord::parse(value.as_object().unwrap().clone()).unwrap()
    }

    fn upsert(id: &str, plan: &str, version: i64) -> Inbound {
        Inbound::UpsertLinked {
            external_id: ExternalId::parse(id).unwrap(),
            data: record(json!({ "plan": plan })),
            version,
        }
    }

    fn delete(id: &str, version: i64) -> Inbound {
        Inbound::DeleteLinked {
            external_id: ExternalId::parse(id).unwrap(),
            version,
        }
    }

    #[tokio::test]
    async fn only_a_newer_version_applies_in_any_arrival_order() {
        let store = MemoryStore::default();
        let now = Timestamp::now();
        assert_eq!(
            apply(
                &store,
                upsert("crm-1", "gold", 2),
                LinkTrust::ProvenOnly,
                now
            )
            .await
            .unwrap(),
            "applied"
        );
        let stale = apply(
            &store,
            upsert("crm-1", "silver", 1),
            LinkTrust::ProvenOnly,
            now,
        )
        .await
        .unwrap();
        assert_eq!(stale, "stale or duplicate: no change");
        let duplicate = apply(
            &store,
            upsert("crm-1", "gold", 2),
            LinkTrust::ProvenOnly,
            now,
        )
        .await
        .unwrap();
        assert_eq!(duplicate, "stale or duplicate: no change");
        assert_eq!(store.linked_record("crm-1").unwrap()["plan"], "gold");
        apply(
            &store,
            upsert("crm-1", "platinum", 3),
            LinkTrust::ProvenOnly,
            now,
        )
        .await
        .unwrap();
        assert_eq!(store.linked_record("crm-1").unwrap()["plan"], "platinum");
    }

    #[tokio::test]
    async fn a_delete_leaves_a_tombstone_that_keeps_older_upserts_out() {
        let store = MemoryStore::default();
        let now = Timestamp::now();
        apply(
            &store,
            upsert("crm-1", "gold", 1),
            LinkTrust::ProvenOnly,
            now,
        )
        .await
        .unwrap();
        apply(&store, delete("crm-1", 3), LinkTrust::ProvenOnly, now)
            .await
            .unwrap();
        let late = apply(
            &store,
            upsert("crm-1", "silver", 2),
            LinkTrust::ProvenOnly,
            now,
        )
        .await
        .unwrap();
        assert_eq!(late, "stale or duplicate: no change");
        assert!(store
            .linked_record("crm-1")
            .unwrap()
            .get("deleted_at")
            .is_some());
        apply(
            &store,
            upsert("crm-1", "back", 4),
            LinkTrust::ProvenOnly,
            now,
        )
        .await
        .unwrap();
        assert_eq!(store.linked_record("crm-1").unwrap()["plan"], "back");
        // A delete of a record never seen also leaves its tombstone.
        apply(&store, delete("crm-9", 5), LinkTrust::ProvenOnly, now)
            .await
            .unwrap();
        let older = apply(&store, upsert("crm-9", "x", 4), LinkTrust::ProvenOnly, now)
            .await
            .unwrap();
        assert_eq!(older, "stale or duplicate: no change");
    }

    #[tokio::test]
    async fn erasing_a_missing_user_succeeds() {
        let store = MemoryStore::default();
        let erased = apply(
            &store,
            Inbound::EraseUser {
                user_id: UserId::new(),
            },
            LinkTrust::ProvenOnly,
            Timestamp::now(),
        )
        .await
        .unwrap();
        assert_eq!(erased, "erased");
    }

    #[test]
    fn reserved_and_operator_fields_are_refused() {
        for (data, field) in [
            (json!({"_id": 1}), "data._id"),
            (json!({"version": 1}), "data.version"),
            (json!({"deleted_at": 1}), "data.deleted_at"),
            (
                json!({"user_id": "6b0950a1e2f3a4b5c6d7e8f9"}),
                "data.user_id",
            ),
            (json!({"a": [{"$where": "1"}]}), "data"),
            (json!({"$set": {}}), "data"),
        ] {
            let error = LinkedRecord::parse(data.as_object().unwrap().clone()).unwrap_err();
            assert_eq!(error.field, field);
        }
    }
}
