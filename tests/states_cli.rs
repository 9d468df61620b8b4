//! `helios states validate` as a user runs it: one JSON verdict per file, non-zero exit when
//! a definition is refused.

use std::process::Command;

use serde_json::Value;

#[test]
fn validate_prints_a_verdict_per_file_and_fails_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.asl.json");
    std::fs::write(
        &good,
        r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.asl.json");
    std::fs::write(
        &bad,
        r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Gone"}}}"#,
    )
    .unwrap();
    let broken = dir.path().join("broken.asl.json");
    std::fs::write(&broken, "{").unwrap();

    let run = |files: &[&std::path::Path]| {
        Command::new(env!("CARGO_BIN_EXE_helios"))
            .args(["states", "validate"])
            .args(files)
            .output()
            .unwrap()
    };
    let out = run(&[&good]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);

    let out = run(&[&good, &bad, &broken]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["valid"], true);
    let errors = lines[1]["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["state"] == "A" && e["path"] == "$.States.A.Next"),
        "{errors:?}"
    );
    assert!(lines[2]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("not JSON"));
}

/// Every case of the run corpus, through `helios states run` as a user runs it: the printed
/// status, output, error and cause are the documented ones.
#[test]
fn run_prints_how_each_corpus_execution_ends() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = include_str!("../shared/states/tests/data/runs.jsonl");
    let mut differ = Vec::new();
    let mut n = 0;
    for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let def = dir.path().join("def.json");
        let input = dir.path().join("input.json");
        std::fs::write(&def, case["definition"].to_string()).unwrap();
        std::fs::write(&input, case["input"].to_string()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_helios"))
            .args(["states", "run", "--definition"])
            .arg(&def)
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            case["name"],
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["status", "output", "error", "cause"] {
            if let Some(want) = case["expect"].get(key) {
                if !got
                    .get(key)
                    .is_some_and(|g| helios_states::intrinsic::json_eq(want, g))
                {
                    differ.push(format!(
                        "{}: {key}: wanted {want}, got {}",
                        case["name"], got
                    ));
                }
            }
        }
        n += 1;
    }
    assert!(n >= 100);
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn run_prints_the_history_and_refuses_a_bad_definition() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("wait.asl.json");
    std::fs::write(
        &def,
        r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": true}}}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["states", "run", "--history", "--definition"])
        .arg(&def)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "SUCCEEDED");
    assert_eq!(v["output"], serde_json::json!({}));
    let events = v["history"]["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(events[2]["timestamp"], "2026-01-02T00:00:00.000Z");

    std::fs::write(&def, r#"{"StartAt": "Nowhere", "States": {}}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["states", "run", "--definition"])
        .arg(&def)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "INVALID");
    assert!(!v["errors"].as_array().unwrap().is_empty());
}

/// `helios schemas check|diff` (issue 17) as a user runs them on schema files: the verdict
/// of a mode as JSON, exit 1 with every breaking change and its pointer when the mode is
/// broken, a clear error for a file that is not a schema or a mode that does not exist.
#[test]
fn schemas_check_and_diff_tell_the_breaking_changes_of_a_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let v1 = write(
        "v1.json",
        r#"{"type": "object", "properties": {"conclusion": {"enum": ["success", "failure", "cancelled"]}}}"#,
    );
    let v2 = write(
        "v2.json",
        r#"{"type": "object", "properties": {"conclusion": {"enum": ["success", "failure"]}}, "required": ["conclusion"]}"#,
    );
    let not_a_schema = write("list.json", "[1, 2]");
    let helios = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_helios"))
            .arg("schemas")
            .args(args)
            .output()
            .unwrap();
        let json = serde_json::from_slice::<Value>(&out.stdout).ok();
        (
            out.status.code(),
            json,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // BACKWARD (the default): a required field added and an enum value removed both break it.
    let (code, out, _) = helios(&[
        "check".as_ref(),
        "--against".as_ref(),
        v1.as_os_str(),
        v2.as_os_str(),
    ]);
    assert_eq!(code, Some(1));
    let out = out.unwrap();
    assert_eq!(out["compatible"], false);
    assert_eq!(out["mode"], "BACKWARD");
    let pointers: Vec<&str> = out["breaking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/required", "/properties/conclusion/enum"]);
    // FORWARD: both only narrow, which a reader of v1 can read.
    let (code, out, _) = helios(&[
        "check".as_ref(),
        "--mode".as_ref(),
        "FORWARD".as_ref(),
        "--against".as_ref(),
        v1.as_os_str(),
        v2.as_os_str(),
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(out.unwrap()["compatible"], true);
    // diff: each change with its direction.
    let (code, out, _) = helios(&["diff".as_ref(), v1.as_os_str(), v2.as_os_str()]);
    assert_eq!(code, Some(0));
    let changes = out.unwrap()["changes"].as_array().unwrap().clone();
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c["direction"] == "narrowed"));
    // Errors: a mode that does not exist, a file that is not a schema.
    let (code, _, err) = helios(&[
        "check".as_ref(),
        "--mode".as_ref(),
        "SIDEWAYS".as_ref(),
        "--against".as_ref(),
        v1.as_os_str(),
        v2.as_os_str(),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("`SIDEWAYS` is not a compatibility mode"),
        "{err}"
    );
    let (code, _, err) = helios(&["diff".as_ref(), v1.as_os_str(), not_a_schema.as_os_str()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not a JSON Schema"), "{err}");
}

/// The schema files kept beside the rules (`schemas/`, issue 17) lint clean, and every valid
/// request sample of `events/` fits the newest version of its subject's schema, checked by
/// the `jsonschema` crate apart from Helios's own validator; a folder whose second version
/// breaks its mode fails the lint with the pointer.
#[test]
fn the_schema_files_lint_clean_and_every_sample_fits_its_subject() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["schemas", "lint"])
        .arg(root.join("schemas"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lint: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lint["problems"], serde_json::json!([]));
    let mut latest = std::collections::HashMap::new();
    for f in std::fs::read_dir(root.join("schemas")).unwrap() {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(f.unwrap().path()).unwrap()).unwrap();
        let schema = v["versions"].as_array().unwrap().last().unwrap().clone();
        latest.insert(
            (
                v["source"].as_str().unwrap().to_string(),
                v["type"].as_str().unwrap().to_string(),
            ),
            jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap(),
        );
    }
    assert!(latest.len() >= 4);
    let mut checked = 0;
    for f in std::fs::read_dir(root.join("events/native/valid")).unwrap() {
        let sample: Value =
            serde_json::from_str(&std::fs::read_to_string(f.unwrap().path()).unwrap()).unwrap();
        let body = &sample["request"]["body"];
        let events = body["events"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![body.clone()]);
        for e in events {
            let key = (
                e["source"].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
            );
            if let Some(v) = latest.get(&key) {
                let errors: Vec<String> =
                    v.iter_errors(&e["data"]).map(|x| x.to_string()).collect();
                assert!(errors.is_empty(), "{key:?}: {errors:?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "only {checked} samples have a schema");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.json"),
        r#"{"source": "ci", "type": "build", "versions": [
            {"type": "object", "properties": {"state": {"enum": ["ok", "failed"]}}},
            {"type": "object", "properties": {"state": {"enum": ["ok"]}}}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["schemas", "lint"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("version 2 breaks BACKWARD against version 1 at /properties/state/enum"),
        "{err}"
    );
}
