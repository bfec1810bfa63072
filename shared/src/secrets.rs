//! Secrets Manager access, used only at cold start and only when an ARN is configured.

use crate::config::{ConfigError, Environment};

pub struct SecretsClient {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsClient {
    pub async fn from_environment() -> Self {
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::http_client())
            .load()
            .await;
        Self {
            client: aws_sdk_secretsmanager::Client::new(&sdk_config),
        }
    }

    /// The secret named by `arn` when given, else the plain variable `variable`.
    pub async fn resolve(
        &self,
        variable: &'static str,
        arn: Option<String>,
        env: &impl Environment,
    ) -> Result<Option<String>, ConfigError> {
        let Some(arn) = arn else {
            return Ok(env.var(variable));
        };
        let output = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            // The SDK error names the ARN and the AWS error code, never the value.
            .map_err(|error| ConfigError::Secret {
                variable,
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string(),
            })?;
        output
            .secret_string()
            .map(|value| Some(value.trim().to_string()))
            .ok_or(ConfigError::Secret {
                variable,
                reason: "the secret has no SecretString".into(),
            })
    }
}
