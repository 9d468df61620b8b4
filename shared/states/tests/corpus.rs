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

/// The verdicts of `asl-validator` on each definition of a JSON-lines file of
/// `{"name", "definition"}` objects.
fn asl_validator(path: &std::path::Path) -> Vec<Value> {
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
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/asl_validator.js");
    let out = Command::new("node")
        .arg(&script)
        .arg(path)
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
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn asl_validator_agrees_with_the_corpus() {
    let (path, cases) = corpus();
    let verdicts = asl_validator(&path);
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

/// Every workflow Helios deploys (`statemachines/*.json`) is valid for this crate, which also
/// compiles it for running, and for `asl-validator`.
#[test]
fn the_deployed_state_machines_are_valid_for_both() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../statemachines");
    let mut lines = String::new();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let def: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(e) = helios_states::Definition::new(&def) {
            panic!("{}: {e:?}", path.display());
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        lines.push_str(&serde_json::json!({"name": name, "definition": def}).to_string());
        lines.push('\n');
        n += 1;
    }
    assert!(n >= 2, "statemachines/ has {n} definitions");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), lines).unwrap();
    for v in asl_validator(file.path()) {
        assert_eq!(v["valid"], true, "asl-validator refuses {v}");
    }
}
