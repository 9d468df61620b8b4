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
