//! `functions/publish-events`: sends the outbox to an EventBridge bus.
//!
//! Entries go in order (`occurred_at`, then id), up to ten per `PutEvents`
//! call. After each call the entries up to the first one EventBridge refused
//! are marked published; the first refusal or failed call ends the run, so
//! nothing is sent ahead of an entry still waiting, and the next run (the
//! schedule, every minute) starts again from it. An entry sent whose marking
//! then fails is sent again: delivery is at least once, and consumers
//! de-duplicate on `detail.id`, which never changes.

use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::bson_json::document_to_json;
use crate::config::{ConfigError, Environment, ProcessEnvironment};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{OutboxEntry, UserStore};

/// `source` of every event.
pub const SOURCE: &str = "user-management-api";
/// EventBridge's limit of entries per `PutEvents` call.
pub const BATCH_SIZE: usize = 10;
/// Calls per run at most, so one run stays well inside its timeout; the
/// schedule picks up the rest a minute later.
const MAX_BATCHES_PER_RUN: usize = 50;

/// The EventBridge client and the bus it sends to.
pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl Publisher {
    /// From the environment: `EVENT_BUS_NAME`, and the SDK's usual settings.
    /// aws-config itself honours `AWS_ENDPOINT_URL_EVENTBRIDGE` and
    /// `AWS_ENDPOINT_URL` (a local stand-in).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let bus = ProcessEnvironment
            .var("EVENT_BUS_NAME")
            .ok_or(ConfigError::Missing {
                variable: "EVENT_BUS_NAME",
            })?;
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::http_client())
            .load()
            .await;
        Ok(Self::new(
            aws_sdk_eventbridge::Client::new(&sdk_config),
            bus,
        ))
    }

    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self { client, bus }
    }

    fn entry(&self, event: &OutboxEntry) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(&event.kind)
            .detail(detail(event).to_string())
            .time(AwsDateTime::from_millis(
                event.occurred_at.timestamp_millis(),
            ))
            .build()
    }
}

/// What `detail` holds: the event id, its type and time, then its own fields
/// (ids only).
pub fn detail(event: &OutboxEntry) -> Value {
    let mut detail = serde_json::json!({
        "id": event.id.to_hex(),
        "type": event.kind,
        "occurred_at": event.occurred_at.try_to_rfc3339_string().unwrap_or_default(),
    });
    if let (Value::Object(detail), Value::Object(fields)) =
        (&mut detail, document_to_json(event.detail.clone()))
    {
        detail.extend(fields);
    }
    detail
}

/// The answer of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub published: u64,
    pub remaining: u64,
}

/// The Lambda handler, for the schedule and for direct invocation alike (the
/// payload is ignored).
pub async fn handler(
    state: &AppState,
    publisher: &Publisher,
    _event: LambdaEvent<Value>,
) -> Result<Summary, Error> {
    Ok(publish(&state.store, publisher).await?)
}

/// Sends what the outbox holds, in order, until it is empty, a send fails, or
/// the run's budget is spent. A refused send is not an error of the run: it is
/// logged, and the entries wait for the next one (`remaining` says how many).
pub async fn publish(store: &UserStore, publisher: &Publisher) -> Result<Summary, ApiError> {
    let mut published = 0;
    for _ in 0..MAX_BATCHES_PER_RUN {
        let batch = store.unpublished_events(BATCH_SIZE as i64).await?;
        if batch.is_empty() {
            break;
        }
        let sent = send(publisher, &batch).await;
        let ids: Vec<_> = batch[..sent].iter().map(|event| event.id).collect();
        store.mark_events_published(&ids).await?;
        published += sent as u64;
        if sent < batch.len() {
            break;
        }
    }
    let remaining = store.count_unpublished_events().await?;
    tracing::info!(published, remaining, "outbox published");
    Ok(Summary {
        published,
        remaining,
    })
}

/// How many entries of `batch`, from the first, EventBridge accepted.
async fn send(publisher: &Publisher, batch: &[OutboxEntry]) -> usize {
    let request = publisher
        .client
        .put_events()
        .set_entries(Some(
            batch.iter().map(|event| publisher.entry(event)).collect(),
        ))
        .send()
        .await;
    let output = match request {
        Ok(output) => output,
        Err(error) => {
            tracing::error!(
                error = %aws_sdk_eventbridge::error::DisplayErrorContext(error),
                "PutEvents failed; the outbox waits for the next run"
            );
            return 0;
        }
    };
    let results = output.entries();
    // EventBridge answers with one result per entry, in order.
    let accepted = results
        .iter()
        .take(batch.len())
        .take_while(|result| result.error_code().is_none())
        .count();
    if accepted < batch.len() {
        let refused = results.get(accepted);
        tracing::error!(
            event_id = %batch[accepted].id,
            error_code = refused.and_then(|result| result.error_code()).unwrap_or("no result"),
            error_message = refused.and_then(|result| result.error_message()).unwrap_or(""),
            "EventBridge refused an event; it and those after it wait for the next run"
        );
    }
    accepted
}
