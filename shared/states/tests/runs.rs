//! The run corpus (`tests/data/runs.jsonl`): definitions written from the examples and rules of
//! the Step Functions developer guide, each with an input and the end AWS documents (status,
//! output, or error and cause). Every case runs in virtual time on the local host.

use helios_states::intrinsic::json_eq;
use helios_states::local::LocalHost;
use helios_states::{Definition, Options};
use serde_json::Value;

pub fn cases() -> Vec<Value> {
    let text = include_str!("data/runs.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("runs.jsonl: every line is a JSON case"))
        .collect()
}

/// What differs between an outcome (`{"status", "output" | "error", "cause"}`) and a case's
/// expectation; empty when they agree.
pub fn differences(expect: &Value, got: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["status", "output", "error", "cause"] {
        if let Some(want) = expect.get(key) {
            match got.get(key) {
                Some(g) if json_eq(want, g) => {}
                g => out.push(format!(
                    "{key}: wanted {want}, got {}",
                    g.map(Value::to_string).unwrap_or("nothing".into())
                )),
            }
        }
    }
    out
}

#[test]
fn every_case_ends_as_documented() {
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let def = match Definition::new(&case["definition"]) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{name}: refused: {e:?}"));
                continue;
            }
        };
        let host = LocalHost::new(1_767_225_600_000, 1);
        let outcome = host.run(&def.machine, case["input"].clone(), &Options::default());
        let diff = differences(&case["expect"], &outcome.to_json());
        if !diff.is_empty() {
            failures.push(format!("{name}: {}", diff.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
