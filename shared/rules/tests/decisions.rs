//! Rule sets loaded from YAML and the decisions they make, with their traces.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use helios_rules::decide::Outcome;
use helios_rules::ruleset::Severity;
use helios_rules::testing::record_and_decide;
use helios_rules::{Decision, Inputs, RuleSet, SourceFile};
use serde_json::{json, Value};

const SET: &str = r##"
name: test
version: 7
rules:
  - id: ci-failing
    description: CI failed three times on one repository within an hour
    priority: 10
    match:
      source: [ci/buildkite]
      data: {state: [failed]}
    where:
      - {field: data.branch, in: [main, master]}
    window: {aggregate: count, over: 1h, group_by: [subject], at_least: 3}
    score:
      base: 50
      add:
        - {when: {field: window.value, gte: 4}, points: 30}
        - {when: {field: data.duration_s, gt: 600}, points: 40}
      cap: 90
    actions:
      - workflow: notify
        params:
          channel: "#ci"
          text: "CI failing on {{subject}} ({{window.value}} in {{window.over}})"
          failures: "{{window.value}}"
    dedupe: {key: "{{subject}}", for: 30m}
    explain: "CI on {{subject}} failed {{window.value}} times within {{window.over}}"
  - id: slow-build
    priority: 1
    match:
      source: [ci/buildkite]
      data: {duration_s: [{numeric: [">", 900]}]}
    severity: low
    actions: [{workflow: record}]
"##;

fn load(text: &str) -> RuleSet {
    RuleSet::load(&[SourceFile {
        path: "rules.yaml".into(),
        text: text.into(),
    }])
    .unwrap()
}

fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
}

fn build(id: &str, minute: u32, state: &str, branch: &str, duration: u32) -> Value {
    json!({
        "helios_id": format!("evt_{id}"),
        "id": id,
        "source": "ci/buildkite",
        "type": "ci.build.finished",
        "subject": "acme/web",
        "time": format!("2026-11-20T09:{minute:02}:00Z"),
        "data": {"state": state, "branch": branch, "duration_s": duration}
    })
}

struct Session {
    rules: RuleSet,
    windows: BTreeMap<String, helios_rules::window::WindowState>,
    held: BTreeMap<String, (String, i64)>,
}

impl Session {
    fn new() -> Session {
        Session {
            rules: load(SET),
            windows: BTreeMap::new(),
            held: BTreeMap::new(),
        }
    }

    fn decide(&mut self, e: &Value) -> Decision {
        let now = at(e["time"].as_str().unwrap());
        record_and_decide(&self.rules, e, now, &mut self.windows, &mut self.held).unwrap()
    }
}

fn fired(d: &Decision) -> Vec<&str> {
    d.fired.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn a_rule_set_loads_in_priority_order_with_a_content_hash() {
    let rs = load(SET);
    assert_eq!(rs.name, "test");
    assert_eq!(rs.version, "7");
    let ids: Vec<&str> = rs.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["ci-failing", "slow-build"]);
    assert!(rs.hash.starts_with("sha256:") && rs.hash.len() == 71);
    assert_eq!(
        load(SET).hash,
        rs.hash,
        "the hash depends on the content only"
    );
    assert_ne!(
        load(&SET.replace("at_least: 3", "at_least: 4")).hash,
        rs.hash
    );
}

#[test]
fn a_window_rule_fires_when_the_window_reaches_its_threshold_and_is_then_suppressed() {
    let mut s = Session::new();
    // GIVEN two failures on main
    let d1 = s.decide(&build("b1", 0, "failed", "main", 100));
    assert!(d1.fired.is_empty());
    let d2 = s.decide(&build("b2", 10, "failed", "main", 100));
    // THEN the second is a near miss whose one failing check is the window
    let near = d2.trace.iter().find(|t| t.rule == "ci-failing").unwrap();
    assert_eq!(near.outcome, Outcome::NearMiss);
    assert_eq!(
        near.because,
        "`ci-failing` did not fire: the window (count over 1h) was 2, wanted at least 3"
    );
    // WHEN a third fails within the hour
    let d3 = s.decide(&build("b3", 20, "failed", "main", 100));
    // THEN the rule fires, with its score, severity, templated action and explanation
    assert_eq!(fired(&d3), ["ci-failing"]);
    assert_eq!(d3.score, 50);
    assert_eq!(d3.severity, Severity::Medium);
    assert_eq!(d3.actions.len(), 1);
    assert_eq!(
        d3.actions[0].params,
        json!({"channel": "#ci", "text": "CI failing on acme/web (3 in 1h)", "failures": 3})
    );
    assert_eq!(
        d3.fired[0].explanation,
        "CI on acme/web failed 3 times within 1h"
    );
    assert_eq!(d3.claims.len(), 1);
    // AND a fourth within the dedupe period is suppressed, with the holder named
    let d4 = s.decide(&build("b4", 25, "failed", "main", 100));
    assert!(d4.fired.is_empty() && d4.actions.is_empty());
    let t = d4.trace.iter().find(|t| t.rule == "ci-failing").unwrap();
    assert_eq!(t.outcome, Outcome::Suppressed);
    assert!(t.because.contains("evt_b3"), "{}", t.because);
}

#[test]
fn a_window_state_that_already_counts_the_event_decides_as_one_that_does_not_yet() {
    // The decider records each event in its windows before deciding it; a caller that hands
    // the state before the event's entry gets the same decision (the engine counts it in).
    let rs = load(SET);
    let mut before = BTreeMap::new();
    for (id, minute) in [("b1", 0), ("b2", 10)] {
        for t in rs
            .window_touches(&build(id, minute, "failed", "main", 100))
            .unwrap()
        {
            let state: &mut helios_rules::window::WindowState =
                before.entry(t.key.clone()).or_default();
            state.record(&t);
        }
    }
    let e = build("b3", 20, "failed", "main", 100);
    let now = at(e["time"].as_str().unwrap());
    let mut after = before.clone();
    for t in rs.window_touches(&e).unwrap() {
        assert!(
            after.get_mut(&t.key).unwrap().record(&t),
            "the third entry is new"
        );
    }
    let decide = |windows: &BTreeMap<String, helios_rules::window::WindowState>| {
        let inputs = Inputs {
            windows: windows.clone(),
            ..Default::default()
        };
        rs.decide(&e, now, &inputs).unwrap()
    };
    let (counted, not_yet) = (decide(&after), decide(&before));
    assert_eq!(
        fired(&counted),
        ["ci-failing"],
        "three failures within the hour"
    );
    assert_eq!(
        serde_json::to_string(&counted).unwrap(),
        serde_json::to_string(&not_yet).unwrap(),
        "the same decision, byte for byte"
    );
}

#[test]
fn a_redelivered_event_is_counted_once_and_decided_the_same() {
    let mut s = Session::new();
    s.decide(&build("b1", 0, "failed", "main", 100));
    let once = s.decide(&build("b2", 5, "failed", "main", 100));
    let again = s.decide(&build("b2", 5, "failed", "main", 100));
    assert!(
        again.fired.is_empty(),
        "the window still holds two events, not three"
    );
    assert_eq!(
        serde_json::to_string(&once).unwrap(),
        serde_json::to_string(&again).unwrap(),
        "same inputs, same decision, byte for byte"
    );
}

#[test]
fn a_decision_is_the_same_for_the_same_inputs_and_names_its_rules() {
    let rs = load(SET);
    let e = build("b9", 0, "failed", "main", 1000);
    let now = at("2026-11-20T09:00:00Z");
    let a = rs.decide(&e, now, &Inputs::default()).unwrap();
    let b = rs.decide(&e, now, &Inputs::default()).unwrap();
    assert_eq!(
        serde_json::to_vec(&a).unwrap(),
        serde_json::to_vec(&b).unwrap()
    );
    assert_eq!(a.ruleset.name, "test");
    assert_eq!(a.ruleset.hash, rs.hash);
    assert!(a.id.starts_with("dec_"));
    // slow-build fires; ci-failing is a near miss on its window alone (1 of 3).
    assert_eq!(fired(&a), ["slow-build"]);
    assert_eq!(a.severity, Severity::Low);
}

#[test]
fn score_additions_apply_and_the_cap_holds() {
    let mut s = Session::new();
    for (i, m) in [0u32, 5, 10].iter().enumerate() {
        s.decide(&build(&format!("x{i}"), *m, "failed", "main", 100));
    }
    s.held.clear();
    // Fourth failure, long build: 50 + 30 + 40 = 120, capped at 90 → critical.
    let d = s.decide(&build("x3", 15, "failed", "main", 700));
    assert_eq!(fired(&d), ["ci-failing"]);
    assert_eq!(d.score, 90);
    assert_eq!(d.severity, Severity::Critical);
}

#[test]
fn a_failing_condition_is_traced_as_a_near_miss_with_what_was_found() {
    let rs = load(SET);
    let e = build("b1", 0, "failed", "feature/x", 100);
    let d = rs
        .decide(&e, at("2026-11-20T09:00:00Z"), &Inputs::default())
        .unwrap();
    assert!(d.fired.is_empty());
    let t = &d.trace[0];
    assert_eq!(t.outcome, Outcome::NearMiss);
    assert_eq!(
        t.because,
        r#"`ci-failing` did not fire: data.branch was "feature/x", wanted in ["main","master"]"#
    );
    let pattern_fields: Vec<(&str, bool)> = t
        .checks
        .iter()
        .filter(|c| c.kind == "match")
        .map(|c| (c.field.as_deref().unwrap(), c.held))
        .collect();
    assert_eq!(pattern_fields, [("data.state", true), ("source", true)]);
}

#[test]
fn a_pattern_field_that_failed_alone_is_a_near_miss_and_unrelated_rules_are_not_traced() {
    let rs = load(SET);
    let d = rs
        .decide(
            &build("b1", 0, "passed", "main", 100),
            at("2026-11-20T09:00:00Z"),
            &Inputs::default(),
        )
        .unwrap();
    let t = d.trace.iter().find(|t| t.rule == "ci-failing").unwrap();
    assert_eq!(
        t.because,
        r#"`ci-failing` did not fire: data.state was "passed", wanted "failed""#
    );
    let other = json!({"helios_id": "evt_z", "source": "github", "type": "push",
        "time": "2026-11-20T09:00:00Z", "data": {}});
    let d = rs
        .decide(&other, at("2026-11-20T09:00:00Z"), &Inputs::default())
        .unwrap();
    assert!(
        d.trace.is_empty(),
        "rules far from matching are not near misses: {:?}",
        d.trace
    );
    assert_eq!(d.severity, Severity::None);
}

#[test]
fn an_event_that_is_not_canonical_is_refused() {
    let rs = load(SET);
    let e = rs.decide(
        &json!({"source": "x"}),
        at("2026-11-20T09:00:00Z"),
        &Inputs::default(),
    );
    assert!(e.unwrap_err().to_string().contains("helios_id"));
}

fn load_err(text: &str) -> Vec<String> {
    RuleSet::load(&[SourceFile {
        path: "rules/bad.yaml".into(),
        text: text.into(),
    }])
    .unwrap_err()
    .iter()
    .map(ToString::to_string)
    .collect()
}

#[test]
fn a_bad_document_is_rejected_with_the_file_rule_and_path() {
    let base = "name: t\nversion: 1\nrules:\n  - id: r1\n    match: {source: [x]}\n";
    let e = load_err(&format!("{base}    window: {{over: 1y, at_least: 3}}\n"));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("rules/bad.yaml: rule `r1`: at `rules[0].window.over`:"),
        "{e:?}"
    );
    let e = load_err("name: t\nversion: 1\nrules:\n  - id: r1\n    match: {detail: {n: [{numeric: [\"<\", 1, \">\", 5]}]}}\n");
    assert!(e[0].contains("at `rules[0].match.detail.n"), "{e:?}");
    let e = load_err(&format!("{base}    colour: red\n"));
    assert!(
        e[0].contains("rule `r1`") && e[0].contains("unknown field `colour`"),
        "{e:?}"
    );
    let e = load_err(&format!("{base}  - id: r1\n    match: {{source: [y]}}\n"));
    assert!(
        e[0].contains("rules[1].id") && e[0].contains("another rule"),
        "{e:?}"
    );
    let e = load_err("version: 1\nrules: []\n");
    assert!(e[0].contains("no file names the rule set"), "{e:?}");
    let e = load_err("name: t\nversion: 1\nrules:\n  - id: r1\n    match: {source: [x]}\n    where: {field: data.n, gt: true}\n");
    assert!(e[0].contains("rules[0].where.gt"), "{e:?}");
    let e = load_err("name: t\nversion: 1\nrules:\n  - id: r1\n    match: {source: [x]}\n    actions: [{workflow: notify, params: {t: \"{{window.value\"}}]\n");
    assert!(
        e[0].contains("rules[0].actions[0].params.t") && e[0].contains("never closed"),
        "{e:?}"
    );
    let e = load_err("name: t\nversion: 1\nrules: [: nope\n");
    assert!(e[0].contains("not valid YAML"), "{e:?}");
}

#[test]
fn every_problem_of_a_set_is_reported_at_once() {
    let e = load_err("name: t\nversion: 1\nrules:\n  - id: A\n    match: {}\n  - id: ok\n    match: {source: [x]}\n    severity: dire\n");
    assert_eq!(e.len(), 2, "{e:?}");
}
