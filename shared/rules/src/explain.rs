//! Pattern explanations: for each field of a pattern, what it wanted, what the event had
//! there, and whether it held. Decisions carry them for the rules that fired and the near
//! misses, so that a person can see why a rule did or did not fire.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::pattern::{AnythingBut, Matcher, Pattern, Wildcard, WildcardPiece};
use crate::reference::value_matches;

/// One field of a pattern, ready to be explained: what it wants written back as pattern
/// JSON once.
#[derive(Clone, Debug)]
struct FieldPlan {
    path: Arc<str>,
    matchers: Vec<Matcher>,
    allows_absence: bool,
    wanted: Arc<Value>,
}

/// A pattern prepared for explanations: built once per rule when the rule set loads.
#[derive(Clone, Debug)]
pub struct PatternPlan {
    sub_rules: Vec<Vec<FieldPlan>>,
}

/// One field of a pattern, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldCheck {
    pub path: Arc<str>,
    pub wanted: Arc<Value>,
    pub found: Value,
    pub held: bool,
}

/// A pattern checked against an event: the fields of its closest sub-rule (the one that
/// matched, or the one with the fewest failing fields), and whether the fields that held
/// could be taken from the same array elements.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternCheck {
    pub fields: Vec<FieldCheck>,
    /// False when every field held alone but not together from one array element.
    pub arrays_consistent: bool,
}

impl PatternCheck {
    pub fn failures(&self) -> usize {
        self.fields.iter().filter(|f| !f.held).count() + usize::from(!self.arrays_consistent)
    }

    pub fn held(&self) -> bool {
        self.failures() == 0
    }
}

/// Collects the leaves whose flattened path is `target`, as [`crate::event::flatten`] names
/// them (keys joined with dots, a key that itself holds a dot included). `pos` is how much of
/// `target` the path so far spells (0: the empty path, which joins its next key without a
/// dot). Subtrees off the way to `target` are not entered, and no path is built: keys are
/// compared with the target in place.
fn leaves_at<'a>(v: &'a Value, pos: usize, target: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            let t = target.as_bytes();
            let start = if pos == 0 {
                0
            } else if t.get(pos) == Some(&b'.') {
                pos + 1
            } else {
                return;
            };
            for (k, child) in m {
                let end = start + k.len();
                if t.get(start..end) != Some(k.as_bytes()) {
                    continue;
                }
                if end == 0 || end == t.len() || t.get(end) == Some(&b'.') {
                    leaves_at(child, end, target, out);
                }
            }
        }
        Value::Array(items) => {
            for i in items {
                leaves_at(i, pos, target, out);
            }
        }
        leaf => {
            if pos > 0 && pos == target.len() {
                out.push(leaf);
            }
        }
    }
}

impl FieldPlan {
    /// Whether the field holds, given the leaves found at its path.
    fn holds_on(&self, found: &[&Value]) -> bool {
        (self.allows_absence && found.is_empty())
            || found
                .iter()
                .any(|v| self.matchers.iter().any(|m| value_matches(m, v)))
    }
}

impl PatternPlan {
    pub fn new(pattern: &Pattern) -> PatternPlan {
        PatternPlan {
            sub_rules: pattern
                .sub_rules
                .iter()
                .map(|s| {
                    s.fields
                        .iter()
                        .map(|f| FieldPlan {
                            path: Arc::from(f.path.as_str()),
                            matchers: f.matchers.clone(),
                            allows_absence: f.allows_absence(),
                            wanted: Arc::new(Value::Array(
                                f.matchers.iter().map(matcher_json).collect(),
                            )),
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// How many fields sub-rule `sub` has.
    pub fn fields(&self, sub: usize) -> usize {
        self.sub_rules.get(sub).map_or(0, Vec::len)
    }

    /// The full check of sub-rule `sub`, field by field.
    pub fn explain(&self, event: &Value, sub: usize, matched: bool) -> PatternCheck {
        let Some(fields) = self.sub_rules.get(sub) else {
            return PatternCheck {
                fields: Vec::new(),
                arrays_consistent: true,
            };
        };
        let fields: Vec<FieldCheck> = fields
            .iter()
            .map(|f| {
                let mut found = Vec::new();
                leaves_at(event, 0, &f.path, &mut found);
                FieldCheck {
                    path: f.path.clone(),
                    wanted: f.wanted.clone(),
                    held: f.holds_on(&found),
                    found: crate::scope::found_value(&found),
                }
            })
            .collect();
        let all_held = fields.iter().all(|f| f.held);
        PatternCheck {
            arrays_consistent: matched || !all_held,
            fields,
        }
    }
}

fn wildcard_text(w: &Wildcard) -> String {
    let mut s = String::new();
    for p in &w.pieces {
        match p {
            WildcardPiece::Star => s.push('*'),
            WildcardPiece::Literal(l) => {
                for c in l.chars() {
                    if c == '*' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
            }
        }
    }
    s
}

fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// A matcher written back as pattern JSON.
pub fn matcher_json(m: &Matcher) -> Value {
    match m {
        Matcher::ExactString(s) => json!(s),
        Matcher::ExactIp(ip) => json!(ip.to_string()),
        Matcher::ExactNumber(n) => num(*n),
        Matcher::ExactBool(b) => json!(b),
        Matcher::ExactNull => Value::Null,
        Matcher::Prefix(p) => json!({ "prefix": p }),
        Matcher::PrefixIgnoreCase(p) => json!({"prefix": {"equals-ignore-case": p}}),
        Matcher::Suffix(p) => json!({ "suffix": p }),
        Matcher::SuffixIgnoreCase(p) => json!({"suffix": {"equals-ignore-case": p}}),
        Matcher::EqualsIgnoreCase(p) => json!({ "equals-ignore-case": p }),
        Matcher::Wildcard(w) => json!({ "wildcard": wildcard_text(w) }),
        Matcher::Exists(b) => json!({ "exists": b }),
        Matcher::Cidr(c) => json!({"cidr": format!("{}/{}", c.network, c.prefix)}),
        Matcher::Numeric(r) => {
            let mut parts = Vec::new();
            if let Some((x, inc)) = r.low {
                parts.push(json!(if inc { ">=" } else { ">" }));
                parts.push(num(x));
            }
            if let Some((x, inc)) = r.high {
                parts.push(json!(if inc { "<=" } else { "<" }));
                parts.push(num(x));
            }
            json!({ "numeric": parts })
        }
        Matcher::AnythingBut(ab) => {
            let inner = match ab {
                AnythingBut::Strings(l) => json!(l),
                AnythingBut::Numbers(l) => Value::Array(l.iter().map(|x| num(*x)).collect()),
                AnythingBut::Prefixes(l) => json!({ "prefix": l }),
                AnythingBut::Suffixes(l) => json!({ "suffix": l }),
                AnythingBut::IgnoreCase(l) => json!({ "equals-ignore-case": l }),
                AnythingBut::Wildcards(l) => {
                    json!({"wildcard": l.iter().map(wildcard_text).collect::<Vec<_>>()})
                }
            };
            json!({ "anything-but": inner })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(p: Value, e: Value) -> PatternCheck {
        let p = Pattern::parse(&p).unwrap();
        let matched = crate::reference::matches(&p, &e);
        let plan = PatternPlan::new(&p);
        // The closest sub-rule, as the compiled matcher picks it for decisions.
        let c = (0..p.sub_rules.len())
            .map(|sub| plan.explain(&e, sub, matched))
            .min_by_key(PatternCheck::failures)
            .unwrap();
        assert_eq!(c.held(), matched);
        c
    }

    #[test]
    fn each_field_says_what_was_wanted_and_found() {
        let c = check(
            json!({"source": ["github"], "data": {"state": ["failed", {"prefix": "err"}]}}),
            json!({"source": "github", "data": {"state": "passed"}}),
        );
        assert_eq!(c.failures(), 1);
        let f = c.fields.iter().find(|f| &*f.path == "data.state").unwrap();
        assert_eq!(*f.wanted, json!(["failed", {"prefix": "err"}]));
        assert_eq!(f.found, json!("passed"));
        assert!(!f.held);
        let f = c.fields.iter().find(|f| &*f.path == "source").unwrap();
        assert!(f.held);
    }

    #[test]
    fn the_closest_alternative_of_an_or_is_explained() {
        let c = check(
            json!({"$or": [{"c": [1]}, {"a": [1], "b": [1]}]}),
            json!({"a": 1, "b": 2}),
        );
        assert_eq!(c.fields.len(), 1, "{c:?}");
        assert_eq!(c.failures(), 1);
        let c = check(
            json!({"$or": [{"c": [1], "d": [1]}, {"a": [1], "b": [1]}]}),
            json!({"a": 1, "b": 2}),
        );
        assert_eq!(&*c.fields[0].path, "a");
    }

    #[test]
    fn fields_from_different_array_elements_are_reported() {
        let c = check(
            json!({"r": {"k": ["a"], "v": ["2"]}}),
            json!({"r": [{"k": "a", "v": "1"}, {"k": "b", "v": "2"}]}),
        );
        assert!(c.fields.iter().all(|f| f.held));
        assert!(!c.arrays_consistent);
        assert!(!c.held());
    }

    #[test]
    fn absence_and_objects_are_explained_as_the_matcher_sees_them() {
        let c = check(json!({"a": [{"exists": false}]}), json!({"a": {"b": 1}}));
        assert!(c.held(), "an object is not a leaf, so `a` is absent");
        let c = check(json!({"a": [{"exists": true}]}), json!({"a": []}));
        assert!(!c.held());
        assert_eq!(c.fields[0].found, Value::Null);
    }

    #[test]
    fn matchers_are_written_back_as_pattern_json() {
        let p = json!({"x": [
            {"numeric": [">", 0, "<=", 5]},
            {"anything-but": {"prefix": ["a"]}},
            {"wildcard": "a*b\\*"},
            {"cidr": "10.0.0.0/8"},
            {"suffix": {"equals-ignore-case": "z"}}
        ]});
        let parsed = Pattern::parse(&p).unwrap();
        let back: Vec<Value> = parsed.sub_rules[0].fields[0]
            .matchers
            .iter()
            .map(matcher_json)
            .collect();
        assert_eq!(Pattern::parse(&json!({ "x": back })).unwrap(), parsed);
    }
}
