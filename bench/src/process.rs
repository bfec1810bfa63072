//! A function process under the local Runtime API, started as Lambda starts
//! one: a clean environment with Lambda's variables and the template's.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::runtime_api::{Invocation, RuntimeApi, Signal};
use crate::Error;

/// How long a function may take to start or to answer before the run fails.
const PATIENCE: Duration = Duration::from_secs(30);
pub const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

/// What to start.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub name: &'a str,
    pub memory_mb: u64,
    pub timeout: Duration,
    /// The function's variables (the template's, resolved).
    pub env: &'a [(String, String)],
    /// `(ARN, value)` pairs the Secrets Manager stand-in serves; when not
    /// empty, the function is pointed at it.
    pub secrets: &'a [(String, String)],
    /// Runs the process on this core only, as `taskset -c CPU` would.
    pub pin_cpu: Option<usize>,
    pub log: &'a Path,
}

pub struct Process {
    child: Child,
    api: RuntimeApi,
    /// From the spawn to the first `invocation/next`.
    pub init: Duration,
    log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a right answer is: the benchmark fails on any other, so that it
/// never times an error path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// An API Gateway answer with this status.
    Status(u16),
    /// An SQS batch answer that reports no message as failed.
    NoBatchItemFailures,
    /// publish-events' summary: something published, nothing left over.
    Published,
    /// Any answer that is not an error (the rotation answers `null`).
    Done,
    /// purge-deletions' summary: the one user made due was deleted.
    Purged,
}

impl Expect {
    pub fn met_by(self, body: &[u8]) -> bool {
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
            return false;
        };
        match self {
            Self::Status(status) => answer["statusCode"].as_u64() == Some(u64::from(status)),
            Self::NoBatchItemFailures => answer["batchItemFailures"]
                .as_array()
                .is_some_and(Vec::is_empty),
            Self::Published => {
                answer["published"].as_u64().is_some_and(|n| n > 0)
                    && answer["remaining"].as_u64() == Some(0)
            }
            Self::Done => true,
            Self::Purged => answer["deleted"].as_u64() == Some(1),
        }
    }
}

pub const MONGODB_URI_SECRET: &str = "mongodb-uri-GhIjKl";
pub const SIGNING_KEYS_SECRET: &str = "signing-keys-AbCdEf";
pub const PUBLIC_KEYS_SECRET: &str = "public-keys-MnOpQr";
pub const MFA_KEY_SECRET: &str = "mfa-key-StUvWx";
pub const OAUTH_CLIENTS_SECRET: &str = "oauth-clients-YzAbCd";

/// ARNs of the secrets in this account and region.
pub fn secret_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:user-api/{name}")
}

impl Process {
    /// Starts a fresh process and waits for the end of its init.
    pub async fn launch(launch: &Launch<'_>) -> Result<Self, Error> {
        let name = launch.name;
        let function_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        let api = RuntimeApi::start(function_arn, launch.timeout, launch.secrets.to_vec()).await?;
        let output = File::options().create(true).append(true).open(launch.log)?;
        let task_root = launch.binary.parent().unwrap_or(Path::new("/"));
        let mut command = Command::new(launch.binary);
        command
            .env_clear()
            .current_dir(task_root)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            // What Lambda sets for a provided.al2023 function.
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                launch.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/11/27/[$LATEST]{}", crate::random_hex(16)?),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("LAMBDA_TASK_ROOT", task_root)
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            // The execution role's credentials; the stand-in does not check them.
            .env("AWS_ACCESS_KEY_ID", "ASIABENCHBENCHBENCH0")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "benchbenchbenchbenchbenchbenchbenchbench",
            )
            .env("AWS_SESSION_TOKEN", "bench-session-token")
            .envs(launch.env.iter().map(|(k, v)| (k, v)));
        if !launch.secrets.is_empty() {
            command.env("AWS_ENDPOINT_URL", format!("http://{}", api.addr));
        }
        // The mail queue (register's verification request) and the event bus
        // (publish-events) are the stand-in too.
        command.env("AWS_ENDPOINT_URL_SQS", format!("http://{}", api.addr));
        command.env(
            "AWS_ENDPOINT_URL_EVENTBRIDGE",
            format!("http://{}", api.addr),
        );
        // Every start forks the same way (a pre-exec step rules out
        // posix_spawn), so pinned and unpinned inits differ only in the pinning.
        let pin_cpu = launch.pin_cpu;
        // SAFETY: between fork and exec this only calls sched_setaffinity,
        // which is async-signal-safe, on a stack-local set.
        unsafe {
            command.pre_exec(move || {
                if let Some(cpu) = pin_cpu {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|error| format!("{}: {error}", launch.binary.display()))?;
        let mut process = Process {
            child,
            api,
            init: Duration::ZERO,
            log: launch.log.to_path_buf(),
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

    /// Sends one event and returns Lambda's Duration of it; the answer must
    /// be what `expect` says.
    pub async fn invoke(
        &mut self,
        request_id: String,
        payload: Vec<u8>,
        expect: Expect,
    ) -> Result<Duration, Error> {
        self.api.invoke(Invocation {
            request_id: request_id.clone(),
            payload,
        });
        loop {
            match self.api.signal(PATIENCE).await {
                Some(Signal::Done {
                    request_id: answered,
                    duration,
                    error,
                    body,
                }) if answered == request_id => {
                    if error || !expect.met_by(&body) {
                        let body = String::from_utf8_lossy(&body);
                        let excerpt: String = body.chars().take(600).collect();
                        return Err(
                            self.failure(&format!("answered with {excerpt} (expected {expect:?})"))
                        );
                    }
                    return Ok(duration);
                }
                Some(Signal::Done { .. } | Signal::Next(_)) => {}
                Some(Signal::InitError(body)) => {
                    return Err(self.failure(&format!(
                        "reported an init error: {}",
                        String::from_utf8_lossy(&body)
                    )))
                }
                None => return Err(self.failure("did not answer in time")),
            }
        }
    }

    /// The process's peak resident set (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn failure(&mut self, what: &str) -> Error {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail: Vec<String> = lines[lines.len().saturating_sub(15)..]
            .iter()
            .map(|line| format!("    {line}"))
            .collect();
        format!(
            "{what}\n  (function output, last lines of {}):\n{}",
            self.log.display(),
            tail.join("\n")
        )
        .into()
    }
}
