//! `SendMessage` over the SQS JSON protocol: the mail requests' queue.

use super::signed::{AwsService, ServiceName};
use crate::domain::ports::{MailRequest, MailRequests};
use crate::env::{ConfigError, Environment};
use crate::mail::request_json;

pub struct MailQueue {
    service: AwsService,
    queue_url: String,
}

impl MailQueue {
    /// `MAIL_QUEUE_URL`, and the AWS settings (`AWS_ENDPOINT_URL_SQS` locally).
    pub fn from_environment(env: &impl Environment) -> Result<Self, ConfigError> {
        let queue_url = env.var("MAIL_QUEUE_URL").ok_or(ConfigError::Missing {
            variable: "MAIL_QUEUE_URL",
        })?;
        let service = AwsService::from_environment(
            env,
            ServiceName {
                signing_name: "sqs",
                host: "sqs",
                endpoint_variable: "AWS_ENDPOINT_URL_SQS",
            },
        )?;
        Ok(Self { service, queue_url })
    }
}

impl MailRequests for MailQueue {
    async fn request_mail(&self, request: &MailRequest) -> Result<(), String> {
        let body = serde_json::json!({
            "QueueUrl": self.queue_url,
            "MessageBody": request_json(request).to_string(),
        });
        self.service
            .post_json(
                "/",
                "application/x-amz-json-1.0",
                &[("x-amz-target", "AmazonSQS.SendMessage")],
                &body,
            )
            .await
            .map(|_| ())
            .map_err(|reason| format!("SQS SendMessage failed: {reason}"))
    }
}
