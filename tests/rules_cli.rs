//! `helios rules check|eval|test` as a user runs them, on the starter rule set in `rules/`
//! and on broken copies of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn helios(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `helios rules eval` of one event with the starter rules.
fn eval_starter(event: &str, extra: &[&str]) -> Output {
    let mut args = vec!["rules", "eval", "--rules", "rules", "--event", event];
    args.extend_from_slice(extra);
    helios(&args)
}

/// A copy of `rules/` to break.
fn copy_rules() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["", "tests"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(root().join("rules").join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dir.path().join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    dir
}

#[test]
fn the_starter_rules_check_and_their_tests_pass() {
    let out = helios(&["rules", "check", "rules", "--json"]);
    assert!(out.status.success());
    let v = json_of(&out);
    assert_eq!(v["name"], "starter");
    assert!(v["hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(v["rules"].as_array().unwrap().len() >= 4);

    let out = helios(&["rules", "test", "rules", "--json"]);
    let v = json_of(&out);
    assert!(out.status.success(), "{v:#}");
    assert_eq!(v["failed"], 0);
    assert!(v["passed"].as_u64().unwrap() >= 4);
}

#[test]
fn a_broken_rule_set_fails_its_check_with_file_rule_and_path() {
    let dir = copy_rules();
    let ci = dir.path().join("ci.yaml");
    let text = std::fs::read_to_string(&ci).unwrap();
    std::fs::write(&ci, text.replace("over: 1h", "over: 1 hour")).unwrap();
    let d = dir.path().to_str().unwrap();

    let out = helios(&["rules", "check", d]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ci.yaml: rule `ci-failing-on-main`: at `rules[0].window.over`"),
        "{err}"
    );

    let v = json_of(&helios(&["rules", "check", d, "--json"]));
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["rule"], "ci-failing-on-main");
    assert_eq!(v["errors"][0]["at"], "rules[0].window.over");
}

#[test]
fn a_failing_rule_test_fails_the_run_and_says_which_step() {
    let dir = copy_rules();
    let t = dir.path().join("tests/heartbeats.yaml");
    let text = std::fs::read_to_string(&t).unwrap();
    std::fs::write(&t, text.replacen("score: 75", "score: 76", 1)).unwrap();
    let out = helios(&["rules", "test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL tests/heartbeats.yaml"), "{text}");
    assert!(text.contains("step 1: score 75, expected 76"), "{text}");
}

#[test]
fn eval_of_a_sample_explains_what_fired_and_what_nearly_did() {
    let out = eval_starter("events/github/valid/workflow_run-failure.json", &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = json_of(&out);
    assert_eq!(d["ruleset"]["name"], "starter");
    let fired: Vec<&str> = d["fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["ci-failed-once"]);
    let trace = d["trace"].as_array().unwrap();
    let near = trace
        .iter()
        .find(|t| t["rule"] == "ci-failing-on-main")
        .unwrap();
    assert_eq!(near["outcome"], "near_miss");
    assert_eq!(
        near["because"],
        "`ci-failing-on-main` did not fire: the window (count over 1h) was 1, wanted at least 3"
    );
    let window = near["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "window")
        .unwrap();
    assert_eq!(window["found"], 1);
    assert_eq!(window["held"], false);

    let out = eval_starter("events/eventbridge/valid/cloudwatch-alarm.json", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("fired: `cloud-alarm` fired: Alarm web-5xx went into ALARM in eu-west-1"),
        "{text}"
    );
    assert!(text.contains("action: decision"), "{text}");
}

#[test]
fn eval_of_something_that_is_not_an_event_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.json");
    std::fs::write(&f, r#"{"id": "x", "source": "s"}"#).unwrap();
    let out = eval_starter(f.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an event Helios accepts"), "{err}");
    assert!(err.contains("type"), "{err}");
}

/// `helios rules check --schemas` (issue 17): the starter rules read nothing the schemas of
/// `schemas/` rule out; a rule reading a renamed field, a field a closed schema cannot have,
/// and a field compared as another type than the schema's are each warned of, and
/// `--strict` fails on them.
#[test]
fn rules_are_checked_against_the_schemas_of_the_subjects_they_match() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["rules", "check", "--json", "--strict", "--schemas"])
        .arg(root.join("schemas"))
        .arg(root.join("rules"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v}");
    assert_eq!(v["warnings"], serde_json::json!([]));

    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        r#"name: t
version: 1
rules:
  - id: run-failed
    description: a workflow run failed
    match:
      source: [github]
      type: [workflow_run.completed]
      data: {workflow_run: {conclusion: [failure]}}
    where: {field: data.attempt, gt: 2}
    explain: "{{data.repository.full_name}} failed"
  - id: other-source
    description: reads the same, of events no schema describes
    match: {source: [gitlab], data: {gone: [x]}}
"#,
    )
    .unwrap();
    let schemas = dir.path().join("schemas");
    std::fs::create_dir(&schemas).unwrap();
    std::fs::write(
        schemas.join("run.json"),
        r#"{"source": "github", "type": "workflow_run.completed", "versions": [{
            "type": "object",
            "properties": {
                "run": {"type": "object", "properties": {"conclusion": {"type": "string"}}},
                "attempt": {"type": "string"},
                "repository": {"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": false}
            }}]}"#,
    )
    .unwrap();
    let run = |strict: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_helios"));
        cmd.args(["rules", "check", "--json", "--schemas"])
            .arg(&schemas);
        if strict {
            cmd.arg("--strict");
        }
        cmd.arg(&rules).output().unwrap()
    };
    let out = run(false);
    assert!(out.status.success(), "warnings alone do not fail the check");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut found: Vec<(String, String, String)> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["rule"].as_str().unwrap().to_string(),
                w["path"].as_str().unwrap().to_string(),
                w["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "run-failed".to_string(),
                "data.attempt".to_string(),
                "type".to_string()
            ),
            (
                "run-failed".into(),
                "data.repository.full_name".into(),
                "impossible".into()
            ),
            (
                "run-failed".into(),
                "data.workflow_run.conclusion".into(),
                "not_named".into()
            ),
        ],
        "{v}"
    );
    let out = run(true);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);

    // A rule set may require it: `schemas: {strict: true}` fails on the warnings without
    // `--strict`, and asks for `--schemas`.
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        text.replace("version: 1\n", "version: 1\nschemas: {strict: true}\n"),
    )
    .unwrap();
    assert_eq!(
        run(false).status.code(),
        Some(1),
        "the rule set asks for strictness"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["rules", "check"])
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pass --schemas DIR"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
