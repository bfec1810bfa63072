//! A function that cannot start says why through the Lambda Runtime API's
//! init-error call, naming the variable to fix, and exits. Runs the built
//! binaries (`make test` builds them first) against a stand-in Runtime API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// A built function binary of this workspace.
fn binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

/// The first request a function sends to the Runtime API: (request line, body).
fn first_runtime_call(name: &str, vars: &[(&str, &str)]) -> (String, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        let _ = sender.send((
            request_line.trim().to_string(),
            String::from_utf8(body).unwrap(),
        ));
    });
    let status = Command::new(binary(name))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .envs(vars.iter().copied())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "{name} started without its configuration"
    );
    received
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{name} did not call the Runtime API"))
}

#[test]
fn a_missing_variable_is_reported_as_the_init_error() {
    let (request, body) = first_runtime_call("register", &[]);
    assert_eq!(request, "POST /2018-06-01/runtime/init/error HTTP/1.1");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["errorType"], "Runtime.InitError");
    assert_eq!(
        error["errorMessage"],
        "configuration error: MONGODB_URI is not set"
    );
}

#[test]
fn each_function_names_what_it_lacks_and_nothing_it_does_not_use() {
    let database = (
        "MONGODB_URI",
        "mongodb://127.0.0.1:9/?directConnection=true",
    );
    let base_url = ("PUBLIC_BASE_URL", "http://127.0.0.1:9000");
    let cases = [
        // register reads no key set, so it starts without one; the failure
        // here is the invalid pool size.
        (
            "register",
            vec![database, ("MONGODB_MAX_POOL_SIZE", "0")],
            "MONGODB_MAX_POOL_SIZE is invalid",
        ),
        ("login", vec![database], "PUBLIC_BASE_URL is not set"),
        (
            "login",
            vec![database, base_url],
            "SIGNING_KEYS_SECRET_ARN is not set",
        ),
        (
            "get-full-profile",
            vec![
                database,
                base_url,
                ("PUBLIC_KEYS_FILE", "/nonexistent/public-keys.json"),
            ],
            "the key set named by PUBLIC_KEYS_FILE cannot be used",
        ),
        (
            "refresh",
            vec![database, base_url, ("REFRESH_GRACE_SECONDS", "600")],
            "REFRESH_GRACE_SECONDS is invalid",
        ),
        ("jwks", vec![], "PUBLIC_BASE_URL is not set"),
        // The OpenID Provider's functions need the clients besides their keys.
        (
            "oauth-token",
            vec![database, base_url],
            "OAUTH_CLIENTS_SECRET_ARN is not set",
        ),
        (
            "oauth-userinfo",
            vec![
                database,
                base_url,
                ("OAUTH_CLIENTS_FILE", "/nonexistent/oauth-clients.json"),
            ],
            "OAUTH_CLIENTS_FILE is invalid",
        ),
        (
            "rotate-signing-keys",
            vec![
                base_url,
                ("ACCESS_TOKEN_TTL_SECONDS", "86400"),
                ("SIGNING_KEY_ROTATION_DAYS", "1"),
            ],
            "SIGNING_KEY_ROTATION_DAYS is invalid",
        ),
        (
            "publish-events",
            vec![database],
            "EVENT_BUS_NAME is not set",
        ),
        (
            "ingest-events",
            vec![("MONGODB_URI", "postgres://nope")],
            "MONGODB_URI is invalid",
        ),
    ];
    for (name, vars, expected) in cases {
        let (request, body) = first_runtime_call(name, &vars);
        assert!(
            request.starts_with("POST /2018-06-01/runtime/init/error"),
            "{name}: {request}"
        );
        assert!(body.contains(expected), "{name}: {body}");
    }
}
