//! Outgoing calls to AWS: our one HTTPS client, Secrets Manager reads signed
//! with SigV4, SQS and SES v2 calls on the same signer, and that client under
//! the AWS SDK (EventBridge).

pub mod client;
#[cfg(feature = "publish")]
pub mod sdk;
pub mod secrets;
pub mod ses;
pub mod signed;
pub mod sqs;
