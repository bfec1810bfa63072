//! Authorization codes: by the code's SHA-256, with what the code is bound
//! to. Index `authorization_codes_expire` removes them at `expires_at`,
//! minutes after they stop being exchangeable (`valid_until`), so that a
//! late replay is still recognised.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, DateTime};
use serde::{Deserialize, Serialize};

use super::{datetime, oid, timestamp, MongoStore};
use crate::domain::ports::{AuthorizationCodes, CodeRecord, Stored};
use crate::domain::records::Authentication;
use crate::domain::values::{SessionId, UserId};

#[derive(Debug, Serialize, Deserialize)]
struct CodeDocument {
    #[serde(rename = "_id")]
    digest: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    scope: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    resources: Vec<String>,
    user_id: ObjectId,
    otp: bool,
    /// The sign-in's `amr` (codes from before it: `otp` alone says it).
    #[serde(default)]
    amr: Option<Vec<String>>,
    auth_time: i64,
    valid_until: DateTime,
    expires_at: DateTime,
    spent_by: Option<ObjectId>,
}

impl From<&CodeRecord> for CodeDocument {
    fn from(code: &CodeRecord) -> Self {
        Self {
            digest: code.digest.clone(),
            client_id: code.client_id.clone(),
            redirect_uri: code.redirect_uri.clone(),
            code_challenge: code.code_challenge.clone(),
            nonce: code.nonce.clone(),
            scope: code.scope.clone(),
            resources: code.resources.clone(),
            user_id: oid(code.user_id.bytes()),
            otp: code.auth.otp,
            amr: Some(code.auth.amr()),
            auth_time: i64::try_from(code.auth.auth_time).unwrap_or(i64::MAX),
            valid_until: datetime(code.valid_until),
            expires_at: datetime(code.expires_at),
            spent_by: code.spent_by.map(|session| oid(session.bytes())),
        }
    }
}

impl From<CodeDocument> for CodeRecord {
    fn from(document: CodeDocument) -> Self {
        Self {
            digest: document.digest,
            client_id: document.client_id,
            redirect_uri: document.redirect_uri,
            code_challenge: document.code_challenge,
            nonce: document.nonce,
            scope: document.scope,
            resources: document.resources,
            user_id: UserId::from_bytes(document.user_id.bytes()),
            auth: {
                let auth_time = u64::try_from(document.auth_time).unwrap_or(0);
                match document.amr {
                    Some(amr) => Authentication::from_amr(&amr, auth_time),
                    None if document.otp => Authentication {
                        otp: true,
                        auth_time,
                        passkey: None,
                    },
                    None => Authentication {
                        auth_time,
                        ..Authentication::default()
                    },
                }
            },
            valid_until: timestamp(document.valid_until),
            expires_at: timestamp(document.expires_at),
            spent_by: document
                .spent_by
                .map(|session| SessionId::from_bytes(session.bytes())),
        }
    }
}

impl AuthorizationCodes for MongoStore {
    async fn insert_code(&self, code: &CodeRecord) -> Stored<()> {
        self.deployment().await?;
        self.codes
            .clone_with_type::<CodeDocument>()
            .insert_one(CodeDocument::from(code))
            .await?;
        Ok(())
    }

    async fn find_code(&self, digest: &str) -> Stored<Option<CodeRecord>> {
        self.deployment().await?;
        let found = self
            .codes
            .clone_with_type::<CodeDocument>()
            .find_one(doc! { "_id": digest })
            .await?;
        Ok(found.map(CodeRecord::from))
    }

    /// An update matched on "not spent yet", not a findAndModify (a pass
    /// over the whole collection on SecantusDB when it matches): the
    /// matched count says which of two exchanges won.
    async fn spend_code(&self, digest: &str, session: SessionId) -> Stored<bool> {
        self.deployment().await?;
        let updated = self
            .codes
            .update_one(
                doc! { "_id": digest, "spent_by": null },
                doc! { "$set": { "spent_by": oid(session.bytes()) } },
            )
            .await?;
        Ok(updated.matched_count == 1)
    }
}
