//! The command line, declared once: every option is a field of `Options`
//! with its flag, the environment variable that sets it (so `make bench` can
//! pass settings through) and its help line. A flag given on the command line
//! wins over its variable.

use std::path::PathBuf;

/// A value an option can hold, parsed from its flag or variable.
pub trait Value: Sized {
    const METAVAR: &'static str;
    fn parse(raw: &str) -> Result<Self, String>;
}

impl Value for usize {
    const METAVAR: &'static str = "N";
    fn parse(raw: &str) -> Result<Self, String> {
        raw.parse()
            .map_err(|_| format!("expects a whole number, got {raw:?}"))
    }
}

impl Value for u64 {
    const METAVAR: &'static str = "N";
    fn parse(raw: &str) -> Result<Self, String> {
        raw.parse()
            .map_err(|_| format!("expects a whole number, got {raw:?}"))
    }
}

impl Value for String {
    const METAVAR: &'static str = "TEXT";
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(raw.to_string())
    }
}

impl Value for PathBuf {
    const METAVAR: &'static str = "PATH";
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(PathBuf::from(raw))
    }
}

impl<T: Value> Value for Option<T> {
    const METAVAR: &'static str = T::METAVAR;
    fn parse(raw: &str) -> Result<Self, String> {
        T::parse(raw).map(Some)
    }
}

/// A list, separated by commas or spaces.
impl Value for Vec<String> {
    const METAVAR: &'static str = "A,B";
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(raw
            .split([',', ' '])
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// `NAME=VALUE` pairs, separated by spaces.
impl Value for Vec<(String, String)> {
    const METAVAR: &'static str = "K=V ...";
    fn parse(raw: &str) -> Result<Self, String> {
        raw.split_whitespace()
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("expects NAME=VALUE pairs, got {pair:?}"))
            })
            .collect()
    }
}

/// A switch: present or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Switch(pub bool);

impl Value for Switch {
    const METAVAR: &'static str = "";
    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "" | "1" | "true" => Ok(Switch(true)),
            "0" | "false" => Ok(Switch(false)),
            _ => Err(format!("expects 1 or 0, got {raw:?}")),
        }
    }
}

macro_rules! options {
    ($( #[doc = $help:literal] $field:ident: $type:ty = $default:expr, $flag:literal, $variable:literal; )*) => {
        #[derive(Debug)]
        pub struct Options {
            $( #[doc = $help] pub $field: $type, )*
        }

        impl Options {
            /// Defaults, then the variables `variable` finds, then `args` (flags with
            /// their values; a switch takes none).
            pub fn parse(
                args: impl IntoIterator<Item = String>,
                variable: impl Fn(&str) -> Option<String>,
            ) -> Result<Self, String> {
                let mut options = Options { $( $field: $default, )* };
                $(
                    if !$variable.is_empty() {
                        if let Some(raw) = variable($variable).filter(|raw| !raw.is_empty()) {
                            options.$field = <$type as Value>::parse(&raw)
                                .map_err(|error| format!("{}: {error}", $variable))?;
                        }
                    }
                )*
                let mut args = args.into_iter();
                while let Some(arg) = args.next() {
                    let (flag, inline) = match arg.split_once('=') {
                        Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                        None => (arg.clone(), None),
                    };
                    match flag.as_str() {
                        $(
                            $flag => {
                                let raw = match inline {
                                    Some(value) => value,
                                    None if <$type as Value>::METAVAR.is_empty() => String::new(),
                                    None => args
                                        .next()
                                        .ok_or_else(|| format!("{} needs a value", $flag))?,
                                };
                                options.$field = <$type as Value>::parse(&raw)
                                    .map_err(|error| format!("{}: {error}", $flag))?;
                            }
                        )*
                        "--help" | "-h" => return Err(String::new()),
                        other => return Err(format!("unknown option {other:?} (see --help)")),
                    }
                }
                Ok(options)
            }

            /// One line per option: flag, variable, help, default.
            pub fn help() -> String {
                let mut text = String::from(
                    "Usage: lambda-bench [OPTION]...\n\n\
                     Serves the Lambda Runtime API to each function of template.yaml and measures it \
                     (see bench/src/main.rs). Every option can also be set by its variable.\n\n",
                );
                $(
                    let default = stringify!($default);
                    let shown = match default {
                        "None" | "Vec::new()" | "Switch(false)" => String::new(),
                        other => format!(" (default: {other})"),
                    };
                    let flag = match <$type as Value>::METAVAR {
                        "" => $flag.to_string(),
                        metavar => format!("{} {metavar}", $flag),
                    };
                    text.push_str(&format!("  {flag:<24} {:<22} {}{shown}\n", $variable, $help.trim()));
                )*
                text
            }
        }
    };
}

options! {
    /// the database; `make bench` starts a throwaway SecantusDB (required)
    mongodb_uri: Option<String> = None, "--mongodb-uri", "MONGODB_URI";
    /// the functions' binaries (default: the directory of this program)
    bin_dir: Option<PathBuf> = None, "--bin-dir", "BENCH_BIN_DIR";
    /// the SAM template: functions, routes, memory sizes, variables (default: the repository's)
    template: Option<PathBuf> = None, "--template", "BENCH_TEMPLATE";
    /// a subset of the template's functions, by binary name (default: all)
    functions: Vec<String> = Vec::new(), "--functions", "BENCH_FUNCTIONS";
    /// print the template's functions (binary names) and exit
    list_functions: Switch = Switch(false), "--list-functions", "";
    /// fresh processes per function, configured from plain variables
    cold: usize = 20, "--cold", "BENCH_COLD";
    /// fresh processes per function reading both secrets from the Secrets Manager stand-in
    cold_secrets: usize = 20, "--cold-secrets", "BENCH_COLD_SECRETS";
    /// fresh processes per function pinned to one core, as `taskset -c CPU` pins them
    cold_pinned: usize = 20, "--cold-pinned", "BENCH_COLD_PINNED";
    /// the core of the pinned cold starts
    pin_cpu: usize = 0, "--pin-cpu", "BENCH_PIN_CPU";
    /// fresh processes per function whose first event waits --pause-ms after init
    cold_paused: usize = 10, "--cold-paused", "BENCH_COLD_PAUSED";
    /// how long those wait: long enough for what init starts in the background to finish
    pause_ms: u64 = 300, "--pause-ms", "BENCH_PAUSE_MS";
    /// measured warm invocations (each followed by its floor)
    warm: usize = 2000, "--warm", "BENCH_WARM";
    /// measured warm invocations of the slow functions (argon2id or RSA key generation)
    warm_argon2: usize = 200, "--warm-argon2", "BENCH_WARM_ARGON2";
    /// unmeasured invocations (and floors) before the warm ones
    warmup: usize = 20, "--warmup", "BENCH_WARMUP";
    /// floors on a new client per function, to time a first operation in isolation
    fresh_floors: usize = 5, "--fresh-floors", "BENCH_FRESH_FLOORS";
    /// documents the size study adds to the linked collection (and sessions it adds)
    study_documents: usize = 1000, "--study-documents", "BENCH_STUDY_DOCUMENTS";
    /// floors of each operation per size in the size study
    study_samples: usize = 50, "--study-samples", "BENCH_STUDY_SAMPLES";
    /// the functions whose floors the size study measures, by binary name (default: every measured one that reads the database)
    study_functions: Vec<String> = Vec::new(), "--study-functions", "BENCH_STUDY_FUNCTIONS";
    /// `cargo lambda build --lambda-dir` outputs to size, as ARCH=DIR pairs
    artifacts: Vec<(String, String)> = Vec::new(), "--artifacts", "BENCH_ARTIFACTS";
    /// extra variables for the function processes, e.g. a tuning under test
    function_env: Vec<(String, String)> = Vec::new(), "--function-env", "BENCH_FUNCTION_ENV";
    /// the JSON results (default: target/bench/results.json)
    out: Option<PathBuf> = None, "--out", "BENCH_OUT";
    /// the Markdown report (default: target/bench/results.md)
    markdown: Option<PathBuf> = None, "--markdown", "BENCH_MARKDOWN";
    /// the function processes' output, one file each (default: target/bench/logs)
    log_dir: Option<PathBuf> = None, "--log-dir", "BENCH_LOG_DIR";
    /// names the run in the results, e.g. the cargo profile and commit (default: release)
    label: Option<String> = None, "--label", "BENCH_LABEL";
}

impl Options {
    /// Measured warm invocations of a function.
    pub fn warm_count(&self, argon2_bound: bool) -> usize {
        if argon2_bound {
            self.warm_argon2
        } else {
            self.warm
        }
    }
}

/// The workspace's target directory, for default output paths.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("target"))
}

/// The repository this program was built from.
pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ sits in the repository")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], vars: &[(&str, &str)]) -> Result<Options, String> {
        Options::parse(args.iter().map(|arg| arg.to_string()), |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn flags_win_over_variables_which_win_over_defaults() {
        let options = parse(
            &[
                "--warm",
                "7",
                "--functions=login,register",
                "--list-functions",
            ],
            &[
                ("BENCH_WARM", "3"),
                ("BENCH_COLD", "4"),
                ("MONGODB_URI", "mongodb://h"),
            ],
        )
        .unwrap();
        assert_eq!(options.warm, 7);
        assert_eq!(options.cold, 4);
        assert_eq!(options.warmup, 20);
        assert_eq!(options.functions, ["login", "register"]);
        assert_eq!(options.list_functions, Switch(true));
        assert_eq!(options.mongodb_uri.as_deref(), Some("mongodb://h"));
    }

    #[test]
    fn bad_values_and_unknown_flags_are_named() {
        let error = parse(&[], &[("BENCH_WARM", "many")]).unwrap_err();
        assert!(error.starts_with("BENCH_WARM"), "{error}");
        let error = parse(&["--cold"], &[]).unwrap_err();
        assert!(error.contains("--cold needs a value"), "{error}");
        let error = parse(&["--colt", "2"], &[]).unwrap_err();
        assert!(error.contains("--colt"), "{error}");
        assert_eq!(parse(&["--help"], &[]).unwrap_err(), "");
    }

    #[test]
    fn help_lists_every_flag_with_its_variable() {
        let help = Options::help();
        for line in [
            "--warm N",
            "BENCH_WARM",
            "--mongodb-uri",
            "--list-functions",
            "(default: 2000)",
        ] {
            assert!(help.contains(line), "{line} missing from\n{help}");
        }
    }
}
