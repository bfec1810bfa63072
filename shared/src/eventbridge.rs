//! The outbox publisher's sink (`functions/publish-events`): EventBridge
//! `PutEvents`, ten entries per call, through the AWS SDK on our HTTP client.

use aws_sdk_eventbridge::primitives::DateTime as AwsDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

use crate::domain::ports::{EventSink, Outbox, OutboxEntry};
use crate::domain::publishing::{self, Summary};
use crate::env::{ConfigError, Environment};

/// `source` of every event.
pub const SOURCE: &str = "user-management-api";

/// The EventBridge client and the bus it sends to.
pub struct EventBridge {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridge {
    /// From the environment: `EVENT_BUS_NAME`, and the SDK's usual settings.
    /// aws-config itself honours `AWS_ENDPOINT_URL_EVENTBRIDGE` and
    /// `AWS_ENDPOINT_URL` (a local stand-in).
    pub async fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let bus = env.var("EVENT_BUS_NAME").ok_or(ConfigError::Missing {
            variable: "EVENT_BUS_NAME",
        })?;
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::sdk::http_client())
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
            .time(AwsDateTime::from_millis(event.occurred_at.as_millis()))
            .build()
    }
}

/// What `detail` holds: the event id, its type and time, then its own fields
/// (ids only).
pub fn detail(event: &OutboxEntry) -> Value {
    let occurred_at = mongodb::bson::DateTime::from_millis(event.occurred_at.as_millis())
        .try_to_rfc3339_string()
        .unwrap_or_default();
    let mut detail = serde_json::json!({
        "id": event.id.to_hex(),
        "type": event.kind,
        "occurred_at": occurred_at,
    });
    if let Value::Object(detail) = &mut detail {
        detail.extend(event.detail.clone());
    }
    detail
}

/// The Lambda handler, for the schedule and for direct invocation alike (the
/// payload is ignored).
pub async fn handler<S: Outbox>(
    store: &S,
    sink: &EventBridge,
    _event: LambdaEvent<Value>,
) -> Result<Summary, Error> {
    publishing::publish(store, sink).await.map_err(|error| {
        tracing::error!(cause = error.cause().unwrap_or_default(), %error, "publishing failed");
        Error::from(error.to_string())
    })
}

impl EventSink for EventBridge {
    /// How many entries of `batch`, from the first, EventBridge accepted.
    async fn send(&self, batch: &[OutboxEntry]) -> usize {
        let request = self
            .client
            .put_events()
            .set_entries(Some(batch.iter().map(|event| self.entry(event)).collect()))
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
}
