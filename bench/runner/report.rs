//! Statistics, the Markdown table and the JSON file.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{Endpoint, FunctionResult, Options, Results};

const INIT_TARGET_MS: f64 = 10.0;
const OVERHEAD_TARGET_MS: f64 = 0.3;
const LOGIN_ARGON2_RATIO: f64 = 1.3;
const ZIP_TARGET_BYTES: u64 = 4_000_000;
const RSS_TARGET_MIB: f64 = 32.0;
const FIRST_SLACK_MS: f64 = 5.0;

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

fn max(samples: &[Duration]) -> Option<f64> {
    samples.iter().max().map(|d| ms(*d))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median_kib(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn fmt_ms(value: Option<f64>) -> String {
    match value {
        None => "–".into(),
        Some(v) if v < 1.0 => format!("{v:.3}"),
        Some(v) if v < 100.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn fmt_mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// `(zip size, uncompressed size of its `bootstrap` entry)`, read from the
/// zip's central directory.
pub fn zip_sizes(path: &Path) -> Result<(u64, u64), String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let end = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&at| bytes[at..at + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or("not a zip file")?;
    let entries = u16_at(end + 10);
    let mut at = u32_at(end + 16) as usize;
    for _ in 0..entries {
        if at + 46 > bytes.len() || bytes[at..at + 4] != [0x50, 0x4b, 0x01, 0x02] {
            return Err("corrupt central directory".into());
        }
        let name_len = u16_at(at + 28);
        let name = &bytes[at + 46..at + 46 + name_len];
        if name == b"bootstrap" {
            return Ok((bytes.len() as u64, u64::from(u32_at(at + 24))));
        }
        at += 46 + name_len + u16_at(at + 30) + u16_at(at + 32);
    }
    Err("no bootstrap entry".into())
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

struct Derived {
    warm_p50: Option<f64>,
    floor_p50: Option<f64>,
    overhead_p50: Option<f64>,
    overhead_p90: Option<f64>,
    first_penalty: Option<f64>,
}

fn derive(function: &FunctionResult) -> Derived {
    let warm_p50 = percentile(&function.warm, 50.0);
    let floor_p50 = percentile(&function.floor, 50.0);
    let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    Derived {
        warm_p50,
        floor_p50,
        overhead_p50: diff(warm_p50, floor_p50),
        overhead_p90: diff(
            percentile(&function.warm, 90.0),
            percentile(&function.floor, 90.0),
        ),
        first_penalty: diff(percentile(&function.first, 50.0), warm_p50),
    }
}

fn name(function: &FunctionResult) -> &'static str {
    function.endpoint.map(Endpoint::binary).unwrap_or("?")
}

/// argon2id verification and hash medians, from the login and register floors.
fn argon2(results: &Results, endpoint: Endpoint) -> Option<f64> {
    let function = results
        .functions
        .iter()
        .find(|function| function.endpoint == Some(endpoint))?;
    percentile(&function.floor_argon2, 50.0)
}

pub fn markdown(results: &Results, options: &Options) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let machine = machine();
    line(format!(
        "Run `{}` on {} ({} cores, {}), {}; database: {} ({}).",
        results.label,
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["memory"].as_str().unwrap_or("?"),
        machine["kernel"].as_str().unwrap_or("?"),
        redact(&options.mongodb_uri),
        if results.transactions {
            "replica set: delete runs in a transaction"
        } else {
            "standalone: delete runs without a transaction"
        },
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
        "**Cold start** ({} fresh processes per function; times in ms)",
        options.cold
    ));
    line(String::new());
    line("| Function | Init p50 | Init max | Init p50, secrets via Secrets Manager¹ | First invocation p50 | First max | First − warm p50 | RSS at init | Peak RSS |".into());
    line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".into());
    for function in &results.functions {
        let derived = derive(function);
        line(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} MiB | {:.1} MiB |",
            name(function),
            fmt_ms(percentile(&function.init, 50.0)),
            fmt_ms(max(&function.init)),
            fmt_ms(percentile(&function.init_secrets, 50.0)),
            fmt_ms(percentile(&function.first, 50.0)),
            fmt_ms(max(&function.first)),
            fmt_ms(derived.first_penalty),
            mib(median_kib(&function.init_rss_kib)),
            mib(function.peak_rss_kib.max(function.cold_peak_rss_kib)),
        ));
    }
    line(String::new());
    line(format!(
        "**Warm latency** (Lambda Duration in ms; {} invocations per endpoint, {} for the argon2-bound register and login², each followed by its floor)",
        options.warm, options.warm_argon2
    ));
    line(String::new());
    line("| Endpoint | n | p50 | p90 | p99 | Floor p50³ | Overhead p50 | Overhead, paired median [95% CI]⁴ | Overhead p90 |".into());
    line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".into());
    for function in &results.functions {
        let derived = derive(function);
        line(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            function.endpoint.map(Endpoint::route).unwrap_or("?"),
            function.warm.len(),
            fmt_ms(derived.warm_p50),
            fmt_ms(percentile(&function.warm, 90.0)),
            fmt_ms(percentile(&function.warm, 99.0)),
            fmt_ms(derived.floor_p50),
            fmt_ms(derived.overhead_p50),
            paired_overhead(function)
                .map(|(median, lo, hi)| format!("{median:.3} [{lo:.3}, {hi:.3}]"))
                .unwrap_or_else(|| "–".into()),
            fmt_ms(derived.overhead_p90),
        ));
    }
    if results.functions.iter().any(|f| !f.sizes.is_empty()) {
        let archs: Vec<&String> = results
            .functions
            .iter()
            .flat_map(|f| f.sizes.iter().map(|(arch, _, _)| arch))
            .fold(Vec::new(), |mut archs, arch| {
                if !archs.contains(&arch) {
                    archs.push(arch);
                }
                archs
            });
        line(String::new());
        line("**Artifacts** (`cargo lambda build --release`; MB = 10⁶ bytes)".into());
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
                match function.sizes.iter().find(|(a, _, _)| a == *arch) {
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
        "Reference: database round trip (`ping`) p50 {} ms, p90 {} ms; argon2id (m=19456, t=2, p=1) hash p50 {} ms, verification p50 {} ms; \
         a new client's connection + index creation + deployment probe (what a cold start's first request waits for) p50 {} ms; \
         registration validation (zxcvbn) first call in a process {} ms, next {} ms; \
         profile floor with {} documents in the linked collection p50 {} ms (above: with 3).",
        fmt_ms(percentile(&results.ping, 50.0)),
        fmt_ms(percentile(&results.ping, 90.0)),
        fmt_ms(argon2(results, Endpoint::Register)),
        fmt_ms(argon2(results, Endpoint::Login)),
        fmt_ms(percentile(&refs.prepare, 50.0)),
        fmt_ms(Some(ms(refs.validation_first))),
        fmt_ms(Some(ms(refs.validation_next))),
        refs.linked_documents,
        fmt_ms(percentile(&refs.profile_floor_large, 50.0)),
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
    line("¹ Both secrets read with signed `GetSecretValue` calls (`shared/src/secrets.rs`) from a local Secrets Manager stand-in (plain HTTP, no network latency): the CPU cost of the deployed configuration path. Every other column uses plain `MONGODB_URI`/`JWT_SECRET` variables.".into());
    line(String::new());
    line("² Each register or login costs one argon2id (tens of ms), so fewer invocations give the same precision.".into());
    line(String::new());
    line("³ Floor: the endpoint's `users_core::domain` operation called directly from the benchmark process with a store built from the same client options, so the very MongoDB operations the function performs (session check, throttling, session insert included), with the same driver, plus its argon2id hash (register) or verification (login). Overhead = warm − floor at the same percentile: the Runtime API round trip, the API Gateway event and response, validation and logging.".into());
    line(String::new());
    line("⁴ Each warm invocation is followed by its floor; the median of those pairs' differences, with its 95% confidence interval (sign-test order statistics), cancels the database's slow drifts that the two p50s each carry.".into());
    out
}

/// `(target, measured, met)` rows.
fn targets(results: &Results) -> Vec<(String, String, Option<bool>)> {
    let mut rows = Vec::new();
    let functions = &results.functions;
    let worst =
        |values: Vec<(&'static str, f64)>| values.into_iter().max_by(|a, b| a.1.total_cmp(&b.1));

    let inits: Vec<_> = functions
        .iter()
        .filter_map(|f| Some((name(f), percentile(&f.init, 50.0)?)))
        .collect();
    if let Some((worst_name, value)) = worst(inits) {
        rows.push((
            format!("init ≤ {INIT_TARGET_MS} ms median, every function"),
            format!("slowest median {value:.2} ms ({worst_name})"),
            Some(value <= INIT_TARGET_MS),
        ));
    }

    for function in functions {
        let Some(endpoint) = function.endpoint else {
            continue;
        };
        if endpoint.argon2_bound() {
            continue;
        }
        if let Some((median, lo, hi)) = paired_overhead(function) {
            rows.push((
                format!(
                    "{} overhead over floor ≤ {OVERHEAD_TARGET_MS} ms at p50",
                    endpoint.binary()
                ),
                format!("paired median {median:.3} ms (95% CI {lo:.3} to {hi:.3})"),
                Some(median <= OVERHEAD_TARGET_MS),
            ));
        }
    }

    let login = functions
        .iter()
        .find(|f| f.endpoint == Some(Endpoint::Login));
    if let (Some(login), Some(verify)) = (login, argon2(results, Endpoint::Login)) {
        if let Some(p50) = percentile(&login.warm, 50.0) {
            rows.push((
                format!("login ≤ {LOGIN_ARGON2_RATIO} × one argon2id verification"),
                format!("{p50:.2} ms = {:.2} × {verify:.2} ms", p50 / verify),
                Some(p50 <= LOGIN_ARGON2_RATIO * verify),
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

    if let Some(rtt) = percentile(&results.ping, 50.0) {
        let penalties: Vec<_> = functions
            .iter()
            .filter_map(|f| Some((name(f), derive(f).first_penalty?)))
            .collect();
        if let Some((worst_name, value)) = worst(penalties) {
            rows.push((
                format!(
                    "first invocation ≤ warm + one round trip ({rtt:.2} ms) + {FIRST_SLACK_MS} ms"
                ),
                format!("largest first − warm p50: {value:.2} ms ({worst_name})"),
                Some(value <= rtt + FIRST_SLACK_MS),
            ));
        }
    }
    rows
}

fn stats(samples: &[Duration]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    json!({
        "n": samples.len(),
        "p50": percentile(samples, 50.0),
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
        functions.insert(
            name(function).to_string(),
            json!({
                "route": function.endpoint.map(Endpoint::route),
                "memory_size_mb": function.endpoint.map(Endpoint::memory_mb),
                "init_ms": stats(&function.init),
                "init_with_secrets_manager_ms": stats(&function.init_secrets),
                "first_invocation_ms": stats(&function.first),
                "first_minus_warm_p50_ms": derived.first_penalty,
                "warm_ms": stats(&function.warm),
                "floor_ms": stats(&function.floor),
                "floor_argon2_ms": stats(&function.floor_argon2),
                "overhead_ms": {
                    "p50": derived.overhead_p50,
                    "p90": derived.overhead_p90,
                    "paired_median": paired_overhead(function).map(|(m, _, _)| m),
                    "paired_median_ci95": paired_overhead(function).map(|(_, lo, hi)| [lo, hi]),
                },
                "init_rss_kib_p50": median_kib(&function.init_rss_kib),
                "peak_rss_kib": function.peak_rss_kib,
                "cold_peak_rss_kib": function.cold_peak_rss_kib,
                "artifacts": artifacts,
            }),
        );
    }
    json!({
        "label": results.label,
        "started_unix_s": results
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "elapsed_s": results.elapsed.as_secs_f64(),
        "machine": machine(),
        "binaries": options.bin_dir,
        "function_env": options
            .function_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        "counts": {
            "cold": options.cold,
            "cold_with_secrets_manager": options.cold_secrets,
            "warm": options.warm,
            "warm_argon2": options.warm_argon2,
            "warmup": options.warmup,
        },
        "database": {
            "uri": redact(&options.mongodb_uri),
            "transactions": results.transactions,
            "ping_ms": stats(&results.ping),
        },
        "references": {
            "cold_prepare_ms": stats(&results.references.prepare),
            "registration_validation_first_ms": ms(results.references.validation_first),
            "registration_validation_next_ms": ms(results.references.validation_next),
            "linked_documents": results.references.linked_documents,
            "profile_floor_large_collection_ms": stats(&results.references.profile_floor_large),
        },
        "argon2id_ms": {
            "hash_p50": argon2(results, Endpoint::Register),
            "verify_p50": argon2(results, Endpoint::Login),
        },
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
