//! Secrets Manager access, used only at cold start and only when an ARN is configured.
//!
//! One signed `GetSecretValue` call over a plain HTTP/1.1 connection instead of
//! the AWS SDK, whose client was a large share of every function's zip for two
//! reads at cold start. Credentials, region and endpoint override come from the
//! variables Lambda (or a local stand-in) sets, read the way the SDK reads them.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode, Uri};
use serde::Deserialize;

use super::client as https;
use crate::env::{ConfigError, Environment};

/// Per secret, from connect to the last byte: a bad network or endpoint fails
/// init with a reason well before Lambda's own 10 s init limit.
pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SecretsClient {
    endpoint: Uri,
    region: String,
    credentials: Credentials,
}

impl SecretsClient {
    pub fn from_environment(env: &impl Environment) -> Result<Self, ConfigError> {
        let region = env
            .var("AWS_REGION")
            .or_else(|| env.var("AWS_DEFAULT_REGION"))
            .ok_or(ConfigError::Missing {
                variable: "AWS_REGION",
            })?;
        let endpoint = endpoint(env, &region)?;
        let required = |variable| env.var(variable).ok_or(ConfigError::Missing { variable });
        let credentials = Credentials::new(
            required("AWS_ACCESS_KEY_ID")?,
            required("AWS_SECRET_ACCESS_KEY")?,
            env.var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        );
        Ok(Self {
            endpoint,
            region,
            credentials,
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

    async fn call(&self, action: &str, request: &serde_json::Value) -> Result<Bytes, AwsError> {
        let plain = |reason: String| AwsError { kind: None, reason };
        let body = Bytes::from(request.to_string());
        let authority = self.endpoint.authority().map_or("", |a| a.as_str());
        let mut request = Request::post(self.endpoint.clone())
            .header(HOST, authority)
            .header(CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", format!("secretsmanager.{action}"))
            .body(Full::new(body.clone()))
            .map_err(|error| plain(format!("cannot build the request: {error}")))?;
        self.sign(&mut request, &body).map_err(plain)?;
        // One limit on the whole exchange, from connect to the last byte.
        let (answer, body) =
            tokio::time::timeout(TIMEOUT, https::send(request, https::Timeouts::default()))
                .await
                .map_err(|_| {
                    plain(format!(
                        "no answer from {} within {} s",
                        self.endpoint,
                        TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|error| plain(error.to_string()))?
                .into_parts();
        if answer.status.is_success() {
            return Ok(body);
        }
        Err(aws_error(answer.status, &answer.headers, &body))
    }

    fn sign(&self, request: &mut Request<Full<Bytes>>, body: &[u8]) -> Result<(), String> {
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("secretsmanager")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| format!("cannot sign the request: {error}"))?
            .into();
        let signed = SignableRequest::new(
            "POST",
            self.endpoint.to_string(),
            headers,
            SignableBody::Bytes(body),
        )
        .and_then(|signable| sign(signable, &params))
        .map_err(|error| format!("cannot sign the request: {error}"))?;
        signed.into_parts().0.apply_to_request_http1x(request);
        Ok(())
    }
}

#[derive(Deserialize)]
struct SecretValue {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
}

#[derive(Deserialize, Default)]
struct AwsErrorBody {
    #[serde(rename = "__type", alias = "code")]
    kind: Option<String>,
    #[serde(alias = "Message", alias = "errorMessage")]
    message: Option<String>,
}

/// An AWS error: its type, if it has one, and the reason to report.
struct AwsError {
    kind: Option<String>,
    reason: String,
}

/// "ResourceNotFoundException (HTTP 400): <AWS's message>". The type comes from
/// the header or the body as the SDK reads it: `x-amzn-errortype` may carry a
/// `:<url>` suffix, `__type` a `namespace#` prefix.
fn aws_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AwsError {
    let parsed: AwsErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let kind = headers
        .get("x-amzn-errortype")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .or(parsed.kind)
        .map(|kind| {
            let kind = kind.split(':').next().unwrap_or_default();
            kind.rsplit('#').next().unwrap_or_default().to_string()
        })
        .filter(|kind| !kind.is_empty());
    let status = status.as_u16();
    let reason = match (&kind, parsed.message) {
        (Some(kind), Some(message)) => format!("{kind} (HTTP {status}): {message}"),
        (Some(kind), None) => format!("{kind} (HTTP {status})"),
        (None, _) => format!("HTTP {status} without an AWS error type"),
    };
    AwsError { kind, reason }
}

/// The SDK's choice: the service's own override, then the global one (unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true), then the regional endpoint.
fn endpoint(env: &impl Environment, region: &str) -> Result<Uri, ConfigError> {
    let flag = |variable: &str| {
        env.var(variable)
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    };
    let configured = ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"]
        .into_iter()
        .filter(|_| !flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
        .find_map(|variable| Some((variable, env.var(variable)?)));
    let (variable, url) = match configured {
        Some(configured) => configured,
        None => {
            // The SDK would pick another host; ignoring the setting could
            // silently drop a compliance requirement, guessing the host is
            // not worth the code.
            let unsupported = ["AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"];
            if let Some(variable) = unsupported.into_iter().find(|variable| flag(variable)) {
                return Err(ConfigError::Invalid {
                    variable,
                    reason: "not supported: set AWS_ENDPOINT_URL_SECRETS_MANAGER instead".into(),
                });
            }
            let suffix = if region.starts_with("cn-") { ".cn" } else { "" };
            (
                "AWS_REGION",
                format!("https://secretsmanager.{region}.amazonaws.com{suffix}"),
            )
        }
    };
    // Not quoted back: a mistyped URL may hold a password, and errors end up in logs.
    let invalid = |reason: &str| ConfigError::Invalid {
        variable,
        reason: reason.into(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|_| invalid("not an http:// or https:// URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some_and(|host| !host.is_empty()) => {}
        _ => return Err(invalid("not an http:// or https:// URL")),
    }
    if uri.query().is_some() || uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid("an endpoint URL takes no user, password or query"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Vars;

    fn chosen(vars: &[(&str, &str)], region: &str) -> String {
        endpoint(&Vars(vars), region).unwrap().to_string()
    }

    #[test]
    fn endpoint_is_regional_unless_overridden_as_the_sdk_does() {
        assert_eq!(
            chosen(&[], "eu-west-1"),
            "https://secretsmanager.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            chosen(&[], "cn-north-1"),
            "https://secretsmanager.cn-north-1.amazonaws.com.cn/"
        );
        let global = ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566");
        let own = ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://localhost:5000");
        assert_eq!(chosen(&[global], "eu-west-1"), "http://127.0.0.1:4566/");
        assert_eq!(
            chosen(&[global, own], "eu-west-1"),
            "http://localhost:5000/"
        );
        assert_eq!(
            chosen(
                &[global, own, ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE")],
                "eu-west-1"
            ),
            "https://secretsmanager.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            chosen(
                &[global, ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false")],
                "eu-west-1"
            ),
            "http://127.0.0.1:4566/"
        );
    }

    #[test]
    fn fips_or_dual_stack_need_an_explicit_endpoint() {
        let fips = ("AWS_USE_FIPS_ENDPOINT", "true");
        let error = endpoint(&Vars(&[fips]), "us-east-1").unwrap_err();
        assert!(
            error.to_string().starts_with("AWS_USE_FIPS_ENDPOINT"),
            "{error}"
        );
        let own = (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "https://secretsmanager-fips.us-east-1.amazonaws.com",
        );
        assert_eq!(
            chosen(&[fips, own], "us-east-1"),
            "https://secretsmanager-fips.us-east-1.amazonaws.com/"
        );
    }

    #[test]
    fn a_bad_endpoint_url_names_its_variable() {
        for url in [
            "localhost:4566",
            "ftp://host",
            "http://",
            "http://h/?x=1",
            "http://user:hunter2@h",
            "not a url",
        ] {
            let vars = [
                ("AWS_ENDPOINT_URL", "http://fine"),
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER", url),
            ];
            let error = endpoint(&Vars(&vars), "eu-west-1").unwrap_err();
            assert!(
                matches!(
                    error,
                    ConfigError::Invalid {
                        variable: "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                        ..
                    }
                ),
                "{url}: {error}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

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

    #[test]
    fn aws_errors_are_named_by_type() {
        let mut headers = HeaderMap::new();
        let body = br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}"#;
        assert_eq!(
            aws_error(StatusCode::BAD_REQUEST, &headers, body).reason,
            "ResourceNotFoundException (HTTP 400): Secrets Manager can't find the specified secret."
        );
        headers.insert(
            "x-amzn-errortype",
            "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            aws_error(StatusCode::BAD_REQUEST, &headers, b"{}").reason,
            "AccessDeniedException (HTTP 400)"
        );
        assert_eq!(
            aws_error(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>").reason,
            "HTTP 502 without an AWS error type"
        );
    }
}
