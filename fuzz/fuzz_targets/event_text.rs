//! Any text given as an event: the one-pass JSON reader never panics, and on valid JSON it
//! agrees with parsing first.
#![no_main]

use helios_rules::{CompiledPatterns, Pattern, Scratch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let patterns: Vec<Pattern> = [
        r#"{"a": [{"exists": true}]}"#,
        r#"{"a": {"b": [{"prefix": "x"}], "c": [{"numeric": [">", 0]}]}}"#,
        r#"{"d": [{"anything-but": "q"}], "$or": [{"e": [null]}, {"f": [{"exists": false}]}]}"#,
    ]
    .iter()
    .map(|p| Pattern::from_json(p).expect("fixed patterns are valid"))
    .collect();
    let compiled = CompiledPatterns::compile(&patterns);
    let mut scratch = Scratch::default();
    let from_text = compiled.matches_json(text, &mut scratch);
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) {
        let parsed = compiled.matches(&serde_json::Value::Object(o), &mut scratch);
        assert_eq!(from_text.expect("valid JSON objects are read"), parsed);
    }
});
