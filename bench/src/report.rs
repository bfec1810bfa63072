//! Statistics, the Markdown report and the JSON file.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::operations::Operation;
use crate::options::Options;
use crate::run::{FunctionResult, Results};
use crate::study::Study;

const INIT_TARGET_MS: f64 = 10.0;
const OVERHEAD_TARGET_MS: f64 = 0.3;
const LOGIN_ARGON2_RATIO: f64 = 1.3;
const ZIP_TARGET_BYTES: u64 = 4_000_000;
const RSS_TARGET_MIB: f64 = 32.0;
const FIRST_SLACK_MS: f64 = 5.0;
/// A floor "independent of size" grows by less than this factor (plus 1 ms):
/// wide enough for a shared machine's noise, far below a scan's growth.
const SIZE_TOLERANCE: f64 = 1.5;

/// Nearest-rank percentile, in milliseconds; `None` without samples.
pub fn percentile(samples: &[Duration], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(ms(sorted[rank.min(sorted.len()) - 1]))
}

fn p50(samples: &[Duration]) -> Option<f64> {
    percentile(samples, 50.0)
}

fn max(samples: &[Duration]) -> Option<f64> {
    samples.iter().max().map(|d| ms(*d))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median<T: Copy + Ord>(samples: &[T]) -> Option<T> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn fmt_ms(value: Option<f64>) -> String {
    match value {
        None => "–".into(),
        Some(v) if v.abs() < 1.0 => format!("{v:.3}"),
        Some(v) if v.abs() < 100.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn fmt_mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// Median of the paired differences warm[i] − floor[i] (each invocation and
/// the floor run right after it), with a 95% confidence interval from order
/// statistics (the sign-test interval): robust to the database's jitter, which
/// both members of a pair share.
pub fn paired_overhead(function: &FunctionResult) -> Option<(f64, f64, f64)> {
    let n = function.warm.len().min(function.floor.len());
    if n == 0 {
        return None;
    }
    let mut differences: Vec<f64> = (0..n)
        .map(|i| ms(function.warm[i]) - ms(function.floor[i]))
        .collect();
    differences.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        differences[n / 2]
    } else {
        (differences[n / 2 - 1] + differences[n / 2]) / 2.0
    };
    let k = ((n as f64 / 2.0) - 0.98 * (n as f64).sqrt())
        .floor()
        .max(0.0) as usize;
    Some((median, differences[k], differences[n - 1 - k]))
}

/// Figures derived for one function.
struct Derived {
    warm_p50: Option<f64>,
    first_penalty: Option<f64>,
    first_penalty_pinned: Option<f64>,
    first_penalty_paused: Option<f64>,
    fresh_penalty: Option<f64>,
    commands: Option<usize>,
    commands_range: Option<(usize, usize)>,
    round_trips: Option<usize>,
}

fn derive(function: &FunctionResult) -> Derived {
    let warm_p50 = p50(&function.warm);
    let fresh_first: Vec<Duration> = function.fresh.iter().map(|f| f.first).collect();
    let fresh_second: Vec<Duration> = function.fresh.iter().map(|f| f.second).collect();
    Derived {
        warm_p50,
        first_penalty: diff(p50(&function.first), warm_p50),
        first_penalty_pinned: diff(p50(&function.first_pinned), warm_p50),
        first_penalty_paused: diff(p50(&function.first_paused), warm_p50),
        fresh_penalty: diff(p50(&fresh_first), p50(&fresh_second)),
        commands: median(&function.commands),
        commands_range: function
            .commands
            .iter()
            .min()
            .zip(function.commands.iter().max())
            .map(|(lo, hi)| (*lo, *hi)),
        round_trips: median(&function.round_trips),
    }
}

fn name(function: &FunctionResult) -> &str {
    &function.function.binary
}

/// `METHOD /path` of an HTTP function; the binary and its trigger for an
/// event function, which has no route.
fn route_label(function: &FunctionResult) -> String {
    let (method, path) = &function.route;
    if method.is_empty() {
        let trigger = match function.operation {
            Operation::SendMail | Operation::IngestEvents => "SQS batch",
            Operation::PublishEvents => "schedule",
            Operation::RotateSigningKeys => "rotation step",
            _ => "event",
        };
        format!("{} ({trigger})", name(function))
    } else {
        format!("{method} {path}")
    }
}

fn commands_cell(function: &FunctionResult) -> String {
    let derived = derive(function);
    match (
        derived.commands,
        derived.round_trips,
        derived.commands_range,
    ) {
        _ if !function.operation.uses_database() => "0".into(),
        (Some(n), Some(trips), Some((lo, hi))) if lo != hi => format!("{n} ({trips}; {lo}–{hi})"),
        (Some(n), Some(trips), _) => format!("{n} ({trips})"),
        _ => "–".into(),
    }
}

/// The argon2id hash (register) or verification (login) median, from the floors.
fn argon2(results: &Results, operation: Operation) -> Option<f64> {
    let function = results
        .functions
        .iter()
        .find(|function| function.operation == operation)?;
    p50(&function.floor_argon2)
}

fn archs(results: &Results) -> Vec<String> {
    let mut archs: Vec<String> = Vec::new();
    for function in &results.functions {
        for (arch, _, _) in &function.sizes {
            if !archs.contains(arch) {
                archs.push(arch.clone());
            }
        }
    }
    archs
}

/// How much an operation's floor grew from the first step of the size study
/// to the last, at the median: `(small, large, ratio)`.
fn growth(study: &Study) -> Option<(f64, f64, f64)> {
    let small = p50(&study.steps.first()?.floors)?;
    let large = p50(&study.steps.last()?.floors)?;
    Some((small, large, large / small))
}

/// Whether the floor grew beyond the tolerance at the median and at the
/// minimum alike: a shared machine's noise moves the median, rarely the
/// minimum; a scan moves both.
fn grows(study: &Study) -> bool {
    let minimum = |step: Option<&crate::study::Step>| {
        step.and_then(|step| step.floors.iter().min())
            .map(|d| ms(*d))
    };
    match (
        growth(study),
        minimum(study.steps.first()),
        minimum(study.steps.last()),
    ) {
        (Some((small, large, _)), Some(low_small), Some(low_large)) => {
            !independent(small, large) && !independent(low_small, low_large)
        }
        _ => false,
    }
}

fn study_of(results: &Results, operation: Operation) -> Option<&Study> {
    results
        .study
        .iter()
        .find(|study| study.operation == operation)
}

fn binary_of(results: &Results, operation: Operation) -> String {
    results
        .functions
        .iter()
        .find(|function| function.operation == operation)
        .map(|function| function.function.binary.clone())
        .unwrap_or_else(|| format!("{operation:?}"))
}

fn independent(small: f64, large: f64) -> bool {
    large <= small * SIZE_TOLERANCE + 1.0
}

pub fn markdown(results: &Results, options: &Options) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let machine = machine();
    let uri = options.mongodb_uri.as_deref().unwrap_or("?");
    line(format!(
        "Run `{}` on {} ({} cores, {}), {}; database: {} ({}). Functions, routes, memory sizes and variables from `{}`.",
        results.label,
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["memory"].as_str().unwrap_or("?"),
        machine["kernel"].as_str().unwrap_or("?"),
        redact(uri),
        if results.transactions {
            "a replica set: writes of more than one document run in a transaction"
        } else {
            "standalone: no transactions"
        },
        results.template.display(),
    ));
    if !options.function_env.is_empty() {
        let extras: Vec<String> = options
            .function_env
            .iter()
            .map(|(k, v)| format!("`{k}={v}`"))
            .collect();
        line(format!("Functions ran with {}.", extras.join(", ")));
    }
    line(String::new());
    line(format!(
        "**Per function** (ms; init over {} fresh processes, and {} pinned to core {}; warm over {} invocations, {} for the argon2-bound register and login)",
        options.cold, options.cold_pinned, options.pin_cpu, options.warm, options.warm_argon2
    ));
    line(String::new());
    let archs = archs(results);
    let mut header = "| Function | Memory | MongoDB commands (round trips)¹ | Init p50 | Init p50, 1 core² | First − warm p50 | Warm p50 | p90 | p99 | Floor p50³ | Overhead, paired median⁴ | Peak RSS |".to_string();
    let mut rule =
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            .to_string();
    for arch in &archs {
        header.push_str(&format!(" {arch} zip |"));
        rule.push_str(" ---: |");
    }
    line(header);
    line(rule);
    for function in &results.functions {
        let derived = derive(function);
        let mut row = format!(
            "| {} | {} MB | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB |",
            name(function),
            function.function.memory_mb,
            commands_cell(function),
            fmt_ms(p50(&function.init)),
            fmt_ms(p50(&function.init_pinned)),
            fmt_ms(derived.first_penalty),
            fmt_ms(derived.warm_p50),
            fmt_ms(percentile(&function.warm, 90.0)),
            fmt_ms(percentile(&function.warm, 99.0)),
            fmt_ms(p50(&function.floor)),
            paired_overhead(function)
                .map(|(median, _, _)| fmt_ms(Some(median)))
                .unwrap_or_else(|| "–".into()),
            mib(function.peak_rss_kib.max(function.cold_peak_rss_kib)),
        );
        for arch in &archs {
            match function.sizes.iter().find(|(a, _, _)| a == arch) {
                Some((_, zip, _)) => row.push_str(&format!(" {} |", fmt_mb(*zip))),
                None => row.push_str(" – |"),
            }
        }
        line(row);
    }

    line(String::new());
    line("**What each operation sends** (the floor's last call, as the driver's command monitoring saw it: `+` went out in parallel, `→` waited for the round trip before)".into());
    line(String::new());
    line("| Function | Commands | Seen by the server per warm invocation⁵ |".into());
    line("| --- | --- | ---: |".into());
    for function in &results.functions {
        let sequence = if function.operation.uses_database() {
            function.last.sequence()
        } else {
            "none: no database".into()
        };
        line(format!(
            "| {} | {} | {} |",
            name(function),
            sequence,
            function
                .server_commands
                .iter()
                .min()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "–".into()),
        ));
    }

    line(String::new());
    line("**How each command reads** (`explain`, verbosity queryPlanner, of the commands above, as the server prints it: a filter is explained as the `find` it amounts to; when the whole filter is planned as a scan, each clause alone too: \"a clause\" means an index serves one of them, which an executor may use for the whole filter while its explain plans the whole; the size study below shows which reads actually grow)".into());
    line(String::new());
    line("| Function | Command | Access path | Index? |".into());
    line("| --- | --- | --- | :---: |".into());
    for function in &results.functions {
        for plan in &function.plans {
            line(format!(
                "| {} | {} | {} | {} |",
                name(function),
                plan.what,
                plan.access.replace('|', "\\|"),
                match (plan.indexed, plan.clause_indexed) {
                    (Some(true), _) => "yes",
                    (Some(false), true) => "a clause",
                    (Some(false), false) => "**no**",
                    (None, _) => "–",
                }
            ));
        }
    }

    if let Some(first) = results.study.first() {
        line(String::new());
        line(format!(
            "**Size study** (each operation's floor in a database of its own, p50 of {} per step, ms; in brackets the linked documents and sessions it then held)",
            options.study_samples
        ));
        line(String::new());
        let mut header = "| Function |".to_string();
        let mut rule = "| --- |".to_string();
        for step in &first.steps {
            header.push_str(&format!(" {} |", step.label));
            rule.push_str(" ---: |");
        }
        header.push_str(" Growth | Grows? | Commands |");
        rule.push_str(" ---: | :---: | ---: |");
        line(header);
        line(rule);
        for study in &results.study {
            let mut row = format!("| {} |", binary_of(results, study.operation));
            for step in &study.steps {
                row.push_str(&format!(
                    " {} ({} / {}) |",
                    fmt_ms(p50(&step.floors)),
                    step.linked_documents,
                    step.sessions
                ));
            }
            // Flat: the last step's floor within 1.5× + 1 ms of the first's,
            // at the median or at the minimum (`grows`).
            let (ratio, verdict, commands) = match growth(study) {
                Some((_, _, ratio)) => (
                    format!("{ratio:.1}×"),
                    if grows(study) { "**grows**" } else { "flat" },
                    study.steps.last().map_or(0, |step| step.commands),
                ),
                None => ("–".into(), "–", 0),
            };
            row.push_str(&format!(" {ratio} | {verdict} | {commands} |"));
            line(row);
        }
    }

    line(String::new());
    line("**Cold start detail** (ms; medians unless marked)".into());
    line(String::new());
    line("| Function | Init max | Init p50, secrets⁶ | Init max, 1 core | First p50 | First − warm, 1 core | First − warm after a pause⁷ | New client: first − next floor⁸ | Connections of that first floor | Server: requests, connections of init + first⁹ | RSS at init |".into());
    line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".into());
    for function in &results.functions {
        let derived = derive(function);
        let connections: Vec<usize> = function.fresh.iter().map(|f| f.first_connections).collect();
        let requests: Vec<i64> = function.cold_server.iter().map(|c| c.0).collect();
        let opened: Vec<i64> = function.cold_server.iter().map(|c| c.1).collect();
        line(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB |",
            name(function),
            fmt_ms(max(&function.init)),
            fmt_ms(p50(&function.init_secrets)),
            fmt_ms(max(&function.init_pinned)),
            fmt_ms(p50(&function.first)),
            fmt_ms(derived.first_penalty_pinned),
            fmt_ms(derived.first_penalty_paused),
            fmt_ms(derived.fresh_penalty),
            median(&connections)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "–".into()),
            match (median(&requests), median(&opened)) {
                (Some(r), Some(c)) => format!("{r}, {c}"),
                _ => "–".into(),
            },
            mib(median(&function.init_rss_kib).unwrap_or(0)),
        ));
    }

    line(String::new());
    line("**Warm detail** (Lambda Duration, ms)".into());
    line(String::new());
    line("| Route | n | p50 | p90 | p99 | Floor p50 | Overhead p50 | Overhead, paired median [95% CI] | Overhead p90 |".into());
    line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".into());
    for function in &results.functions {
        let derived = derive(function);
        let floor_p50 = p50(&function.floor);
        line(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            route_label(function),
            function.warm.len(),
            fmt_ms(derived.warm_p50),
            fmt_ms(percentile(&function.warm, 90.0)),
            fmt_ms(percentile(&function.warm, 99.0)),
            fmt_ms(floor_p50),
            fmt_ms(diff(derived.warm_p50, floor_p50)),
            paired_overhead(function)
                .map(|(median, lo, hi)| format!("{median:.3} [{lo:.3}, {hi:.3}]"))
                .unwrap_or_else(|| "–".into()),
            fmt_ms(diff(
                percentile(&function.warm, 90.0),
                percentile(&function.floor, 90.0)
            )),
        ));
    }

    if !archs.is_empty() {
        line(String::new());
        line("**Artifacts** (`cargo lambda build`; MB = 10⁶ bytes)".into());
        line(String::new());
        let mut header = "| Function |".to_string();
        let mut rule = "| --- |".to_string();
        for arch in &archs {
            header.push_str(&format!(" {arch} zip | {arch} bootstrap |"));
            rule.push_str(" ---: | ---: |");
        }
        line(header);
        line(rule);
        for function in &results.functions {
            let mut row = format!("| {} |", name(function));
            for arch in &archs {
                match function.sizes.iter().find(|(a, _, _)| a == arch) {
                    Some((_, zip, bootstrap)) => {
                        row.push_str(&format!(" {} | {} |", fmt_mb(*zip), fmt_mb(*bootstrap)))
                    }
                    None => row.push_str(" – | – |"),
                }
            }
            line(row);
        }
    }

    line(String::new());
    let refs = &results.references;
    line(format!(
        "References: database round trip (`ping`) p50 {} ms, p90 {} ms; argon2id (m=19456, t=2, p=1) hash p50 {} ms, verification p50 {} ms; \
         the first hash in a process (its 19 MiB work area allocated) {} ms, the next {} ms; \
         a new client's connection + index creation + deployment probe (`prepare`) p50 {} ms; \
         registration validation (zxcvbn) first call in a process {} ms, next {} ms; \
         an RS256 access token signed p50 {} ms (p90 {} ms), verified p50 {} ms (p90 {} ms).",
        fmt_ms(p50(&refs.ping)),
        fmt_ms(percentile(&refs.ping, 90.0)),
        fmt_ms(argon2(results, Operation::Register)),
        fmt_ms(argon2(results, Operation::Login)),
        fmt_ms(Some(ms(refs.argon2_first))),
        fmt_ms(Some(ms(refs.argon2_next))),
        fmt_ms(p50(&refs.prepare)),
        fmt_ms(Some(ms(refs.validation_first))),
        fmt_ms(Some(ms(refs.validation_next))),
        fmt_ms(p50(&refs.rs256_sign)),
        fmt_ms(percentile(&refs.rs256_sign, 90.0)),
        fmt_ms(p50(&refs.rs256_verify)),
        fmt_ms(percentile(&refs.rs256_verify, 90.0)),
    ));
    line(String::new());
    line("**Targets**".into());
    line(String::new());
    line("| Target | Measured | Met |".into());
    line("| --- | --- | :---: |".into());
    for (target, measured, met) in targets(results) {
        line(format!(
            "| {target} | {measured} | {} |",
            match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            }
        ));
    }
    line(String::new());
    line("¹ Commands one operation sends (median over the measured floors; the range when it varied), counted as `CommandStartedEvent`s of the driver's command monitoring on the floor's store; in brackets the round trips they take, commands sent in parallel sharing one. Connection handshakes and the driver's heartbeats are not commands.".into());
    line(String::new());
    line("² Each process bound to one core before it starts (`sched_setaffinity`, as `taskset -c` does): Lambda gives a function less than one vCPU below 1,769 MB, so threads that init starts compete with its main thread.".into());
    line(String::new());
    line("³ Floor: the operation's `users_core::domain` use case called from the benchmark process on a store built from the same configuration, so the very MongoDB commands the function sends, with the same driver, plus its argon2id work (register, login, reset, the changes, enrol, disable) or its RSA key generation (the rotation's `createSecret`). Where the use case hands something on, the floor's stand-in takes it at no cost: the mail queue (SQS `SendMessage`), the mail transport (rendered, not written), the event bus (every entry accepted). The function's overhead over it is the Runtime API round trip, the event (API Gateway's, SQS's, the schedule's, the rotation step's) and the answer, request parsing and validation, token verification, those calls to AWS (answered at once by the benchmark's stand-ins) and logging.".into());
    line(String::new());
    line("⁴ Each warm invocation is followed by its floor; the median of the pairs' differences cancels the database's slow drifts that the two p50s each carry (95% confidence interval in the warm detail).".into());
    line(String::new());
    line("⁵ The server's request counter (`serverStatus`) around single warm invocations of the function itself, less what it counts between two `serverStatus` with nothing in between (the least of three; a heartbeat can only add): a check that the function sends what its floor sends.".into());
    line(String::new());
    line("⁶ Each secret the template names (the MongoDB URI, a key set) read with a signed `GetSecretValue` call from a local Secrets Manager stand-in (plain HTTP, no network latency): the CPU cost of the deployed configuration path. Every other column has `MONGODB_URI` and the key sets' files (`*_FILE`), as `make dev` does.".into());
    line(String::new());
    line(format!("⁷ The first event sent {} ms after init ended, when what init started in the background (the database connection, index creation and deployment probe; argon2's work area; zxcvbn's dictionaries) has finished: what remains is the first request's own first-time cost.", options.pause_ms));
    line(String::new());
    line("⁸ The floor on a new client whose `prepare` has finished: its first operation less the next one, and the connections the pool opened during that first operation (beyond the ones `prepare` opened).".into());
    line(String::new());
    line("⁹ Requests the server counted (handshakes, heartbeats, index creation, the operation) and connections it accepted from the spawn of a plain cold process to its first answer.".into());
    out
}

/// `(target, measured, met)` rows.
fn targets(results: &Results) -> Vec<(String, String, Option<bool>)> {
    let mut rows = Vec::new();
    let functions = &results.functions;
    let worst = |values: Vec<(&str, f64)>| -> Option<(String, f64)> {
        values
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, value)| (name.to_string(), value))
    };

    for (label, pinned) in [("", false), (", pinned to one core", true)] {
        let inits: Vec<_> = functions
            .iter()
            .filter_map(|f| {
                let samples = if pinned { &f.init_pinned } else { &f.init };
                Some((name(f), p50(samples)?))
            })
            .collect();
        if let Some((worst_name, value)) = worst(inits) {
            rows.push((
                format!("init ≤ {INIT_TARGET_MS} ms median{label}, every function"),
                format!("slowest median {value:.2} ms ({worst_name})"),
                Some(value <= INIT_TARGET_MS),
            ));
        }
    }

    for function in functions {
        // Few samples of a noisy cost (argon2id, RSA key generation): no
        // verdict on their overhead.
        if function.operation.slow() {
            continue;
        }
        if let Some((median, lo, hi)) = paired_overhead(function) {
            rows.push((
                format!(
                    "{} overhead over floor ≤ {OVERHEAD_TARGET_MS} ms at p50",
                    name(function)
                ),
                format!("paired median {median:.3} ms (95% CI {lo:.3} to {hi:.3})"),
                Some(median <= OVERHEAD_TARGET_MS),
            ));
        }
    }

    let login = functions.iter().find(|f| f.operation == Operation::Login);
    if let (Some(login), Some(verify)) = (login, argon2(results, Operation::Login)) {
        if let Some(warm) = p50(&login.warm) {
            rows.push((
                format!("login ≤ {LOGIN_ARGON2_RATIO} × one argon2id verification"),
                format!("{warm:.2} ms = {:.2} × {verify:.2} ms", warm / verify),
                Some(warm <= LOGIN_ARGON2_RATIO * verify),
            ));
        }
    }

    let zips: Vec<_> = functions
        .iter()
        .filter_map(|f| {
            let (_, zip, _) = f.sizes.iter().find(|(arch, _, _)| arch == "arm64")?;
            Some((name(f), *zip as f64))
        })
        .collect();
    if let Some((worst_name, zip)) = worst(zips) {
        rows.push((
            "arm64 zip ≤ 4 MB per function".into(),
            format!("largest {} ({worst_name})", fmt_mb(zip as u64)),
            Some(zip as u64 <= ZIP_TARGET_BYTES),
        ));
    }

    let rss: Vec<_> = functions
        .iter()
        .map(|f| (name(f), mib(f.peak_rss_kib.max(f.cold_peak_rss_kib))))
        .collect();
    if let Some((worst_name, value)) = worst(rss) {
        rows.push((
            format!("peak RSS ≤ {RSS_TARGET_MIB} MiB"),
            format!("largest {value:.1} MiB ({worst_name})"),
            Some(value <= RSS_TARGET_MIB),
        ));
    }

    if let Some(rtt) = p50(&results.references.ping) {
        let penalties: Vec<_> = functions
            .iter()
            .filter_map(|f| Some((name(f), derive(f).first_penalty?)))
            .collect();
        if let Some((worst_name, value)) = worst(penalties) {
            rows.push((
                format!(
                    "first invocation − warm ≤ one round trip ({rtt:.2} ms) + {FIRST_SLACK_MS} ms"
                ),
                format!("largest first − warm p50: {value:.2} ms ({worst_name})"),
                Some(value <= rtt + FIRST_SLACK_MS),
            ));
        }
    }

    if let Some((small, large, ratio)) = study_of(results, Operation::Profile).and_then(growth) {
        rows.push((
            format!("profile floor independent of other users' data (≤ {SIZE_TOLERANCE}× + 1 ms at the median or the minimum)"),
            format!("{small:.2} ms → {large:.2} ms ({ratio:.1}×)"),
            Some(!study_of(results, Operation::Profile).is_some_and(grows)),
        ));
    }
    let growing: Vec<String> = results
        .study
        .iter()
        .filter_map(|study| {
            let (_, _, ratio) = growth(study)?;
            grows(study).then(|| format!("{} {ratio:.1}×", binary_of(results, study.operation)))
        })
        .collect();
    if !results.study.is_empty() {
        rows.push((
            "every floor independent of other users' data".into(),
            if growing.is_empty() {
                "all".into()
            } else {
                format!("grow: {}", growing.join(", "))
            },
            Some(growing.is_empty()),
        ));
    }
    let unindexed: Vec<String> = functions
        .iter()
        .flat_map(|f| {
            f.plans
                .iter()
                .filter(|plan| plan.indexed == Some(false) && !plan.clause_indexed)
                .map(move |plan| format!("{}: {}", name(f), plan.what))
        })
        .collect();
    if functions.iter().any(|f| !f.plans.is_empty()) {
        rows.push((
            "every read served by an index, or by one clause's (explain)".into(),
            if unindexed.is_empty() {
                "all".into()
            } else {
                format!("not: {}", unindexed.join("; "))
            },
            Some(unindexed.is_empty()),
        ));
    }
    rows
}

fn stats(samples: &[Duration]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    json!({
        "n": samples.len(),
        "p50": p50(samples),
        "p90": percentile(samples, 90.0),
        "p99": percentile(samples, 99.0),
        "max": max(samples),
    })
}

pub fn json(results: &Results, options: &Options) -> Value {
    let mut functions = Map::new();
    for function in &results.functions {
        let derived = derive(function);
        let mut artifacts = Map::new();
        for (arch, zip, bootstrap) in &function.sizes {
            artifacts.insert(
                arch.clone(),
                json!({ "zip_bytes": zip, "bootstrap_bytes": bootstrap }),
            );
        }
        let fresh_first: Vec<Duration> = function.fresh.iter().map(|f| f.first).collect();
        let fresh_second: Vec<Duration> = function.fresh.iter().map(|f| f.second).collect();
        let fresh_prepare: Vec<Duration> = function.fresh.iter().map(|f| f.prepare).collect();
        functions.insert(
            name(function).to_string(),
            json!({
                "route": route_label(function),
                "uses_database": function.operation.uses_database(),
                "memory_size_mb": function.function.memory_mb,
                "mongodb_commands": {
                    "per_operation": derived.commands,
                    "range": derived.commands_range.map(|(lo, hi)| [lo, hi]),
                    "round_trips": derived.round_trips,
                    "sequence": function.last.sequence(),
                    "commands": function.last.commands.iter().map(|c| c.label()).collect::<Vec<_>>(),
                    "server_counted_per_invocation": function.server_commands,
                    "explain": function.plans.iter().map(|plan| json!({
                        "command": plan.what,
                        "access": plan.access,
                        "indexed": plan.indexed,
                        "a_clause_indexed": plan.clause_indexed,
                        "replies": plan.replies,
                    })).collect::<Vec<_>>(),
                },
                "init_ms": stats(&function.init),
                "init_pinned_one_core_ms": stats(&function.init_pinned),
                "init_with_secrets_manager_ms": stats(&function.init_secrets),
                "first_invocation_ms": stats(&function.first),
                "first_invocation_pinned_ms": stats(&function.first_pinned),
                "first_invocation_after_pause_ms": stats(&function.first_paused),
                "first_minus_warm_p50_ms": derived.first_penalty,
                "first_minus_warm_pinned_p50_ms": derived.first_penalty_pinned,
                "first_minus_warm_after_pause_p50_ms": derived.first_penalty_paused,
                "cold_server_requests": function.cold_server.iter().map(|c| c.0).collect::<Vec<_>>(),
                "cold_server_connections": function.cold_server.iter().map(|c| c.1).collect::<Vec<_>>(),
                "new_client_floor": {
                    "prepare_ms": stats(&fresh_prepare),
                    "first_ms": stats(&fresh_first),
                    "next_ms": stats(&fresh_second),
                    "first_minus_next_p50_ms": derived.fresh_penalty,
                    "first_connections": function.fresh.iter().map(|f| f.first_connections).collect::<Vec<_>>(),
                    "first_commands": function.fresh.iter().map(|f| f.first_commands).collect::<Vec<_>>(),
                },
                "warm_ms": stats(&function.warm),
                "floor_ms": stats(&function.floor),
                "floor_argon2_ms": stats(&function.floor_argon2),
                "overhead_ms": {
                    "p50": diff(derived.warm_p50, p50(&function.floor)),
                    "p90": diff(percentile(&function.warm, 90.0), percentile(&function.floor, 90.0)),
                    "paired_median": paired_overhead(function).map(|(m, _, _)| m),
                    "paired_median_ci95": paired_overhead(function).map(|(_, lo, hi)| [lo, hi]),
                },
                "init_rss_kib_p50": median(&function.init_rss_kib),
                "peak_rss_kib": function.peak_rss_kib,
                "cold_peak_rss_kib": function.cold_peak_rss_kib,
                "artifacts": artifacts,
            }),
        );
    }
    let refs = &results.references;
    json!({
        "label": results.label,
        "template": results.template,
        "started_unix_s": results
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "elapsed_s": results.elapsed.as_secs_f64(),
        "machine": machine(),
        "function_env": options
            .function_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        "counts": {
            "cold": options.cold,
            "cold_with_secrets_manager": options.cold_secrets,
            "cold_pinned": options.cold_pinned,
            "pin_cpu": options.pin_cpu,
            "cold_paused": options.cold_paused,
            "pause_ms": options.pause_ms,
            "warm": options.warm,
            "warm_argon2": options.warm_argon2,
            "warmup": options.warmup,
            "fresh_floors": options.fresh_floors,
            "study_documents": options.study_documents,
            "study_samples": options.study_samples,
        },
        "database": {
            "uri": redact(options.mongodb_uri.as_deref().unwrap_or("")),
            "transactions": results.transactions,
            "ping_ms": stats(&refs.ping),
        },
        "references": {
            "cold_prepare_ms": stats(&refs.prepare),
            "registration_validation_first_ms": ms(refs.validation_first),
            "registration_validation_next_ms": ms(refs.validation_next),
            "argon2_first_hash_in_process_ms": ms(refs.argon2_first),
            "argon2_next_hash_ms": ms(refs.argon2_next),
            "rs256_sign_ms": stats(&refs.rs256_sign),
            "rs256_verify_ms": stats(&refs.rs256_verify),
        },
        "argon2id_ms": {
            "hash_p50": argon2(results, Operation::Register),
            "verify_p50": argon2(results, Operation::Login),
        },
        "size_study": results.study.iter().map(|study| json!({
            "function": binary_of(results, study.operation),
            "growth": growth(study).map(|(_, _, ratio)| ratio),
            "steps": study.steps.iter().map(|step| json!({
                "data": step.label,
                "linked_documents": step.linked_documents,
                "sessions": step.sessions,
                "floor_ms": stats(&step.floors),
                "commands": step.commands,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "functions": functions,
        "targets": targets(results)
            .into_iter()
            .map(|(target, measured, met)| json!({ "target": target, "measured": measured, "met": met }))
            .collect::<Vec<_>>(),
    })
}

/// The URI without credentials.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &uri[..scheme], &uri[at + 1..])
        }
        _ => uri.to_string(),
    }
}

fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| format!("{:.0} GiB RAM", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "arch": std::env::consts::ARCH,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": memory,
        "kernel": format!("Linux {}", read("/proc/sys/kernel/osrelease").trim()),
    })
}
