//! A corpus of definitions, valid and invalid, judged by this crate and by `asl-validator`
//! (npm), an independent implementation: both must agree with the verdict the corpus
//! records, except where an entry says why `asl-validator` differs.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn corpus() -> (PathBuf, Vec<Value>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/definitions.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let cases = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (path, cases)
}

#[test]
fn every_definition_gets_the_recorded_verdict() {
    let (_, cases) = corpus();
    assert!(cases.len() >= 20);
    for c in &cases {
        let got = helios_states::validate(&c["definition"]);
        assert_eq!(got.is_ok(), c["valid"] == true, "{}: {got:?}", c["name"]);
    }
}

#[test]
fn asl_validator_agrees_with_the_corpus() {
    let dir = std::env::var("HELIOS_NPM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/helios/npm")
        });
    let modules = dir.join("node_modules");
    assert!(
        modules.join("asl-validator").is_dir(),
        "asl-validator is not installed in {}: run ./.ci/test, which installs it, or \
         `npm install --prefix {} asl-validator@4.0.0` (Node.js 18 or newer)",
        modules.display(),
        dir.display()
    );
    let (path, cases) = corpus();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/asl_validator.js");
    let out = Command::new("node")
        .arg(&script)
        .arg(&path)
        .env("NODE_PATH", &modules)
        .output()
        .expect(
            "node is not installed: install Node.js 18 or newer (Debian: apt-get install nodejs)",
        );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), cases.len());
    for (c, v) in cases.iter().zip(&verdicts) {
        let expected = c.get("asl_validator").unwrap_or(&c["valid"]);
        assert_eq!(
            &v["valid"], expected,
            "{}: asl-validator says {v}",
            c["name"]
        );
    }
}
