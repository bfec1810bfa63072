//! SigV4-signed JSON calls to AWS over our HTTPS client: Secrets Manager
//! (the JSON 1.1 protocol), SQS (JSON 1.0) and the SES v2 REST API. Region,
//! credentials and endpoint overrides come from the variables Lambda (or a
//! local stand-in) sets, read the way the SDK reads them.

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

/// From connect to the last byte: a bad network or endpoint fails a cold
/// start with a reason well before Lambda's 10 s init limit, and a mail
/// request or a mail is small.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// One AWS service: where it is, how its requests are signed.
#[derive(Clone)]
pub struct AwsService {
    endpoint: Uri,
    region: String,
    credentials: Credentials,
    signing_name: &'static str,
}

/// Which service, and the variable that overrides its endpoint.
pub struct ServiceName {
    /// SigV4's name (`secretsmanager`, `sqs`, `ses`).
    pub signing_name: &'static str,
    /// The regional host's first label (`secretsmanager`, `sqs`, `email`).
    pub host: &'static str,
    /// `AWS_ENDPOINT_URL_<SERVICE>`, as the SDK names it.
    pub endpoint_variable: &'static str,
}

/// An AWS error: its type, if it has one, and the reason to report.
pub struct AwsError {
    pub kind: Option<String>,
    pub reason: String,
}

impl AwsService {
    pub fn from_environment(
        env: &impl Environment,
        name: ServiceName,
    ) -> Result<Self, ConfigError> {
        let region = env
            .var("AWS_REGION")
            .or_else(|| env.var("AWS_DEFAULT_REGION"))
            .ok_or(ConfigError::Missing {
                variable: "AWS_REGION",
            })?;
        let endpoint = endpoint(env, &region, &name)?;
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
            signing_name: name.signing_name,
        })
    }

    /// POSTs `body` to `path` with `headers`, signed; the answer's JSON
    /// (`Null` when empty), or a reason that quotes neither the request nor
    /// a credential.
    pub async fn post_json(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let bytes = self
            .post(path, content_type, headers, body)
            .await
            .map_err(|error| error.reason)?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        // serde's messages can quote the document, which may hold a secret.
        serde_json::from_slice(&bytes).map_err(|_| format!("the answer to {path} is not JSON"))
    }

    /// `post_json`'s exchange: the answer's bytes, or the AWS error by type.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<Bytes, AwsError> {
        let plain = |reason: String| AwsError { kind: None, reason };
        let body = Bytes::from(body.to_string());
        let base = self.endpoint.to_string();
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let authority = self.endpoint.authority().map_or("", |a| a.as_str());
        let mut builder = Request::post(&url)
            .header(HOST, authority)
            .header(CONTENT_TYPE, content_type);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder
            .body(Full::new(body.clone()))
            .map_err(|error| plain(format!("cannot build the request: {error}")))?;
        self.sign(&mut request, &url, &body).map_err(plain)?;
        // One limit on the whole exchange, from connect to the last byte.
        let (answer, bytes) =
            tokio::time::timeout(TIMEOUT, https::send(request, https::Timeouts::default()))
                .await
                .map_err(|_| {
                    plain(format!(
                        "no answer from {url} within {} s",
                        TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|error| plain(error.to_string()))?
                .into_parts();
        if answer.status.is_success() {
            return Ok(bytes);
        }
        Err(aws_error(answer.status, &answer.headers, &bytes))
    }

    fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        url: &str,
        body: &[u8],
    ) -> Result<(), String> {
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| format!("cannot sign the request: {error}"))?
            .into();
        let signed = SignableRequest::new("POST", url, headers, SignableBody::Bytes(body))
            .and_then(|signable| sign(signable, &params))
            .map_err(|error| format!("cannot sign the request: {error}"))?;
        signed.into_parts().0.apply_to_request_http1x(request);
        Ok(())
    }
}

#[derive(Deserialize, Default)]
struct AwsErrorBody {
    #[serde(rename = "__type", alias = "code")]
    kind: Option<String>,
    #[serde(alias = "Message", alias = "errorMessage")]
    message: Option<String>,
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
fn endpoint(env: &impl Environment, region: &str, name: &ServiceName) -> Result<Uri, ConfigError> {
    let flag = |variable: &str| {
        env.var(variable)
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    };
    let configured = [name.endpoint_variable, "AWS_ENDPOINT_URL"]
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
                    reason: format!("not supported: set {} instead", name.endpoint_variable),
                });
            }
            let suffix = if region.starts_with("cn-") { ".cn" } else { "" };
            (
                "AWS_REGION",
                format!("https://{}.{region}.amazonaws.com{suffix}", name.host),
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

    const SECRETS: ServiceName = super::super::secrets::SERVICE;

    fn chosen(vars: &[(&str, &str)], region: &str) -> String {
        endpoint(&Vars(vars), region, &SECRETS).unwrap().to_string()
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
        let error = endpoint(&Vars(&[fips]), "us-east-1", &SECRETS).unwrap_err();
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
            let error = endpoint(&Vars(&vars), "eu-west-1", &SECRETS).unwrap_err();
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
