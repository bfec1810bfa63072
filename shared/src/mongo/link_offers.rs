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
    async fn redeem_link_offer(
        &self,
        external_id: &ExternalId,
        code_sha256: &str,
        now: Timestamp,
    ) -> Stored<bool> {
        self.deployment().await?;
        let taken = self
            .link_offers
            .find_one_and_delete(doc! {
                "_id": code_sha256,
                "external_id": external_id.as_str(),
                "expires_at": { "$gt": datetime(now) },
            })
            .await?;
        Ok(taken.is_some())
    }
}
