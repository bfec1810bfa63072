//! The run: each function started under the local Runtime API, cold (plain,
//! with secrets, pinned to one core, paused before its first event) and
//! warm, each warm invocation followed by its floor; then the size study.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use users_core::domain::passwords;

use crate::dataset::Dataset;
use crate::explain::{self, Plan};
use crate::monitor::{CommandLog, Recorded};
use crate::operations::{self, Floor, Needs, Operation, Subject, PASSWORD};
use crate::options::Options;
use crate::process::{
    secret_arn, Launch, Process, MFA_KEY_SECRET, MONGODB_URI_SECRET, OAUTH_CLIENTS_SECRET,
    PUBLIC_KEYS_SECRET, SIGNING_KEYS_SECRET,
};
use crate::study::{self, Study};
use crate::template::{Function, Template, Variable};
use crate::Error;

/// Warm invocations whose commands the server counts (serverStatus around each).
const SERVER_COUNTED: usize = 3;

/// Everything measured for one function.
pub struct FunctionResult {
    pub function: Function,
    pub operation: Operation,
    pub route: (String, String),
    pub init: Vec<Duration>,
    pub first: Vec<Duration>,
    pub init_secrets: Vec<Duration>,
    pub init_pinned: Vec<Duration>,
    pub first_pinned: Vec<Duration>,
    /// First invocations sent `pause` after init.
    pub first_paused: Vec<Duration>,
    /// Server requests and new connections from spawn to the first answer.
    pub cold_server: Vec<(i64, i64)>,
    /// VmHWM of each plain cold process at the end of its init, KiB.
    pub init_rss_kib: Vec<u64>,
    pub cold_peak_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub warm: Vec<Duration>,
    pub floor: Vec<Duration>,
    /// A bare argon2id hash (register) or verification (login) after each floor.
    pub floor_argon2: Vec<Duration>,
    /// Commands and round trips of each measured floor.
    pub commands: Vec<usize>,
    pub round_trips: Vec<usize>,
    /// The last floor's commands.
    pub last: Recorded,
    /// Server requests per warm invocation, less serverStatus's own.
    pub server_commands: Vec<i64>,
    pub fresh: Vec<FreshFloor>,
    pub plans: Vec<Plan>,
    /// `(architecture, zip bytes, bootstrap bytes)`.
    pub sizes: Vec<(String, u64, u64)>,
}

/// The floor on a new client whose `prepare` (connection, indexes, deployment
/// probe) has finished: its first operation, and the same again.
pub struct FreshFloor {
    pub prepare: Duration,
    pub first: Duration,
    pub second: Duration,
    pub first_connections: usize,
    pub first_commands: usize,
}

/// What the table's causes are measured against.
#[derive(Default)]
pub struct References {
    pub ping: Vec<Duration>,
    /// A new client's connection, index creation and deployment probe.
    pub prepare: Vec<Duration>,
    /// Registration validation (zxcvbn): the first call in a process, the next.
    pub validation_first: Duration,
    pub validation_next: Duration,
    /// An argon2id hash: the first in a process (work area allocated), the next.
    pub argon2_first: Duration,
    pub argon2_next: Duration,
    /// Signing an access token (RS256, what login and refresh add) and
    /// verifying one (what every bearer route adds), in this process.
    pub rs256_sign: Vec<Duration>,
    pub rs256_verify: Vec<Duration>,
}

pub struct Results {
    pub label: String,
    pub template: PathBuf,
    pub transactions: bool,
    pub references: References,
    pub functions: Vec<FunctionResult>,
    pub study: Vec<Study>,
    pub started: std::time::SystemTime,
    pub elapsed: Duration,
}

/// Functions the benchmark does not measure, knowingly, each with why and
/// where its figures come from instead. None today: listed, so that any
/// function it does not know still stops the run.
const NOT_MEASURED: [&str; 0] = [];

/// The functions of the template the options select, with their
/// operations. Every function must have one: one the benchmark does not know
/// stops the run, so that the table cannot silently shrink.
pub fn select(template: &Template, options: &Options) -> Result<Vec<(Function, Operation)>, Error> {
    let mut selected = Vec::new();
    for function in &template.functions {
        if !options.functions.is_empty() && !options.functions.contains(&function.binary) {
            continue;
        }
        if NOT_MEASURED.contains(&function.binary.as_str()) {
            continue;
        }
        let operation = Operation::for_binary(&function.binary).ok_or_else(|| {
            format!(
                "template.yaml deploys {} ({}), which the benchmark does not know: \
                 give it an Operation in bench/src/operations.rs",
                function.binary, function.resource
            )
        })?;
        selected.push((function.clone(), operation));
    }
    for name in &options.functions {
        if !template.functions.iter().any(|f| &f.binary == name) {
            return Err(format!("template.yaml deploys no function named {name:?}").into());
        }
    }
    Ok(selected)
}

pub struct Run<'a> {
    options: &'a Options,
    bin_dir: PathBuf,
    log_dir: PathBuf,
    deployment: Deployment,
    data: Dataset,
    /// Numbers every invocation: request ids, source addresses, external ids.
    sequence: usize,
}

/// Runs the whole benchmark. `progress` gets one line per phase.
pub async fn run(
    options: &Options,
    template_path: &Path,
    bin_dir: PathBuf,
    log_dir: PathBuf,
    progress: &mut dyn FnMut(&str),
) -> Result<Results, Error> {
    let started_at = std::time::SystemTime::now();
    let started = Instant::now();
    let template = Template::load(template_path)?;
    let selected = select(&template, options)?;
    for (function, _) in &selected {
        let binary = bin_dir.join(&function.binary);
        if !binary.is_file() {
            return Err(format!(
                "{} does not exist: build the functions first",
                binary.display()
            )
            .into());
        }
    }
    let uri = options
        .mongodb_uri
        .clone()
        .ok_or("set MONGODB_URI or --mongodb-uri (make bench starts a SecantusDB)")?;
    std::fs::create_dir_all(&log_dir)?;
    for (function, _) in &selected {
        let _ = std::fs::remove_file(log_dir.join(format!("{}.log", function.binary)));
    }

    // First calls in this process, before anything else makes them.
    let mut references = References::default();
    (references.validation_first, references.validation_next) = validation_first_and_next();
    (references.argon2_first, references.argon2_next) = argon2_first_and_next()?;

    let database = format!("bench_{}", crate::random_hex(6)?);
    progress(&format!("creating signing keys and database {database}"));
    let deployment = Deployment::new(&uri, &database, &log_dir)?;
    (references.rs256_sign, references.rs256_verify) = rs256_costs(&deployment.signing_keys)?;
    let env = floor_env(&selected, &deployment)?;
    let data = Dataset::create(&uri, &env).await?;
    let mut run = Run {
        options,
        bin_dir,
        log_dir,
        deployment,
        data,
        sequence: 0,
    };
    let outcome = run.all(&selected, &mut references, progress).await;
    run.data.drop().await;
    let functions = outcome?;
    let transactions = run.data.transactions;

    // Every measured operation that reads the database: its floor as other
    // users' data grows.
    let studied: Vec<Operation> = selected
        .iter()
        .filter(|(function, _)| {
            options.study_functions.is_empty() || options.study_functions.contains(&function.binary)
        })
        .map(|(_, operation)| *operation)
        .filter(|operation| operation.uses_database())
        .collect();
    let study = if options.study_samples > 0 {
        let env = floor_env(&selected, &run.deployment)?;
        study::run(
            &uri,
            &env,
            &studied,
            &format!("{database}_study"),
            options.study_documents,
            options.study_samples,
            progress,
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(Results {
        label: options.label.clone().unwrap_or_else(|| "release".into()),
        template: template_path.to_path_buf(),
        transactions,
        references,
        functions,
        study,
        started: started_at,
        elapsed: started.elapsed(),
    })
}

impl Run<'_> {
    async fn all(
        &mut self,
        selected: &[(Function, Operation)],
        references: &mut References,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<FunctionResult>, Error> {
        for _ in 0..20 {
            self.data.ping().await?;
        }
        for _ in 0..500 {
            references.ping.push(self.data.ping().await?);
        }
        for _ in 0..(self.options.fresh_floors * 2).max(2) {
            let log = CommandLog::default();
            let started = Instant::now();
            let store = self.data.new_store(&log).await?;
            store.prepare().await.map_err(|error| error.to_string())?;
            references.prepare.push(started.elapsed());
        }
        let mut results = Vec::new();
        let first_database = self.deployment.database.clone();
        for (index, (function, operation)) in selected.iter().enumerate() {
            if index > 0 {
                // Each function meets a database of its own, as small as the
                // first one met: one SecantusDB serves the run, and the data
                // every earlier function left made the late ones' server
                // slower (issue #19). Created and prepared before the cold
                // starts, as a deployed database would be.
                self.data.drop().await;
                self.deployment.database = format!("{first_database}_{index}");
                let env = floor_env(selected, &self.deployment)?;
                self.data = Dataset::create(&self.deployment.uri, &env).await?;
            }
            results.push(self.function(function, *operation, progress).await?);
        }
        Ok(results)
    }

    async fn function(
        &mut self,
        function: &Function,
        operation: Operation,
        progress: &mut dyn FnMut(&str),
    ) -> Result<FunctionResult, Error> {
        let options = self.options;
        let name = function.binary.clone();
        // Event functions have no route: their events are not API Gateway's.
        let route = function.routes.first().cloned().unwrap_or_default();
        let mut result = FunctionResult {
            function: function.clone(),
            operation,
            route: route.clone(),
            init: Vec::new(),
            first: Vec::new(),
            init_secrets: Vec::new(),
            init_pinned: Vec::new(),
            first_pinned: Vec::new(),
            first_paused: Vec::new(),
            cold_server: Vec::new(),
            init_rss_kib: Vec::new(),
            cold_peak_rss_kib: 0,
            peak_rss_kib: 0,
            warm: Vec::new(),
            floor: Vec::new(),
            floor_argon2: Vec::new(),
            commands: Vec::new(),
            round_trips: Vec::new(),
            last: Recorded::default(),
            server_commands: Vec::new(),
            fresh: Vec::new(),
            plans: Vec::new(),
            sizes: Vec::new(),
        };
        for (arch, dir) in &options.artifacts {
            let zip = Path::new(dir).join(&name).join("bootstrap.zip");
            let (zip_bytes, bootstrap_bytes) = crate::zip::zip_sizes(&zip)
                .map_err(|error| format!("{}: {error}", zip.display()))?;
            result
                .sizes
                .push((arch.clone(), zip_bytes, bootstrap_bytes));
        }

        progress(&format!(
            "{name}: cold starts: {} plain, {} with secrets, {} on core {}, {} paused {} ms before the first event",
            options.cold, options.cold_secrets, options.cold_pinned, options.pin_cpu, options.cold_paused, options.pause_ms
        ));
        let cold_total =
            options.cold + options.cold_secrets + options.cold_pinned + options.cold_paused;
        let baseline = self.server_baseline().await;
        let mut subjects = self.subjects(operation, cold_total).await?.into_iter();
        for (variant, starts) in [
            (Cold::Plain, options.cold),
            (Cold::Secrets, options.cold_secrets),
            (Cold::Pinned, options.cold_pinned),
            (Cold::Paused, options.cold_paused),
        ] {
            for _ in 0..starts {
                let subject = subjects.next().flatten();
                let before = match variant {
                    Cold::Plain => self.data.server_counters().await,
                    _ => None,
                };
                let mut process = self.launch(function, variant).await?;
                if variant == Cold::Plain {
                    result.init_rss_kib.push(process.peak_rss_kib());
                }
                if variant == Cold::Paused {
                    tokio::time::sleep(Duration::from_millis(options.pause_ms)).await;
                }
                self.data.stage(operation, subject.as_ref()).await?;
                let first = self
                    .invoke(&mut process, operation, &route, subject.as_ref())
                    .await?;
                let after = self.data.server_counters().await;
                if let (Some(before), Some(after), Some(baseline)) = (before, after, baseline) {
                    result
                        .cold_server
                        .push((after.0 - before.0 - baseline, after.1 - before.1));
                }
                result.cold_peak_rss_kib = result.cold_peak_rss_kib.max(process.peak_rss_kib());
                match variant {
                    Cold::Plain => {
                        result.init.push(process.init);
                        result.first.push(first);
                    }
                    Cold::Secrets => result.init_secrets.push(process.init),
                    Cold::Pinned => {
                        result.init_pinned.push(process.init);
                        result.first_pinned.push(first);
                    }
                    Cold::Paused => result.first_paused.push(first),
                }
            }
        }

        let count = options.warm_count(operation.slow());
        progress(&format!(
            "{name}: {count} warm invocations, each followed by its floor"
        ));
        let total = options.warmup + count;
        let invocations = self.subjects(operation, total + SERVER_COUNTED).await?;
        let floors = self.subjects(operation, total).await?;
        let mut process = self.launch(function, Cold::Plain).await?;
        for (i, (subject, floor_subject)) in invocations.iter().zip(&floors).enumerate() {
            self.data.stage(operation, subject.as_ref()).await?;
            let warm = self
                .invoke(&mut process, operation, &route, subject.as_ref())
                .await?;
            self.data.stage(operation, floor_subject.as_ref()).await?;
            let floor = self.floor(operation, floor_subject.as_ref()).await?;
            if i < options.warmup {
                continue;
            }
            result.warm.push(warm);
            if let Some((took, recorded)) = floor {
                result.floor.push(took);
                result.commands.push(recorded.commands.len());
                result.round_trips.push(recorded.round_trips().len());
                result.last = recorded;
                match operation {
                    Operation::Register => result.floor_argon2.push(argon2_hash()?),
                    Operation::Login => result.floor_argon2.push(argon2_verify(self.data.hash())?),
                    _ => {}
                }
            }
        }
        // The same commands, counted by the server: serverStatus before and
        // after an invocation, less what it counts between two serverStatus.
        for subject in &invocations[total..] {
            self.data.stage(operation, subject.as_ref()).await?;
            let before = self.data.server_counters().await;
            self.invoke(&mut process, operation, &route, subject.as_ref())
                .await?;
            let after = self.data.server_counters().await;
            if let (Some(before), Some(after), Some(baseline)) = (before, after, baseline) {
                result.server_commands.push(after.0 - before.0 - baseline);
            }
        }
        result.peak_rss_kib = process.peak_rss_kib();
        drop(process);

        if operation.uses_database() && options.fresh_floors > 0 {
            progress(&format!(
                "{name}: {} floors on a new client",
                options.fresh_floors
            ));
            let fresh = self.subjects(operation, 2 * options.fresh_floors).await?;
            for pair in fresh.chunks(2) {
                result
                    .fresh
                    .push(self.fresh_floor(operation, &pair[0], &pair[1]).await?);
            }
        }
        if !result.last.commands.is_empty() {
            result.plans = explain::commands(self.data.client(), &result.last).await;
        }
        Ok(result)
    }

    /// `n` subjects for invocations (or floors) of `operation`.
    async fn subjects(
        &mut self,
        operation: Operation,
        n: usize,
    ) -> Result<Vec<Option<Subject>>, Error> {
        Ok(match operation.needs() {
            Needs::Nothing => vec![None; n],
            Needs::Each(kind) => self
                .data
                .subjects(kind, n, false)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
            Needs::Shared(kind) => self
                .data
                .subjects(kind, n, true)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
        })
    }

    async fn invoke(
        &mut self,
        process: &mut Process,
        operation: Operation,
        route: &(String, String),
        subject: Option<&Subject>,
    ) -> Result<Duration, Error> {
        self.sequence += 1;
        let request_id = request_id(self.sequence);
        let payload = operations::event(operation, route, subject, self.sequence, &request_id)?;
        process
            .invoke(request_id, payload, operation.expect())
            .await
            .map_err(|error| format!("{} {}: {error}", route.0, route.1).into())
    }

    /// The floor of one invocation, timed, with the commands it sent.
    async fn floor(
        &mut self,
        operation: Operation,
        subject: Option<&Subject>,
    ) -> Result<Option<(Duration, Recorded)>, Error> {
        self.sequence += 1;
        let Some(floor) = Floor::new(operation, subject, self.sequence)? else {
            return Ok(None);
        };
        self.data.log.take();
        let started = Instant::now();
        floor.run(&self.data.floor, &self.data.context).await?;
        let took = started.elapsed();
        Ok(Some((took, self.data.log.take())))
    }

    async fn fresh_floor(
        &mut self,
        operation: Operation,
        first: &Option<Subject>,
        second: &Option<Subject>,
    ) -> Result<FreshFloor, Error> {
        let log = CommandLog::default();
        let started = Instant::now();
        let store = self.data.new_store(&log).await?;
        store.prepare().await.map_err(|error| error.to_string())?;
        let prepare = started.elapsed();
        log.take();
        let mut times = Vec::new();
        let mut recorded = Vec::new();
        for subject in [first, second] {
            self.sequence += 1;
            self.data.stage(operation, subject.as_ref()).await?;
            log.take();
            let floor =
                Floor::new(operation, subject.as_ref(), self.sequence)?.ok_or("no floor")?;
            let started = Instant::now();
            floor.run(&store, &self.data.context).await?;
            times.push(started.elapsed());
            recorded.push(log.take());
        }
        Ok(FreshFloor {
            prepare,
            first: times[0],
            second: times[1],
            first_connections: recorded[0].connections_opened,
            first_commands: recorded[0].commands.len(),
        })
    }

    /// Requests the server counts between two back-to-back serverStatus (the
    /// second's own, and any heartbeat): the least of three.
    async fn server_baseline(&self) -> Option<i64> {
        let mut least = None;
        for _ in 0..3 {
            let before = self.data.server_counters().await?;
            let after = self.data.server_counters().await?;
            let delta = after.0 - before.0;
            least = Some(least.map_or(delta, |least: i64| least.min(delta)));
        }
        least
    }

    async fn launch(&self, function: &Function, variant: Cold) -> Result<Process, Error> {
        // The rotation calls Secrets Manager whatever its configuration: it
        // always runs against the stand-in.
        let rotation =
            Operation::for_binary(&function.binary) == Some(Operation::RotateSigningKeys);
        let secrets_mode = variant == Cold::Secrets || rotation;
        let mut env = function_env(function, secrets_mode, &self.deployment)?;
        env.extend(self.options.function_env.iter().cloned());
        let secrets = if secrets_mode {
            self.deployment.secrets()
        } else {
            Vec::new()
        };
        let binary = self.bin_dir.join(&function.binary);
        let log = self.log_dir.join(format!("{}.log", function.binary));
        Process::launch(&Launch {
            binary: &binary,
            name: &function.binary,
            memory_mb: function.memory_mb,
            timeout: Duration::from_secs(function.timeout_s),
            env: &env,
            secrets: &secrets,
            pin_cpu: (variant == Cold::Pinned).then_some(self.options.pin_cpu),
            log: &log,
        })
        .await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cold {
    Plain,
    Secrets,
    Pinned,
    Paused,
}

/// Values for the template's parameters that have no default: what a
/// deployment passes (`sam deploy --parameter-overrides`).
const DEPLOY_PARAMETERS: &[(&str, &str)] = &[
    ("PublicBaseUrl", "https://auth.example.com"),
    ("AppBaseUrl", "https://app.example.com"),
    ("MailSender", "no-reply@example.com"),
];

/// What this run deploys: the database, and the key sets made as the
/// rotation makes them, in files (plain configuration, as `make dev`) and
/// served by the Secrets Manager stand-in (deployed configuration).
#[derive(Clone)]
pub struct Deployment {
    uri: String,
    database: String,
    signing_keys: String,
    public_keys: String,
    signing_keys_file: PathBuf,
    public_keys_file: PathBuf,
    /// The material the TOTP secrets are sealed with.
    mfa_key: String,
    mfa_key_file: PathBuf,
    /// The provider's clients document: the public client of the pages'
    /// and the token endpoint's operations.
    oauth_clients: String,
    oauth_clients_file: PathBuf,
    /// Where send-mail delivers (`MAIL_DIRECTORY`), as under `make test`.
    mail_directory: PathBuf,
}

impl Deployment {
    fn new(uri: &str, database: &str, dir: &Path) -> Result<Self, Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        // The first set, as the rotation makes it when it finds none, made a
        // day ago: as in a stack that has run a while, its next key is old
        // enough for the rotation to promote (a younger one is refused).
        const DAY_MS: i64 = 24 * 3600 * 1000;
        let set = users_core::keygen::next_key_set(None, now - DAY_MS, Duration::ZERO)
            .map_err(|error| error.to_string())?;
        let deployment = Self {
            uri: uri.to_string(),
            database: database.to_string(),
            signing_keys: set.to_json(),
            public_keys: set.public().to_json(),
            signing_keys_file: dir.join("signing-keys.json"),
            public_keys_file: dir.join("public-keys.json"),
            mfa_key: crate::random_hex(32)?,
            mfa_key_file: dir.join("mfa-key"),
            oauth_clients: crate::operations::clients_document(),
            oauth_clients_file: dir.join("oauth-clients.json"),
            mail_directory: dir.join("mail"),
        };
        std::fs::create_dir_all(&deployment.mail_directory)?;
        for (path, document) in [
            (&deployment.signing_keys_file, &deployment.signing_keys),
            (&deployment.public_keys_file, &deployment.public_keys),
            (&deployment.mfa_key_file, &deployment.mfa_key),
            (&deployment.oauth_clients_file, &deployment.oauth_clients),
        ] {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)?;
            std::io::Write::write_all(&mut file, document.as_bytes())?;
        }
        Ok(deployment)
    }

    /// `(ARN, value)` of each secret the stand-in serves.
    fn secrets(&self) -> Vec<(String, String)> {
        vec![
            (secret_arn(MONGODB_URI_SECRET), self.uri.clone()),
            (secret_arn(SIGNING_KEYS_SECRET), self.signing_keys.clone()),
            (secret_arn(PUBLIC_KEYS_SECRET), self.public_keys.clone()),
            (secret_arn(MFA_KEY_SECRET), self.mfa_key.clone()),
            (secret_arn(OAUTH_CLIENTS_SECRET), self.oauth_clients.clone()),
        ]
    }
}

/// The function's variables as template.yaml gives them, resolved: parameters
/// take their defaults (or what a deployment passes), the database is this
/// run's, and each `*_SECRET_ARN` becomes its local form (the value or a
/// file), or with `secrets` the stand-in's ARN.
pub fn function_env(
    function: &Function,
    secrets: bool,
    deployment: &Deployment,
) -> Result<Vec<(String, String)>, Error> {
    let path = |file: &PathBuf| file.display().to_string();
    let mut env = function.logging.clone();
    for (name, value) in &function.variables {
        let resolved = match name.as_str() {
            "MONGODB_URI_SECRET_ARN" if secrets => (name.clone(), secret_arn(MONGODB_URI_SECRET)),
            "MONGODB_URI_SECRET_ARN" => ("MONGODB_URI".into(), deployment.uri.clone()),
            "SIGNING_KEYS_SECRET_ARN" if secrets => (name.clone(), secret_arn(SIGNING_KEYS_SECRET)),
            "SIGNING_KEYS_SECRET_ARN" => (
                "SIGNING_KEYS_FILE".into(),
                path(&deployment.signing_keys_file),
            ),
            "PUBLIC_KEYS_SECRET_ARN" if secrets => (name.clone(), secret_arn(PUBLIC_KEYS_SECRET)),
            "PUBLIC_KEYS_SECRET_ARN" => (
                "PUBLIC_KEYS_FILE".into(),
                path(&deployment.public_keys_file),
            ),
            "MFA_KEY_SECRET_ARN" if secrets => (name.clone(), secret_arn(MFA_KEY_SECRET)),
            "MFA_KEY_SECRET_ARN" => ("MFA_KEY_FILE".into(), path(&deployment.mfa_key_file)),
            "OAUTH_CLIENTS_SECRET_ARN" if secrets => {
                (name.clone(), secret_arn(OAUTH_CLIENTS_SECRET))
            }
            "OAUTH_CLIENTS_SECRET_ARN" => (
                "OAUTH_CLIENTS_FILE".into(),
                path(&deployment.oauth_clients_file),
            ),
            other if other.ends_with("_ARN") => {
                return Err(format!(
                    "{}: the benchmark has no stand-in for {other}",
                    function.binary
                )
                .into())
            }
            "MONGODB_DB" => (name.clone(), deployment.database.clone()),
            // Linking is measured on the user's word (the floor does the
            // same): under `required` each link would need a fresh code.
            "LINK_VERIFICATION" => (name.clone(), "off".into()),
            // Registration is off by default; the bench measures it open.
            "DYNAMIC_CLIENT_REGISTRATION" => (name.clone(), "open".into()),
            // The limits are counted (their writes are measured) but never
            // reached: thousands of invocations by one client, or of
            // registrations, would otherwise measure the refusal.
            "OAUTH_REQUESTS_PER_SOURCE_PER_MINUTE"
            | "OAUTH_REQUESTS_PER_CLIENT_PER_MINUTE"
            | "CLIENT_REGISTRATIONS_PER_SOURCE_PER_HOUR" => (name.clone(), "1000000".into()),
            _ => match value {
                Variable::Literal(value) => (name.clone(), value.clone()),
                Variable::Parameter {
                    default: Some(value),
                    ..
                } => (name.clone(), value.clone()),
                Variable::Parameter {
                    name: parameter,
                    default: None,
                } => match DEPLOY_PARAMETERS
                    .iter()
                    .find(|(known, _)| known == parameter)
                {
                    Some((_, value)) => (name.clone(), value.to_string()),
                    None => {
                        return Err(format!(
                            "{}: {name} is the parameter {parameter}, which has no default: \
                             give it a value in DEPLOY_PARAMETERS (bench/src/run.rs)",
                            function.binary
                        )
                        .into())
                    }
                },
            },
        };
        env.push(resolved);
    }
    // send-mail delivers to files, as under `make test`, rather than to SES:
    // the benchmark measures the function, not SES's answer time.
    if function
        .variables
        .iter()
        .any(|(name, _)| name == "MAIL_SENDER")
    {
        env.push(("MAIL_DIRECTORY".into(), path(&deployment.mail_directory)));
    }
    Ok(env)
}

/// What the floor's configuration is read from: the selected functions'
/// variables together (they agree), in their local form.
fn floor_env(
    selected: &[(Function, Operation)],
    deployment: &Deployment,
) -> Result<Vec<(String, String)>, Error> {
    let mut env: Vec<(String, String)> = vec![
        ("MONGODB_URI".into(), deployment.uri.clone()),
        ("MONGODB_DB".into(), deployment.database.clone()),
        (
            "SIGNING_KEYS_FILE".into(),
            deployment.signing_keys_file.display().to_string(),
        ),
        // The MFA floors need the key even when no MFA function is selected
        // (the data set enrols factors for verify-mfa's users too).
        (
            "MFA_KEY_FILE".into(),
            deployment.mfa_key_file.display().to_string(),
        ),
    ];
    for (function, _) in selected {
        for (name, value) in function_env(function, false, deployment)? {
            if !env.iter().any(|(existing, _)| *existing == name) {
                env.push((name, value));
            }
        }
    }
    Ok(env)
}

/// Registration validation (zxcvbn included): the first call in a process,
/// which builds zxcvbn's dictionaries, and the next.
fn validation_first_and_next() -> (Duration, Duration) {
    let body = serde_json::json!({
        "username": "validation",
        "email": "validation@example.com",
        "password": PASSWORD,
    });
    let body = body.as_object().expect("an object").clone();
    let time = || {
        let started = Instant::now();
        let _ = std::hint::black_box(users_core::http::bodies::registration(&body));
        started.elapsed()
    };
    (time(), time())
}

/// An argon2id hash: the first in this process allocates its work area.
/// Tokens signed and verified in this process with the run's keys.
const RS256_SAMPLES: usize = 200;

fn rs256_costs(signing_keys: &str) -> Result<(Vec<Duration>, Vec<Duration>), Error> {
    use users_core::domain::keys::KeySet;
    use users_core::domain::tokens::{Caller, TokenSettings, TokenSigner, TokenVerifier};
    use users_core::domain::values::{SessionId, Timestamp, UserId};
    let set = KeySet::parse(signing_keys).map_err(|error| error.to_string())?;
    let settings = TokenSettings {
        issuer: "http://127.0.0.1:9000".into(),
        audience: "user-management-api".into(),
        access_token_ttl: Duration::from_secs(1800),
    };
    let signer = TokenSigner::new(&settings, set.current());
    let verifier = TokenVerifier::new(&settings, &set.public());
    let caller = Caller {
        user_id: UserId::new(),
        session_id: SessionId::new(),
        auth: Default::default(),
    };
    let (mut sign, mut verify) = (Vec::new(), Vec::new());
    for n in 0..RS256_SAMPLES {
        let started = Instant::now();
        let token = signer
            .issue(&caller, Timestamp::now().as_secs(), format!("bench-{n}"))
            .token;
        sign.push(started.elapsed());
        let started = Instant::now();
        verifier.verify(&token).map_err(|error| error.to_string())?;
        verify.push(started.elapsed());
    }
    Ok((sign, verify))
}

fn argon2_first_and_next() -> Result<(Duration, Duration), Error> {
    Ok((argon2_hash()?, argon2_hash()?))
}

fn argon2_hash() -> Result<Duration, Error> {
    let started = Instant::now();
    passwords::hash_password(PASSWORD)?;
    Ok(started.elapsed())
}

fn argon2_verify(hash: &str) -> Result<Duration, Error> {
    let started = Instant::now();
    if passwords::verify_password(PASSWORD, hash) != passwords::Verification::Match {
        return Err("argon2 reference: the password did not verify".into());
    }
    Ok(started.elapsed())
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
