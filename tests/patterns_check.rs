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

#[test]
fn bench_patterns_reports_the_total_matches_the_reference_matcher_finds() {
    // The documented cases that parse, as JSON lines of patterns and of events.
    let dir = tempfile::tempdir().unwrap();
    let (mut patterns, mut events) = (String::new(), String::new());
    let mut parsed = Vec::new();
    for line in include_str!("../shared/rules/tests/data/patterns.jsonl").lines() {
        let c: Value = serde_json::from_str(line).unwrap();
        if let Ok(p) = helios_rules::Pattern::parse(&c["pattern"]) {
            patterns.push_str(&format!("{}\n", c["pattern"]));
            events.push_str(&format!("{}\n", c["event"]));
            parsed.push((p, c["event"].clone()));
        }
    }
    let (pf, ef) = (dir.path().join("p.jsonl"), dir.path().join("e.jsonl"));
    std::fs::write(&pf, patterns).unwrap();
    std::fs::write(&ef, events).unwrap();
    let count = parsed.len().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args([
            "bench",
            "patterns",
            "--seconds",
            "0.01",
            "--count",
            "10",
            "--count",
        ])
        .arg(&count)
        .arg("--events")
        .arg(&ef)
        .arg("--patterns")
        .arg(&pf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, n) in [10, parsed.len()].into_iter().enumerate() {
        let want: usize = parsed
            .iter()
            .map(|(_, e)| {
                parsed[..n]
                    .iter()
                    .filter(|(p, _)| helios_rules::reference::matches(p, e))
                    .count()
            })
            .sum();
        let r = &report["results"][i];
        assert_eq!(r["patterns"], n, "{report}");
        assert_eq!(r["matches_total"], want, "{report}");
        assert!(r["compile_s"].as_f64().is_some(), "{report}");
    }
}
