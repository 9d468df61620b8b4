//! Helios's validator (`helios_schemas::Validator`, which ingest enforces with) agrees with an
//! independent one from another registry, Python's `jsonschema` (PyPI), on every schema and
//! witness of the compatibility corpus and on invalid variants generated from each witness
//! (a property removed, a value of another type, a property added), formats asserted on both
//! sides.
//!
//! The interpreter is `HELIOS_PYTHON` (the test command sets it to its virtualenv, where it
//! installs `jsonschema`), else `python3`.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

fn corpus() -> Vec<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/compatibility.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

/// Variants of `doc` that are each likely to break some schema: every property removed in
/// turn, every value replaced by one of another type, one property added; nested objects
/// too (one level down).
fn variants(doc: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let other = |v: &Value| match v {
        Value::String(_) => json!(12345),
        Value::Number(_) => json!("12345"),
        Value::Bool(_) => json!("true"),
        Value::Null => json!(0),
        Value::Array(_) => json!({"0": 1}),
        Value::Object(_) => json!([1]),
    };
    out.push(other(doc));
    if let Value::Object(m) = doc {
        for (k, v) in m {
            let mut removed = m.clone();
            removed.remove(k);
            out.push(Value::Object(removed));
            let mut changed = m.clone();
            changed.insert(k.clone(), other(v));
            out.push(Value::Object(changed));
            if let Value::Object(inner) = v {
                for ik in inner.keys() {
                    let mut nested = m.clone();
                    let mut i2 = inner.clone();
                    i2.remove(ik);
                    nested.insert(k.clone(), Value::Object(i2));
                    out.push(Value::Object(nested));
                }
            }
        }
        let mut added = m.clone();
        added.insert("zz_added".into(), json!("x"));
        out.push(Value::Object(added));
    }
    if let Value::Array(items) = doc {
        if let Some(first) = items.first() {
            let mut changed = items.clone();
            changed[0] = other(first);
            out.push(Value::Array(changed));
        }
        out.push(Value::Array(Vec::new()));
    }
    out
}

const PYTHON: &str = r#"
import json, sys
try:
    import jsonschema
    from jsonschema import FormatChecker
except ImportError:
    sys.exit("python's jsonschema is not installed: pip install 'jsonschema[format-nongpl]' (the test command installs it into its virtualenv)")
work = json.load(sys.stdin)
out = []
for schema_index, doc in work["cases"]:
    schema = work["schemas"][schema_index]
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    out.append(cls(schema, format_checker=FormatChecker()).is_valid(doc))
json.dump(out, sys.stdout)
"#;

#[test]
fn the_validator_agrees_with_pythons_jsonschema_on_the_corpus_and_invalid_variants() {
    // Every schema of the corpus against every witness and every variant of one.
    let mut schemas: Vec<Value> = Vec::new();
    let mut docs: Vec<Value> = Vec::new();
    for case in corpus() {
        for which in ["old", "new"] {
            schemas.push(case[which].clone());
        }
        for d in ["old_only", "new_only"].iter().filter_map(|k| case.get(*k)) {
            docs.push(d.clone());
            docs.extend(variants(d));
        }
    }
    docs.sort_by_key(|d| d.to_string());
    docs.dedup();
    let cases: Vec<(usize, Value)> = (0..schemas.len())
        .flat_map(|i| docs.iter().map(move |d| (i, d.clone())))
        .collect();
    assert!(cases.len() > 10_000, "only {} cases", cases.len());
    let python = std::env::var("HELIOS_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .args(["-c", PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} does not run ({e}): install Python 3 with jsonschema, or set HELIOS_PYTHON"));
    let work = json!({"schemas": schemas, "cases": cases.iter().map(|(i, d)| json!([i, d])).collect::<Vec<_>>()});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(work.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{python}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<bool> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), cases.len());
    let validators: Vec<helios_schemas::Validator> = schemas
        .iter()
        .map(|s| helios_schemas::Validator::compile(s).unwrap())
        .collect();
    let mut disagree = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for ((i, doc), theirs) in cases.iter().zip(&theirs) {
        let ours = validators[*i].is_valid(doc);
        if ours {
            valid += 1;
        } else {
            invalid += 1;
        }
        if ours != *theirs {
            disagree.push(format!(
                "schema {} doc {doc}: helios {ours}, python {theirs}",
                schemas[*i]
            ));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} disagreements:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
    assert!(
        valid > 100 && invalid > 100,
        "valid {valid}, invalid {invalid}: the variants break schemas"
    );
}
