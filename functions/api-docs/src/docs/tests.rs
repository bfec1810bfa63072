use base64::Engine as _;
use lambda_http::http;
use serde_json::Value;
use sha2::{Digest, Sha256};
use yaml_rust2::{Yaml, YamlLoader};

use super::*;

fn call(method: &str, path: &str) -> Response<Body> {
    respond(
        &http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::Empty)
            .unwrap(),
    )
}

fn header<'r>(response: &'r Response<Body>, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn text(response: &Response<Body>) -> &str {
    match response.body() {
        Body::Text(text) => text,
        other => panic!("not a text body: {other:?}"),
    }
}

/// openapi.yaml read here, independently of build.rs, as JSON values.
fn openapi_yaml() -> Value {
    // The repository root's, wherever in the tree this package lives (as build.rs finds it).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("openapi.yaml"))
        .find(|path| path.is_file())
        .expect("openapi.yaml above the package");
    let source = std::fs::read_to_string(path).unwrap();
    to_json(&YamlLoader::load_from_str(&source).unwrap()[0])
}

fn to_json(node: &Yaml) -> Value {
    match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(value) => Value::from(*value),
        Yaml::Integer(value) => Value::from(*value),
        Yaml::Real(_) => Value::from(node.as_f64().unwrap()),
        Yaml::String(text) => Value::from(text.as_str()),
        Yaml::Array(items) => items.iter().map(to_json).collect(),
        Yaml::Hash(entries) => entries
            .iter()
            .map(|(key, value)| {
                let key = match key {
                    Yaml::String(text) => text.clone(),
                    Yaml::Integer(value) => value.to_string(),
                    other => panic!("unexpected key {other:?}"),
                };
                (key, to_json(value))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => panic!("unexpected YAML node {other:?}"),
    }
}

/// The text of every `<tag>…</tag>` element in the page.
fn inline_elements<'p>(page: &'p str, tag: &str) -> Vec<&'p str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    page.split(open.as_str())
        .skip(1)
        .map(|rest| &rest[..rest.find(close.as_str()).expect("element is closed")])
        .collect()
}

fn csp_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    format!("'sha256-{hash}'")
}

/// `directive` → its sources, e.g. "script-src" → ["'sha256-…'", …].
fn directives(policy: &str) -> Vec<(&str, Vec<&str>)> {
    policy
        .split(';')
        .map(|directive| {
            let mut words = directive.split_whitespace();
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

fn sources<'p>(policy: &'p str, name: &str) -> Vec<&'p str> {
    directives(policy)
        .into_iter()
        .find(|(directive, _)| *directive == name)
        .unwrap_or_else(|| panic!("no {name} in {policy}"))
        .1
}

#[test]
fn docs_is_one_html_page_with_a_strict_policy() {
    for path in ["/docs", "/docs/"] {
        let response = call("GET", path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "cache-control"), "public, max-age=300");
        let policy = header(&response, "content-security-policy");
        assert_eq!(policy, CONTENT_SECURITY_POLICY);
        assert!(text(&response).starts_with("<!DOCTYPE html>"));
    }
}

#[test]
fn the_policy_allows_nothing_inline_but_the_pages_own_script_and_style() {
    let policy = CONTENT_SECURITY_POLICY;
    assert!(!policy.contains("unsafe-"), "{policy}");
    assert_eq!(sources(policy, "default-src"), ["'none'"]);
    assert_eq!(sources(policy, "connect-src"), ["'self'"]);
    assert_eq!(sources(policy, "img-src"), ["'self'", "data:"]);
    assert_eq!(sources(policy, "frame-ancestors"), ["'none'"]);
    assert_eq!(sources(policy, "base-uri"), ["'none'"]);
    assert_eq!(sources(policy, "form-action"), ["'none'"]);

    // Exactly the page's inline elements, each by the hash of its text.
    let scripts: Vec<String> = inline_elements(PAGE, "script")
        .into_iter()
        .map(csp_source)
        .collect();
    let styles: Vec<String> = inline_elements(PAGE, "style")
        .into_iter()
        .map(csp_source)
        .collect();
    assert_eq!(scripts.len(), 2, "Swagger UI's bundle and ui/init.js");
    assert_eq!(styles.len(), 1);
    assert_eq!(sources(policy, "script-src"), scripts);
    assert_eq!(sources(policy, "style-src"), styles);
}

#[test]
fn the_page_loads_nothing_from_elsewhere() {
    // Every script is inline (no src), no stylesheet is linked, and the one
    // <link> is the empty favicon.
    assert_eq!(
        PAGE.matches("<script").count(),
        PAGE.matches("<script>").count()
    );
    assert_eq!(PAGE.matches("<link").count(), 1);
    assert!(PAGE.contains(r#"<link rel="icon" href="data:,">"#));
    assert!(PAGE.contains("SwaggerUIBundle"));
    assert!(PAGE.contains(r#"new URL("openapi.json", base)"#));
}

#[test]
fn openapi_json_is_openapi_yaml() {
    for path in ["/openapi.json", "/openapi.json/"] {
        let response = call("GET", path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), "application/json");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "cache-control"), "public, max-age=300");
        let served: Value = serde_json::from_str(text(&response)).expect("valid JSON");
        let yaml = openapi_yaml();

        let paths = |spec: &Value| -> Vec<String> {
            spec["paths"]
                .as_object()
                .expect("paths")
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(paths(&served), paths(&yaml));
        assert!(paths(&served).contains(&"/docs".to_string()));
        assert!(paths(&served).contains(&"/openapi.json".to_string()));
        // Not just the paths: the whole document, value for value.
        assert_eq!(served, yaml);
    }
}

#[test]
fn other_methods_get_405_with_allow() {
    for path in ["/docs", "/docs/", "/openapi.json"] {
        for method in ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
            let response = call(method, path);
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_eq!(header(&response, "allow"), "GET");
            assert_eq!(
                header(&response, "content-type"),
                "application/problem+json"
            );
            let problem: Value = serde_json::from_str(text(&response)).unwrap();
            assert_eq!(
                problem,
                serde_json::json!({
                    "type": "about:blank",
                    "title": "Method Not Allowed",
                    "status": 405,
                    "detail": "this route does not allow that method",
                })
            );
        }
    }
}

#[test]
fn unknown_paths_get_404() {
    for path in [
        "/",
        "/doc",
        "/docs/extra",
        "/openapi.yaml",
        "/docs.html",
        "/docs/openapi.json",
    ] {
        for method in ["GET", "POST"] {
            let response = call(method, path);
            assert_eq!(response.status(), 404, "{method} {path}");
            assert_eq!(
                header(&response, "content-type"),
                "application/problem+json"
            );
            assert!(response.headers().get("allow").is_none());
            let problem: Value = serde_json::from_str(text(&response)).unwrap();
            assert_eq!(
                problem,
                serde_json::json!({
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "no route matches this path",
                })
            );
        }
    }
}
