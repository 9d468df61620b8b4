//! The compatibility corpus (`tests/data/compatibility.json`): pairs of versions with the
//! verdict of each of the seven modes, and for each verdict that a document breaks, that
//! document, checked with an independent validator (the `jsonschema` crate): accepted by one
//! version, refused by the other. So a verdict of "incompatible" is shown true by a document,
//! not only asserted.

use helios_schemas::{check, diff, Direction, Mode};
use serde_json::Value;

fn corpus() -> Vec<Value> {
    let text = include_str!("data/compatibility.json");
    let v: Value = serde_json::from_str(text).expect("the corpus is JSON");
    v["cases"].as_array().expect("a list of cases").clone()
}

fn accepts(schema: &Value, doc: &Value) -> bool {
    jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("{schema} is not a schema: {e}"))
        .is_valid(doc)
}

#[test]
fn the_corpus_holds_at_least_sixty_cases() {
    assert!(corpus().len() >= 60, "{} cases", corpus().len());
}

#[test]
fn every_mode_gives_the_corpus_verdict() {
    let mut wrong = Vec::new();
    for case in corpus() {
        let name = case["name"].as_str().unwrap();
        for mode in Mode::ALL {
            let want = case["verdicts"][mode.as_str()]
                .as_bool()
                .unwrap_or_else(|| panic!("{name}: no verdict for {mode}"));
            let got = check(mode, std::slice::from_ref(&case["old"]), &case["new"]);
            if got.is_ok() != want {
                wrong.push(format!("{name} under {mode}: expected {want}, got {got:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_witness_is_accepted_by_one_version_and_refused_by_the_other() {
    let mut witnessed = 0;
    for case in corpus() {
        let name = case["name"].as_str().unwrap();
        let (old, new) = (&case["old"], &case["new"]);
        if let Some(doc) = case.get("old_only") {
            assert!(accepts(old, doc), "{name}: the old version refuses {doc}");
            assert!(!accepts(new, doc), "{name}: the new version accepts {doc}");
            assert!(!case["verdicts"]["BACKWARD"].as_bool().unwrap(), "{name}");
            witnessed += 1;
        }
        if let Some(doc) = case.get("new_only") {
            assert!(accepts(new, doc), "{name}: the new version refuses {doc}");
            assert!(!accepts(old, doc), "{name}: the old version accepts {doc}");
            assert!(!case["verdicts"]["FORWARD"].as_bool().unwrap(), "{name}");
            witnessed += 1;
        }
    }
    assert!(witnessed >= 60, "only {witnessed} witnesses");
}

#[test]
fn a_compatible_direction_is_never_contradicted_by_a_witness() {
    // The other way round: where the corpus says BACKWARD holds, no witness claims a
    // document the old version takes and the new one refuses (and likewise FORWARD).
    for case in corpus() {
        let name = case["name"].as_str().unwrap();
        if case["verdicts"]["BACKWARD"].as_bool().unwrap() {
            assert!(case.get("old_only").is_none(), "{name}");
        }
        if case["verdicts"]["FORWARD"].as_bool().unwrap() {
            assert!(case.get("new_only").is_none(), "{name}");
        }
    }
}

#[test]
fn each_breaking_change_is_named_with_a_pointer_into_the_schema() {
    for case in corpus() {
        let name = case["name"].as_str().unwrap();
        for change in diff(&case["old"], &case["new"]) {
            assert!(change.pointer.starts_with('/'), "{name}: {change:?}");
            if change.pointer != "/" {
                // The pointer names a place of the new schema or of the old one.
                let at = change.pointer.as_str();
                let parent = &at[..at.rfind('/').unwrap()];
                assert!(
                    case["new"].pointer(parent).is_some()
                        || case["old"].pointer(parent).is_some()
                        || parent.is_empty(),
                    "{name}: {at} is in neither version"
                );
            }
            assert!(!change.detail.is_empty(), "{name}: {change:?}");
        }
    }
}

#[test]
fn narrowing_and_widening_are_told_apart() {
    let case = |n: &str| {
        corpus()
            .into_iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no case {n}"))
    };
    let c = case("enum narrowed");
    let d = diff(&c["old"], &c["new"]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].direction, Direction::Narrowed);
    assert_eq!(d[0].pointer, "/enum");
    assert_eq!(d[0].kind, "enum_narrowed");
    let c = case("nested enum narrowed (a workflow conclusion)");
    assert_eq!(
        diff(&c["old"], &c["new"])[0].pointer,
        "/properties/workflow_run/properties/conclusion/enum"
    );
    let c = case("additionalProperties closed");
    let d = diff(&c["old"], &c["new"]);
    assert_eq!(d[0].kind, "additional_properties_narrowed");
    assert_eq!(d[0].pointer, "/additionalProperties");
}
