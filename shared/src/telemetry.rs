//! Logging: one JSON object per line, which CloudWatch and Lambda's JSON log
//! format index as fields.
//!
//! The level is a plain level, not `EnvFilter` directives: the directive
//! parser brings a regex engine, about a tenth of a function's zip.

use tracing_subscriber::filter::LevelFilter;

/// Where the level comes from, first found wins: `AWS_LAMBDA_LOG_LEVEL` is what
/// Lambda sets from the template's `LoggingConfig.ApplicationLogLevel`.
const LEVEL_VARIABLES: [&str; 2] = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"];

pub fn init() {
    let level = LEVEL_VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .map_or(LevelFilter::INFO, |value| parse_level(&value));
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_target(false)
        // The request's span: its id and the client's address (http::routes).
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .init();
}

/// Lambda's level names (`FATAL` included) and `RUST_LOG`'s; anything else
/// means the default, `info`, rather than a function that cannot start.
fn parse_level(value: &str) -> LevelFilter {
    match value.trim().to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "warn" => LevelFilter::WARN,
        "error" | "fatal" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_and_rust_log_level_names() {
        assert_eq!(parse_level("DEBUG"), LevelFilter::DEBUG);
        assert_eq!(parse_level("warn"), LevelFilter::WARN);
        assert_eq!(parse_level("FATAL"), LevelFilter::ERROR);
        assert_eq!(parse_level(" trace "), LevelFilter::TRACE);
        assert_eq!(parse_level("off"), LevelFilter::OFF);
    }

    #[test]
    fn anything_else_is_info() {
        assert_eq!(parse_level("INFO"), LevelFilter::INFO);
        assert_eq!(parse_level("users_core=debug"), LevelFilter::INFO);
        assert_eq!(parse_level(""), LevelFilter::INFO);
    }
}
