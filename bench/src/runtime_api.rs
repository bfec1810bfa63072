//! A local Lambda Runtime API for one function process, plus stand-ins for
//! the AWS calls the functions make: Secrets Manager's `GetSecretValue` (and
//! the rotation's `DescribeSecret` and `PutSecretValue`), SQS's
//! `SendMessage`, EventBridge's `PutEvents`. Each answers as the service
//! does, at once: the benchmark measures the functions, not AWS.
//!
//! Timestamps are taken where Lambda takes them: init ends when the function's
//! first `invocation/next` request arrives; an invocation lasts from the moment
//! its event is handed out to the moment its `response` (or `error`) arrives.
//!
//! HTTP/1.1 is spoken by hand over tokio's sockets (keep-alive, Content-Length
//! or chunked bodies): hyper's server feature would be unified into the
//! functions' own hyper in a workspace build and change what is measured.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

const PREFIX: &str = "/2018-06-01/runtime/";
/// Requests larger than this are refused; events and answers here are kilobytes.
const MAX_BODY: usize = 16 << 20;

/// One event for the function.
pub struct Invocation {
    pub request_id: String,
    pub payload: Vec<u8>,
}

/// What the function did, as the Runtime API saw it.
pub enum Signal {
    /// It asked for its next event; the first one marks the end of init.
    Next(Instant),
    /// It answered an event: `duration` is Lambda's Duration.
    Done {
        request_id: String,
        duration: Duration,
        error: bool,
        body: Vec<u8>,
    },
    /// It reported a failed init.
    InitError(Vec<u8>),
}

struct Shared {
    signals: mpsc::UnboundedSender<Signal>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: Mutex<Option<(String, Instant)>>,
    function_arn: String,
    timeout: Duration,
    /// `(ARN, value)` pairs served by the Secrets Manager stand-in.
    secrets: Vec<(String, String)>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    events: mpsc::UnboundedSender<Invocation>,
    signals: mpsc::UnboundedReceiver<Signal>,
    acceptor: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(
        function_arn: String,
        timeout: Duration,
        secrets: Vec<(String, String)>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (signals_tx, signals_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            signals: signals_tx,
            events: tokio::sync::Mutex::new(events_rx),
            in_flight: Mutex::new(None),
            function_arn,
            timeout,
            secrets,
        });
        // The connections live in the acceptor's JoinSet, so ending the
        // acceptor (on drop) ends them too.
        let acceptor = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            connections.spawn(serve(Arc::clone(&shared), stream));
                        }
                        Err(_) => break,
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self {
            addr,
            events: events_tx,
            signals: signals_rx,
            acceptor,
        })
    }

    /// Queues an event; the function gets it on its next (or pending) `next` request.
    pub fn invoke(&self, invocation: Invocation) {
        // The receiver lives as long as `self`, so sending cannot fail.
        let _ = self.events.send(invocation);
    }

    /// The next thing the function did, or `None` after `timeout`.
    pub async fn signal(&mut self, timeout: Duration) -> Option<Signal> {
        tokio::time::timeout(timeout, self.signals.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

struct Request {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// When its head had been read.
    arrived: Instant,
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// One connection: requests in order, each answered before the next is read.
async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Ok(Some(request)) = read_request(&mut reader).await {
        let answer = handle(&shared, request).await;
        if write.write_all(&encode(answer)).await.is_err() {
            return;
        }
    }
}

async fn read_request<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<Request>> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut line = Vec::new();
    // The request line; a closed connection ends here.
    if reader.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    let request_line = String::from_utf8_lossy(&line).trim_end().to_string();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid("bad request line"));
    };
    let (method, path) = (method.to_string(), target.to_string());
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(invalid("connection closed in the head"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            break;
        }
        if let Some((name, value)) = text.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let arrived = Instant::now();
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            reader.read_until(b'\n', &mut line).await?;
            let size = String::from_utf8_lossy(&line);
            let size = size.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if body.len() + size > MAX_BODY {
                return Err(invalid("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).await?;
            line.clear();
            reader.read_until(b'\n', &mut line).await?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = headers.get("content-length") {
        let length: usize = length.parse().map_err(|_| invalid("bad content-length"))?;
        if length > MAX_BODY {
            return Err(invalid("body too large"));
        }
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
        arrived,
    }))
}

fn encode(answer: Answer) -> Vec<u8> {
    let reason = match answer.status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        410 => "Gone",
        _ => "",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-length: {}\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&answer.body);
    bytes
}

fn status(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

async fn handle(shared: &Shared, request: Request) -> Answer {
    if let Some(target) = request.headers.get("x-amz-target") {
        return match target.as_str() {
            target if target.starts_with("AmazonSQS.") => send_message(),
            "AWSEvents.PutEvents" => put_events(&request.body),
            "secretsmanager.DescribeSecret" => describe_secret(shared, &request.body),
            "secretsmanager.PutSecretValue" => put_secret_value(&request.body),
            _ => get_secret_value(shared, &request.body),
        };
    }
    let Some(route) = request.path.strip_prefix(PREFIX) else {
        return status(404);
    };
    match (request.method.as_str(), route) {
        ("GET", "invocation/next") => {
            let _ = shared.signals.send(Signal::Next(request.arrived));
            // One `next` at a time, as the sequential runtime polls.
            let next = shared.events.lock().await.recv().await;
            match next {
                Some(invocation) => next_event(shared, invocation),
                None => status(410),
            }
        }
        ("POST", "init/error") => {
            let _ = shared.signals.send(Signal::InitError(request.body));
            status(202)
        }
        ("POST", route) => match route
            .strip_prefix("invocation/")
            .and_then(|rest| rest.rsplit_once('/'))
        {
            Some((request_id, kind @ ("response" | "error"))) => {
                let started = shared
                    .in_flight
                    .lock()
                    .expect("in-flight lock")
                    .take()
                    .filter(|(id, _)| id == request_id)
                    .map(|(_, started)| started);
                match started {
                    Some(started) => {
                        let _ = shared.signals.send(Signal::Done {
                            request_id: request_id.to_string(),
                            duration: request.arrived.duration_since(started),
                            error: kind == "error",
                            body: request.body,
                        });
                        status(202)
                    }
                    None => status(400),
                }
            }
            _ => status(404),
        },
        _ => status(404),
    }
}

fn next_event(shared: &Shared, invocation: Invocation) -> Answer {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let compact = invocation.request_id.replace('-', "");
    let trace_id = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0;Lineage=1:bench:0",
        now_ms / 1000,
        &compact[..24],
        &compact[..16],
    );
    let headers = vec![
        ("content-type", "application/json".to_string()),
        (
            "lambda-runtime-aws-request-id",
            invocation.request_id.clone(),
        ),
        (
            "lambda-runtime-deadline-ms",
            (now_ms + shared.timeout.as_millis()).to_string(),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            shared.function_arn.clone(),
        ),
        ("lambda-runtime-trace-id", trace_id),
    ];
    *shared.in_flight.lock().expect("in-flight lock") =
        Some((invocation.request_id, Instant::now()));
    Answer {
        status: 200,
        headers,
        body: invocation.payload,
    }
}

/// Accepts `AmazonSQS.SendMessage` (register's mail request), as SQS would.
fn send_message() -> Answer {
    Answer {
        status: 200,
        headers: vec![("content-type", "application/x-amz-json-1.0".to_string())],
        body: json!({
            "MessageId": "00000000-0000-4000-8000-000000000000",
            "MD5OfMessageBody": "00000000000000000000000000000000",
        })
        .to_string()
        .into_bytes(),
    }
}

/// The one version each secret has: the current one. Any other version the
/// rotation asks for (its pending one) does not exist yet, so each of its
/// `createSecret` steps generates keys.
const CURRENT_VERSION: &str = "00000000-0000-4000-8000-000000000000";

fn json_answer(body: serde_json::Value) -> Answer {
    Answer {
        status: 200,
        headers: vec![
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amzn-requestid", "bench".to_string()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// Accepts every entry of `AWSEvents.PutEvents`, as EventBridge does.
fn put_events(body: &[u8]) -> Answer {
    let entries = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|request| request["Entries"].as_array().map(Vec::len))
        .unwrap_or(0);
    let results: Vec<serde_json::Value> = (0..entries)
        .map(|n| json!({ "EventId": format!("00000000-0000-4000-8000-{n:012}") }))
        .collect();
    json_answer(json!({ "FailedEntryCount": 0, "Entries": results }))
}

/// `secretsmanager.DescribeSecret`: the secret has its current version only.
fn describe_secret(shared: &Shared, body: &[u8]) -> Answer {
    let request = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let secret_id = request["SecretId"].as_str().unwrap_or_default();
    if !shared.secrets.iter().any(|(arn, _)| arn == secret_id) {
        return not_found();
    }
    json_answer(json!({
        "ARN": secret_id,
        "Name": secret_id.rsplit(':').next().unwrap_or(secret_id),
        "RotationEnabled": true,
        "VersionIdsToStages": { CURRENT_VERSION: ["AWSCURRENT"] },
    }))
}

/// `secretsmanager.PutSecretValue`: accepted and forgotten, so that every
/// rotation step the benchmark sends starts from the same secret.
fn put_secret_value(body: &[u8]) -> Answer {
    let request = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let secret_id = request["SecretId"].as_str().unwrap_or_default();
    json_answer(json!({
        "ARN": secret_id,
        "Name": secret_id.rsplit(':').next().unwrap_or(secret_id),
        "VersionId": request["ClientRequestToken"].as_str().unwrap_or(CURRENT_VERSION),
        "VersionStages": request["VersionStages"].clone(),
    }))
}

fn not_found() -> Answer {
    Answer {
        status: 400,
        headers: vec![
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amzn-requestid", "bench".to_string()),
            ("x-amzn-errortype", "ResourceNotFoundException".to_string()),
        ],
        body: json!({
            "__type": "ResourceNotFoundException",
            "message": "Secrets Manager can't find the specified secret.",
        })
        .to_string()
        .into_bytes(),
    }
}

/// Answers `secretsmanager.GetSecretValue` (JSON 1.1 protocol) for the
/// configured ARNs: their current version only.
fn get_secret_value(shared: &Shared, body: &[u8]) -> Answer {
    let request = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let secret_id = request["SecretId"].as_str().unwrap_or_default();
    if request["VersionId"]
        .as_str()
        .is_some_and(|version| version != CURRENT_VERSION)
    {
        return not_found();
    }
    let headers = vec![
        ("content-type", "application/x-amz-json-1.1".to_string()),
        ("x-amzn-requestid", "bench".to_string()),
    ];
    let Some((arn, value)) = shared.secrets.iter().find(|(arn, _)| *arn == secret_id) else {
        return not_found();
    };
    let name = arn.rsplit(':').next().unwrap_or(arn);
    Answer {
        status: 200,
        headers,
        body: json!({
            "ARN": arn,
            "Name": name,
            "SecretString": value,
            "VersionId": CURRENT_VERSION,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 1_795_000_000.0,
        })
        .to_string()
        .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_with_either_body_framing_are_read_in_turn() {
        let wire = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nHost: x\r\n\r\nabc\
POST /b HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\n\r\n\
GET /c HTTP/1.1\r\n\r\n";
        let mut reader = BufReader::new(&wire[..]);
        let a = read_request(&mut reader).await.unwrap().unwrap();
        assert_eq!(
            (a.method.as_str(), a.path.as_str(), &a.body[..]),
            ("POST", "/a", &b"abc"[..])
        );
        assert_eq!(a.headers["host"], "x");
        let b = read_request(&mut reader).await.unwrap().unwrap();
        assert_eq!((b.path.as_str(), &b.body[..]), ("/b", &b"hello"[..]));
        let c = read_request(&mut reader).await.unwrap().unwrap();
        assert_eq!((c.method.as_str(), c.body.len()), ("GET", 0));
        assert!(read_request(&mut reader).await.unwrap().is_none());
    }

    #[test]
    fn answers_carry_their_length() {
        let bytes = encode(Answer {
            status: 202,
            headers: vec![("x-a", "1".into())],
            body: b"ok".to_vec(),
        });
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\nx-a: 1\r\n\r\nok"
        );
    }
}
