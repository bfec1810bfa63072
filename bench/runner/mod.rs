//! Runs each function's binary under a local Lambda Runtime API and measures it
//! the way Lambda reports it; see `benches/lambda.rs` for the command line.

pub mod data;
pub mod events;
pub mod report;
pub mod runtime_api;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use data::{Account, Dataset, Sizes, LINKED_COLLECTION, PASSWORD};
use events::{source_ip, status_code, HttpEvent};
use runtime_api::{Invocation, RuntimeApi, Signal};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a function may take to start or to answer before the run fails.
const PATIENCE: Duration = Duration::from_secs(30);
const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

/// The five functions, with what template.yaml gives each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Register,
    Login,
    Link,
    Profile,
    Delete,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Register,
        Endpoint::Login,
        Endpoint::Link,
        Endpoint::Profile,
        Endpoint::Delete,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            Endpoint::Register => "register",
            Endpoint::Login => "login",
            Endpoint::Link => "link-external-id",
            Endpoint::Profile => "get-full-profile",
            Endpoint::Delete => "delete-user",
        }
    }

    pub fn route(self) -> &'static str {
        match self {
            Endpoint::Register => "POST /auth/register",
            Endpoint::Login => "POST /auth/login",
            Endpoint::Link => "PUT /users/{user_id}/link_id",
            Endpoint::Profile => "GET /users/{user_id}/full_profile",
            Endpoint::Delete => "DELETE /users/{user_id}",
        }
    }

    /// `MemorySize` in template.yaml (Lambda's CPU share follows it; locally it is only reported).
    pub fn memory_mb(self) -> u32 {
        match self {
            Endpoint::Register | Endpoint::Login => 1769,
            _ => 256,
        }
    }

    /// Register and login are bound by one argon2id hash or verification.
    pub fn argon2_bound(self) -> bool {
        matches!(self, Endpoint::Register | Endpoint::Login)
    }

    fn expected_status(self) -> u16 {
        match self {
            Endpoint::Register => 201,
            _ => 200,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|endpoint| endpoint.binary() == name)
    }
}

pub struct Options {
    /// Where the functions' release binaries are (e.g. target/x86_64-unknown-linux-gnu/release).
    pub bin_dir: PathBuf,
    pub mongodb_uri: String,
    /// Fresh processes per function, configured from plain variables.
    pub cold: usize,
    /// Fresh processes per function reading both secrets from the Secrets Manager stand-in.
    pub cold_secrets: usize,
    /// Measured warm invocations for link, profile and delete.
    pub warm: usize,
    /// Measured warm invocations for register and login (each costs an argon2id).
    pub warm_argon2: usize,
    /// Unmeasured invocations before the warm ones.
    pub warmup: usize,
    pub endpoints: Vec<Endpoint>,
    /// `(architecture, directory)`: `cargo lambda build --lambda-dir` outputs to report sizes from.
    pub artifacts: Vec<(String, PathBuf)>,
    /// Where each function process's output goes (`<function>.log`).
    pub log_dir: PathBuf,
    /// Names this run in the results (e.g. the cargo profile of the binaries).
    pub label: String,
    /// Extra variables for the function processes (a tuning under test, e.g. `GLIBC_TUNABLES`).
    pub function_env: Vec<(String, String)>,
}

impl Options {
    fn warm_count(&self, endpoint: Endpoint) -> usize {
        if endpoint.argon2_bound() {
            self.warm_argon2
        } else {
            self.warm
        }
    }
}

/// Everything measured for one function.
#[derive(Default)]
pub struct FunctionResult {
    pub endpoint: Option<Endpoint>,
    pub init: Vec<Duration>,
    pub init_secrets: Vec<Duration>,
    pub first: Vec<Duration>,
    pub warm: Vec<Duration>,
    pub floor: Vec<Duration>,
    /// One bare argon2id hash (register) or verification (login) after each floor.
    pub floor_argon2: Vec<Duration>,
    /// VmHWM of each fresh process at the end of its init, KiB.
    pub init_rss_kib: Vec<u64>,
    /// Largest VmHWM of the fresh processes, KiB.
    pub cold_peak_rss_kib: u64,
    /// VmHWM of the warm process after all its invocations, KiB.
    pub peak_rss_kib: u64,
    /// `(architecture, zip bytes, bootstrap bytes)`.
    pub sizes: Vec<(String, u64, u64)>,
}

/// Measurements that explain the table: where cold-start time goes, and how
/// the profile query scales with the linked collection.
#[derive(Default)]
pub struct References {
    /// A new client's connection, index creation and deployment probe.
    pub prepare: Vec<Duration>,
    /// Registration validation: first call in a process (zxcvbn dictionaries), next call.
    pub validation_first: Duration,
    pub validation_next: Duration,
    /// The profile floor again once the linked collection holds `linked_documents`.
    pub profile_floor_large: Vec<Duration>,
    pub linked_documents: u64,
}

pub struct Results {
    pub label: String,
    pub references: References,
    pub transactions: bool,
    pub ping: Vec<Duration>,
    pub functions: Vec<FunctionResult>,
    pub started: std::time::SystemTime,
    pub elapsed: Duration,
}

/// Runs the whole benchmark. `progress` receives one line per phase.
pub async fn run(options: &Options, progress: &mut dyn FnMut(&str)) -> Result<Results, Error> {
    let started_at = std::time::SystemTime::now();
    let started = Instant::now();
    for endpoint in &options.endpoints {
        let binary = options.bin_dir.join(endpoint.binary());
        if !binary.is_file() {
            return Err(format!(
                "{} does not exist: build the functions first",
                binary.display()
            )
            .into());
        }
    }
    std::fs::create_dir_all(&options.log_dir)?;
    for endpoint in &options.endpoints {
        let _ = std::fs::remove_file(options.log_dir.join(format!("{}.log", endpoint.binary())));
    }
    let jwt_secret = random_hex(32)?;
    let database = format!("bench_{}", random_hex(6)?);
    let count = |endpoint: Endpoint| {
        if options.endpoints.contains(&endpoint) {
            options.cold + options.cold_secrets + options.warmup + options.warm_count(endpoint)
        } else {
            0
        }
    };
    let sizes = Sizes {
        login: count(Endpoint::Login).max(options.warmup + options.warm_argon2),
        delete: count(Endpoint::Delete),
        floor_delete: options.warmup + options.warm,
    };
    progress(&format!("creating database {database}"));
    let data = Dataset::create(&options.mongodb_uri, &database, &jwt_secret, &sizes).await?;
    let mut bench = Bench {
        options,
        data,
        jwt_secret,
        sequence: 0,
        login_next: 0,
        delete_next: 0,
    };
    let outcome = bench.all(progress).await;
    bench.data.drop().await;
    let (ping, functions, references) = outcome?;
    Ok(Results {
        label: options.label.clone(),
        references,
        transactions: bench.data.transactions,
        ping,
        functions,
        started: started_at,
        elapsed: started.elapsed(),
    })
}

struct Bench<'a> {
    options: &'a Options,
    data: Dataset,
    jwt_secret: String,
    /// Numbers every event, so that registrations and external ids are unique.
    sequence: usize,
    login_next: usize,
    delete_next: usize,
}

struct Process {
    child: Child,
    api: RuntimeApi,
    init: Duration,
    log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bench<'_> {
    async fn all(
        &mut self,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(Vec<Duration>, Vec<FunctionResult>, References), Error> {
        let mut references = References::default();
        (references.validation_first, references.validation_next) =
            Dataset::validation_first_and_next();
        let mut ping = Vec::new();
        for _ in 0..20 {
            self.data.ping().await?;
        }
        for _ in 0..500 {
            ping.push(self.data.ping().await?);
        }
        for _ in 0..10 {
            references.prepare.push(self.data.cold_prepare().await?);
        }
        let mut functions = Vec::new();
        let mut seeded = false;
        for &endpoint in &self.options.endpoints {
            if endpoint == Endpoint::Delete {
                self.seed(&mut references).await?;
                seeded = true;
            }
            functions.push(self.function(endpoint, progress).await?);
        }
        if !seeded {
            self.seed(&mut references).await?;
        }
        Ok((ping, functions, references))
    }

    /// Adds the delete users' linked documents, then measures the profile floor
    /// on the larger collection (before delete removes them again).
    async fn seed(&mut self, references: &mut References) -> Result<(), Error> {
        references.linked_documents = self.data.seed_delete_linked().await?;
        if self.options.endpoints.contains(&Endpoint::Profile) {
            for _ in 0..self.options.warm.clamp(1, 50) {
                references
                    .profile_floor_large
                    .push(self.data.floor_profile().await?);
            }
        }
        Ok(())
    }

    async fn function(
        &mut self,
        endpoint: Endpoint,
        progress: &mut dyn FnMut(&str),
    ) -> Result<FunctionResult, Error> {
        let name = endpoint.binary();
        let mut result = FunctionResult {
            endpoint: Some(endpoint),
            ..FunctionResult::default()
        };
        for (arch, dir) in &self.options.artifacts {
            let zip = dir.join(name).join("bootstrap.zip");
            let (zip_bytes, bootstrap_bytes) =
                report::zip_sizes(&zip).map_err(|error| format!("{}: {error}", zip.display()))?;
            result
                .sizes
                .push((arch.clone(), zip_bytes, bootstrap_bytes));
        }

        progress(&format!(
            "{name}: {} cold starts (plain configuration), {} with secrets from the Secrets Manager stand-in",
            self.options.cold, self.options.cold_secrets
        ));
        for secrets in [false, true] {
            let starts = if secrets {
                self.options.cold_secrets
            } else {
                self.options.cold
            };
            for _ in 0..starts {
                let mut process = self.launch(endpoint, secrets).await?;
                if !secrets {
                    result
                        .init_rss_kib
                        .push(peak_rss_kib(process.child.id()).unwrap_or(0));
                }
                let first = self.invoke(&mut process, endpoint).await?;
                result.cold_peak_rss_kib = result
                    .cold_peak_rss_kib
                    .max(peak_rss_kib(process.child.id()).unwrap_or(0));
                if secrets {
                    result.init_secrets.push(process.init);
                } else {
                    result.init.push(process.init);
                    result.first.push(first);
                }
            }
        }

        let count = self.options.warm_count(endpoint);
        progress(&format!(
            "{name}: {count} warm invocations, each followed by its floor"
        ));
        let mut process = self.launch(endpoint, false).await?;
        for i in 0..self.options.warmup {
            self.invoke(&mut process, endpoint).await?;
            self.floor(endpoint, i).await?;
        }
        for i in self.options.warmup..self.options.warmup + count {
            result.warm.push(self.invoke(&mut process, endpoint).await?);
            let (floor, argon2) = self.floor(endpoint, i).await?;
            result.floor.push(floor);
            if let Some(argon2) = argon2 {
                result.floor_argon2.push(argon2);
            }
        }
        result.peak_rss_kib = peak_rss_kib(process.child.id()).unwrap_or(0);
        Ok(result)
    }

    /// The same domain operation as invocation `i` of `endpoint`, from this
    /// process, then (register, login) one bare argon2id for reference.
    async fn floor(
        &self,
        endpoint: Endpoint,
        i: usize,
    ) -> Result<(Duration, Option<Duration>), Error> {
        let data = &self.data;
        Ok(match endpoint {
            Endpoint::Register => (data.floor_register(i).await?, Some(data.argon2_hash()?)),
            Endpoint::Login => (data.floor_login(i).await?, Some(data.argon2_verify()?)),
            Endpoint::Link => (data.floor_link(i).await?, None),
            Endpoint::Profile => (data.floor_profile().await?, None),
            Endpoint::Delete => (data.floor_delete(i).await?, None),
        })
    }

    /// Starts a fresh process and waits for the end of its init.
    async fn launch(&mut self, endpoint: Endpoint, secrets: bool) -> Result<Process, Error> {
        let name = endpoint.binary();
        let function_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        let jwt_arn =
            format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:user-api/jwt-secret-AbCdEf");
        let uri_arn =
            format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:user-api/mongodb-uri-GhIjKl");
        let api = RuntimeApi::start(
            function_arn,
            vec![
                (jwt_arn.clone(), self.jwt_secret.clone()),
                (uri_arn.clone(), self.options.mongodb_uri.clone()),
            ],
        )
        .await?;
        let log = self.options.log_dir.join(format!("{name}.log"));
        let output = File::options().create(true).append(true).open(&log)?;
        let binary = self.options.bin_dir.join(name);
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .current_dir(&self.options.bin_dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            // What Lambda sets for a provided.al2023 function.
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                endpoint.memory_mb().to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/11/27/[$LATEST]{}", random_hex(16)?),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("LAMBDA_TASK_ROOT", &self.options.bin_dir)
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            // The template's variables.
            .env("MONGODB_DB", &self.data.database)
            .env("LINKED_COLLECTION", LINKED_COLLECTION)
            .env("JWT_ISSUER", "user-management-api")
            .env("JWT_AUDIENCE", "user-management-api")
            .env("ACCESS_TOKEN_TTL_SECONDS", "1800")
            .env("RUST_LOG", "info");
        command.envs(self.options.function_env.iter().map(|(k, v)| (k, v)));
        if secrets {
            command
                .env("JWT_SECRET_ARN", &jwt_arn)
                .env("MONGODB_URI_SECRET_ARN", &uri_arn)
                .env("AWS_ENDPOINT_URL", format!("http://{}", api.addr))
                // Lambda's execution-role credentials; the stand-in does not check them.
                .env("AWS_ACCESS_KEY_ID", "ASIABENCHBENCHBENCH0")
                .env(
                    "AWS_SECRET_ACCESS_KEY",
                    "benchbenchbenchbenchbenchbenchbenchbench",
                )
                .env("AWS_SESSION_TOKEN", "bench-session-token");
        } else {
            command
                .env("MONGODB_URI", &self.options.mongodb_uri)
                .env("JWT_SECRET", &self.jwt_secret);
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|error| format!("{}: {error}", binary.display()))?;
        let mut process = Process {
            child,
            api,
            init: Duration::ZERO,
            log,
        };
        loop {
            match process.api.signal(Duration::from_millis(100)).await {
                Some(Signal::Next(at)) => {
                    process.init = at.duration_since(spawned);
                    return Ok(process);
                }
                Some(Signal::InitError(body)) => {
                    return Err(process.failure(&format!(
                        "reported an init error: {}",
                        String::from_utf8_lossy(&body)
                    )))
                }
                Some(Signal::Done { .. }) => {}
                None => {
                    if let Some(status) = process.child.try_wait()? {
                        return Err(process.failure(&format!("exited during init ({status})")));
                    }
                    if spawned.elapsed() > PATIENCE {
                        return Err(process.failure("did not finish init in time"));
                    }
                }
            }
        }
    }

    /// Sends the next event for `endpoint` and returns its duration.
    async fn invoke(
        &mut self,
        process: &mut Process,
        endpoint: Endpoint,
    ) -> Result<Duration, Error> {
        self.sequence += 1;
        let request_id = request_id(self.sequence);
        let payload = self.event(endpoint, &request_id)?;
        process.api.invoke(Invocation {
            request_id: request_id.clone(),
            payload,
        });
        loop {
            match process.api.signal(PATIENCE).await {
                Some(Signal::Done {
                    request_id: answered,
                    duration,
                    error,
                    body,
                }) if answered == request_id => {
                    let status = status_code(&body);
                    if error || status != Some(endpoint.expected_status()) {
                        let body = String::from_utf8_lossy(&body);
                        let excerpt: String = body.chars().take(600).collect();
                        return Err(process
                            .failure(&format!("answered {} with {excerpt}", endpoint.route())));
                    }
                    return Ok(duration);
                }
                Some(Signal::Done { .. } | Signal::Next(_)) => {}
                Some(Signal::InitError(body)) => {
                    return Err(process.failure(&format!(
                        "reported an init error: {}",
                        String::from_utf8_lossy(&body)
                    )))
                }
                None => return Err(process.failure("did not answer in time")),
            }
        }
    }

    fn event(&mut self, endpoint: Endpoint, request_id: &str) -> Result<Bytes, Error> {
        let i = self.sequence;
        let (method, route) = endpoint
            .route()
            .split_once(' ')
            .expect("routes are METHOD PATH");
        let mut event = HttpEvent {
            method,
            route,
            user_id: None,
            bearer: None,
            body: None,
            source_ip: source_ip(i),
            request_id,
        };
        let account: &Account;
        match endpoint {
            Endpoint::Register => {
                event.body = Some(
                    json!({
                        "username": format!("reg{i}"),
                        "email": format!("reg{i}@example.com"),
                        "password": PASSWORD,
                    })
                    .to_string(),
                );
                return Ok(event.to_bytes());
            }
            Endpoint::Login => {
                account = self
                    .data
                    .login
                    .get(self.login_next)
                    .ok_or("not enough login users")?;
                self.login_next += 1;
                event.body =
                    Some(json!({ "email": account.email, "password": PASSWORD }).to_string());
                return Ok(event.to_bytes());
            }
            Endpoint::Link => {
                account = &self.data.link;
                event.body = Some(json!({ "external_id": format!("crm-{i}") }).to_string());
            }
            Endpoint::Profile => account = &self.data.profile,
            Endpoint::Delete => {
                account = self
                    .data
                    .delete
                    .get(self.delete_next)
                    .ok_or("not enough users to delete")?;
                self.delete_next += 1;
            }
        }
        event.user_id = Some(&account.hex);
        event.bearer = Some(&account.token);
        Ok(event.to_bytes())
    }
}

impl Process {
    fn failure(&mut self, what: &str) -> Error {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let tail = tail(&self.log, 15);
        format!(
            "{what}\n  (function output, last lines of {}):\n{tail}",
            self.log.display()
        )
        .into()
    }
}

/// The process's peak resident set (VmHWM), KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A UUID-shaped request id, unique within the run.
fn request_id(sequence: usize) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        0x6b09_5000_u32.wrapping_add(sequence as u32),
        (sequence >> 16) & 0xffff,
        sequence & 0xfff,
        (sequence >> 12) & 0xfff,
        sequence as u64 * 2_654_435_761 % 0xffff_ffff_ffff,
    )
}

fn random_hex(bytes: usize) -> Result<String, Error> {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}
