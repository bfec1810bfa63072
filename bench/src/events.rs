//! The events the functions get, shaped as AWS sends them: API Gateway HTTP
//! API (payload format 2.0) events with the full header set a browser or SDK
//! client produces, the request context and the route's path parameters;
//! SQS batches (the mail and inbound queues); EventBridge Scheduler's
//! invocation (publish-events); Secrets Manager's rotation step.

use serde_json::{json, Map, Value};

/// Epoch of the fixed `timeEpoch` the events carry (27 Nov 2026 10:00 UTC).
const TIME_EPOCH_MS: u64 = 1_795_773_600_000;

pub struct HttpEvent<'a> {
    pub method: &'a str,
    /// The route key's path as template.yaml has it, e.g. `/users/{user_id}/full_profile`.
    pub route: &'a str,
    pub user_id: Option<&'a str>,
    pub bearer: Option<&'a str>,
    pub body: Option<String>,
    /// The body is a form (`application/x-www-form-urlencoded`), not JSON.
    pub form: bool,
    /// Varies per invocation, as callers do.
    pub source_ip: String,
    /// A page's POST from its own site: the browser's cookies (API Gateway
    /// passes them as `cookies`), with `Origin` and `Sec-Fetch-Site` of that
    /// site; `None`: an app's request from another origin.
    pub page: Option<PageVisit<'a>>,
    pub request_id: &'a str,
}

pub struct PageVisit<'a> {
    /// `scheme://host[:port]` of the pages (`PUBLIC_BASE_URL`).
    pub origin: &'a str,
    pub cookies: Vec<String>,
}

impl HttpEvent<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        let path = match self.user_id {
            Some(user_id) => self.route.replace("{user_id}", user_id),
            None => self.route.to_string(),
        };
        let route_key = format!("{} {}", self.method, self.route);
        let user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let mut headers = Map::new();
        let mut header = |name: &str, value: String| {
            headers.insert(name.to_string(), Value::String(value));
        };
        header("accept", "application/json, text/plain, */*".into());
        header("accept-encoding", "gzip, deflate, br, zstd".into());
        header("accept-language", "en-GB,en;q=0.9".into());
        header(
            "host",
            "abcd1234ef.execute-api.eu-west-1.amazonaws.com".into(),
        );
        let origin = self
            .page
            .as_ref()
            .map_or("https://app.example.com", |page| page.origin);
        header("origin", origin.into());
        header("referer", format!("{origin}/"));
        header("sec-fetch-mode", "cors".into());
        if self.page.is_some() {
            header("sec-fetch-site", "same-origin".into());
        }
        header("user-agent", user_agent.into());
        header(
            "x-amzn-trace-id",
            format!(
                "Root=1-6746ee20-{}",
                &self.request_id.replace('-', "")[..24]
            ),
        );
        header("x-forwarded-for", self.source_ip.clone());
        header("x-forwarded-port", "443".into());
        header("x-forwarded-proto", "https".into());
        if let Some(token) = self.bearer {
            header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = &self.body {
            let content_type = if self.form {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            header("content-type", content_type.into());
            header("content-length", body.len().to_string());
        }
        let event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": "",
            "headers": headers,
            "pathParameters": self.user_id.map(|id| json!({ "user_id": id })),
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abcd1234ef",
                "domainName": "abcd1234ef.execute-api.eu-west-1.amazonaws.com",
                "domainPrefix": "abcd1234ef",
                "http": {
                    "method": self.method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": user_agent,
                },
                "requestId": &self.request_id[..16],
                "routeKey": route_key,
                "stage": "$default",
                "time": "27/Nov/2026:10:00:00 +0000",
                "timeEpoch": TIME_EPOCH_MS,
            },
            "body": self.body,
            "isBase64Encoded": false,
        });
        let mut event = event;
        if let Some(page) = &self.page {
            event["cookies"] = json!(page.cookies);
        }
        serde_json::to_vec(&event).expect("an event serializes")
    }
}

/// A documentation-range address (RFC 5737) per invocation.
pub fn source_ip(i: usize) -> String {
    format!("203.0.{}.{}", (i / 250) % 256, 1 + i % 250)
}

/// An SQS event of one message per body, from the queue `queue`, as the
/// event source mapping delivers a batch.
pub fn sqs(bodies: &[String], queue: &str, i: usize) -> Vec<u8> {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(n, body)| {
            json!({
                "messageId": format!("1b5c2d9e-{:04x}-4f6a-9c3e-{:012x}", n, i),
                "receiptHandle": format!("bench-{i}-{n}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": TIME_EPOCH_MS.to_string(),
                    "SenderId": "AROAEXAMPLE:bench",
                    "ApproximateFirstReceiveTimestamp": TIME_EPOCH_MS.to_string(),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{}:123456789012:{queue}", crate::process::REGION),
                "awsRegion": crate::process::REGION,
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).expect("an event serializes")
}

/// What EventBridge Scheduler sends a target with no input set: the
/// function ignores it, but it is the size it reads.
pub fn schedule(request_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "0",
        "id": request_id,
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2026-11-27T10:00:00Z",
        "region": crate::process::REGION,
        "resources": [format!("arn:aws:scheduler:{}:123456789012:schedule/default/publish-events", crate::process::REGION)],
        "detail": "{}",
    }))
    .expect("an event serializes")
}

/// Secrets Manager's first rotation step of the signing keys, a new version
/// token each: the one step that generates keys.
pub fn rotation(secret_id: &str, request_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "Step": "createSecret",
        "SecretId": secret_id,
        "ClientRequestToken": request_id,
    }))
    .expect("an event serializes")
}
