//! Discovery against real deliveries (issue 17): a schema is inferred per event type from the
//! requests of `../shared/conformance/clients/` (GitHub's 273 webhook deliveries, and the
//! EventBridge, CloudEvents, Pub/Sub and Event Grid samples), and every one of them
//! validates against its own type's schema, checked by an independent validator (the
//! `jsonschema` crate, with formats asserted). Read from there, never copied.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

fn clients_dir() -> PathBuf {
    let dir = std::env::var_os("HELIOS_CLIENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/clients")
        });
    assert!(
        dir.join("run.py").is_file(),
        "the client corpus is not at {}: check out the project beside `shared/` (the layout of \
         the workspace), or set HELIOS_CLIENTS_DIR to the folder that holds run.py",
        dir.display()
    );
    dir
}

/// The JSON documents of a folder, by file name.
fn documents(folder: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(clients_dir().join(folder))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            out.push((path.file_name().unwrap().to_string_lossy().to_string(), v));
        }
    }
    out
}

/// Infers a schema per group and checks every member against its group's schema.
fn every_sample_fits_its_inferred_schema(groups: BTreeMap<String, Vec<(String, Value)>>) -> usize {
    let mut checked = 0;
    for (group, members) in groups {
        let samples: Vec<Value> = members.iter().map(|(_, v)| v.clone()).collect();
        let schema = helios_schemas::infer(&samples);
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{group}: the inferred schema is not a schema: {e}"));
        for (name, doc) in &members {
            let errors: Vec<String> = validator
                .iter_errors(doc)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{group}: {name} does not fit: {errors:?}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_github_delivery_fits_the_schema_inferred_for_its_event() {
    let mut groups: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for (name, v) in documents("github") {
        let event = name.split('.').next().unwrap().to_string();
        groups.entry(event).or_default().push((name, v));
    }
    let types = groups.len();
    let checked = every_sample_fits_its_inferred_schema(groups);
    assert_eq!(checked, 273, "GitHub's deliveries, each read and checked");
    assert!(types > 30, "{types} event types");
}

#[test]
fn every_sample_of_the_other_formats_fits_the_schema_inferred_for_its_type() {
    let mut checked = 0;
    for folder in ["eventbridge", "cloudevents", "pubsub", "eventgrid"] {
        let mut groups: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
        for (name, v) in documents(folder) {
            // A batch (Event Grid sends arrays) is its events, each of its type.
            let items = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            for (i, item) in items.into_iter().enumerate() {
                let ty = ["detail-type", "type", "eventType"]
                    .iter()
                    .find_map(|k| item.get(*k).and_then(Value::as_str))
                    .unwrap_or("(no type)")
                    .to_string();
                groups
                    .entry(format!("{folder}/{ty}"))
                    .or_default()
                    .push((format!("{name}[{i}]"), item));
            }
        }
        checked += every_sample_fits_its_inferred_schema(groups);
    }
    assert!(checked >= 40, "only {checked} samples read");
}
