//! The reference matcher: obviously right, not fast. It flattens the event, and for each
//! sub-rule searches for one leaf per field, all from the same array elements. Every faster
//! matcher is held equal to this one by property tests.

use serde_json::Value;

use crate::event::{consistent, flatten, Leaf};
use crate::pattern::{AnythingBut, Matcher, Pattern, SubRule};

/// Whether `event` matches `pattern`.
pub fn matches(pattern: &Pattern, event: &Value) -> bool {
    let leaves = flatten(event);
    pattern
        .sub_rules
        .iter()
        .any(|r| sub_rule_matches(r, &leaves))
}

fn sub_rule_matches(rule: &SubRule, leaves: &[Leaf<'_>]) -> bool {
    // For each field: the leaves that satisfy it, and whether it may be satisfied by absence.
    let mut choices: Vec<(Vec<&Leaf<'_>>, bool)> = Vec::with_capacity(rule.fields.len());
    for f in &rule.fields {
        let at_path: Vec<&Leaf<'_>> = leaves.iter().filter(|l| l.path == f.path).collect();
        let absent_ok = f.allows_absence() && at_path.is_empty();
        let candidates: Vec<&Leaf<'_>> = at_path
            .into_iter()
            .filter(|l| f.matchers.iter().any(|m| value_matches(m, l.value)))
            .collect();
        if candidates.is_empty() && !absent_ok {
            return false;
        }
        choices.push((candidates, absent_ok));
    }
    search(&choices, &mut Vec::new())
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

/// A leaf value: what a matcher looks at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Null,
}

impl<'a> Scalar<'a> {
    /// The scalar of a JSON leaf; `None` for arrays and objects, which are not leaves.
    pub fn of(v: &'a Value) -> Option<Scalar<'a>> {
        match v {
            Value::String(s) => Some(Scalar::Str(s)),
            Value::Number(n) => Some(Scalar::Num(n.as_f64().unwrap_or(f64::NAN))),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Null => Some(Scalar::Null),
            _ => None,
        }
    }
}

/// Whether one leaf value satisfies one matcher.
pub fn value_matches(m: &Matcher, v: &Value) -> bool {
    Scalar::of(v).is_some_and(|s| scalar_matches(m, s))
}

/// Whether one scalar satisfies one matcher: the value semantics of every operator, in one
/// place for every matcher.
pub fn scalar_matches(m: &Matcher, v: Scalar<'_>) -> bool {
    let text = match v {
        Scalar::Str(s) => Some(s),
        _ => None,
    };
    match m {
        Matcher::ExactString(s) => text == Some(s.as_str()),
        Matcher::ExactIp(ip) => text
            .and_then(crate::pattern::parse_ip)
            .is_some_and(|a| a == *ip),
        Matcher::ExactNumber(n) => v == Scalar::Num(*n),
        Matcher::ExactBool(b) => v == Scalar::Bool(*b),
        Matcher::ExactNull => v == Scalar::Null,
        Matcher::Prefix(p) => text.is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::PrefixIgnoreCase(p) => {
            text.is_some_and(|s| s.to_lowercase().starts_with(p.as_str()))
        }
        Matcher::Suffix(p) => text.is_some_and(|s| s.ends_with(p.as_str())),
        Matcher::SuffixIgnoreCase(p) => {
            text.is_some_and(|s| s.to_lowercase().ends_with(p.as_str()))
        }
        Matcher::EqualsIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase() == *p),
        Matcher::Wildcard(w) => text.is_some_and(|s| w.matches(s)),
        Matcher::Numeric(r) => {
            matches!(v, Scalar::Num(x) if crate::pattern::comparable(x) && r.contains(x))
        }
        Matcher::Exists(present) => *present,
        Matcher::Cidr(c) => text
            .and_then(crate::pattern::parse_ip)
            .is_some_and(|ip| c.contains(&ip)),
        // Anything-but matches every leaf that is not excluded, values of other types included.
        Matcher::AnythingBut(ab) => !excluded(ab, v),
    }
}

fn excluded(ab: &AnythingBut, v: Scalar<'_>) -> bool {
    match (ab, v) {
        (AnythingBut::Strings(list), Scalar::Str(s)) => list.iter().any(|x| x == s),
        (AnythingBut::Numbers(list), Scalar::Num(x)) => {
            crate::pattern::comparable(x) && list.contains(&x)
        }
        (AnythingBut::Prefixes(list), Scalar::Str(s)) => {
            list.iter().any(|p| s.starts_with(p.as_str()))
        }
        (AnythingBut::Suffixes(list), Scalar::Str(s)) => {
            list.iter().any(|p| s.ends_with(p.as_str()))
        }
        (AnythingBut::IgnoreCase(list), Scalar::Str(s)) => list.contains(&s.to_lowercase()),
        (AnythingBut::Wildcards(list), Scalar::Str(s)) => list.iter().any(|w| w.matches(s)),
        _ => false,
    }
}
