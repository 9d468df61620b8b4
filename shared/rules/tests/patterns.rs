//! The documented semantics of EventBridge patterns, case by case (`tests/data/patterns.jsonl`:
//! each line a pattern, an event, and the expected match or an expected error).

use helios_rules::{reference, CompiledPatterns, Pattern, Scratch};
use serde_json::Value;

fn cases() -> Vec<Value> {
    include_str!("data/patterns.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid case"))
        .collect()
}

#[test]
fn every_documented_case_holds() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() > 100, "the case file holds {} cases", all.len());
    for c in &all {
        let why = c["why"].as_str().unwrap();
        match (Pattern::parse(&c["pattern"]), c.get("error").is_some()) {
            (Ok(p), false) => {
                let want = c["match"].as_bool().unwrap();
                let got = reference::matches(&p, &c["event"]);
                if got != want {
                    failures.push(format!("{why}: expected match={want}, got {got}"));
                }
                // The compiled matcher, on the parsed event and on its text alike.
                let compiled = CompiledPatterns::compile([&p]);
                let mut scratch = Scratch::default();
                let got = !compiled.matches(&c["event"], &mut scratch).is_empty();
                let from_text = !compiled
                    .matches_json(&c["event"].to_string(), &mut scratch)
                    .unwrap()
                    .is_empty();
                if got != want || from_text != want {
                    failures.push(format!(
                        "{why}: expected match={want}, compiled gave {got} (from text {from_text})"
                    ));
                }
            }
            (Err(e), true) => assert!(!e.message.is_empty(), "{why}: an error says why"),
            (Ok(_), true) => failures.push(format!(
                "{why}: expected an error, the pattern was accepted"
            )),
            (Err(e), false) => failures.push(format!("{why}: unexpected error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn errors_say_where() {
    let e =
        Pattern::from_json(r#"{"detail": {"state": [{"anything-but": ["a", 1]}]}}"#).unwrap_err();
    assert_eq!(e.at, "detail.state[0].anything-but");
    assert!(e.message.contains("mixed"), "{e}");
    let e = Pattern::from_json(r#"{"source": {"prefix": "aws."}}"#).unwrap_err();
    assert!(e.to_string().contains("belongs inside the array"), "{e}");
    let e = Pattern::from_json(r#"{"n": [{"numeric": [">", 10, "<", 5]}]}"#).unwrap_err();
    assert!(e.message.contains("backwards"), "{e}");
    let e = Pattern::from_json(r#"{"$or": [{"a": [1]}, {"b": {"exists": [true]}}]}"#).unwrap_err();
    assert_eq!(e.at, "$or[1].b.exists");
}
