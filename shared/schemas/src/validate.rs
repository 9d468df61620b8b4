//! Checking events against a registered schema: compiled once per version ([`Validator`]),
//! then every violation of a document with its JSON pointer, and what has *drifted* in it
//! (a violation, or a property the schema does not name) for `helios.schema.drifted`.

use serde::Serialize;
use serde_json::Value;

/// A schema compiled for validation: compile once per version, validate many.
pub struct Validator {
    inner: jsonschema::Validator,
    schema: Value,
}

/// One way a document does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Where in the document, as a JSON pointer (`""` is the whole document).
    pub pointer: String,
    /// The keyword of the schema it fails (`type`, `required`, `enum`, …).
    pub keyword: String,
    pub message: String,
}

/// One way a document has moved away from its schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Where in the document, as a JSON pointer.
    pub pointer: String,
    /// `new_property` (a property the schema does not name, at a place it describes) or a
    /// violation's keyword (`type` for a type change, `required` for a property gone, …).
    pub kind: String,
    pub message: String,
}

/// What [`Validator::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub valid: bool,
    pub violations: Vec<Violation>,
    pub drift: Vec<Drift>,
}

/// Why a schema cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable JSON Schema: {0}")]
pub struct InvalidSchema(pub String);

impl Validator {
    /// Compiles `schema` (draft 2020-12, or the draft its `$schema` names, draft-07
    /// included), with `format` asserted (date-time, uri, email, …). A `$ref` outside the
    /// schema is refused: nothing is fetched.
    pub fn compile(schema: &Value) -> Result<Validator, InvalidSchema> {
        if !(schema.is_object() || schema.is_boolean()) {
            return Err(InvalidSchema(
                "a schema is a JSON object (or true or false)".into(),
            ));
        }
        let inner = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| InvalidSchema(e.to_string()))?;
        Ok(Validator {
            inner,
            schema: schema.clone(),
        })
    }

    pub fn is_valid(&self, doc: &Value) -> bool {
        self.inner.is_valid(doc)
    }

    /// Every violation of `doc`, at most `max` of them, in the validator's order.
    pub fn violations(&self, doc: &Value, max: usize) -> Vec<Violation> {
        self.inner
            .iter_errors(doc)
            .take(max)
            .map(|e| Violation {
                pointer: e.instance_path().to_string(),
                keyword: keyword_of(&e.schema_path().to_string()),
                message: e.to_string(),
            })
            .collect()
    }

    /// What ingest finds of a document: whether it fits, every violation (at most `max`),
    /// and what drifted ([`Validator::drift`]).
    pub fn check(&self, doc: &Value, max: usize) -> Checked {
        let valid = self.is_valid(doc);
        let violations = if valid {
            Vec::new()
        } else {
            self.violations(doc, max)
        };
        let drift = self.drift_with(doc, &violations, max);
        Checked {
            valid,
            violations,
            drift,
        }
    }

    /// What has drifted in `doc`: its violations, and each property at a place the schema
    /// describes with `properties` that the schema does not name (whether or not
    /// `additionalProperties` lets it through), at most `max` in all. Places reached
    /// through `properties`, `items` and `prefixItems` are walked; a property under a
    /// `patternProperties` pattern it matches is named.
    pub fn drift(&self, doc: &Value, max: usize) -> Vec<Drift> {
        self.drift_with(doc, &self.violations(doc, max), max)
    }

    /// [`Validator::drift`] when the violations of `doc` are known already.
    pub fn drift_with(&self, doc: &Value, violations: &[Violation], max: usize) -> Vec<Drift> {
        let mut out: Vec<Drift> = violations
            .iter()
            .take(max)
            .map(|v| Drift {
                pointer: v.pointer.clone(),
                kind: v.keyword.clone(),
                message: v.message.clone(),
            })
            .collect();
        let mut pointer = String::new();
        new_properties(&self.schema, doc, &mut pointer, &mut out, max);
        out.truncate(max);
        out
    }
}

/// The keyword a schema path ends in (`/properties/n/type` → `type`).
fn keyword_of(schema_path: &str) -> String {
    schema_path
        .rsplit('/')
        .find(|s| !s.is_empty() && s.parse::<usize>().is_err())
        .unwrap_or("schema")
        .to_string()
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn new_properties(schema: &Value, doc: &Value, at: &mut String, out: &mut Vec<Drift>, max: usize) {
    if out.len() >= max {
        return;
    }
    match doc {
        Value::Object(fields) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            let patterns: Vec<regex::Regex> = schema
                .get("patternProperties")
                .and_then(Value::as_object)
                .map(|p| p.keys().filter_map(|k| regex::Regex::new(k).ok()).collect())
                .unwrap_or_default();
            for (key, value) in fields {
                let len = at.len();
                at.push('/');
                at.push_str(&escape(key));
                match props.get(key) {
                    Some(sub) => new_properties(sub, value, at, out, max),
                    None if patterns.iter().any(|p| p.is_match(key)) => {}
                    None => {
                        if out.len() >= max {
                            at.truncate(len);
                            return;
                        }
                        out.push(Drift {
                            pointer: at.clone(),
                            kind: "new_property".into(),
                            message: format!("the property `{key}` is not in the schema"),
                        });
                    }
                }
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            let prefix = schema
                .get("prefixItems")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                let sub = prefix.get(i).or_else(|| schema.get("items"));
                if let Some(sub) = sub.filter(|s| s.is_object()) {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&i.to_string());
                    new_properties(sub, item, at, out, max);
                    at.truncate(len);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["status", "run"],
            "properties": {
                "status": {"enum": ["ok", "failed"]},
                "run": {"type": "object", "properties": {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}}},
                "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}}
            }
        })
    }

    #[test]
    fn every_violation_is_named_by_its_pointer_and_keyword() {
        let v = Validator::compile(&schema()).unwrap();
        assert!(v.is_valid(&json!({"status": "ok", "run": {"id": 1}})));
        let found = v.violations(
            &json!({"status": "meh", "run": {"id": "x", "at": "yesterday"}}),
            10,
        );
        let mut got: Vec<(String, String)> = found
            .iter()
            .map(|x| (x.pointer.clone(), x.keyword.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("/run/at".to_string(), "format".to_string()),
                ("/run/id".into(), "type".into()),
                ("/status".into(), "enum".into()),
            ]
        );
        let missing = v.violations(&json!({"status": "ok"}), 10);
        assert_eq!(missing.len(), 1);
        assert_eq!(
            (missing[0].pointer.as_str(), missing[0].keyword.as_str()),
            ("", "required")
        );
        assert!(missing[0].message.contains("run"), "{}", missing[0].message);
        assert_eq!(
            v.violations(&json!({"status": 1, "run": 2}), 1).len(),
            1,
            "at most max"
        );
    }

    #[test]
    fn a_new_property_is_drift_though_the_schema_lets_it_through() {
        let v = Validator::compile(&schema()).unwrap();
        let doc = json!({"status": "ok", "run": {"id": 1, "attempt": 2}, "tags": [{"k": "a", "v/x": 1}], "extra": true});
        assert!(v.is_valid(&doc), "an open content model accepts it");
        let mut drift: Vec<(String, String)> = v
            .drift(&doc, 10)
            .into_iter()
            .map(|d| (d.pointer, d.kind))
            .collect();
        drift.sort();
        assert_eq!(
            drift,
            [
                ("/extra".to_string(), "new_property".to_string()),
                ("/run/attempt".into(), "new_property".into()),
                ("/tags/0/v~1x".into(), "new_property".into()),
            ]
        );
        let changed = v.drift(&json!({"status": "ok", "run": {"id": "7"}}), 10);
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (changed[0].pointer.as_str(), changed[0].kind.as_str()),
            ("/run/id", "type")
        );
    }

    #[test]
    fn a_property_under_a_pattern_is_named() {
        let v =
            Validator::compile(&json!({"properties": {"a": {}}, "patternProperties": {"^x-": {}}}))
                .unwrap();
        assert!(v.drift(&json!({"a": 1, "x-trace": 2}), 10).is_empty());
    }

    #[test]
    fn draft_07_schemas_are_read_by_their_own_draft() {
        // In draft-07 `items` as an array is the tuple form (2020-12 calls it prefixItems).
        let v = Validator::compile(&json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "array", "items": [{"type": "string"}, {"type": "integer"}]
        }))
        .unwrap();
        assert!(v.is_valid(&json!(["a", 1])));
        assert!(!v.is_valid(&json!(["a", "b"])));
    }

    #[test]
    fn what_is_not_a_schema_is_refused() {
        for bad in [
            json!(3),
            json!({"type": "nonsense"}),
            json!({"$ref": "https://example.com/s.json"}),
        ] {
            assert!(Validator::compile(&bad).is_err(), "{bad}");
        }
    }
}
