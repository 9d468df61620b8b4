//! The architecture's rules that the compiler does not check by itself, over `cargo
//! metadata` and the sources (issue 15 adds to these as the core is redesigned):
//!
//! - the pure engines (`helios-events`, `helios-rules`, `helios-states`, `helios-schemas`) depend on no I/O
//!   crate: no database, no AWS SDK, no HTTP server or client, no async runtime;
//! - the query API holds the store's read model only, so a write does not compile there;
//! - functions are mains: no function crate has a library or depends on another, and the
//!   CLI depends on none (both build the use cases of `helios-app`);
//! - the application crate speaks no HTTP and knows no adapter;
//! - the ports hold no adapter (the local ones are `helios-local`);
//! - no library ends the process;
//! - the API key types are the domain's, not the persistence crate's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `cargo metadata` of the workspace.
fn metadata() -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The workspace's packages under `functions/`, by name, with their target kinds.
fn function_packages() -> BTreeMap<String, BTreeSet<String>> {
    let meta = metadata();
    let functions = root().join("functions").canonicalize().unwrap();
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| members.contains(p["id"].as_str().unwrap()))
        .filter(|p| Path::new(p["manifest_path"].as_str().unwrap()).starts_with(&functions))
        .map(|p| {
            let kinds = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|t| t["kind"].as_array().unwrap().iter())
                .map(|k| k.as_str().unwrap().to_string())
                .collect();
            (p["name"].as_str().unwrap().to_string(), kinds)
        })
        .collect()
}

/// Every package of the workspace and, for each, the names of everything it depends on
/// (normal dependencies, transitively), from `cargo metadata`.
fn dependency_closure() -> BTreeMap<String, BTreeSet<String>> {
    let meta = metadata();
    let name_of: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Normal (not dev, not build) edges of the resolved graph.
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_string();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect();
        edges.insert(id, deps);
    }
    let mut out = BTreeMap::new();
    for member in meta["workspace_members"].as_array().unwrap() {
        let start = member.as_str().unwrap().to_string();
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(id) = todo.pop() {
            for d in edges.get(&id).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        out.insert(
            name_of[&start].clone(),
            seen.iter().map(|id| name_of[id].clone()).collect(),
        );
    }
    out
}

#[test]
fn the_pure_engines_depend_on_no_io_crate() {
    let closure = dependency_closure();
    // The closure is read right: the runtime does reach tokio and the SDK.
    assert!(closure["helios-runtime"].contains("tokio"));
    assert!(closure["helios-runtime"].contains("aws-config"));
    let io = [
        "tokio",
        "tokio-postgres",
        "rusqlite",
        "hyper",
        "axum",
        "reqwest",
        "aws-config",
        "aws-smithy-runtime",
        "lambda_runtime",
        "deadpool-postgres",
        "mio",
    ];
    for engine in [
        "helios-events",
        "helios-rules",
        "helios-states",
        "helios-schemas",
    ] {
        let deps = closure
            .get(engine)
            .unwrap_or_else(|| panic!("{engine} is not a workspace member"));
        let found: Vec<&str> = io.iter().copied().filter(|c| deps.contains(*c)).collect();
        assert!(
            found.is_empty(),
            "{engine} depends (directly or not) on the I/O crates {found:?}"
        );
    }
}

#[test]
fn functions_are_mains_that_depend_on_no_other_function() {
    let functions = function_packages();
    assert!(functions.len() >= 9, "{functions:?}");
    let closure = dependency_closure();
    for (name, kinds) in &functions {
        assert!(
            kinds.iter().all(|k| k == "bin"),
            "{name} has targets {kinds:?}: a function is a main; its use case belongs in helios-app"
        );
        let others: Vec<&String> = functions
            .keys()
            .filter(|f| *f != name && closure[name].contains(*f))
            .collect();
        assert!(
            others.is_empty(),
            "{name} depends on the functions {others:?}"
        );
    }
    let cli: Vec<&String> = functions
        .keys()
        .filter(|f| closure["helios-cli"].contains(*f))
        .collect();
    assert!(cli.is_empty(), "the CLI depends on the functions {cli:?}");
    assert!(closure["helios-cli"].contains("helios-app"));
}

#[test]
fn the_application_speaks_no_http_and_knows_no_adapter() {
    let closure = dependency_closure();
    let app = &closure["helios-app"];
    assert!(app.contains("helios-ports") && app.contains("helios-rules"));
    let found: Vec<&str> = [
        "axum",
        "lambda_runtime",
        "lambda_http",
        "aws_lambda_events",
        "aws-config",
        "aws-smithy-runtime",
        "helios-api",
        "helios-runtime",
        "helios-aws",
        "helios-store",
        "helios-local",
        "rusqlite",
        "tokio-postgres",
    ]
    .into_iter()
    .filter(|c| app.contains(*c))
    .collect();
    assert!(found.is_empty(), "helios-app depends on {found:?}");
    for (path, text) in rust_sources(&root().join("shared/app/src")) {
        for name in ["Problem", "http::Response", "StatusCode", "axum::"] {
            assert!(
                !text.contains(name),
                "{} names `{name}`: HTTP belongs in helios-api",
                path.display()
            );
        }
    }
}

/// The Rust files under `dir` (or `dir` itself, a file) with their text.
/// The ports are traits and the domain's types: no adapter, no SQLite, no runtime.
#[test]
fn the_ports_hold_no_adapter() {
    let closure = dependency_closure();
    let ports = &closure["helios-ports"];
    let found: Vec<&str> = [
        "rusqlite",
        "tokio",
        "tokio-postgres",
        "aws-config",
        "hyper",
        "reqwest",
        "lambda_runtime",
    ]
    .into_iter()
    .filter(|c| ports.contains(*c))
    .collect();
    assert!(found.is_empty(), "helios-ports depends on {found:?}");
    assert!(closure["helios-local"].contains("rusqlite"));
}

fn rust_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    if dir.is_file() {
        return vec![(dir.to_path_buf(), std::fs::read_to_string(dir).unwrap())];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

#[test]
fn the_query_api_holds_the_read_model_only() {
    let sources = [
        rust_sources(&root().join("shared/api/src/query.rs")),
        rust_sources(&root().join("functions/query/src")),
    ];
    for (path, text) in sources.into_iter().flatten() {
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            assert!(
                !(code.contains("dyn Store")
                    || code.contains("Store}")
                    || code.contains("Store,")
                    || code.contains("::Store;")),
                "{}: `{}` names the writable store; the query API takes `dyn ReadModel`",
                path.display(),
                line.trim()
            );
        }
    }
}

#[test]
fn no_library_ends_the_process() {
    let mut offenders = Vec::new();
    for dir in ["shared", "functions"] {
        for (path, text) in rust_sources(&root().join(dir)) {
            let p = path.to_string_lossy();
            // Binaries may end their own process; tests and the CLI's main too.
            if p.ends_with("/main.rs")
                || p.contains("/bin/")
                || p.contains("/tests/")
                || p.contains("/cli/")
            {
                continue;
            }
            if text.contains("process::exit") {
                offenders.push(p.to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "libraries that call process::exit: {offenders:?}"
    );
}

/// The API key types are the domain's (`helios_ports::keys`), not the persistence crate's:
/// the store persists them and defines none.
#[test]
fn domain_types_live_outside_the_store() {
    for (path, text) in rust_sources(&root().join("shared/store/src")) {
        for def in ["pub enum Role", "pub struct ApiKey"] {
            assert!(
                !text.contains(def),
                "{} defines `{def}`: it belongs in helios_ports::keys",
                path.display()
            );
        }
    }
    let keys = std::fs::read_to_string(root().join("shared/ports/src/keys.rs")).unwrap();
    assert!(keys.contains("pub enum Role") && keys.contains("pub struct ApiKey"));
}
