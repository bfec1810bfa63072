//! Secrets Manager access, used only at cold start and only when an ARN is configured.
//!
//! Signed `GetSecretValue` calls over a plain HTTP/1.1 connection (`signed`)
//! instead of the AWS SDK, whose client was a large share of every function's
//! zip for two reads at cold start.

use serde::Deserialize;

use super::signed::{AwsError, AwsService, ServiceName};
use crate::env::{ConfigError, Environment};

pub const SERVICE: ServiceName = ServiceName {
    signing_name: "secretsmanager",
    host: "secretsmanager",
    endpoint_variable: "AWS_ENDPOINT_URL_SECRETS_MANAGER",
};

#[derive(Clone)]
pub struct SecretsClient {
    service: AwsService,
}

impl SecretsClient {
    pub fn from_environment(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            service: AwsService::from_environment(env, SERVICE)?,
        })
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
        self.get_secret_value(&arn)
            .await
            .map(|value| Some(value.trim().to_string()))
            .map_err(|reason| ConfigError::Secret { variable, reason })
    }

    /// The secret's current `SecretString`, or a reason that never quotes a
    /// secret or a credential.
    pub async fn get_secret_value(&self, arn: &str) -> Result<String, String> {
        // What AWS reads when no stage is named; said explicitly, because
        // moto's stand-in otherwise keeps answering the first version.
        self.get_secret_version(arn, Some(("VersionStage", "AWSCURRENT")))
            .await?
            .ok_or_else(|| "the secret has no SecretString".into())
    }

    /// A version's `SecretString` (`AWSCURRENT` without `stage`); `None` when
    /// the secret has no version of that id.
    pub async fn get_secret_version(
        &self,
        arn: &str,
        stage: Option<(&str, &str)>,
    ) -> Result<Option<String>, String> {
        let mut request = serde_json::json!({ "SecretId": arn });
        if let Some((field, value)) = stage {
            request[field] = value.into();
        }
        let answer = match self.call("GetSecretValue", &request).await {
            Ok(answer) => answer,
            Err(AwsError {
                kind: Some(kind), ..
            }) if kind == "ResourceNotFoundException"
                && stage.is_some_and(|(field, _)| field == "VersionId") =>
            {
                return Ok(None)
            }
            Err(error) => return Err(error.reason),
        };
        // serde's messages can quote the document, which holds the secret.
        let answer: SecretValue = serde_json::from_slice(&answer)
            .map_err(|_| "the answer is not GetSecretValue's JSON".to_string())?;
        Ok(answer.secret_string)
    }

    /// The rotation's writes and reads (`PutSecretValue`, `DescribeSecret`,
    /// `UpdateSecretVersionStage`): `request` is the action's JSON; the
    /// answer's JSON comes back.
    pub async fn call_json(
        &self,
        action: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let answer = self
            .call(action, request)
            .await
            .map_err(|error| error.reason)?;
        serde_json::from_slice(&answer).map_err(|_| format!("the answer is not {action}'s JSON"))
    }

    async fn call(
        &self,
        action: &str,
        request: &serde_json::Value,
    ) -> Result<hyper::body::Bytes, AwsError> {
        let target = format!("secretsmanager.{action}");
        self.service
            .post(
                "/",
                "application/x-amz-json-1.1",
                &[("x-amz-target", &target)],
                request,
            )
            .await
    }
}

#[derive(Deserialize)]
struct SecretValue {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Vars;

    #[test]
    fn missing_region_or_credentials_are_named() {
        let cases: [(&[(&str, &str)], &str); 3] = [
            (
                &[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "s")],
                "AWS_REGION",
            ),
            (
                &[
                    ("AWS_DEFAULT_REGION", "eu-west-1"),
                    ("AWS_SECRET_ACCESS_KEY", "s"),
                ],
                "AWS_ACCESS_KEY_ID",
            ),
            (
                &[("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "a")],
                "AWS_SECRET_ACCESS_KEY",
            ),
        ];
        for (vars, missing) in cases {
            match SecretsClient::from_environment(&Vars(vars)) {
                Err(ConfigError::Missing { variable }) => assert_eq!(variable, missing),
                Err(error) => panic!("{missing}: {error}"),
                Ok(_) => panic!("{missing}: accepted"),
            }
        }
    }
}
