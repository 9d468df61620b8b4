//! Whether a document valid under a schema can hold a value at a path, and of which types:
//! what `helios rules check --schemas` asks of the registered schema for each field a rule
//! reads (issue 17).

use serde::Serialize;
use serde_json::Value;

/// What a schema says of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Reach {
    /// The schema describes the place; a value there may have these types (empty: any).
    Described { types: Vec<String> },
    /// The schema does not name the place, but lets a document have it (an open content
    /// model): a renamed or misspelt field reads as this.
    NotNamed { at: String },
    /// No valid document has a value there: `at` is where the schema rules it out.
    Impossible { at: String, why: String },
}

/// The JSON types a schema allows (`integer` counted as `number`); empty when it says
/// nothing of types.
fn types_of(s: &Value) -> Vec<String> {
    let mut out: Vec<String> = match s.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => {
            let values: Vec<&Value> = match (s.get("enum"), s.get("const")) {
                (Some(Value::Array(vs)), _) => vs.iter().collect(),
                (_, Some(v)) => vec![v],
                _ => Vec::new(),
            };
            values
                .iter()
                .map(|v| {
                    match v {
                        Value::String(_) => "string",
                        Value::Number(_) => "number",
                        Value::Bool(_) => "boolean",
                        Value::Null => "null",
                        Value::Array(_) => "array",
                        Value::Object(_) => "object",
                    }
                    .to_string()
                })
                .collect()
        }
    };
    for t in &mut out {
        if t == "integer" {
            *t = "number".into();
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Follows a local `$ref` (`#/$defs/…`, `#/definitions/…`) once per step.
fn resolve<'a>(root: &'a Value, mut s: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(pointer) => match root.pointer(pointer) {
                Some(next) => s = next,
                None => return s,
            },
            None => return s,
        }
    }
    s
}

/// What `schema` says of the place at `path` (object keys, or array indexes as numbers).
pub fn reach(schema: &Value, path: &[&str]) -> Reach {
    let root = schema;
    let mut s = resolve(root, schema);
    let mut at = String::new();
    for seg in path {
        if s == &Value::Bool(false) {
            return Reach::Impossible {
                at,
                why: "the schema there is `false`".into(),
            };
        }
        let types = types_of(s);
        let is_array = types.iter().any(|t| t == "array");
        let is_object = types.is_empty() || types.iter().any(|t| t == "object");
        if is_array && seg.parse::<usize>().is_ok() {
            at.push_str("/items");
            match s.get("items") {
                Some(items) => s = resolve(root, items),
                None => return Reach::NotNamed { at },
            }
            continue;
        }
        if !is_object {
            return Reach::Impossible {
                why: format!(
                    "the value there is {}, which has no field `{seg}`",
                    types.join(" or ")
                ),
                at,
            };
        }
        let named = s
            .get("properties")
            .and_then(Value::as_object)
            .and_then(|p| p.get(*seg));
        if let Some(sub) = named {
            at.push_str("/properties/");
            at.push_str(&seg.replace('~', "~0").replace('/', "~1"));
            s = resolve(root, sub);
            continue;
        }
        let by_pattern = s
            .get("patternProperties")
            .and_then(Value::as_object)
            .and_then(|p| {
                p.iter()
                    .find(|(k, _)| regex::Regex::new(k).is_ok_and(|re| re.is_match(seg)))
            });
        if let Some((k, sub)) = by_pattern {
            at.push_str("/patternProperties/");
            at.push_str(&k.replace('~', "~0").replace('/', "~1"));
            s = resolve(root, sub);
            continue;
        }
        match s.get("additionalProperties") {
            Some(Value::Bool(false)) => {
                return Reach::Impossible {
                    why: format!("`{seg}` is not one of its properties and no other is allowed"),
                    at,
                }
            }
            Some(extra) if extra.is_object() => {
                at.push_str("/additionalProperties");
                s = resolve(root, extra);
            }
            _ => {
                return Reach::NotNamed { at };
            }
        }
    }
    Reach::Described { types: types_of(s) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_path_is_described_not_named_or_impossible() {
        let schema = json!({
            "type": "object",
            "$defs": {"run": {"type": "object", "properties": {"conclusion": {"enum": ["success", "failure"]}}, "additionalProperties": false}},
            "properties": {
                "workflow_run": {"$ref": "#/$defs/run"},
                "n": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "patternProperties": {"^x-": {"type": "boolean"}}
        });
        assert_eq!(
            reach(&schema, &["workflow_run", "conclusion"]),
            Reach::Described {
                types: vec!["string".into()]
            }
        );
        assert_eq!(
            reach(&schema, &["n"]),
            Reach::Described {
                types: vec!["number".into()]
            }
        );
        assert_eq!(
            reach(&schema, &["tags", "0", "k"]),
            Reach::Described {
                types: vec!["string".into()]
            }
        );
        assert_eq!(
            reach(&schema, &["labels", "team"]),
            Reach::Described {
                types: vec!["string".into()]
            }
        );
        assert_eq!(
            reach(&schema, &["x-flag"]),
            Reach::Described {
                types: vec!["boolean".into()]
            }
        );
        assert_eq!(
            reach(&schema, &["renamed"]),
            Reach::NotNamed { at: String::new() }
        );
        assert!(
            matches!(reach(&schema, &["workflow_run", "status"]), Reach::Impossible { ref at, .. } if at == "/properties/workflow_run")
        );
        assert!(
            matches!(reach(&schema, &["n", "value"]), Reach::Impossible { ref why, .. } if why.contains("number"))
        );
    }
}
