//! `where` conditions: typed tests on event fields, combined with `all`, `any` and `not`.
//!
//! A test is `{field: <path>, <op>: <value>}` with one operator: `eq`, `ne`, `lt`, `lte`,
//! `gt`, `gte`, `in`, `not_in`, `matches` (a regular expression), `contains` (a substring, or
//! an element of a list), `exists` (true or false). The value's type says how to compare:
//! a number compares numbers by value, a string compares strings (so RFC 3339 times order as
//! times), and a value of another type than the operator expects never holds. A path that
//! opens arrays yields several values: a test holds when any of them passes, except `ne` and
//! `not_in`, which hold when none is equal (so an absent field is `ne` anything).

use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ruleset::Invalid;
use crate::scope::{found_value, FieldPath, Scope};

/// A parsed condition.
#[derive(Clone, Debug)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Test(Test),
}

#[derive(Clone, Debug)]
pub struct Test {
    pub field: FieldPath,
    pub op: Op,
}

#[derive(Clone, Debug)]
pub enum Op {
    Eq(Value),
    Ne(Value),
    Lt(Ordered),
    Lte(Ordered),
    Gt(Ordered),
    Gte(Ordered),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Matches(Regex),
    Contains(Value),
    Exists(bool),
}

/// A value that orders: a number or a string.
#[derive(Clone, Debug, PartialEq)]
pub enum Ordered {
    Num(f64),
    Str(String),
}

const OPS: &[&str] = &[
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "matches", "contains", "exists",
];

fn invalid<T>(at: &str, message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        at: at.to_string(),
        message: message.into(),
    })
}

impl Condition {
    /// Parses a condition, or a list of conditions that must all hold; `roots` are the path
    /// roots it may use.
    pub fn parse(v: &Value, at: &str, roots: &[&str]) -> Result<Condition, Invalid> {
        match v {
            Value::Array(items) => Ok(Condition::All(parse_list(items, at, roots)?)),
            Value::Object(m) => parse_object(m, at, roots),
            _ => invalid(
                at,
                "a condition is a map (`{field: …, eq: …}`, `all`, `any` or `not`) or a list of them",
            ),
        }
    }

    /// Evaluates the condition and says, for every test in it, what was wanted and found.
    pub fn eval(&self, scope: &Scope<'_>) -> ConditionTrace {
        match self {
            Condition::All(cs) => {
                let children: Vec<ConditionTrace> = cs.iter().map(|c| c.eval(scope)).collect();
                let held = children.iter().all(|c| c.held);
                ConditionTrace::group("all", held, children)
            }
            Condition::Any(cs) => {
                let children: Vec<ConditionTrace> = cs.iter().map(|c| c.eval(scope)).collect();
                let held = children.iter().any(|c| c.held);
                ConditionTrace::group("any", held, children)
            }
            Condition::Not(c) => {
                let child = c.eval(scope);
                ConditionTrace::group("not", !child.held, vec![child])
            }
            Condition::Test(t) => {
                let values = scope.resolve(&t.field);
                ConditionTrace {
                    op: t.op.name().to_string(),
                    field: Some(t.field.text.clone()),
                    wanted: Some(t.op.wanted()),
                    found: Some(found_value(&values)),
                    held: t.op.holds(&values),
                    children: Vec::new(),
                }
            }
        }
    }

    /// Whether the condition holds, without a trace.
    pub fn holds(&self, scope: &Scope<'_>) -> bool {
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.holds(scope)),
            Condition::Any(cs) => cs.iter().any(|c| c.holds(scope)),
            Condition::Not(c) => !c.holds(scope),
            Condition::Test(t) => t.op.holds(&scope.resolve(&t.field)),
        }
    }

    /// The top-level conditions: those of an `all`, or this one alone.
    pub fn top_level(&self) -> &[Condition] {
        match self {
            Condition::All(cs) => cs,
            other => std::slice::from_ref(other),
        }
    }
}

fn parse_list(items: &[Value], at: &str, roots: &[&str]) -> Result<Vec<Condition>, Invalid> {
    if items.is_empty() {
        return invalid(at, "a list of conditions is empty");
    }
    items
        .iter()
        .enumerate()
        .map(|(i, c)| Condition::parse(c, &format!("{at}[{i}]"), roots))
        .collect()
}

fn parse_object(m: &Map<String, Value>, at: &str, roots: &[&str]) -> Result<Condition, Invalid> {
    for group in ["all", "any", "not"] {
        if let Some(inner) = m.get(group) {
            if m.len() > 1 {
                return invalid(at, format!("`{group}` stands alone in its map"));
            }
            let here = format!("{at}.{group}");
            return match (group, inner) {
                ("not", v) => Ok(Condition::Not(Box::new(Condition::parse(v, &here, roots)?))),
                ("all", Value::Array(items)) => {
                    Ok(Condition::All(parse_list(items, &here, roots)?))
                }
                ("any", Value::Array(items)) => {
                    Ok(Condition::Any(parse_list(items, &here, roots)?))
                }
                _ => invalid(&here, format!("`{group}` takes a list of conditions")),
            };
        }
    }
    let Some(field) = m.get("field") else {
        return invalid(
            at,
            "a condition needs `field` and one operator, or is `all`, `any` or `not`",
        );
    };
    let Some(field) = field.as_str() else {
        return invalid(
            &format!("{at}.field"),
            "`field` is a dotted path, as a string",
        );
    };
    let field = FieldPath::parse(field, roots).map_err(|message| Invalid {
        at: format!("{at}.field"),
        message,
    })?;
    let mut ops = m.iter().filter(|(k, _)| k.as_str() != "field");
    let Some((name, value)) = ops.next() else {
        return invalid(
            at,
            format!("a condition needs an operator: one of {}", OPS.join(", ")),
        );
    };
    if let Some((other, _)) = ops.next() {
        return invalid(
            at,
            format!("a condition has one operator; this one has `{name}` and `{other}`"),
        );
    }
    let here = format!("{at}.{name}");
    let op = parse_op(name, value, &here)?;
    Ok(Condition::Test(Test { field, op }))
}

fn parse_op(name: &str, v: &Value, at: &str) -> Result<Op, Invalid> {
    let scalar = |v: &Value| -> Result<Value, Invalid> {
        match v {
            Value::Array(_) | Value::Object(_) => invalid(
                at,
                format!("`{name}` compares with a string, number, boolean or null"),
            ),
            _ => Ok(v.clone()),
        }
    };
    let ordered = |v: &Value| -> Result<Ordered, Invalid> {
        match v {
            Value::Number(n) => Ok(Ordered::Num(n.as_f64().unwrap_or(f64::NAN))),
            Value::String(s) => Ok(Ordered::Str(s.clone())),
            _ => invalid(at, format!("`{name}` compares with a number or a string")),
        }
    };
    let list = |v: &Value| -> Result<Vec<Value>, Invalid> {
        match v {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|i| match i {
                    Value::Array(_) | Value::Object(_) => invalid(
                        at,
                        format!("`{name}` lists strings, numbers, booleans or null"),
                    ),
                    _ => Ok(i.clone()),
                })
                .collect(),
            Value::Array(_) => invalid(at, format!("`{name}` has an empty list")),
            _ => invalid(at, format!("`{name}` takes a list")),
        }
    };
    Ok(match name {
        "eq" => Op::Eq(scalar(v)?),
        "ne" => Op::Ne(scalar(v)?),
        "lt" => Op::Lt(ordered(v)?),
        "lte" => Op::Lte(ordered(v)?),
        "gt" => Op::Gt(ordered(v)?),
        "gte" => Op::Gte(ordered(v)?),
        "in" => Op::In(list(v)?),
        "not_in" => Op::NotIn(list(v)?),
        "contains" => Op::Contains(scalar(v)?),
        "exists" => match v {
            Value::Bool(b) => Op::Exists(*b),
            _ => return invalid(at, "`exists` is true or false"),
        },
        "matches" => match v {
            Value::String(re) => Op::Matches(Regex::new(re).map_err(|e| Invalid {
                at: at.to_string(),
                message: format!("not a valid regular expression: {e}"),
            })?),
            _ => return invalid(at, "`matches` takes a regular expression, as a string"),
        },
        other => {
            return invalid(
                at,
                format!(
                    "`{other}` is not an operator: use one of {}",
                    OPS.join(", ")
                ),
            )
        }
    })
}

/// Typed equality: numbers by value, other scalars exactly.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(found: &Value, wanted: &Ordered) -> Option<std::cmp::Ordering> {
    match (found, wanted) {
        (Value::Number(n), Ordered::Num(w)) => n.as_f64()?.partial_cmp(w),
        (Value::String(s), Ordered::Str(w)) => Some(s.as_str().cmp(w.as_str())),
        _ => None,
    }
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "eq",
            Op::Ne(_) => "ne",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::In(_) => "in",
            Op::NotIn(_) => "not_in",
            Op::Matches(_) => "matches",
            Op::Contains(_) => "contains",
            Op::Exists(_) => "exists",
        }
    }

    fn wanted(&self) -> Value {
        match self {
            Op::Eq(v) | Op::Ne(v) | Op::Contains(v) => v.clone(),
            Op::Lt(o) | Op::Lte(o) | Op::Gt(o) | Op::Gte(o) => match o {
                Ordered::Num(n) => serde_json::Number::from_f64(*n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
                Ordered::Str(s) => Value::String(s.clone()),
            },
            Op::In(l) | Op::NotIn(l) => Value::Array(l.clone()),
            Op::Matches(re) => Value::String(re.as_str().to_string()),
            Op::Exists(b) => Value::Bool(*b),
        }
    }

    /// Whether the values found at the field pass.
    pub fn holds(&self, values: &[&Value]) -> bool {
        use std::cmp::Ordering::*;
        let any = |f: &dyn Fn(&Value) -> bool| values.iter().any(|v| f(v));
        match self {
            Op::Eq(w) => any(&|v| same(v, w)),
            Op::Ne(w) => !any(&|v| same(v, w)),
            Op::Lt(w) => any(&|v| compare(v, w) == Some(Less)),
            Op::Lte(w) => any(&|v| matches!(compare(v, w), Some(Less | Equal))),
            Op::Gt(w) => any(&|v| compare(v, w) == Some(Greater)),
            Op::Gte(w) => any(&|v| matches!(compare(v, w), Some(Greater | Equal))),
            Op::In(l) => any(&|v| l.iter().any(|w| same(v, w))),
            Op::NotIn(l) => !any(&|v| l.iter().any(|w| same(v, w))),
            Op::Matches(re) => any(&|v| v.as_str().is_some_and(|s| re.is_match(s))),
            Op::Contains(w) => match w {
                // A path that ends at a list is opened: an element equal to `w` is a value.
                Value::String(needle) => {
                    any(&|v| v.as_str().is_some_and(|s| s.contains(needle.as_str())))
                }
                _ => any(&|v| same(v, w)),
            },
            Op::Exists(want) => values.is_empty() != *want,
        }
    }
}

/// What a condition wanted, found, and whether it held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConditionTrace {
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wanted: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<Value>,
    pub held: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ConditionTrace>,
}

impl ConditionTrace {
    fn group(op: &str, held: bool, children: Vec<ConditionTrace>) -> ConditionTrace {
        ConditionTrace {
            op: op.to_string(),
            field: None,
            wanted: None,
            found: None,
            held,
            children,
        }
    }

    /// One phrase a person reads: `data.count was 2, wanted gte 3`.
    pub fn phrase(&self) -> String {
        match (&self.field, &self.wanted, &self.found) {
            (Some(f), Some(w), Some(found)) => {
                let found = if found.is_null() {
                    "absent".to_string()
                } else {
                    found.to_string()
                };
                format!("{f} was {found}, wanted {} {w}", self.op.replace('_', " "))
            }
            _ => {
                let parts: Vec<String> = self.children.iter().map(|c| c.phrase()).collect();
                match self.op.as_str() {
                    "not" => format!("not ({})", parts.join("; ")),
                    op => format!("{op} of ({})", parts.join("; ")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::EVENT_ROOTS;
    use serde_json::json;

    fn cond(v: Value) -> Condition {
        Condition::parse(&v, "where", EVENT_ROOTS).unwrap()
    }

    fn holds(c: Value, e: Value) -> bool {
        let c = cond(c);
        let t = c.eval(&Scope::event(&e));
        assert_eq!(
            t.held,
            c.holds(&Scope::event(&e)),
            "trace and plain evaluation agree"
        );
        t.held
    }

    #[test]
    fn numbers_compare_by_value_and_strings_as_strings() {
        let e = json!({"data": {"n": 300, "s": "2026-11-20T09:00:00Z"}});
        assert!(holds(json!({"field": "data.n", "eq": 3.0e2}), e.clone()));
        assert!(holds(json!({"field": "data.n", "gte": 300}), e.clone()));
        assert!(!holds(json!({"field": "data.n", "gt": 300}), e.clone()));
        assert!(holds(
            json!({"field": "data.s", "lt": "2026-11-21T00:00:00Z"}),
            e.clone()
        ));
        // A string is never a number, even when it reads like one.
        assert!(!holds(json!({"field": "data.s", "gt": 1}), e.clone()));
        assert!(!holds(json!({"field": "data.n", "eq": "300"}), e));
    }

    #[test]
    fn ne_and_not_in_hold_when_no_value_is_equal_absence_included() {
        let e = json!({"data": {"tags": ["a", "b"]}});
        assert!(!holds(json!({"field": "data.tags", "ne": "a"}), e.clone()));
        assert!(holds(
            json!({"field": "data.tags", "not_in": ["c", "d"]}),
            e.clone()
        ));
        assert!(holds(
            json!({"field": "data.missing", "ne": "a"}),
            e.clone()
        ));
        assert!(holds(json!({"field": "data.tags", "in": ["x", "b"]}), e));
    }

    #[test]
    fn matches_contains_and_exists() {
        let e = json!({"subject": "acme/web", "data": {"labels": ["p1", "db"], "n": null}});
        assert!(holds(
            json!({"field": "subject", "matches": "^acme/"}),
            e.clone()
        ));
        assert!(holds(
            json!({"field": "subject", "contains": "me/w"}),
            e.clone()
        ));
        assert!(holds(
            json!({"field": "data.labels", "contains": "db"}),
            e.clone()
        ));
        assert!(holds(json!({"field": "data.n", "exists": true}), e.clone()));
        assert!(holds(json!({"field": "data.gone", "exists": false}), e));
    }

    #[test]
    fn all_any_and_not_combine_and_trace_every_test() {
        let e = json!({"data": {"a": 1, "b": "x"}});
        let c = cond(json!([
            {"any": [{"field": "data.a", "eq": 2}, {"field": "data.b", "eq": "x"}]},
            {"not": {"field": "data.a", "gt": 5}}
        ]));
        let t = c.eval(&Scope::event(&e));
        assert!(t.held);
        assert_eq!(t.children.len(), 2);
        assert_eq!(t.children[0].children.len(), 2);
        assert!(!t.children[0].children[0].held);
        assert_eq!(
            t.children[0].children[0].phrase(),
            "data.a was 1, wanted eq 2"
        );
    }

    #[test]
    fn bad_conditions_say_where_and_why() {
        let bad = |v: Value| Condition::parse(&v, "where", EVENT_ROOTS).unwrap_err();
        let e = bad(json!({"field": "data.a", "gt": 1, "lt": 5}));
        assert!(e.message.contains("one operator"), "{e:?}");
        let e = bad(json!({"field": "data.a", "between": 1}));
        assert!(e.message.contains("not an operator"));
        assert_eq!(e.at, "where.between");
        let e = bad(json!({"field": "data.a", "gt": true}));
        assert!(e.message.contains("number or a string"));
        let e = bad(json!({"field": "data.a", "matches": "("}));
        assert!(e.message.contains("regular expression"));
        let e = bad(json!({"any": []}));
        assert!(e.message.contains("empty"));
        let e = bad(json!({"field": "detail.a", "eq": 1}));
        assert_eq!(e.at, "where.field");
        let e = bad(json!([{"field": "data.a", "eq": 1}, {"field": "data.b"}]));
        assert_eq!(e.at, "where[1]");
    }
}
