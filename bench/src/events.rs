//! API Gateway HTTP API (payload format 2.0) events, shaped as API Gateway sends
//! them to the functions that template.yaml deploys: the full header set a
//! browser or SDK client produces, the request context, and the route's path
//! parameters.

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
    /// Varies per invocation, as callers do.
    pub source_ip: String,
    pub request_id: &'a str,
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
        header("origin", "https://app.example.com".into());
        header("referer", "https://app.example.com/".into());
        header("sec-fetch-mode", "cors".into());
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
            header("content-type", "application/json".into());
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
        serde_json::to_vec(&event).expect("an event serializes")
    }
}

/// A documentation-range address (RFC 5737) per invocation.
pub fn source_ip(i: usize) -> String {
    format!("203.0.{}.{}", (i / 250) % 256, 1 + i % 250)
}
