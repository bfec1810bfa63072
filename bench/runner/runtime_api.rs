//! A local Lambda Runtime API for one function process, plus a stand-in for the
//! one Secrets Manager call the functions make (`GetSecretValue`).
//!
//! Timestamps are taken where Lambda takes them: init ends when the function's
//! first `invocation/next` request arrives; an invocation lasts from the moment
//! its event is handed out to the moment its `response` (or `error`) arrives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const PREFIX: &str = "/2018-06-01/runtime/";
/// The functions' `Timeout` in template.yaml.
const TIMEOUT_MS: u128 = 10_000;

/// One event for the function.
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
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
        body: Bytes,
    },
    /// It reported a failed init.
    InitError(Bytes),
}

struct Shared {
    signals: mpsc::UnboundedSender<Signal>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: Mutex<Option<(String, Instant)>>,
    function_arn: String,
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
            secrets,
        });
        let acceptor = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&shared), request));
                    // A connection ends with an error when the process is killed: expected.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
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
        // Dropping `events` also ends a `next` request still waiting for an event.
        self.acceptor.abort();
    }
}

type Answer = Response<Full<Bytes>>;

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Answer, Infallible> {
    let arrived = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let secrets_call = request.headers().contains_key("x-amz-target");
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    if secrets_call {
        return Ok(get_secret_value(&shared, &body));
    }
    let Some(route) = path.strip_prefix(PREFIX) else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    let answer = match (method, route) {
        (Method::GET, "invocation/next") => {
            let _ = shared.signals.send(Signal::Next(arrived));
            // One `next` at a time, as the sequential runtime polls.
            let next = shared.events.lock().await.recv().await;
            match next {
                Some(invocation) => next_event(&shared, invocation),
                None => status(StatusCode::GONE),
            }
        }
        (Method::POST, "init/error") => {
            let _ = shared.signals.send(Signal::InitError(body));
            status(StatusCode::ACCEPTED)
        }
        (Method::POST, route) => match route
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
                            duration: arrived.duration_since(started),
                            error: kind == "error",
                            body,
                        });
                        status(StatusCode::ACCEPTED)
                    }
                    None => status(StatusCode::BAD_REQUEST),
                }
            }
            _ => status(StatusCode::NOT_FOUND),
        },
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(answer)
}

fn next_event(shared: &Shared, invocation: Invocation) -> Answer {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let trace_id = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0;Lineage=1:bench:0",
        now_ms / 1000,
        &invocation.request_id.replace('-', "")[..24],
        &invocation.request_id.replace('-', "")[..16],
    );
    let mut response = Response::new(Full::new(invocation.payload));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(
        "lambda-runtime-aws-request-id",
        invocation.request_id.clone(),
    );
    set(
        "lambda-runtime-deadline-ms",
        (now_ms + TIMEOUT_MS).to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        shared.function_arn.clone(),
    );
    set("lambda-runtime-trace-id", trace_id);
    *shared.in_flight.lock().expect("in-flight lock") =
        Some((invocation.request_id, Instant::now()));
    response
}

/// Answers `secretsmanager.GetSecretValue` (JSON 1.1 protocol) for the configured ARNs.
fn get_secret_value(shared: &Shared, body: &[u8]) -> Answer {
    let secret_id = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|request| request["SecretId"].as_str().map(str::to_string))
        .unwrap_or_default();
    let Some((arn, value)) = shared.secrets.iter().find(|(arn, _)| *arn == secret_id) else {
        let mut answer = json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "__type": "ResourceNotFoundException",
                "message": "Secrets Manager can't find the specified secret.",
            }),
        );
        answer.headers_mut().insert(
            "x-amzn-errortype",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        return answer;
    };
    let name = arn.rsplit(':').next().unwrap_or(arn);
    json(
        StatusCode::OK,
        serde_json::json!({
            "ARN": arn,
            "Name": name,
            "SecretString": value,
            "VersionId": "00000000-0000-4000-8000-000000000000",
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 1_795_000_000.0,
        }),
    )
}

fn json(code: StatusCode, value: serde_json::Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = code;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
        .headers_mut()
        .insert("x-amzn-requestid", HeaderValue::from_static("bench"));
    response
}

fn status(code: StatusCode) -> Answer {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
