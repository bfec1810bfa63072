//! SigV4-signed JSON calls to any AWS service over our HTTPS client: the SQS
//! JSON protocol (mail requests) and the SES v2 REST API (mail). Credentials,
//! region and endpoint overrides are read the way the SDK reads them, as in
//! `secrets`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, Uri};

use super::client as https;
use crate::env::{ConfigError, Environment};

/// From connect to the last byte: a mail request or a mail is small.
const TIMEOUT: Duration = Duration::from_secs(5);

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
    /// SigV4's name (`sqs`, `ses`).
    pub signing_name: &'static str,
    /// The regional host's first label (`sqs`, `email`).
    pub host: &'static str,
    /// `AWS_ENDPOINT_URL_<SERVICE>`, as the SDK names it.
    pub endpoint_variable: &'static str,
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
        let ignore = env
            .var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|value| value.eq_ignore_ascii_case("true"));
        let configured = [name.endpoint_variable, "AWS_ENDPOINT_URL"]
            .into_iter()
            .filter(|_| !ignore)
            .find_map(|variable| Some((variable, env.var(variable)?)));
        let (variable, url) = configured.unwrap_or_else(|| {
            let suffix = if region.starts_with("cn-") { ".cn" } else { "" };
            (
                "AWS_REGION",
                format!("https://{}.{region}.amazonaws.com{suffix}", name.host),
            )
        });
        let endpoint: Uri = url
            .parse()
            .ok()
            .filter(|uri: &Uri| {
                matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.host().is_some_and(|host| !host.is_empty())
                    && uri.query().is_none()
                    && !uri.authority().is_some_and(|a| a.as_str().contains('@'))
            })
            .ok_or(ConfigError::Invalid {
                variable,
                reason: "not an http:// or https:// URL without user, password or query".into(),
            })?;
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

    /// POSTs `body` to `path` with `headers`, signed; the answer's JSON, or a
    /// reason that quotes neither the request nor a credential.
    pub async fn post_json(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
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
            .map_err(|error| format!("cannot build the request: {error}"))?;
        self.sign(&mut request, &url, &body)?;
        let (answer, bytes) =
            tokio::time::timeout(TIMEOUT, https::send(request, https::Timeouts::default()))
                .await
                .map_err(|_| format!("no answer from {url} within {} s", TIMEOUT.as_secs()))?
                .map_err(|error| error.to_string())?
                .into_parts();
        if !answer.status.is_success() {
            let kind = answer
                .headers
                .get("x-amzn-errortype")
                .and_then(|value| value.to_str().ok())
                .map(|kind| kind.split(':').next().unwrap_or_default().to_string())
                .or_else(|| {
                    let parsed: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
                    let kind = parsed.get("__type").or_else(|| parsed.get("code"))?;
                    Some(kind.as_str()?.rsplit('#').next()?.to_string())
                })
                .unwrap_or_else(|| "no AWS error type".into());
            return Err(format!("{kind} (HTTP {})", answer.status.as_u16()));
        }
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| format!("the answer of {url} is not JSON"))
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
