//! Keeps `make bench` working: the benchmark binary, run with tiny counts
//! against the debug binaries that `make test` builds before it runs the
//! tests. No timing is asserted (the machines are shared); only that every
//! phase runs, every function of template.yaml (HTTP and event) answers as
//! expected, and the report is complete.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const BENCH: &str = env!("CARGO_BIN_EXE_lambda-bench");

/// target/debug, where this test's binary and the functions' are.
fn debug_bin_dir() -> PathBuf {
    PathBuf::from(BENCH)
        .parent()
        .expect("target/debug/lambda-bench")
        .to_path_buf()
}

#[test]
fn the_options_are_listed_once_with_their_variables() {
    let output = Command::new(BENCH).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for line in [
        "--warm N",
        "BENCH_WARM",
        "--cold-pinned N",
        "MONGODB_URI",
        "--list-functions",
    ] {
        assert!(help.contains(line), "{line} missing from --help:\n{help}");
    }
}

#[test]
#[ignore = "needs MONGODB_URI and the function binaries: `make test` provides both"]
fn the_benchmark_runs_end_to_end_with_tiny_counts() {
    let mongodb_uri = std::env::var("MONGODB_URI").expect("MONGODB_URI names a test database");
    let listed = Command::new(BENCH)
        .arg("--list-functions")
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    let functions: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    for expected in [
        "register",
        "login",
        "refresh",
        "logout",
        "logout-all",
        "link-external-id",
        "get-full-profile",
        "delete-user",
        "verify-mfa",
        "reset-password",
        "send-mail",
        "ingest-events",
        "publish-events",
        "rotate-signing-keys",
    ] {
        assert!(functions.iter().any(|f| f == expected), "{functions:?}");
    }

    let scratch = std::env::temp_dir().join(format!("lambda-bench-smoke-{}", std::process::id()));
    let out = scratch.join("results.json");
    let output = Command::new(BENCH)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MONGODB_URI", &mongodb_uri)
        .args(["--bin-dir", debug_bin_dir().to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(["--markdown", scratch.join("results.md").to_str().unwrap()])
        .args(["--log-dir", scratch.join("logs").to_str().unwrap()])
        .args(["--label", "smoke"])
        .args(["--cold", "2", "--cold-secrets", "1", "--cold-pinned", "1"])
        .args(["--cold-paused", "1", "--pause-ms", "50"])
        .args(["--warm", "4", "--warm-argon2", "2", "--warmup", "1"])
        .args(["--fresh-floors", "1"])
        .args(["--study-documents", "100", "--study-samples", "3"])
        // Four studies, not forty: each builds a database with every index,
        // which made the study most of this test's time; every operation's
        // floor still runs in the warm phase.
        .args([
            "--study-functions",
            "refresh,get-full-profile,oauth-introspect,list-passkeys",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The error alone, without the progress lines before it: a CI log keeps
    // only the head and tail of a long failure, and the error is in neither.
    let error: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.starts_with("==> "))
        .collect();
    let last_step = stderr.lines().rfind(|line| line.starts_with("==> "));
    assert!(
        output.status.success(),
        "the benchmark failed after {last_step:?}:\n{}",
        error.join("\n")
    );
    let table = String::from_utf8(output.stdout).unwrap();
    eprintln!("{table}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&scratch);

    let results = json["functions"].as_object().expect("functions");
    assert_eq!(results.len(), functions.len(), "{:?}", results.keys());
    for name in &functions {
        let function = &json["functions"][name];
        assert!(
            table.contains(&format!("| {name} |")),
            "{name} is not in the table"
        );
        assert_eq!(function["init_ms"]["n"], 2, "{name}");
        assert_eq!(function["init_with_secrets_manager_ms"]["n"], 1, "{name}");
        assert_eq!(function["init_pinned_one_core_ms"]["n"], 1, "{name}");
        assert_eq!(
            function["first_invocation_after_pause_ms"]["n"], 1,
            "{name}"
        );
        assert!(
            function["memory_size_mb"].as_u64().unwrap() >= 128,
            "{name}"
        );
        assert!(function["peak_rss_kib"].as_u64().unwrap() > 0, "{name}");
        let warm = function["warm_ms"]["n"].as_u64().unwrap();
        assert!(warm == 4 || warm == 2, "{name}: {warm}");
        let commands = &function["mongodb_commands"];
        if function["floor_ms"].is_null() {
            continue;
        }
        assert_eq!(function["floor_ms"]["n"].as_u64(), Some(warm), "{name}");
        // The rotation's floor is its key generation: no command to count.
        if function["uses_database"] == false {
            continue;
        }
        assert!(
            commands["per_operation"].as_u64().unwrap() >= 1,
            "{name}: {commands}"
        );
        assert!(
            commands["explain"]
                .as_array()
                .is_some_and(|plans| !plans.is_empty()),
            "{name}: {commands}"
        );
    }
    let profile = &json["functions"]["get-full-profile"]["mongodb_commands"];
    assert_eq!(profile["per_operation"], 1, "{profile}");
    for cost in ["rs256_sign_ms", "rs256_verify_ms"] {
        assert_eq!(json["references"][cost]["n"], 200, "{cost}");
    }
    assert!(
        table.contains("an RS256 access token signed p50"),
        "{table}"
    );
    let study = json["size_study"].as_array().expect("size_study");
    assert_eq!(study.len(), 4, "{study:?}");
    for operation in study {
        let steps = operation["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 3, "{operation}");
        assert!(
            steps.iter().all(|step| step["floor_ms"]["n"] == 3),
            "{operation}"
        );
    }
    assert!(
        json["targets"].as_array().is_some_and(|t| !t.is_empty()),
        "{json}"
    );
}
