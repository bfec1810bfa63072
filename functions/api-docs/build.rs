//! Generates what the api-docs function serves, into OUT_DIR:
//!
//! - `openapi.json`: the repository's openapi.yaml as JSON;
//! - `docs.html`: one self-contained page, Swagger UI's bundle and stylesheet
//!   (ui/node_modules/swagger-ui-dist, which `make docs-ui` installs) and
//!   ui/init.js inline, so nothing is fetched from anywhere but /openapi.json;
//! - `csp.txt`: the page's Content-Security-Policy, which allows exactly
//!   those inline script and style elements, by their SHA-256.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs, process};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use yaml_rust2::{Yaml, YamlLoader};

const UI_PACKAGE: &str = "swagger-ui-dist";

/// Added to Swagger UI's stylesheet: its own index.css, which the bundle does not include.
const PAGE_CSS: &str = "html{box-sizing:border-box;overflow-y:scroll}\
    *,*:before,*:after{box-sizing:inherit}body{margin:0;background:#fafafa}";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let spec_path = find_upwards(&manifest_dir, "openapi.yaml");
    let ui = manifest_dir.join("ui");
    let dist = ui.join("node_modules").join(UI_PACKAGE);
    let inputs = [
        spec_path.clone(),
        ui.join("init.js"),
        ui.join("package-lock.json"),
        dist.join("package.json"),
        dist.join("swagger-ui-bundle.js"),
        dist.join("swagger-ui.css"),
    ];
    for input in &inputs {
        println!("cargo::rerun-if-changed={}", input.display());
    }

    let spec = parse_yaml(&spec_path);
    let version = installed_ui_version(&ui, &dist);

    let mut spec_json = String::with_capacity(64 * 1024);
    write_json(&spec, &mut spec_json);

    let title = spec["info"]["title"].as_str().unwrap_or("API");
    let style = format!("{}\n{PAGE_CSS}", read(&dist.join("swagger-ui.css")));
    if contains_ignore_case(&style, "</style") {
        fail("swagger-ui.css contains `</style`, which would end the inline <style> early");
    }
    let bundle = inline_script(
        &read(&dist.join("swagger-ui-bundle.js")),
        "swagger-ui-bundle.js",
    );
    let init = inline_script(&read(&ui.join("init.js")), "ui/init.js");

    let mut page = String::with_capacity(style.len() + bundle.len() + init.len() + 1024);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    writeln!(page, "<title>{} · API docs</title>", escape_html(title)).unwrap();
    // No favicon request: the API has no /favicon.ico.
    page.push_str("<link rel=\"icon\" href=\"data:,\">\n");
    writeln!(
        page,
        "<!-- Swagger UI {version} (npm swagger-ui-dist, Apache-2.0, SmartBear Software), inlined at build time -->"
    )
    .unwrap();
    write!(page, "<style>{style}</style>\n</head>\n<body>\n").unwrap();
    page.push_str(
        "<div id=\"swagger-ui\"><noscript>This page needs JavaScript. \
         The OpenAPI document is at <a href=\"openapi.json\">openapi.json</a>.</noscript></div>\n",
    );
    write!(
        page,
        "<script>{bundle}</script>\n<script>{init}</script>\n</body>\n</html>\n"
    )
    .unwrap();

    let csp = format!(
        "default-src 'none'; script-src {} {}; style-src {}; connect-src 'self'; \
         img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        csp_hash(&bundle),
        csp_hash(&init),
        csp_hash(&style),
    );

    write(&out_dir.join("openapi.json"), &spec_json);
    write(&out_dir.join("docs.html"), &page);
    write(&out_dir.join("csp.txt"), &csp);
}

/// One line that cargo shows as the build's error, then exit.
fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    process::exit(1);
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| fail(&format!("{}: {error}", path.display())))
}

fn write(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|error| fail(&format!("{}: {error}", path.display())));
}

/// The nearest `name` in `dir` or above it: the repository root's openapi.yaml,
/// wherever in the tree this package lives.
fn find_upwards(dir: &Path, name: &str) -> PathBuf {
    dir.ancestors()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| fail(&format!("no {name} in {} or above", dir.display())))
}

/// YAML 1.2 reads JSON, so this parses package.json and package-lock.json too.
fn parse_yaml(path: &Path) -> Yaml {
    YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|error| fail(&format!("{}: {error}", path.display())))
        .into_iter()
        .next()
        .unwrap_or_else(|| fail(&format!("{} is empty", path.display())))
}

/// The installed UI's version, which must be the one package-lock.json pins.
fn installed_ui_version(ui: &Path, dist: &Path) -> String {
    let manifest = dist.join("package.json");
    if !manifest.is_file() {
        fail(&format!(
            "{} is missing: run `make docs-ui` (or scripts/bootstrap.sh) to install Swagger UI for /docs",
            dist.display()
        ));
    }
    let installed = parse_yaml(&manifest)["version"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    let lock = parse_yaml(&ui.join("package-lock.json"));
    let pinned = lock["packages"][format!("node_modules/{UI_PACKAGE}").as_str()]["version"]
        .as_str()
        .unwrap_or("?");
    if installed != pinned {
        fail(&format!(
            "{UI_PACKAGE} {installed} is installed but package-lock.json pins {pinned}: run `make docs-ui` (or scripts/bootstrap.sh)"
        ));
    }
    installed
}

/// `'sha256-…'` of an inline element's exact text, as CSP hash sources are written.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Makes JavaScript safe between `<script>` and `</script>`: the HTML parser
/// ends a script at `</script`, and after `<!--` a `<script` changes where it
/// looks for that end. Each `<` that starts one of these becomes `\x3C`, which
/// is `<` in the string, regular-expression and template literals where
/// minified code has them.
fn inline_script(js: &str, name: &str) -> String {
    let bytes = js.as_bytes();
    let mut out = String::with_capacity(js.len() + 64);
    let mut copied = 0;
    for (at, _) in js.match_indices('<') {
        let rest = &bytes[at + 1..];
        let starts = |prefix: &str| {
            rest.len() >= prefix.len()
                && rest[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        };
        if !(starts("!--") || starts("script") || starts("/script")) {
            continue;
        }
        if at > 0 && bytes[at - 1] == b'\\' {
            fail(&format!(
                "{name}: an escaped `\\<` before `<!--` or `<script` cannot be inlined safely"
            ));
        }
        out.push_str(&js[copied..at]);
        out.push_str("\\x3C");
        copied = at + 1;
    }
    out.push_str(&js[copied..]);
    out
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Compact JSON of a YAML document. Mapping keys become strings (`200:` and
/// `"200":` alike); anything JSON cannot hold fails the build.
fn write_json(node: &Yaml, out: &mut String) {
    match node {
        Yaml::Null => out.push_str("null"),
        Yaml::Boolean(value) => write!(out, "{value}").unwrap(),
        Yaml::Integer(value) => write!(out, "{value}").unwrap(),
        Yaml::Real(text) => match node.as_f64() {
            Some(value) if value.is_finite() => write!(out, "{value:?}").unwrap(),
            _ => fail(&format!("openapi.yaml: {text} is no JSON number")),
        },
        Yaml::String(text) => write_json_string(text, out),
        Yaml::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Yaml::Hash(entries) => {
            out.push('{');
            for (index, (key, value)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                let key = match key {
                    Yaml::String(text) | Yaml::Real(text) => text.clone(),
                    Yaml::Integer(value) => value.to_string(),
                    Yaml::Boolean(value) => value.to_string(),
                    Yaml::Null => "null".to_string(),
                    other => fail(&format!(
                        "openapi.yaml: a mapping key JSON cannot hold: {other:?}"
                    )),
                };
                write_json_string(&key, out);
                out.push(':');
                write_json(value, out);
            }
            out.push('}');
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            fail(&format!("openapi.yaml: a value JSON cannot hold: {node:?}"))
        }
    }
}

fn write_json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}
