//! Choice rules: comparisons, type tests, `And`/`Or`/`Not`, and JSONata conditions.
//!
//! A comparison whose variable is of another type than the operator compares is false, not an
//! error; a variable path that names nothing is a `States.Runtime` error, except for the type
//! tests (`IsPresent` and the `Is…` family), which are false on a missing value.

use serde_json::Value;

use crate::clock::parse_timestamp;
use crate::error::{quote, Failure, QUERY_EVALUATION_ERROR};
use crate::jsonata;
use crate::model::{Against, Cond, Op, TypeTest};
use crate::path::{PathError, Roots};

/// Whether `cond` holds for `input`. `states` is `$states` for a JSONata condition.
pub fn holds<E: Roots + jsonata::Scope>(
    cond: &Cond,
    input: &Value,
    env: &E,
    states: &jsonata::States<'_>,
) -> Result<bool, Failure> {
    Ok(match cond {
        Cond::And(all) => {
            for c in all {
                if !holds(c, input, env, states)? {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Or(any) => {
            for c in any {
                if holds(c, input, env, states)? {
                    return Ok(true);
                }
            }
            false
        }
        Cond::Not(c) => !holds(c, input, env, states)?,
        Cond::Test {
            variable,
            test,
            want,
        } => {
            let v = match variable.get_ref(input, env) {
                Ok(v) => Some(v),
                Err(PathError::NotFound) | Err(PathError::UnknownVariable(_)) => None,
                Err(e) => return Err(Failure::runtime(format!("{e:?}"))),
            };
            let is = match (test, v.as_deref()) {
                (TypeTest::IsPresent, v) => v.is_some(),
                (_, None) => false,
                (TypeTest::IsNull, Some(v)) => v.is_null(),
                (TypeTest::IsNumeric, Some(v)) => v.is_number(),
                (TypeTest::IsString, Some(v)) => v.is_string(),
                (TypeTest::IsBoolean, Some(v)) => v.is_boolean(),
                (TypeTest::IsTimestamp, Some(v)) => v.as_str().and_then(parse_timestamp).is_some(),
            };
            is == *want
        }
        Cond::Compare {
            variable,
            op,
            against,
        } => {
            let invalid = |p: &str| {
                Failure::runtime(format!(
                    "Invalid path '{p}': The choice state's condition path references an invalid value."
                ))
            };
            let v = variable
                .get_ref(input, env)
                .map_err(|_| invalid(variable.text()))?;
            let owned;
            let rhs: &Value = match against {
                Against::Value(x) => x,
                Against::Path(p) => {
                    owned = p.get_ref(input, env).map_err(|_| invalid(p.text()))?;
                    &owned
                }
            };
            compare(*op, &v, rhs)
        }
        Cond::Jsonata(a) => match jsonata::eval_field(a, states, env, "Condition")? {
            Value::Bool(b) => b,
            other => {
                return Err(Failure::new(
                    QUERY_EVALUATION_ERROR,
                    format!(
                        "A Condition must evaluate to true or false, not {}",
                        quote(&other)
                    ),
                ))
            }
        },
    })
}

fn compare(op: Op, v: &Value, rhs: &Value) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::StringEquals
        | Op::StringLessThan
        | Op::StringGreaterThan
        | Op::StringLessThanEquals
        | Op::StringGreaterThanEquals => {
            let (Some(a), Some(b)) = (v.as_str(), rhs.as_str()) else {
                return false;
            };
            // Strings order as Java's compareTo orders them: by UTF-16 code units.
            let ord = a.encode_utf16().cmp(b.encode_utf16());
            match op {
                Op::StringEquals => ord == Equal,
                Op::StringLessThan => ord == Less,
                Op::StringGreaterThan => ord == Greater,
                Op::StringLessThanEquals => ord != Greater,
                _ => ord != Less,
            }
        }
        Op::StringMatches => match (v.as_str(), rhs.as_str()) {
            (Some(a), Some(p)) => string_matches(a, p),
            _ => false,
        },
        Op::NumericEquals
        | Op::NumericLessThan
        | Op::NumericGreaterThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThanEquals => {
            let (Some(a), Some(b)) = (number(v), number(rhs)) else {
                return false;
            };
            match op {
                Op::NumericEquals => a == b,
                Op::NumericLessThan => a < b,
                Op::NumericGreaterThan => a > b,
                Op::NumericLessThanEquals => a <= b,
                _ => a >= b,
            }
        }
        Op::BooleanEquals => matches!((v, rhs), (Value::Bool(a), Value::Bool(b)) if a == b),
        Op::TimestampEquals
        | Op::TimestampLessThan
        | Op::TimestampGreaterThan
        | Op::TimestampLessThanEquals
        | Op::TimestampGreaterThanEquals => {
            let (Some(a), Some(b)) = (
                v.as_str().and_then(parse_timestamp),
                rhs.as_str().and_then(parse_timestamp),
            ) else {
                return false;
            };
            match op {
                Op::TimestampEquals => a == b,
                Op::TimestampLessThan => a < b,
                Op::TimestampGreaterThan => a > b,
                Op::TimestampLessThanEquals => a <= b,
                _ => a >= b,
            }
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` is a literal star and `\\` a
/// literal backslash.
pub fn string_matches(s: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Star,
        Char(char),
    }
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => pat.push(P::Char(chars.next().unwrap_or('\\'))),
            '*' => pat.push(P::Star),
            c => pat.push(P::Char(c)),
        }
    }
    let text: Vec<char> = s.chars().collect();
    // Greedy matching with backtracking to the last star: linear in practice.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(P::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(P::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|x| *x == P::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_matches_follows_the_documented_examples() {
        assert!(string_matches("log.txt", "*.txt"));
        assert!(string_matches("log.txt", "log.*"));
        assert!(string_matches("log.txt", "*"));
        assert!(!string_matches("log.txt", "*.csv"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("a\\b", "a\\\\b"));
        assert!(string_matches("", "*"));
        assert!(!string_matches("", "a"));
        assert!(string_matches("abcabd", "*ab*d"));
    }

    #[test]
    fn comparisons_of_other_types_are_false() {
        assert!(!compare(
            Op::NumericEquals,
            &Value::from("1"),
            &Value::from(1)
        ));
        assert!(compare(
            Op::NumericEquals,
            &Value::from(1),
            &serde_json::json!(1.0)
        ));
        assert!(compare(
            Op::TimestampLessThan,
            &Value::from("2026-01-01T00:00:00Z"),
            &Value::from("2026-01-01T00:00:00.001Z")
        ));
        assert!(!compare(
            Op::TimestampEquals,
            &Value::from("not a time"),
            &Value::from("not a time")
        ));
    }
}
