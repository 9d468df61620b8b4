//! SNS subscription filter policies on message attributes, as the local publisher applies
//! them: every key must match, any condition of a key may.
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html>
//!
//! Supported: exact strings and numbers, `prefix`, `suffix`, `equals-ignore-case`,
//! `anything-but` (a value, a list, or a `prefix`), `numeric` ranges and `exists`. A policy
//! using anything else is refused when the subscription is made, never ignored.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid filter policy at `{path}`: {problem}")]
pub struct FilterError {
    pub path: String,
    pub problem: String,
}

/// A compiled filter policy.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterPolicy {
    keys: Vec<(String, Vec<Cond>)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Cond {
    Exact(String),
    Number(f64),
    Prefix(String),
    Suffix(String),
    IgnoreCase(String),
    AnythingBut(Vec<String>),
    AnythingButPrefix(String),
    Numeric(Vec<(String, f64)>),
    Exists(bool),
}

impl FilterPolicy {
    pub fn parse(policy: &Value) -> Result<FilterPolicy, FilterError> {
        let err = |path: &str, problem: &str| FilterError {
            path: path.to_string(),
            problem: problem.to_string(),
        };
        let obj = policy
            .as_object()
            .ok_or_else(|| err("", "must be an object"))?;
        let mut keys = Vec::new();
        for (k, v) in obj {
            let list = v
                .as_array()
                .ok_or_else(|| err(k, "must be an array of conditions"))?;
            if list.is_empty() {
                return Err(err(k, "must not be empty"));
            }
            let mut conds = Vec::new();
            for c in list {
                conds.push(match c {
                    Value::String(s) => Cond::Exact(s.clone()),
                    Value::Number(n) => Cond::Number(n.as_f64().unwrap_or(f64::NAN)),
                    Value::Object(o) if o.len() == 1 => {
                        let (op, arg) = o.iter().next().ok_or_else(|| err(k, "empty operator"))?;
                        let s = || {
                            arg.as_str()
                                .map(str::to_string)
                                .ok_or_else(|| err(k, &format!("`{op}` takes a string")))
                        };
                        match op.as_str() {
                            "prefix" => Cond::Prefix(s()?),
                            "suffix" => Cond::Suffix(s()?),
                            "equals-ignore-case" => Cond::IgnoreCase(s()?.to_lowercase()),
                            "exists" => Cond::Exists(
                                arg.as_bool()
                                    .ok_or_else(|| err(k, "`exists` takes true or false"))?,
                            ),
                            "anything-but" => match arg {
                                Value::String(s) => Cond::AnythingBut(vec![s.clone()]),
                                Value::Array(a) => Cond::AnythingBut(
                                    a.iter()
                                        .map(|x| {
                                            x.as_str().map(str::to_string).ok_or_else(|| {
                                                err(k, "`anything-but` lists strings")
                                            })
                                        })
                                        .collect::<Result<_, _>>()?,
                                ),
                                Value::Object(p) if p.len() == 1 && p.contains_key("prefix") => {
                                    Cond::AnythingButPrefix(
                                        p["prefix"]
                                            .as_str()
                                            .ok_or_else(|| err(k, "prefix takes a string"))?
                                            .to_string(),
                                    )
                                }
                                _ => {
                                    return Err(err(
                                        k,
                                        "`anything-but` takes a string, a list or {\"prefix\": …}",
                                    ))
                                }
                            },
                            "numeric" => {
                                let a = arg
                                    .as_array()
                                    .ok_or_else(|| err(k, "`numeric` takes [op, value, …]"))?;
                                if a.is_empty() || a.len() % 2 != 0 {
                                    return Err(err(
                                        k,
                                        "`numeric` takes pairs of operator and value",
                                    ));
                                }
                                let mut pairs = Vec::new();
                                for pair in a.chunks(2) {
                                    let op = pair[0]
                                        .as_str()
                                        .filter(|o| ["=", "<", "<=", ">", ">="].contains(o))
                                        .ok_or_else(|| {
                                            err(k, "numeric operator must be one of = < <= > >=")
                                        })?;
                                    let v = pair[1]
                                        .as_f64()
                                        .ok_or_else(|| err(k, "numeric value must be a number"))?;
                                    pairs.push((op.to_string(), v));
                                }
                                Cond::Numeric(pairs)
                            }
                            other => {
                                return Err(err(
                                    k,
                                    &format!(
                                    "operator `{other}` is not supported by the local publisher"
                                ),
                                ))
                            }
                        }
                    }
                    _ => {
                        return Err(err(
                            k,
                            "conditions are strings, numbers or one-operator objects",
                        ))
                    }
                });
            }
            keys.push((k.clone(), conds));
        }
        Ok(FilterPolicy { keys })
    }

    pub fn matches(&self, attributes: &BTreeMap<String, String>) -> bool {
        self.keys.iter().all(|(k, conds)| {
            let v = attributes.get(k);
            conds.iter().any(|c| cond_matches(c, v.map(String::as_str)))
        })
    }
}

fn cond_matches(c: &Cond, v: Option<&str>) -> bool {
    match (c, v) {
        (Cond::Exists(want), v) => *want == v.is_some(),
        (_, None) => false,
        (Cond::Exact(s), Some(v)) => s == v,
        (Cond::Number(n), Some(v)) => v.parse::<f64>().is_ok_and(|x| x == *n),
        (Cond::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
        (Cond::Suffix(p), Some(v)) => v.ends_with(p.as_str()),
        (Cond::IgnoreCase(s), Some(v)) => v.to_lowercase() == *s,
        (Cond::AnythingBut(list), Some(v)) => !list.iter().any(|s| s == v),
        (Cond::AnythingButPrefix(p), Some(v)) => !v.starts_with(p.as_str()),
        (Cond::Numeric(pairs), Some(v)) => v.parse::<f64>().is_ok_and(|x| {
            pairs.iter().all(|(op, n)| match op.as_str() {
                "=" => x == *n,
                "<" => x < *n,
                "<=" => x <= *n,
                ">" => x > *n,
                _ => x >= *n,
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_key_must_match_and_any_condition_may() {
        let p = FilterPolicy::parse(
            &json!({"source": ["github", {"prefix": "aws."}], "type": [{"anything-but": "beat"}]}),
        )
        .unwrap();
        assert!(p.matches(&attrs(&[("source", "github"), ("type", "push")])));
        assert!(p.matches(&attrs(&[("source", "aws.ec2"), ("type", "x")])));
        assert!(!p.matches(&attrs(&[("source", "github"), ("type", "beat")])));
        assert!(!p.matches(&attrs(&[("source", "gitlab"), ("type", "push")])));
        assert!(
            !p.matches(&attrs(&[("type", "push")])),
            "a missing attribute matches nothing but exists:false"
        );
    }

    #[test]
    fn exists_numeric_and_ignore_case() {
        let p = FilterPolicy::parse(&json!({"severity": [{"numeric": [">=", 3, "<", 5]}], "redecide": [{"exists": false}], "env": [{"equals-ignore-case": "PROD"}]})).unwrap();
        assert!(p.matches(&attrs(&[("severity", "3"), ("env", "prod")])));
        assert!(!p.matches(&attrs(&[("severity", "5"), ("env", "prod")])));
        assert!(!p.matches(&attrs(&[
            ("severity", "4"),
            ("env", "prod"),
            ("redecide", "1")
        ])));
    }

    #[test]
    fn unsupported_operators_are_refused_not_ignored() {
        let e = FilterPolicy::parse(&json!({"a": [{"cidr": "10.0.0.0/8"}]})).unwrap_err();
        assert!(e.problem.contains("cidr"), "{e}");
        assert!(FilterPolicy::parse(&json!({"a": []})).is_err());
        assert!(FilterPolicy::parse(&json!({"a": [{"numeric": [">"]}]})).is_err());
    }
}
