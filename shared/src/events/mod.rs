//! Event-driven invocations: inbound messages from SQS (`ingest`) and the
//! outbox of lifecycle events published to EventBridge (`publish`).

pub mod ingest;
#[cfg(feature = "publish")]
pub mod publish;
