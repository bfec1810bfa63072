//! `make bench`: a Lambda-faithful benchmark of the five functions.
//!
//! Serves the Lambda Runtime API itself, starts each function's release binary
//! against it, and measures init (exec to the first `invocation/next`), the
//! first invocation, warm latency against a floor measured in the same run,
//! peak RSS, and the size of the `cargo lambda build` artifacts. Prints a
//! Markdown table and writes the figures as JSON.
//!
//! Every option also reads an environment variable, so that `make bench` can
//! pass them through:
//!
//! ```text
//! --bin-dir DIR        BENCH_BIN_DIR       the functions' binaries (default: target/release)
//! --mongodb-uri URI    MONGODB_URI         the database (required; make bench starts SecantusDB)
//! --cold N             BENCH_COLD          fresh processes per function (20)
//! --cold-secrets N     BENCH_COLD_SECRETS  fresh processes per function reading Secrets Manager (20)
//! --warm N             BENCH_WARM          warm invocations: link, profile, delete (2000)
//! --warm-argon2 N      BENCH_WARM_ARGON2   warm invocations: register, login (200)
//! --warmup N           BENCH_WARMUP        unmeasured invocations first (20)
//! --functions A,B      BENCH_FUNCTIONS     a subset, by binary name (all five)
//! --artifacts A=DIR    BENCH_ARTIFACTS     `cargo lambda build --lambda-dir` outputs, space-separated
//! --out FILE           BENCH_OUT           JSON results (target/bench/results.json)
//! --markdown FILE      BENCH_MARKDOWN      the table again (target/bench/results.md)
//! --log-dir DIR        BENCH_LOG_DIR       function output (target/bench/logs)
//! --label TEXT         BENCH_LABEL         names the run, e.g. the cargo profile (release)
//! --function-env K=V   BENCH_FUNCTION_ENV  extra variables for the functions, space-separated
//! ```

#[allow(dead_code)]
#[path = "../runner/mod.rs"]
mod runner;

use std::collections::HashMap;
use std::path::PathBuf;

use runner::{report, Endpoint, Options};

const USAGE: &str = "\
Usage: cargo bench -p lambda-bench --bench lambda -- [--option value]...

--bin-dir DIR        BENCH_BIN_DIR       the functions' binaries (default: target/release)
--mongodb-uri URI    MONGODB_URI         the database (required; make bench starts SecantusDB)
--cold N             BENCH_COLD          fresh processes per function (20)
--cold-secrets N     BENCH_COLD_SECRETS  fresh processes per function reading Secrets Manager (20)
--warm N             BENCH_WARM          warm invocations: link, profile, delete (2000)
--warm-argon2 N      BENCH_WARM_ARGON2   warm invocations: register, login (200)
--warmup N           BENCH_WARMUP        unmeasured invocations first (20)
--functions A,B      BENCH_FUNCTIONS     a subset, by binary name (all five)
--artifacts A=DIR    BENCH_ARTIFACTS     `cargo lambda build --lambda-dir` outputs, space-separated
--out FILE           BENCH_OUT           JSON results (target/bench/results.json)
--markdown FILE      BENCH_MARKDOWN      the table again (target/bench/results.md)
--log-dir DIR        BENCH_LOG_DIR       function output (target/bench/logs)
--label TEXT         BENCH_LABEL         names the run, e.g. the cargo profile (release)
--function-env K=V   BENCH_FUNCTION_ENV  extra variables for the functions, space-separated
";

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("lambda-bench: {error}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(runner::run(&options, &mut |line| eprintln!("==> {line}")));
    let results = match outcome {
        Ok(results) => results,
        Err(error) => {
            eprintln!("lambda-bench: {error}");
            std::process::exit(1);
        }
    };
    let table = report::markdown(&results, &options);
    println!("{table}");
    let json = report::json(&results, &options);
    let (json_path, markdown_path) = outputs();
    for (path, text) in [
        (
            &json_path,
            serde_json::to_string_pretty(&json).expect("JSON") + "\n",
        ),
        (&markdown_path, table),
    ] {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(error) = std::fs::write(path, text) {
            eprintln!("lambda-bench: cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
    eprintln!(
        "==> wrote {} and {} in {:.0} s",
        json_path.display(),
        markdown_path.display(),
        results.elapsed.as_secs_f64()
    );
}

/// The workspace's target directory, for defaults.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn outputs() -> (PathBuf, PathBuf) {
    let args = arguments().unwrap_or_default();
    let path = |flag: &str, default: &str| {
        args.get(flag)
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("bench").join(default))
    };
    (path("out", "results.json"), path("markdown", "results.md"))
}

/// `--flag value` pairs, with `BENCH_*`/`MONGODB_URI` variables underneath.
fn arguments() -> Result<HashMap<String, String>, String> {
    let mut values = HashMap::new();
    for (flag, variable) in [
        ("bin-dir", "BENCH_BIN_DIR"),
        ("mongodb-uri", "MONGODB_URI"),
        ("cold", "BENCH_COLD"),
        ("cold-secrets", "BENCH_COLD_SECRETS"),
        ("warm", "BENCH_WARM"),
        ("warm-argon2", "BENCH_WARM_ARGON2"),
        ("warmup", "BENCH_WARMUP"),
        ("functions", "BENCH_FUNCTIONS"),
        ("artifacts", "BENCH_ARTIFACTS"),
        ("out", "BENCH_OUT"),
        ("markdown", "BENCH_MARKDOWN"),
        ("log-dir", "BENCH_LOG_DIR"),
        ("label", "BENCH_LABEL"),
        ("function-env", "BENCH_FUNCTION_ENV"),
    ] {
        if let Some(value) = std::env::var(variable).ok().filter(|v| !v.is_empty()) {
            values.insert(flag.to_string(), value);
        }
    }
    let mut args = std::env::args().skip(1);
    let mut artifacts_from_args = Vec::new();
    while let Some(arg) = args.next() {
        // `cargo bench` passes --bench to every bench target.
        if arg == "--bench" {
            continue;
        }
        if arg == "--help" || arg == "-h" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        let flag = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let value = args
            .next()
            .ok_or_else(|| format!("--{flag} needs a value"))?;
        if flag == "artifacts" {
            artifacts_from_args.push(value);
        } else {
            values.insert(flag.to_string(), value);
        }
    }
    if !artifacts_from_args.is_empty() {
        values.insert("artifacts".into(), artifacts_from_args.join(" "));
    }
    Ok(values)
}

fn options() -> Result<Options, String> {
    let mut args = arguments()?;
    let known = [
        "bin-dir",
        "mongodb-uri",
        "cold",
        "cold-secrets",
        "warm",
        "warm-argon2",
        "warmup",
        "functions",
        "artifacts",
        "out",
        "markdown",
        "log-dir",
        "label",
        "function-env",
    ];
    if let Some(unknown) = args.keys().find(|flag| !known.contains(&flag.as_str())) {
        return Err(format!("unknown option --{unknown}"));
    }
    let count = |args: &HashMap<String, String>, flag: &str, default: usize| {
        args.get(flag).map_or(Ok(default), |value| {
            value
                .parse::<usize>()
                .map_err(|_| format!("--{flag} expects a whole number, got {value:?}"))
        })
    };
    let endpoints = match args.get("functions") {
        None => Endpoint::ALL.to_vec(),
        Some(list) => list
            .split([',', ' '])
            .filter(|name| !name.is_empty())
            .map(|name| Endpoint::parse(name).ok_or_else(|| format!("no function named {name:?}")))
            .collect::<Result<_, _>>()?,
    };
    let artifacts = args
        .get("artifacts")
        .map(|list| {
            list.split_whitespace()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(arch, dir)| (arch.to_string(), PathBuf::from(dir)))
                        .ok_or_else(|| format!("--artifacts expects ARCH=DIR, got {pair:?}"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let function_env = args
        .get("function-env")
        .map(|list| {
            list.split_whitespace()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| format!("--function-env expects NAME=VALUE, got {pair:?}"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(Options {
        bin_dir: args
            .remove("bin-dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("release")),
        mongodb_uri: args
            .remove("mongodb-uri")
            .ok_or("set MONGODB_URI or --mongodb-uri (make bench starts a SecantusDB)")?,
        cold: count(&args, "cold", 20)?,
        cold_secrets: count(&args, "cold-secrets", 20)?,
        warm: count(&args, "warm", 2000)?,
        warm_argon2: count(&args, "warm-argon2", 200)?,
        warmup: count(&args, "warmup", 20)?,
        endpoints,
        artifacts,
        log_dir: args
            .remove("log-dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("bench").join("logs")),
        label: args.remove("label").unwrap_or_else(|| "release".into()),
        function_env,
    })
}
