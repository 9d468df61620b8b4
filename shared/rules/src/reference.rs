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

/// Whether one leaf value satisfies one matcher.
pub fn value_matches(m: &Matcher, v: &Value) -> bool {
    match m {
        Matcher::ExactString(s) => v.as_str() == Some(s.as_str()),
        Matcher::ExactIp(ip) => v
            .as_str()
            .and_then(crate::pattern::parse_ip)
            .is_some_and(|a| a == *ip),
        Matcher::ExactNumber(n) => v.as_f64() == Some(*n),
        Matcher::ExactBool(b) => v.as_bool() == Some(*b),
        Matcher::ExactNull => v.is_null(),
        Matcher::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::PrefixIgnoreCase(p) => v
            .as_str()
            .is_some_and(|s| s.to_lowercase().starts_with(p.as_str())),
        Matcher::Suffix(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
        Matcher::SuffixIgnoreCase(p) => v
            .as_str()
            .is_some_and(|s| s.to_lowercase().ends_with(p.as_str())),
        Matcher::EqualsIgnoreCase(p) => v.as_str().is_some_and(|s| s.to_lowercase() == *p),
        Matcher::Wildcard(w) => v.as_str().is_some_and(|s| w.matches(s)),
        Matcher::Numeric(r) => v.as_f64().is_some_and(|x| v.is_number() && r.contains(x)),
        Matcher::Exists(present) => *present,
        Matcher::Cidr(c) => v
            .as_str()
            .and_then(|s| s.parse().ok())
            .is_some_and(|ip| c.contains(&ip)),
        // Anything-but matches every leaf that is not excluded, values of other types included.
        Matcher::AnythingBut(ab) => !excluded(ab, v),
    }
}

fn excluded(ab: &AnythingBut, v: &Value) -> bool {
    match (ab, v) {
        (AnythingBut::Strings(list), Value::String(s)) => list.iter().any(|x| x == s),
        (AnythingBut::Numbers(list), Value::Number(n)) => {
            n.as_f64().is_some_and(|x| list.contains(&x))
        }
        (AnythingBut::Prefixes(list), Value::String(s)) => {
            list.iter().any(|p| s.starts_with(p.as_str()))
        }
        (AnythingBut::Suffixes(list), Value::String(s)) => {
            list.iter().any(|p| s.ends_with(p.as_str()))
        }
        (AnythingBut::IgnoreCase(list), Value::String(s)) => list.contains(&s.to_lowercase()),
        (AnythingBut::Wildcards(list), Value::String(s)) => list.iter().any(|w| w.matches(s)),
        _ => false,
    }
}
