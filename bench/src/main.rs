//! `make bench`: a Lambda-faithful benchmark of every function that
//! template.yaml deploys, HTTP and event.
//!
//! Serves the Lambda Runtime API itself and starts each function's binary
//! against it with the variables and memory size the template gives it, then
//! measures init (exec to the first `invocation/next`; also pinned to one
//! core), the first invocation, warm latency against a floor measured in the
//! same run (the same use case called from this process), the MongoDB
//! commands each operation sends (the driver's command monitoring) and how
//! the server serves each (`explain`), peak RSS, the size of the
//! `cargo lambda build` artifacts, and how every floor that reads the
//! database changes with other users' data. Prints a Markdown report and writes the
//! figures as JSON. `lambda-bench --help` lists the options.

mod dataset;
mod events;
mod explain;
mod monitor;
mod operations;
mod options;
mod passkey;
mod process;
mod report;
mod run;
mod runtime_api;
mod study;
mod template;
mod zip;

use std::path::PathBuf;

use options::{target_dir, Options};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let options = match Options::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(options) => options,
        Err(error) if error.is_empty() => {
            print!("{}", Options::help());
            return;
        }
        Err(error) => {
            eprintln!("lambda-bench: {error}");
            std::process::exit(2);
        }
    };
    let template = options
        .template
        .clone()
        .unwrap_or_else(|| options::repository().join("template.yaml"));
    if options.list_functions.0 {
        match template::Template::load(&template)
            .map_err(Error::from)
            .and_then(|template| run::select(&template, &options))
        {
            Ok(selected) => {
                for (function, _) in selected {
                    println!("{}", function.binary);
                }
                return;
            }
            Err(error) => {
                eprintln!("lambda-bench: {error}");
                std::process::exit(1);
            }
        }
    }
    let bin_dir = options.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let log_dir = options
        .log_dir
        .clone()
        .unwrap_or_else(|| target_dir().join("bench").join("logs"));
    // Absolute: the functions run in their own directory and read key files
    // from the log directory.
    let _ = std::fs::create_dir_all(&log_dir);
    let absolute = |path: PathBuf| std::fs::canonicalize(&path).unwrap_or(path);
    let (bin_dir, log_dir) = (absolute(bin_dir), absolute(log_dir));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(run::run(
        &options,
        &template,
        bin_dir,
        log_dir,
        &mut |line| eprintln!("==> {line}"),
    ));
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
    let json_path = options
        .out
        .clone()
        .unwrap_or_else(|| target_dir().join("bench").join("results.json"));
    let markdown_path = options
        .markdown
        .clone()
        .unwrap_or_else(|| target_dir().join("bench").join("results.md"));
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

/// `bytes` random bytes as hex.
pub fn random_hex(bytes: usize) -> Result<String, Error> {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}
