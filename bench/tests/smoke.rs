//! Keeps `make bench` working: the whole benchmark with tiny counts, against
//! the debug binaries that `make test` builds before it runs the tests. No
//! timing is asserted (the machines are shared); only that every phase runs,
//! every function answers as expected, and the report is complete.

#[allow(dead_code)]
#[path = "../runner/mod.rs"]
mod runner;

use std::path::PathBuf;

use runner::{report, Endpoint, Options};

/// target/debug, found from this test binary (target/debug/deps/smoke-…).
fn debug_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug/deps/<test>")
        .to_path_buf()
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs MONGODB_URI and the five function binaries: `make test` provides both"]
async fn the_benchmark_runs_end_to_end_with_tiny_counts() {
    let mongodb_uri = std::env::var("MONGODB_URI").expect("MONGODB_URI names a test database");
    let bin_dir = debug_bin_dir();
    for endpoint in Endpoint::ALL {
        assert!(
            bin_dir.join(endpoint.binary()).is_file(),
            "{} is missing: run `cargo build --workspace --bins` first",
            bin_dir.join(endpoint.binary()).display()
        );
    }
    let scratch = std::env::temp_dir().join(format!("lambda-bench-smoke-{}", std::process::id()));
    let options = Options {
        bin_dir,
        mongodb_uri,
        cold: 2,
        cold_secrets: 1,
        warm: 5,
        warm_argon2: 2,
        warmup: 1,
        endpoints: Endpoint::ALL.to_vec(),
        artifacts: Vec::new(),
        log_dir: scratch.clone(),
        label: "smoke".into(),
        function_env: Vec::new(),
    };
    let results = runner::run(&options, &mut |line| eprintln!("==> {line}"))
        .await
        .unwrap_or_else(|error| panic!("the benchmark failed: {error}"));
    let _ = std::fs::remove_dir_all(&scratch);

    assert_eq!(results.functions.len(), 5);
    for function in &results.functions {
        let endpoint = function.endpoint.expect("each result names its function");
        let warm = if endpoint.argon2_bound() { 2 } else { 5 };
        assert_eq!(function.init.len(), 2, "{endpoint:?}");
        assert_eq!(function.init_secrets.len(), 1, "{endpoint:?}");
        assert_eq!(function.first.len(), 2, "{endpoint:?}");
        assert_eq!(function.warm.len(), warm, "{endpoint:?}");
        assert_eq!(function.floor.len(), warm, "{endpoint:?}");
        assert!(function.peak_rss_kib > 0, "{endpoint:?}");
    }
    let table = report::markdown(&results, &options);
    eprintln!("{table}");
    for name in [
        "register",
        "login",
        "link-external-id",
        "get-full-profile",
        "delete-user",
    ] {
        assert!(table.contains(name), "{table}");
    }
    let json = report::json(&results, &options);
    assert!(
        json["functions"]["login"]["warm_ms"]["p50"].is_number(),
        "{json}"
    );
    assert!(
        json["targets"].as_array().is_some_and(|t| !t.is_empty()),
        "{json}"
    );
}
