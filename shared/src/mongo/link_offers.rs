//! One-time link codes the owning system offered: by the code's SHA-256,
//! with the id they link and their expiry (index `link_offers_expire`
//! removes them after it).

use mongodb::bson::doc;

use super::{datetime, MongoStore};
use crate::domain::ports::{LinkOffer, LinkOffers, Stored};
use crate::domain::values::{ExternalId, Timestamp};

impl LinkOffers for MongoStore {
    async fn offer_link(&self, offer: &LinkOffer) -> Stored<()> {
        self.deployment().await?;
        self.link_offers
            .replace_one(
                doc! { "_id": &offer.code_sha256 },
                doc! {
                    "_id": &offer.code_sha256,
                    "external_id": offer.external_id.as_str(),
                    "expires_at": datetime(offer.expires_at),
                },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Deleting it is what uses it: of two redemptions at once, one wins.
    /// The attempt is charged first (`$inc` is atomic), so the comparison
    /// sees every attempt made before it.
    async fn redeem_link_offer(
        &self,
        external_id: &ExternalId,
        code_sha256: &str,
        max_attempts: i64,
        now: Timestamp,
    ) -> Stored<bool> {
        self.deployment().await?;
        let live = doc! {
            "external_id": external_id.as_str(),
            "expires_at": { "$gt": datetime(now) },
        };
        self.link_offers
            .update_many(live.clone(), doc! { "$inc": { "attempts": 1_i64 } })
            .await?;
        let mut this_code = live;
        this_code.insert("_id", code_sha256);
        this_code.insert("attempts", doc! { "$lte": max_attempts });
        // A delete, not a findAndModify (a pass over the whole collection
        // on SecantusDB when it matches): only whether it was there counts.
        if self.link_offers.delete_one(this_code).await?.deleted_count == 1 {
            return Ok(true);
        }
        // Burned, whoever guessed: a new offer (a new code) starts over.
        self.link_offers
            .delete_many(doc! {
                "external_id": external_id.as_str(),
                "attempts": { "$gte": max_attempts },
            })
            .await?;
        Ok(false)
    }
}
