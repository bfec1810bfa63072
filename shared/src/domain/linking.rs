//! Linking a user to an id of the external system, with proof from that
//! system. Under `LINK_VERIFICATION=required` (the default) an id is linked
//! only by the owning system (an inbound `link_user` message) or with a
//! one-time code it offered (`offer_link`) and showed its user; the profile
//! and the delete cascade follow proven links only. Under `off` a user's
//! word is enough, as in the original API: unsafe, since anyone could claim
//! anyone's record.

use sha2::{Digest, Sha256};

use super::audit;
use super::error::{DomainError, FieldError};
use super::ports::{LinkKind, LinkOffer, LinkOffers, LinkTrust, LoginAttempts, Sessions, Users};
use super::sessions::ensure_session_open;
use super::throttle::{admit, Admission};
use super::tokens::Caller;
use super::values::{hex, ExternalId, Timestamp};

/// Codes tried against an id's offers, by anyone, before they are burned:
/// the per-user lock alone lets many accounts share the guessing.
pub const OFFER_ATTEMPTS: i64 = 5;
/// How long an offered code may live at most.
pub const MAX_OFFER_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkVerification {
    Required,
    Off,
}

impl LinkVerification {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "required" => Some(Self::Required),
            "off" => Some(Self::Off),
            _ => None,
        }
    }

    /// Which links the profile and the delete cascade follow.
    pub fn trust(self) -> LinkTrust {
        match self {
            Self::Required => LinkTrust::ProvenOnly,
            Self::Off => LinkTrust::Any,
        }
    }
}

/// A one-time link code as the user typed it.
pub struct LinkCode(secrecy::SecretString);

impl LinkCode {
    pub fn parse(raw: String) -> Result<Self, FieldError> {
        if (1..=128).contains(&raw.chars().count()) {
            Ok(Self(raw.into()))
        } else {
            Err(FieldError::new("link_code", "must be 1 to 128 characters"))
        }
    }

    /// What the owning system offered: the code's SHA-256, hex.
    pub fn digest(&self) -> String {
        use secrecy::ExposeSecret;
        hex(&Sha256::digest(self.0.expose_secret().trim().as_bytes()))
    }
}

impl std::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkCode([REDACTED])")
    }
}

/// `PUT /users/{id}/link_id/`: under `required` only with a code the owning
/// system offered for this id; wrong codes are throttled like passwords.
pub async fn link_external_id<S: Users + Sessions + LoginAttempts + LinkOffers>(
    store: &S,
    caller: &Caller,
    external_id: &ExternalId,
    code: Option<LinkCode>,
    verification: LinkVerification,
    now: Timestamp,
) -> Result<(), DomainError> {
    ensure_session_open(store, caller, now).await?;
    let how = match verification {
        LinkVerification::Off => LinkKind::Claimed,
        LinkVerification::Required => {
            let code = code.ok_or_else(|| {
                DomainError::invalid(FieldError::new(
                    "link_code",
                    "field required: linking needs the code the external system gave you",
                ))
            })?;
            let key = format!("link:{}", caller.user_id);
            if let Admission::Locked { retry_after } = admit(store, &key, now).await? {
                return Err(DomainError::TooManyAttempts { retry_after });
            }
            if !store
                .redeem_link_offer(external_id, &code.digest(), OFFER_ATTEMPTS, now)
                .await?
            {
                audit::user_event("link_code_refused", &caller.user_id.to_hex());
                return Err(DomainError::LinkCodeInvalid);
            }
            store.clear_count(&key).await?;
            LinkKind::Proven
        }
    };
    if store
        .link_external_id(caller.user_id, external_id, how)
        .await?
    {
        Ok(())
    } else {
        Err(DomainError::UnknownUser)
    }
}

/// An offer checked: a 64-hex-digit SHA-256 and an expiry within the hour.
pub fn offer(
    external_id: ExternalId,
    code_sha256: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<LinkOffer, FieldError> {
    let is_digest = code_sha256.len() == 64 && code_sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_digest {
        return Err(FieldError::new(
            "code_sha256",
            "must be 64 hexadecimal digits",
        ));
    }
    if expires_at <= now || now.until(expires_at) > MAX_OFFER_LIFETIME {
        return Err(FieldError::new(
            "expires_at",
            "must be in the future, at most an hour ahead",
        ));
    }
    Ok(LinkOffer {
        code_sha256: code_sha256.to_ascii_lowercase(),
        external_id,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::full_profile;
    use crate::domain::ports::LinkedData;
    use crate::memory::{test_issuer, MemoryStore};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
    }

    fn id(raw: &str) -> ExternalId {
        ExternalId::parse(raw).unwrap()
    }

    fn code(raw: &str) -> LinkCode {
        LinkCode::parse(raw.into()).unwrap()
    }

    async fn caller(store: &MemoryStore) -> Caller {
        let user_id = store.a_user();
        let (session, _) = test_issuer().open_session(user_id, at(0));
        assert!(store.insert_session(&session).await.unwrap());
        Caller {
            user_id,
            session_id: session.id,
            auth: session.auth,
        }
    }

    async fn offered(store: &MemoryStore, external_id: &str, raw_code: &str) {
        let digest = code(raw_code).digest();
        let offer = offer(id(external_id), &digest, at(600), at(0)).unwrap();
        store.offer_link(&offer).await.unwrap();
    }

    #[tokio::test]
    async fn a_claim_without_proof_is_refused_and_shows_nothing() {
        let store = MemoryStore::default();
        let ada = caller(&store).await;
        store
            .upsert_linked(
                &id("crm-42"),
                serde_json::json!({"iban": "X"})
                    .as_object()
                    .unwrap()
                    .clone(),
                1,
            )
            .await
            .unwrap();
        let missing = link_external_id(
            &store,
            &ada,
            &id("crm-42"),
            None,
            LinkVerification::Required,
            at(1),
        )
        .await;
        assert!(
            matches!(missing, Err(DomainError::Invalid(errors)) if errors[0].field == "link_code")
        );
        let wrong = link_external_id(
            &store,
            &ada,
            &id("crm-42"),
            Some(code("guess")),
            LinkVerification::Required,
            at(1),
        )
        .await;
        assert!(matches!(wrong, Err(DomainError::LinkCodeInvalid)));
        let profile = full_profile(&store, &ada, at(2), LinkTrust::ProvenOnly)
            .await
            .unwrap();
        assert_eq!(profile.external_id, None);
        assert!(profile.linked_data.is_empty());
    }

    #[tokio::test]
    async fn an_offered_code_links_once_and_expires() {
        let store = MemoryStore::default();
        let (ada, bob) = (caller(&store).await, caller(&store).await);
        offered(&store, "crm-42", "483-211").await;
        // A code for another id does not link this one.
        let other = link_external_id(
            &store,
            &ada,
            &id("crm-7"),
            Some(code("483-211")),
            LinkVerification::Required,
            at(1),
        )
        .await;
        assert!(matches!(other, Err(DomainError::LinkCodeInvalid)));
        link_external_id(
            &store,
            &ada,
            &id("crm-42"),
            Some(code(" 483-211 ")),
            LinkVerification::Required,
            at(1),
        )
        .await
        .unwrap();
        let again = link_external_id(
            &store,
            &bob,
            &id("crm-42"),
            Some(code("483-211")),
            LinkVerification::Required,
            at(2),
        )
        .await;
        assert!(
            matches!(again, Err(DomainError::LinkCodeInvalid)),
            "a code works once"
        );
        offered(&store, "crm-9", "111").await;
        let late = link_external_id(
            &store,
            &bob,
            &id("crm-9"),
            Some(code("111")),
            LinkVerification::Required,
            at(601),
        )
        .await;
        assert!(
            matches!(late, Err(DomainError::LinkCodeInvalid)),
            "the offer expired"
        );
    }

    #[tokio::test]
    async fn wrong_codes_are_throttled_like_passwords() {
        let store = MemoryStore::default();
        let ada = caller(&store).await;
        offered(&store, "crm-42", "right").await;
        for _ in 0..5 {
            let wrong = link_external_id(
                &store,
                &ada,
                &id("crm-42"),
                Some(code("wrong")),
                LinkVerification::Required,
                at(1),
            )
            .await;
            assert!(matches!(wrong, Err(DomainError::LinkCodeInvalid)));
        }
        let locked = link_external_id(
            &store,
            &ada,
            &id("crm-42"),
            Some(code("right")),
            LinkVerification::Required,
            at(1),
        )
        .await;
        assert!(matches!(locked, Err(DomainError::TooManyAttempts { .. })));
        // Once the lock ends, the offer is gone too (five wrong codes burned
        // it); the owning system's new offer, with a new code, starts over.
        let burned = link_external_id(
            &store,
            &ada,
            &id("crm-42"),
            Some(code("right")),
            LinkVerification::Required,
            at(3),
        )
        .await;
        assert!(matches!(burned, Err(DomainError::LinkCodeInvalid)));
        offered(&store, "crm-42", "new").await;
        link_external_id(
            &store,
            &ada,
            &id("crm-42"),
            Some(code("new")),
            LinkVerification::Required,
            at(20),
        )
        .await
        .unwrap();
    }

    /// `wrong` codes for one offer, each from a fresh account (none of them
    /// is locked itself), then the right code from another: its answer.
    async fn right_code_after_wrong_ones_from_others(wrong: usize) -> Result<(), DomainError> {
        let store = MemoryStore::default();
        offered(&store, "crm-42", "right").await;
        for guess in 0..wrong {
            let guesser = caller(&store).await;
            let code = code(&format!("wrong-{guess}"));
            let answer = link_external_id(
                &store,
                &guesser,
                &id("crm-42"),
                Some(code),
                LinkVerification::Required,
                at(1),
            )
            .await;
            assert!(matches!(answer, Err(DomainError::LinkCodeInvalid)));
        }
        let owner = caller(&store).await;
        link_external_id(
            &store,
            &owner,
            &id("crm-42"),
            Some(code("right")),
            LinkVerification::Required,
            at(2),
        )
        .await
    }

    /// Finding 2: the budget is the offer's, whoever guesses: after five
    /// wrong codes from five accounts the right one is refused (burned),
    /// after four it still links.
    #[tokio::test]
    async fn an_offer_dies_after_five_wrong_codes_from_any_number_of_accounts() {
        assert!(matches!(
            right_code_after_wrong_ones_from_others(5).await,
            Err(DomainError::LinkCodeInvalid)
        ));
        right_code_after_wrong_ones_from_others(4)
            .await
            .expect("four wrong codes leave the offer usable");
    }

    #[tokio::test]
    async fn off_links_on_the_users_word_as_the_original_did() {
        let store = MemoryStore::default();
        let ada = caller(&store).await;
        link_external_id(
            &store,
            &ada,
            &id("crm-42"),
            None,
            LinkVerification::Off,
            at(1),
        )
        .await
        .unwrap();
        let profile = full_profile(&store, &ada, at(2), LinkTrust::Any)
            .await
            .unwrap();
        assert_eq!(profile.external_id.as_deref(), Some("crm-42"));
        let strict = full_profile(&store, &ada, at(2), LinkTrust::ProvenOnly)
            .await
            .unwrap();
        assert_eq!(
            strict.external_id, None,
            "an unproven link is not shown under required"
        );
    }

    #[test]
    fn offers_are_checked() {
        let digest = "a".repeat(64);
        assert!(offer(id("x"), &digest, at(3600), at(0)).is_ok());
        assert_eq!(
            offer(id("x"), "abc", at(60), at(0)).unwrap_err().field,
            "code_sha256"
        );
        assert_eq!(
            offer(id("x"), &digest, at(3601), at(0)).unwrap_err().field,
            "expires_at"
        );
        assert_eq!(
            offer(id("x"), &digest, at(0), at(0)).unwrap_err().field,
            "expires_at"
        );
    }
}
