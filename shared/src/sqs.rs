//! The inbound-queue adapter (`functions/ingest-events`): one SQS batch of
//! messages from the external system and back-office tools, parsed into
//! `domain::inbound` operations.
//!
//! Every message is applied or reported in `batchItemFailures` on its own, so
//! one bad message never fails or repeats its batch; SQS redelivers the
//! failed ones and moves them to the dead-letter queue after a few receives.
//! Every operation is idempotent (versioned writes, erasure of a missing user
//! succeeds), so a redelivered batch leaves the same state.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Map, Value};

use crate::domain::inbound::{self, Inbound, LinkedRecord};
use crate::domain::linking::{self, LinkVerification};
use crate::domain::ports::{LinkOffers, LinkedData, Users};
use crate::domain::values::{ExternalId, Timestamp, UserId};
use crate::domain::{DomainError, FieldError};

/// Why a message was not applied. The texts name fields and rules, never
/// values: the log line must not carry the payload's personal data.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("`op` is missing or not a string")]
    MissingOp,
    #[error("unknown op")]
    UnknownOp,
    #[error("`{}` {}", .0.field, .0.message)]
    BadField(FieldError),
    #[error("unexpected field (allowed: {allowed})")]
    UnexpectedField { allowed: &'static str },
    /// The cause is logged apart: it is ours, not the message's.
    #[error("{0}")]
    Failed(DomainError),
}

impl MessageError {
    /// Whether retrying could help: a malformed message fails the same way every time.
    fn is_invalid(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }
}

impl From<FieldError> for MessageError {
    fn from(error: FieldError) -> Self {
        Self::BadField(error)
    }
}

/// The Lambda handler.
pub async fn handler<S: Users + LinkedData + LinkOffers>(
    store: &S,
    links: LinkVerification,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    Ok(ingest(store, links, event.payload).await)
}

/// Applies the batch's messages in order; the failed ones are reported by id.
pub async fn ingest<S: Users + LinkedData + LinkOffers>(
    store: &S,
    links: LinkVerification,
    batch: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in batch.records {
        let message_id = message.message_id.unwrap_or_default();
        let now = Timestamp::now();
        let parsed = parse(message.body.as_deref().unwrap_or_default(), now);
        let op = parsed.as_ref().map_or("-", Inbound::op);
        let outcome = match parsed {
            Ok(parsed) => inbound::apply(store, parsed, links.trust(), now)
                .await
                .map_err(MessageError::Failed),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(outcome) => tracing::info!(message_id, op, outcome, "inbound message applied"),
            Err(error) => {
                let cause = match &error {
                    MessageError::Failed(failure) => failure.cause(),
                    _ => None,
                };
                tracing::warn!(
                    message_id,
                    op,
                    invalid = error.is_invalid(),
                    reason = %error,
                    cause,
                    "inbound message failed"
                );
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

/// Validates one message body.
pub fn parse(body: &str, now: Timestamp) -> Result<Inbound, MessageError> {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(body) else {
        return Err(MessageError::NotJson);
    };
    let Some(Value::String(op)) = fields.remove("op") else {
        return Err(MessageError::MissingOp);
    };
    match op.as_str() {
        "upsert_linked" => {
            only(
                &fields,
                &["external_id", "data", "version"],
                "external_id, data, version",
            )?;
            let Some(Value::Object(data)) = fields.remove("data") else {
                return Err(bad("data", "must be a JSON object"));
            };
            let data = LinkedRecord::parse(data)?;
            Ok(Inbound::UpsertLinked {
                external_id: external_id(&fields)?,
                data,
                version: version(&fields)?,
            })
        }
        "delete_linked" => {
            only(&fields, &["external_id", "version"], "external_id, version")?;
            Ok(Inbound::DeleteLinked {
                external_id: external_id(&fields)?,
                version: version(&fields)?,
            })
        }
        "erase_user" => {
            only(&fields, &["user_id"], "user_id")?;
            let user_id = fields
                .get("user_id")
                .and_then(Value::as_str)
                .ok_or(bad("user_id", "must be a string"))?;
            Ok(Inbound::EraseUser {
                user_id: UserId::parse(user_id)?,
            })
        }
        "link_user" => {
            only(&fields, &["user_id", "external_id"], "user_id, external_id")?;
            let user_id = fields
                .get("user_id")
                .and_then(Value::as_str)
                .ok_or(bad("user_id", "must be a string"))?;
            Ok(Inbound::LinkUser {
                user_id: UserId::parse(user_id)?,
                external_id: external_id(&fields)?,
            })
        }
        "offer_link" => {
            only(
                &fields,
                &["external_id", "code_sha256", "expires_at"],
                "external_id, code_sha256, expires_at",
            )?;
            let text = |field: &'static str| {
                fields
                    .get(field)
                    .and_then(Value::as_str)
                    .ok_or(bad(field, "must be a string"))
            };
            let expires_at = Timestamp::parse_rfc3339(text("expires_at")?)
                .ok_or(bad("expires_at", "must be an RFC 3339 date-time"))?;
            let offer =
                linking::offer(external_id(&fields)?, text("code_sha256")?, expires_at, now)?;
            Ok(Inbound::OfferLink(offer))
        }
        _ => Err(MessageError::UnknownOp),
    }
}

/// A typo (`versoin`) must not pass as a message without that field.
fn only(
    fields: &Map<String, Value>,
    allowed: &[&str],
    listed: &'static str,
) -> Result<(), MessageError> {
    if fields.keys().all(|key| allowed.contains(&key.as_str())) {
        Ok(())
    } else {
        Err(MessageError::UnexpectedField { allowed: listed })
    }
}

fn bad(field: &str, problem: &str) -> MessageError {
    MessageError::BadField(FieldError::new(field, problem))
}

/// The same rule as `PUT /users/{id}/link_id/`.
fn external_id(fields: &Map<String, Value>) -> Result<ExternalId, MessageError> {
    let value = fields
        .get("external_id")
        .and_then(Value::as_str)
        .ok_or(bad("external_id", "must be a string"))?;
    Ok(ExternalId::parse(value)?)
}

fn version(fields: &Map<String, Value>) -> Result<i64, MessageError> {
    fields
        .get("version")
        .and_then(Value::as_i64)
        .filter(|version| *version >= 0)
        .ok_or(bad("version", "must be a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> String {
        parse(body, Timestamp::now()).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_op() {
        let upsert = parse(
            r#"{"op":"upsert_linked","external_id":"crm-1","data":{"plan":"gold","n":2},"version":3}"#,
            Timestamp::now(),
        )
        .unwrap();
        assert!(matches!(upsert, Inbound::UpsertLinked { version: 3, .. }));
        let delete = parse(
            r#"{"op":"delete_linked","external_id":"crm-1","version":4}"#,
            Timestamp::now(),
        )
        .unwrap();
        assert!(matches!(delete, Inbound::DeleteLinked { version: 4, .. }));
        let erase = parse(
            r#"{"op":"erase_user","user_id":"6b0950a1e2f3a4b5c6d7e8f9"}"#,
            Timestamp::now(),
        )
        .unwrap();
        assert!(matches!(erase, Inbound::EraseUser { .. }));
        let link = parse(
            r#"{"op":"link_user","user_id":"6b0950a1e2f3a4b5c6d7e8f9","external_id":"crm-42"}"#,
            Timestamp::now(),
        )
        .unwrap();
        assert!(matches!(link, Inbound::LinkUser { .. }));
        let now = Timestamp::parse_rfc3339("2026-12-02T10:00:00Z").unwrap();
        let digest = "ab".repeat(32);
        let offer = |expires: &str| {
            parse(
                &format!(
                    r#"{{"op":"offer_link","external_id":"crm-42","code_sha256":"{digest}","expires_at":"{expires}"}}"#
                ),
                now,
            )
        };
        assert!(matches!(
            offer("2026-12-02T10:30:00Z"),
            Ok(Inbound::OfferLink(_))
        ));
        assert_eq!(
            offer("2026-12-02T11:30:00Z").unwrap_err().to_string(),
            "`expires_at` must be in the future, at most an hour ahead"
        );
        assert_eq!(
            offer("tomorrow").unwrap_err().to_string(),
            "`expires_at` must be an RFC 3339 date-time"
        );
    }

    #[test]
    fn refusals_name_the_rule_never_the_value() {
        let secret = "ada@example.com";
        let cases = [
            format!("not json {secret}"),
            format!(r#"["{secret}"]"#),
            format!(r#"{{"op":"{secret}"}}"#),
            format!(r#"{{"external_id":"{secret}"}}"#),
            format!(r#"{{"op":"upsert_linked","external_id":"x","data":"{secret}","version":1}}"#),
            format!(
                r#"{{"op":"upsert_linked","external_id":"x","data":{{"_id":"{secret}"}},"version":1}}"#
            ),
            format!(
                r#"{{"op":"upsert_linked","external_id":"x","data":{{"a":{{"$where":"{secret}"}}}},"version":1}}"#
            ),
            format!(
                r#"{{"op":"upsert_linked","external_id":"x","data":{{}},"version":"{secret}"}}"#
            ),
            r#"{"op":"upsert_linked","external_id":"x","data":{},"version":-1}"#.to_string(),
            r#"{"op":"upsert_linked","external_id":"x","data":{},"version":1.5}"#.to_string(),
            format!(r#"{{"op":"delete_linked","external_id":"x","version":1,"{secret}":1}}"#),
            r#"{"op":"delete_linked","external_id":"","version":1}"#.to_string(),
            format!(r#"{{"op":"erase_user","user_id":"{secret}"}}"#),
        ];
        for body in cases {
            let reason = refused(&body);
            assert!(!reason.contains(secret), "{reason}");
        }
        assert_eq!(refused("{"), "the body is not a JSON object");
        assert_eq!(refused(r#"{"op":"drop_all"}"#), "unknown op");
        assert_eq!(
            refused(r#"{"op":"delete_linked","external_id":"x","version":1.5}"#),
            "`version` must be a non-negative integer"
        );
    }
}
