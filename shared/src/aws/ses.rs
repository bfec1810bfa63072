//! Amazon SES v2 `SendEmail` with the raw RFC 5322 message: the same bytes
//! the file transport writes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::signed::{AwsService, ServiceName};
use crate::env::{ConfigError, Environment};

pub struct Ses {
    service: AwsService,
    configuration_set: Option<String>,
}

impl Ses {
    /// The AWS settings (`AWS_ENDPOINT_URL_SESV2` locally), and
    /// `MAIL_CONFIGURATION_SET` (the stack's, whose suppression options keep
    /// bounced and complaining addresses out).
    pub fn from_environment(env: &impl Environment) -> Result<Self, ConfigError> {
        let service = AwsService::from_environment(
            env,
            ServiceName {
                signing_name: "ses",
                host: "email",
                endpoint_variable: "AWS_ENDPOINT_URL_SESV2",
            },
        )?;
        Ok(Self {
            service,
            configuration_set: env.var("MAIL_CONFIGURATION_SET"),
        })
    }

    /// Sends `message` (complete, with its headers) from `sender` to `to`;
    /// SES's message id.
    pub async fn send_raw(&self, sender: &str, to: &str, message: &str) -> Result<String, String> {
        let mut body = serde_json::json!({
            "FromEmailAddress": sender,
            "Destination": { "ToAddresses": [to] },
            "Content": { "Raw": { "Data": STANDARD.encode(message) } },
        });
        if let Some(set) = &self.configuration_set {
            body["ConfigurationSetName"] = set.as_str().into();
        }
        let answer = self
            .service
            .post_json("/v2/email/outbound-emails", "application/json", &[], &body)
            .await
            .map_err(|reason| format!("SES SendEmail failed: {reason}"))?;
        Ok(answer["MessageId"].as_str().unwrap_or("-").to_string())
    }
}
