//! Pattern explanations: for each field of a pattern, what it wanted, what the event had
//! there, and whether it held. Decisions carry them for the rules that fired and the near
//! misses, so that a person can see why a rule did or did not fire.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::event::{consistent, flatten, Leaf};
use crate::pattern::{AnythingBut, Matcher, Pattern, SubRule, Wildcard, WildcardPiece};
use crate::reference::value_matches;

/// A flattened event, its leaves grouped by path.
pub struct Leaves<'a> {
    by_path: HashMap<String, Vec<Leaf<'a>>>,
}

impl<'a> Leaves<'a> {
    pub fn of(event: &'a Value) -> Leaves<'a> {
        let mut by_path: HashMap<String, Vec<Leaf<'a>>> = HashMap::new();
        for l in flatten(event) {
            by_path.entry(l.path.clone()).or_default().push(l);
        }
        Leaves { by_path }
    }

    fn at(&self, path: &str) -> &[Leaf<'a>] {
        self.by_path.get(path).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// One field of a pattern, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldCheck {
    pub path: String,
    pub wanted: Value,
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

/// Checks `pattern` field by field. Stops looking at a sub-rule once it has more than
/// `enough` failures, as callers only look closely at rules that nearly matched.
pub fn check_pattern(pattern: &Pattern, leaves: &Leaves<'_>, enough: usize) -> PatternCheck {
    let mut best: Option<PatternCheck> = None;
    for sub in &pattern.sub_rules {
        let c = check_sub_rule(sub, leaves, enough);
        let better = match &best {
            None => true,
            Some(b) => c.failures() < b.failures(),
        };
        if better {
            let done = c.failures() == 0;
            best = Some(c);
            if done {
                break;
            }
        }
    }
    best.unwrap_or(PatternCheck {
        fields: Vec::new(),
        arrays_consistent: true,
    })
}

fn check_sub_rule(sub: &SubRule, leaves: &Leaves<'_>, enough: usize) -> PatternCheck {
    let mut fields = Vec::with_capacity(sub.fields.len());
    let mut choices: Vec<(Vec<&Leaf<'_>>, bool)> = Vec::with_capacity(sub.fields.len());
    let mut failed = 0;
    for f in &sub.fields {
        let at = leaves.at(&f.path);
        let absent_ok = f.allows_absence() && at.is_empty();
        let candidates: Vec<&Leaf<'_>> = at
            .iter()
            .filter(|l| f.matchers.iter().any(|m| value_matches(m, l.value)))
            .collect();
        let held = absent_ok || !candidates.is_empty();
        if !held {
            failed += 1;
        }
        fields.push(FieldCheck {
            path: f.path.clone(),
            wanted: Value::Array(f.matchers.iter().map(matcher_json).collect()),
            found: match at {
                [] => Value::Null,
                [one] => one.value.clone(),
                many => Value::Array(many.iter().map(|l| l.value.clone()).collect()),
            },
            held,
        });
        choices.push((candidates, absent_ok));
        if failed > enough {
            return PatternCheck {
                fields,
                arrays_consistent: true,
            };
        }
    }
    let arrays_consistent = failed > 0 || search(&choices, &mut Vec::new());
    PatternCheck {
        fields,
        arrays_consistent,
    }
}

/// Picks one leaf per field (or none where absence is allowed), all array-consistent.
fn search<'a>(choices: &[(Vec<&'a Leaf<'a>>, bool)], picked: &mut Vec<&'a Leaf<'a>>) -> bool {
    let Some(((candidates, absent_ok), rest)) = choices.split_first() else {
        return true;
    };
    if *absent_ok && search(rest, picked) {
        return true;
    }
    for leaf in candidates {
        if picked
            .iter()
            .all(|p| consistent(&p.membership, &leaf.membership))
        {
            picked.push(leaf);
            let found = search(rest, picked);
            picked.pop();
            if found {
                return true;
            }
        }
    }
    false
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
        let reference = crate::reference::matches(&p, &e);
        let c = check_pattern(&p, &Leaves::of(&e), usize::MAX);
        assert_eq!(
            c.held(),
            reference,
            "the explanation agrees with the reference matcher"
        );
        c
    }

    #[test]
    fn each_field_says_what_was_wanted_and_found() {
        let c = check(
            json!({"source": ["github"], "data": {"state": ["failed", {"prefix": "err"}]}}),
            json!({"source": "github", "data": {"state": "passed"}}),
        );
        assert_eq!(c.failures(), 1);
        let f = c.fields.iter().find(|f| f.path == "data.state").unwrap();
        assert_eq!(f.wanted, json!(["failed", {"prefix": "err"}]));
        assert_eq!(f.found, json!("passed"));
        assert!(!f.held);
    }

    #[test]
    fn the_closest_alternative_of_an_or_is_explained() {
        let c = check(
            json!({"$or": [{"a": [1], "b": [1]}, {"c": [1]}]}),
            json!({"a": 1, "b": 2}),
        );
        assert_eq!(c.fields.len(), 2);
        assert_eq!(c.failures(), 1);
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
        assert_eq!(Pattern::parse(&json!({"x": back})).unwrap(), parsed);
    }
}
