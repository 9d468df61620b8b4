//! The compiled matcher gives the same answers as the reference matcher, on generated
//! patterns (every operator, `$or`, nesting) and generated events (arrays of objects, nulls,
//! numbers written differently).

use helios_rules::compiled::Anchors;
use helios_rules::explain::PatternPlan;
use helios_rules::{reference, CompiledPatterns, Pattern, Scratch};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

// Keys with a dot, and the empty key, join into paths in ways the matchers must agree on.
const KEYS: [&str; 5] = ["a", "b", "c", "a.b", ""];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "x", "xy", "X", "yx", "", "10.0.0.1", "10.0.1.7", "a*b", "ab"
        ])
        .prop_map(|s| json!(s)),
        // Numbers with the range and precision of a double: 7 decimals, beyond ±5e11 (the
        // limits Event Ruler had before 1.8), tiny and huge.
        prop::sample::select(vec![
            0.0, 1.0, 1.5, -2.0, 300.0, 3.0e2, 0.1234567, 6.0e11, -6.0e11, 1e-7, 1e300
        ])
        .prop_map(|n| json!(n)),
        Just(json!(1)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), inner, 0..3).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), event_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn matcher() -> impl Strategy<Value = Value> {
    let s = || prop::sample::select(vec!["x", "X", "y", "a", "", "10.0.0.1"]);
    prop_oneof![
        scalar(),
        s().prop_map(|v| json!({"prefix": v})),
        s().prop_map(|v| json!({"suffix": v})),
        s().prop_map(|v| json!({"prefix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"suffix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"equals-ignore-case": v})),
        prop::sample::select(vec!["x*", "*y", "a\\*b", "*", "x*y"])
            .prop_map(|v| json!({"wildcard": v})),
        s().prop_map(|v| json!({"anything-but": v})),
        prop::collection::vec(s(), 1..3).prop_map(|v| json!({"anything-but": v})),
        prop::sample::select(vec![1.0, 300.0]).prop_map(|v| json!({"anything-but": [v]})),
        s().prop_map(|v| json!({"anything-but": {"prefix": v}})),
        s().prop_map(|v| json!({"anything-but": {"suffix": v}})),
        s().prop_map(|v| json!({"anything-but": {"equals-ignore-case": v}})),
        Just(json!({"anything-but": {"wildcard": "x*"}})),
        (-3i32..3).prop_map(|v| json!({"numeric": [">", v]})),
        prop::sample::select(vec![0.1234567, 5.0e11, -5.0e11, 1e-7])
            .prop_map(|v| json!({"numeric": ["<", v]})),
        Just(json!({"numeric": ["=", 0.1234567]})),
        Just(json!({"anything-but": [0.1234567, 6.0e11]})),
        (-3i32..3).prop_map(|v| json!({"numeric": [">=", v, "<", v + 2]})),
        Just(json!({"numeric": ["=", 300]})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
        Just(json!({"cidr": "10.0.0.0/24"})),
    ]
}

fn pattern_object(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop::collection::vec(matcher(), 1..3)
        .prop_map(Value::Array)
        .boxed();
    let value = if depth == 0 {
        leaf
    } else {
        prop_oneof![3 => leaf, 1 => pattern_object(depth - 1)].boxed()
    };
    let fields = prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), value, 1..3);
    let or = if depth == 0 {
        Just(None).boxed()
    } else {
        prop_oneof![3 => Just(None), 1 => prop::collection::vec(pattern_object(depth - 1), 2..3).prop_map(Some)].boxed()
    };
    (fields, or)
        .prop_map(|(f, or)| {
            let mut m: Map<String, Value> =
                f.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            if let Some(alts) = or {
                m.insert("$or".into(), Value::Array(alts));
            }
            Value::Object(m)
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compiled_matches_exactly_when_reference_does(p in pattern_object(2), events in prop::collection::vec(event(), 1..6)) {
        let Ok(pattern) = Pattern::parse(&p) else { return Ok(()) };
        // Anchored on one field, on two, and on two exact strings together (composite).
        for (anchors, composite_above) in [(Anchors::One, 8), (Anchors::Two, 8), (Anchors::One, 0)] {
        let compiled = CompiledPatterns::compile_tuned([&pattern], anchors, composite_above);
        let mut scratch = Scratch::default();
        for e in &events {
            let want = reference::matches(&pattern, e);
            let got = !compiled.matches(e, &mut scratch).is_empty();
            prop_assert_eq!(got, want, "pattern {} event {}", p, e);
            for text in [serde_json::to_string(e).unwrap(), serde_json::to_string_pretty(e).unwrap()] {
                let from_text = !compiled.matches_json(&text, &mut scratch).unwrap().is_empty();
                prop_assert_eq!(from_text, want, "pattern {} event text {}", p, text);
            }
        }
        }
    }

    /// Decisions trace near misses from the matcher's count of failing fields and explain
    /// them field by field with the plain explanation: the two must agree.
    #[test]
    fn the_matchers_closeness_agrees_with_the_explanation(p in pattern_object(2), events in prop::collection::vec(event(), 1..6)) {
        let Ok(pattern) = Pattern::parse(&p) else { return Ok(()) };
        let compiled = CompiledPatterns::compile_with([&pattern], Anchors::Two);
        let plan = PatternPlan::new(&pattern);
        let mut scratch = Scratch::default();
        for e in &events {
            let matched = !compiled.matches(e, &mut scratch).is_empty();
            match compiled.closeness(&scratch)[0] {
                Some((sub, failures)) => {
                    let c = plan.explain(e, sub, matched);
                    prop_assert_eq!(c.failures(), failures, "pattern {} event {} sub-rule {}", p, e, sub);
                    prop_assert_eq!(failures == 0, matched);
                }
                None => prop_assert!(!matched),
            }
            // Every sub-rule one field short of matching, with another field met by a value
            // of the event, is found.
            let one_short = (0..pattern.sub_rules.len()).any(|sub| {
                let c = plan.explain(e, sub, matched);
                c.failures() == 1 && c.fields.iter().any(|f| f.held && !f.found.is_null())
            });
            if one_short {
                let found = compiled.closeness(&scratch)[0];
                prop_assert!(matches!(found, Some((_, 0 | 1))), "pattern {} event {}: {:?}", p, e, found);
            }
        }
    }

    #[test]
    fn a_compiled_set_answers_as_each_pattern_alone(ps in prop::collection::vec(pattern_object(1), 1..8), e in event()) {
        let patterns: Vec<Pattern> = ps.iter().filter_map(|p| Pattern::parse(p).ok()).collect();
        let compiled = CompiledPatterns::compile_tuned(&patterns, Anchors::One, 0);
        let got = compiled.matches(&e, &mut Scratch::default());
        let from_text = compiled.matches_json(&e.to_string(), &mut Scratch::default()).unwrap();
        prop_assert_eq!(&from_text, &got);
        let want: Vec<usize> = patterns.iter().enumerate().filter(|(_, p)| reference::matches(p, &e)).map(|(i, _)| i).collect();
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #[test]
    fn reading_arbitrary_text_never_panics(text in "\\PC{0,64}", cut in 0usize..200) {
        let p = Pattern::from_json(r#"{"a": {"b": [{"exists": true}]}, "c": [1]}"#).unwrap();
        let compiled = CompiledPatterns::compile([&p]);
        let _ = compiled.matches_json(&text, &mut Scratch::default());
        let doc = r#"{"a": {"b": "x\"y", "z": [1, {"q": null}]}, "c": 1}"#;
        let end = cut.min(doc.len());
        if doc.is_char_boundary(end) {
            let _ = compiled.matches_json(&doc[..end], &mut Scratch::default());
        }
    }
}

#[test]
fn malformed_event_text_is_an_error() {
    let p = Pattern::from_json(r#"{"a": [1]}"#).unwrap();
    let c = CompiledPatterns::compile([&p]);
    let mut s = Scratch::default();
    assert_eq!(c.matches_json(r#"{"a": 1}"#, &mut s).unwrap(), [0]);
    assert_eq!(c.matches_json(r#" {"a" : 1.0e0 } "#, &mut s).unwrap(), [0]);
    assert_eq!(
        c.matches_json(r#"{"x": {"deep": [1, "\"", {}]}, "a": 1}"#, &mut s)
            .unwrap(),
        [0],
        "skipped subtrees"
    );
    for bad in [
        r#"{"a": 1"#,
        r#"{"a" 1}"#,
        r#"[1]"#,
        r#"{"a": 01x}"#,
        r#"{"a": tru}"#,
        r#"{"a": 1} x"#,
        r#"{"x": "unterminated}"#,
    ] {
        assert!(c.matches_json(bad, &mut s).is_err(), "{bad}");
    }
}

#[test]
fn the_documented_cases_hold_for_the_compiled_matcher_too() {
    for line in include_str!("data/patterns.jsonl").lines() {
        let c: Value = serde_json::from_str(line).unwrap();
        if let Ok(p) = Pattern::parse(&c["pattern"]) {
            let got = !CompiledPatterns::compile([&p])
                .matches(&c["event"], &mut Scratch::default())
                .is_empty();
            assert_eq!(got, c["match"].as_bool().unwrap(), "{}", c["why"]);
        }
    }
}

#[test]
fn patterns_sharing_their_best_value_are_found_through_two_values_at_once() {
    // GIVEN 50 patterns on one login, each with its own repository
    let patterns: Vec<Pattern> = (0..50)
        .map(|i| {
            Pattern::parse(&json!({
                "login": ["dana"],
                "repo": [format!("r{i}")],
                "n": [{"numeric": [">", 0]}]
            }))
            .unwrap()
        })
        .collect();
    let compiled = CompiledPatterns::compile(&patterns);
    let mut scratch = Scratch::default();
    // WHEN an event of that login arrives THEN only the pattern of its repository is checked
    let e = json!({"login": "dana", "repo": "r7", "n": 1});
    assert_eq!(compiled.matches(&e, &mut scratch), vec![7]);
    assert_eq!(
        scratch.candidates(),
        1,
        "the other 49 patterns are never looked at"
    );
    // AND arrays, misses and the reference agree
    for e in [
        json!({"login": ["x", "dana"], "repo": ["r3", "r9"], "n": [0, 2]}),
        json!({"login": "dana", "repo": "r7", "n": 0}),
        json!({"login": "eve", "repo": "r7", "n": 1}),
        json!({"login": "dana", "n": 1}),
    ] {
        let want: Vec<usize> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| reference::matches(p, &e))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(compiled.matches(&e, &mut scratch), want, "event {e}");
    }
}
