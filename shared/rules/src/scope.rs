//! Field paths in conditions and templates, and what they resolve against: the canonical
//! event, plus what the engine knows about the rule being evaluated (`window`, `rule`,
//! `score`, `severity`).

use serde_json::{Map, Value};

/// A dotted path into the event, such as `data.workflow_run.conclusion`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    pub text: String,
    segments: Vec<String>,
}

/// The roots a path may start with: the fields of the canonical event, then what the engine
/// adds while it evaluates a rule.
pub const EVENT_ROOTS: &[&str] = &[
    "helios_id",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "received_at",
    "schema_version",
    "format",
    "extensions",
    "correlation",
    "data",
];
pub const ENGINE_ROOTS: &[&str] = &["window", "rule", "score", "severity"];

impl FieldPath {
    /// Parses a dotted path whose first segment is one of `roots`.
    pub fn parse(text: &str, roots: &[&str]) -> Result<FieldPath, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("a field path is empty".into());
        }
        let segments: Vec<String> = t.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!(
                "`{t}` is not a field path: it has an empty segment"
            ));
        }
        if !roots.contains(&segments[0].as_str()) {
            return Err(format!(
                "`{t}` does not start with a field that is there (one of {})",
                roots.join(", ")
            ));
        }
        Ok(FieldPath {
            text: t.to_string(),
            segments,
        })
    }

    pub fn root(&self) -> &str {
        &self.segments[0]
    }
}

/// What paths resolve against.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub event: &'a Value,
    /// Values the engine adds (`window`, `rule`, …); looked up before the event.
    pub extra: Option<&'a Map<String, Value>>,
}

impl<'a> Scope<'a> {
    pub fn event(event: &'a Value) -> Scope<'a> {
        Scope { event, extra: None }
    }

    /// The values at `path`: arrays on the way and at the end are opened, so a path through
    /// a list of objects yields one value per element. Empty when the path is not there.
    pub fn resolve(&self, path: &FieldPath) -> Vec<&'a Value> {
        let start = match self.extra.and_then(|m| m.get(path.root())) {
            Some(v) => v,
            None => match self.event.get(path.root()) {
                Some(v) => v,
                None => return Vec::new(),
            },
        };
        let mut current = vec![start];
        for seg in &path.segments[1..] {
            let mut next = Vec::new();
            for v in current {
                descend(v, seg, &mut next);
            }
            if next.is_empty() {
                return next;
            }
            current = next;
        }
        let mut out = Vec::with_capacity(current.len());
        for v in current {
            open_arrays(v, &mut out);
        }
        out
    }
}

fn descend<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(c) = m.get(key) {
                out.push(c);
            }
        }
        Value::Array(items) => {
            for i in items {
                descend(i, key, out);
            }
        }
        _ => {}
    }
}

fn open_arrays<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for i in items {
                open_arrays(i, out);
            }
        }
        _ => out.push(v),
    }
}

/// The values found at a path, as a trace shows them: `null` for nothing, the value for one,
/// a list for several.
pub fn found_value(values: &[&Value]) -> Value {
    match values {
        [] => Value::Null,
        [one] => (*one).clone(),
        many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_open_arrays_on_the_way_and_at_the_end() {
        let e = json!({"data": {"jobs": [{"name": "a", "tags": ["x", "y"]}, {"name": "b"}]}});
        let s = Scope::event(&e);
        let p = FieldPath::parse("data.jobs.name", EVENT_ROOTS).unwrap();
        assert_eq!(s.resolve(&p), vec![&json!("a"), &json!("b")]);
        let p = FieldPath::parse("data.jobs.tags", EVENT_ROOTS).unwrap();
        assert_eq!(s.resolve(&p), vec![&json!("x"), &json!("y")]);
        let p = FieldPath::parse("data.missing.deeper", EVENT_ROOTS).unwrap();
        assert!(s.resolve(&p).is_empty());
    }

    #[test]
    fn engine_values_are_found_before_the_event() {
        let e = json!({"data": {}});
        let mut extra = Map::new();
        extra.insert("window".into(), json!({"value": 3}));
        let s = Scope {
            event: &e,
            extra: Some(&extra),
        };
        let p = FieldPath::parse("window.value", ENGINE_ROOTS).unwrap();
        assert_eq!(s.resolve(&p), vec![&json!(3)]);
    }

    #[test]
    fn a_path_must_start_at_a_known_root() {
        assert!(FieldPath::parse("detail.x", EVENT_ROOTS)
            .unwrap_err()
            .contains("does not start with"));
        assert!(FieldPath::parse("data..x", EVENT_ROOTS)
            .unwrap_err()
            .contains("empty segment"));
    }
}
