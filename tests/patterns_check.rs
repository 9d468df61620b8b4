//! `helios patterns check` as a user runs it: JSON lines in, one answer per line out, in order.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn patterns_check_answers_every_line_in_order() {
    let cases = include_str!("../shared/rules/tests/data/patterns.jsonl");
    let mut input = String::new();
    for line in cases.lines() {
        let c: Value = serde_json::from_str(line).unwrap();
        input.push_str(
            &serde_json::json!({"pattern": c["pattern"], "event": c["event"]}).to_string(),
        );
        input.push('\n');
    }
    input.push_str("this is not json\n");
    input.push_str("{\"pattern\": {\"a\": [1]}}\n");

    let mut child = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["patterns", "check"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<Value> = cases
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), expected.len() + 2, "one answer per line");
    for (a, c) in answers.iter().zip(&expected) {
        if c.get("error").is_some() {
            assert!(a["error"].is_string(), "{}: {a}", c["why"]);
        } else {
            assert_eq!(a["match"], c["match"], "{}: {a}", c["why"]);
        }
    }
    assert!(answers[expected.len()]["error"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    assert!(answers[expected.len() + 1]["error"]
        .as_str()
        .unwrap()
        .contains("event"));
}
