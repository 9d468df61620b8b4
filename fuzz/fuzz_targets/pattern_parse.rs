//! Any text given as a pattern: parsing never panics, and a pattern that parses gives the
//! same answer from the reference and the compiled matcher on a few fixed events.
#![no_main]

use helios_rules::{reference, CompiledPatterns, Pattern, Scratch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(pattern) = Pattern::from_json(text) else { return };
    let compiled = CompiledPatterns::compile([&pattern]);
    let mut scratch = Scratch::default();
    for event in [
        r#"{"source": "aws.ec2", "detail": {"state": "running", "n": 5, "ip": "10.0.0.1", "tags": ["a", "b"]}}"#,
        r#"{"a": [{"b": 1, "c": "x"}, {"b": 2, "c": null}], "d": true}"#,
        r#"{}"#,
    ] {
        let value: serde_json::Value = serde_json::from_str(event).expect("fixed events are JSON");
        let want = reference::matches(&pattern, &value);
        assert_eq!(!compiled.matches(&value, &mut scratch).is_empty(), want);
        assert_eq!(!compiled.matches_json(event, &mut scratch).expect("valid JSON").is_empty(), want);
    }
});
