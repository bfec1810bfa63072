//! Outgoing calls to AWS: our one HTTPS client, Secrets Manager reads signed
//! with SigV4, and that client under the AWS SDK (EventBridge).

pub mod client;
#[cfg(feature = "publish")]
pub mod sdk;
pub mod secrets;
