//! The routes agree everywhere: every route that `template.yaml` deploys
//! (HttpApi events) and that the `cargo lambda watch` router in the root
//! `Cargo.toml` serves is described in `openapi.yaml`, and every operation
//! there is deployed and served. A trailing slash does not make another route;
//! the router must serve both forms of each path, as the README promises.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

/// The operations a path item can hold (OpenAPI 3.1).
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `(METHOD, path without trailing slash)`
type Route = (String, String);

/// The functions that answer HTML (their POSTs are forms), not API operations.
const PAGES: [&str; 2] = ["pages", "passkey-pages"];

fn read(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// yaml-rust2 reads CloudFormation's `!Ref`, `!Sub`, `!GetAtt` (any tag it does
/// not know) as the untagged value, which is all this test needs.
fn yaml(file: &str) -> Yaml {
    YamlLoader::load_from_str(&read(file))
        .unwrap_or_else(|error| panic!("{file}: {error}"))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{file} is empty"))
}

fn entries<'a>(node: &'a Yaml, what: &str) -> Vec<(&'a str, &'a Yaml)> {
    node.as_hash()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
        .iter()
        .map(|(key, value)| {
            let key = key
                .as_str()
                .unwrap_or_else(|| panic!("{what} has a key that is not a string: {key:?}"));
            (key, value)
        })
        .collect()
}

fn text<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {node:?}"))
}

/// `/users/{user_id}/` and `/users/{user_id}` are the same route.
fn normalise(path: &str) -> String {
    match path.trim_end_matches('/') {
        "" => "/".to_string(),
        trimmed => trimmed.to_string(),
    }
}

fn openapi_routes() -> BTreeSet<Route> {
    let spec = yaml("openapi.yaml");
    let mut routes = BTreeSet::new();
    for (path, item) in entries(&spec["paths"], "openapi.yaml paths") {
        for (key, _) in entries(item, path) {
            if HTTP_METHODS.contains(&key) {
                routes.insert((key.to_ascii_uppercase(), normalise(path)));
            }
        }
    }
    routes
}

/// Route → the binary of the function that template.yaml deploys for it.
fn template_routes() -> BTreeMap<Route, String> {
    let template = yaml("template.yaml");
    let mut routes = BTreeMap::new();
    for (name, resource) in entries(&template["Resources"], "template.yaml Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let events = &resource["Properties"]["Events"];
        if events.is_badvalue() {
            continue;
        }
        let binary = text(
            &resource["Metadata"]["BuildProperties"]["Binary"],
            &format!("{name}: Metadata.BuildProperties.Binary"),
        );
        for (event_name, event) in entries(events, &format!("{name}: Events")) {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let what = format!("{name}: event {event_name}");
            let path = text(&event["Properties"]["Path"], &format!("{what}: Path"));
            let method = text(&event["Properties"]["Method"], &format!("{what}: Method"));
            let route = (method.to_ascii_uppercase(), normalise(path));
            if let Some(other) = routes.insert(route.clone(), binary.to_string()) {
                panic!("template.yaml routes {route:?} to both {other} and {binary}");
            }
        }
    }
    routes
}

/// A function and the methods it serves on a path (`None`: any method).
type RouterEntry = (String, Option<Vec<String>>);

/// Path as written → its entries.
fn router() -> BTreeMap<String, Vec<RouterEntry>> {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml is TOML");
    let router = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("metadata"))
        .and_then(|metadata| metadata.get("lambda"))
        .and_then(|lambda| lambda.get("watch"))
        .and_then(|watch| watch.get("router"))
        .and_then(toml::Value::as_table)
        .expect("Cargo.toml has [workspace.metadata.lambda.watch.router]");
    router
        .iter()
        .map(|(path, target)| {
            // cargo-lambda takes `"/path" = "function"`,
            // `"/path" = { function = "function", methods = ["GET"] }`, or a
            // function per method: `"/path" = [{ method = "POST", function = "f" }, ...]`.
            let entry = match target {
                toml::Value::String(function) => (function.clone(), None),
                toml::Value::Array(routes) => {
                    let entries = routes
                        .iter()
                        .map(|route| {
                            let field = |name: &str| {
                                route
                                    .get(name)
                                    .and_then(toml::Value::as_str)
                                    .unwrap_or_else(|| panic!("router entry {path}: no {name}"))
                            };
                            let method = field("method").to_ascii_uppercase();
                            (field("function").to_string(), Some(vec![method]))
                        })
                        .collect();
                    return (path.clone(), entries);
                }
                toml::Value::Table(table) => {
                    let function = table
                        .get("function")
                        .and_then(toml::Value::as_str)
                        .unwrap_or_else(|| panic!("router entry {path} names no function"));
                    let methods = table.get("methods").map(|methods| {
                        methods
                            .as_array()
                            .unwrap_or_else(|| panic!("router entry {path}: methods is no list"))
                            .iter()
                            .map(|method| {
                                method
                                    .as_str()
                                    .unwrap_or_else(|| panic!("router entry {path}: {method:?}"))
                                    .to_ascii_uppercase()
                            })
                            .collect()
                    });
                    (function.to_string(), methods)
                }
                other => panic!("router entry {path} is neither a name nor a table: {other:?}"),
            };
            (path.clone(), vec![entry])
        })
        .collect()
}

/// Fails with one message that lists every difference at once.
fn assert_no_differences(differences: &[(String, Vec<String>)]) {
    let mut message = String::new();
    for (what, items) in differences.iter().filter(|(_, items)| !items.is_empty()) {
        writeln!(message, "{what}:").unwrap();
        for item in items {
            writeln!(message, "    {item}").unwrap();
        }
    }
    assert!(message.is_empty(), "\n{message}");
}

fn show(routes: impl IntoIterator<Item = Route>) -> Vec<String> {
    routes
        .into_iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

#[test]
fn every_deployed_route_is_described_and_every_described_route_deployed() {
    let described = openapi_routes();
    let template = template_routes();
    // The pages are HTML for people, not API operations: not in openapi.yaml;
    // nor are the CORS preflights (`OPTIONS`), checked below.
    let deployed: BTreeSet<Route> = template
        .iter()
        .filter(|((method, _), binary)| !PAGES.contains(&binary.as_str()) && method != "OPTIONS")
        .map(|(route, _)| route.clone())
        .collect();
    // A preflight goes to a function that serves the path (it answers from
    // the same CORS rules as the real request), and only the API's own paths
    // and the provider's JSON endpoints have one: never a page.
    let stray_preflights: Vec<String> = template
        .iter()
        .filter(|((method, path), binary)| {
            method == "OPTIONS"
                && (PAGES.contains(&binary.as_str())
                    || !template.iter().any(|((other, other_path), other_binary)| {
                        other != "OPTIONS" && other_path == path && other_binary == *binary
                    }))
        })
        .map(|((method, path), binary)| format!("{method} {path} -> {binary}"))
        .collect();
    assert!(
        stray_preflights.is_empty(),
        "stray preflight routes: {stray_preflights:?}"
    );
    assert!(
        template.contains_key(&("OPTIONS".to_string(), "/oauth2/token".to_string())),
        "the token endpoint has no preflight route"
    );
    assert!(!described.is_empty(), "openapi.yaml describes no operation");
    assert!(
        !deployed.is_empty(),
        "template.yaml deploys no HttpApi route"
    );
    assert_no_differences(&[
        (
            "in template.yaml but not in openapi.yaml".into(),
            show(deployed.difference(&described).cloned()),
        ),
        (
            "in openapi.yaml but not in template.yaml".into(),
            show(described.difference(&deployed).cloned()),
        ),
    ]);
}

#[test]
fn every_served_route_is_described_and_every_described_route_served() {
    let described = openapi_routes();
    let router = router();
    assert!(!router.is_empty(), "the cargo-lambda router is empty");

    let mut served_not_described = Vec::new();
    for (path, (_, methods)) in router
        .iter()
        .flat_map(|(path, entries)| entries.iter().map(move |entry| (path, entry)))
        .filter(|(_, (function, _))| !PAGES.contains(&function.as_str()))
    {
        let path = normalise(path);
        let described_methods: Vec<&String> = described
            .iter()
            .filter(|(_, described_path)| *described_path == path)
            .map(|(method, _)| method)
            .collect();
        match methods {
            None if described_methods.is_empty() => {
                served_not_described.push(format!("{path} (any method)"))
            }
            None => {}
            Some(methods) => served_not_described.extend(
                methods
                    .iter()
                    .filter(|method| *method != "OPTIONS" && !described_methods.contains(method))
                    .map(|method| format!("{method} {path}")),
            ),
        }
    }
    served_not_described.sort();
    served_not_described.dedup();

    let mut described_not_served = Vec::new();
    for (method, path) in &described {
        let bare = path.clone();
        let slash = if path == "/" {
            path.clone()
        } else {
            format!("{path}/")
        };
        for form in [bare, slash] {
            let served = router.get(&form).is_some_and(|entries| {
                entries.iter().any(|(_, methods)| {
                    methods
                        .as_ref()
                        .is_none_or(|methods| methods.contains(method))
                })
            });
            if !served {
                described_not_served.push(format!("{method} {form}"));
            }
        }
    }
    described_not_served.dedup();

    assert_no_differences(&[
        (
            "served by the router in Cargo.toml but not in openapi.yaml".into(),
            served_not_described,
        ),
        (
            "in openapi.yaml but not served by the router in Cargo.toml (both with and without the trailing slash)"
                .into(),
            described_not_served,
        ),
    ]);
}

#[test]
fn each_route_runs_the_same_function_deployed_and_served() {
    let router = router();
    let mut mismatches = Vec::new();
    for ((method, path), binary) in template_routes() {
        let served = router
            .iter()
            .filter(|(form, _)| normalise(form) == path)
            .flat_map(|(form, entries)| entries.iter().map(move |entry| (form, entry)))
            .filter(|(_, (_, methods))| {
                methods
                    .as_ref()
                    .is_none_or(|methods| methods.contains(&method))
            });
        for (form, (function, _)) in served {
            if *function != binary {
                mismatches.push(format!(
                    "{method} {form}: template.yaml deploys {binary}, the router runs {function}"
                ));
            }
        }
    }
    assert_no_differences(&[("functions that differ".into(), mismatches)]);
}

#[test]
fn trailing_slashes_and_cloudformation_tags_are_handled() {
    assert_eq!(normalise("/users/{user_id}/"), "/users/{user_id}");
    assert_eq!(normalise("/users/{user_id}"), "/users/{user_id}");
    assert_eq!(normalise("/"), "/");
    let template = YamlLoader::load_from_str(
        "A: !Ref Param\nB: !Sub /aws/lambda/${Fn}\nC: !GetAtt Fn.Arn\nD: [!Ref X]\n",
    )
    .unwrap()
    .remove(0);
    assert_eq!(template["A"].as_str(), Some("Param"));
    assert_eq!(template["B"].as_str(), Some("/aws/lambda/${Fn}"));
    assert_eq!(template["C"].as_str(), Some("Fn.Arn"));
    assert_eq!(template["D"][0].as_str(), Some("X"));
}

/// What a function may read of the signing keys, as `template.yaml` grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KeyAccess {
    Private,
    Public,
    None,
}

/// SECURITY.md's key-access table says, for each function, which key set it
/// holds; the template's policies must grant exactly that, and every
/// function of the template must be in the table (review finding 8: the
/// table named two functions with the private keys where three had them).
#[test]
fn the_key_access_table_is_what_the_template_grants() {
    let template = yaml("template.yaml");
    let mut granted = BTreeMap::new();
    for (name, resource) in entries(&template["Resources"], "template.yaml Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = text(
            &resource["Metadata"]["BuildProperties"]["Binary"],
            &format!("{name}: Metadata.BuildProperties.Binary"),
        );
        let policies: Vec<&str> = resource["Properties"]["Policies"]
            .as_vec()
            .map(|policies| policies.iter().filter_map(Yaml::as_str).collect())
            .unwrap_or_default();
        let access = if policies
            .iter()
            .any(|policy| matches!(*policy, "ReadSigningKeysPolicy" | "RotateSigningKeysPolicy"))
        {
            KeyAccess::Private
        } else if policies.contains(&"ReadPublicKeysPolicy") {
            KeyAccess::Public
        } else {
            KeyAccess::None
        };
        granted.insert(binary.to_string(), access);
    }
    let security = read("SECURITY.md");
    let table = security
        .split_once("| Who | Holds | Reads it |")
        .expect("SECURITY.md has the key-access table")
        .1;
    let mut documented = BTreeMap::new();
    for row in table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let access = if cells[2].contains("private key set") {
            KeyAccess::Private
        } else if cells[2].contains("public key set") {
            KeyAccess::Public
        } else if cells[2] == "no key" {
            KeyAccess::None
        } else {
            panic!("SECURITY.md: a key-access row says neither: {row}");
        };
        for function in cells[1].split(',').map(str::trim) {
            if let Some(other) = documented.insert(function.to_string(), access) {
                panic!("SECURITY.md lists {function} twice ({other:?}, {access:?})");
            }
        }
    }
    let mut differences = String::new();
    for function in granted
        .keys()
        .chain(documented.keys())
        .collect::<BTreeSet<_>>()
    {
        let (said, given) = (documented.get(function), granted.get(function));
        if said != given {
            let _ = writeln!(
                differences,
                "    {function}: SECURITY.md says {said:?}, template.yaml grants {given:?}"
            );
        }
    }
    assert!(
        differences.is_empty(),
        "SECURITY.md's key-access table and template.yaml differ:\n{differences}"
    );
}

/// The test harness (`api_tests::Function`) dispatches exactly the HTTP
/// functions the template deploys, by binary: a new function is not
/// reachable from the handler tests until it has a variant. api-docs is a
/// package of its own, tested there (functions/api-docs).
#[test]
fn the_harness_dispatches_every_http_function_the_template_deploys() {
    let deployed: BTreeSet<String> = template_routes()
        .into_values()
        .filter(|binary| binary != "api-docs")
        .collect();
    let dispatched: BTreeSet<String> = api_tests::Function::ALL
        .iter()
        .map(|function| function.binary().to_string())
        .collect();
    assert_eq!(
        dispatched.len(),
        api_tests::Function::ALL.len(),
        "a binary twice in Function::binary"
    );
    let missing: Vec<_> = deployed.difference(&dispatched).collect();
    let extra: Vec<_> = dispatched.difference(&deployed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "deployed but not dispatched by the harness: {missing:?}; dispatched but not deployed: {extra:?}"
    );
}
