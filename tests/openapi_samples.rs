//! Every request sample validates against the OpenAPI description
//! (shared/api/openapi/openapi.json): the valid samples of `events/`, and each request body
//! the README shows a user to send with curl.

use std::path::{Path, PathBuf};

use helios_api::openapi::Conformance;
use regex::Regex;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The route template a sample's path is served by.
fn template(path: &str) -> &'static str {
    if path.starts_with("/v1/hooks/") {
        "/v1/hooks/{source}"
    } else if path == "/v1/events" {
        "/v1/events"
    } else if path.starts_with("/v1/decisions/") && path.ends_with("/ack") {
        "/v1/decisions/{id}/ack"
    } else {
        panic!("no request body is sent to {path} in the samples")
    }
}

#[test]
fn every_valid_sample_of_events_validates() {
    let c = Conformance::new();
    let mut checked = 0;
    for dir in std::fs::read_dir(root().join("events")).unwrap().flatten() {
        let valid = dir.path().join("valid");
        if !valid.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&valid).unwrap().flatten() {
            let sample: Value =
                serde_json::from_str(&std::fs::read_to_string(f.path()).unwrap()).unwrap();
            let req = &sample["request"];
            let body = match (&req["body"], req["body_text"].as_str()) {
                (Value::Null, Some(text)) => match serde_json::from_str(text) {
                    Ok(v) => v,
                    Err(_) => continue, // a form post or bytes: no JSON body to check
                },
                (v, _) => v.clone(),
            };
            let content_type = req["headers"]
                .as_object()
                .and_then(|h| {
                    h.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                        .and_then(|(_, v)| v.as_str())
                })
                .unwrap_or("application/json");
            let path = req["path"].as_str().unwrap();
            let method = req["method"].as_str().unwrap();
            if body.is_null() {
                assert!(
                    c.has_operation(method, template(path)),
                    "{}: {method} {path} is no operation",
                    f.path().display()
                );
                checked += 1;
                continue;
            }
            c.check_request(
                req["method"].as_str().unwrap(),
                template(path.split('?').next().unwrap()),
                content_type,
                &body,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", f.path().display()));
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} samples were checked");
}

#[test]
fn every_request_the_readme_shows_validates() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // `curl … -X POST http://…/v1/… … -d '<json>'` or `-d "<json with \" and $(…)>"`,
    // over continued lines.
    let text = readme.replace("\\\n", " ");
    let curl = Regex::new(r#"curl [^\n]*-X POST\s+"?https?://[^/\s]+(/[^\s"]+)"?[^\n]*?-d\s+('([^']*)'|"((?:[^"\\]|\\.)*)")"#)
        .unwrap();
    let c = Conformance::new();
    let mut checked = 0;
    for m in curl.captures_iter(&text) {
        let path = &m[1];
        let body = match (m.get(3), m.get(4)) {
            (Some(single), _) => single.as_str().to_string(),
            (None, Some(double)) => double
                .as_str()
                .replace("\\\"", "\"")
                .replace("$(date -u +%Y-%m-%dT%H:%M:%SZ)", "2026-12-02T09:00:00Z")
                .replace("$i", "1"),
            _ => unreachable!(),
        };
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
            panic!("the README sends {path} a body that is not JSON ({e}): {body}")
        });
        c.check_request("POST", template(path), "application/json", &body)
            .unwrap_or_else(|e| panic!("the README's request to {path}: {e}"));
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} README requests were found");
}
