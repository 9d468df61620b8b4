//! What a rule reads of an event: every field path of its pattern, condition, window,
//! score, dedupe key, explanation and action templates, with the JSON types that could
//! satisfy what it asks of the field there. `helios rules check --schemas` compares them with
//! the registered schema of the subjects the rule matches (issue 17).

use serde::Serialize;
use serde_json::Value;

use crate::condition::{Condition, Op, Ordered};
use crate::pattern::{Matcher, Pattern};
use crate::ruleset::Rule;
use crate::template::{Template, Templated};
use crate::window::Aggregate;

/// One place a rule reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Read {
    /// A dotted path into the event (`data.workflow_run.conclusion`).
    pub path: String,
    /// The JSON types a value there could have for what the rule asks of it to hold
    /// (`string`, `number`, `boolean`, `null`); empty when any would do (a template, a
    /// group, `exists`, `anything-but`).
    pub wants: Vec<&'static str>,
    /// Where the rule reads it: `match`, `where`, `window`, `score`, `dedupe`, `explain`
    /// or `actions`.
    pub part: &'static str,
    /// In `match`: the alternative of the pattern (`$or`) the field is in; it is read of
    /// the events that alternative matches only.
    #[serde(skip)]
    pub branch: Option<usize>,
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn matcher_wants(m: &Matcher) -> Option<&'static str> {
    Some(match m {
        Matcher::ExactString(_)
        | Matcher::ExactIp(_)
        | Matcher::Prefix(_)
        | Matcher::PrefixIgnoreCase(_)
        | Matcher::Suffix(_)
        | Matcher::SuffixIgnoreCase(_)
        | Matcher::EqualsIgnoreCase(_)
        | Matcher::Wildcard(_)
        | Matcher::Cidr(_) => "string",
        Matcher::ExactNumber(_) | Matcher::Numeric(_) => "number",
        Matcher::ExactBool(_) => "boolean",
        Matcher::ExactNull => "null",
        // Any value may be (or not be) there.
        Matcher::Exists(_) | Matcher::AnythingBut(_) => return None,
    })
}

fn op_wants(op: &Op) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = match op {
        Op::Eq(v) | Op::Contains(v) => vec![type_of(v)],
        Op::In(vs) => vs.iter().map(type_of).collect(),
        Op::Lt(o) | Op::Lte(o) | Op::Gt(o) | Op::Gte(o) => vec![match o {
            Ordered::Num(_) => "number",
            Ordered::Str(_) => "string",
        }],
        Op::Matches(_) => vec!["string"],
        // Held by any value but the ones named, or by absence.
        Op::Ne(_) | Op::NotIn(_) | Op::Exists(_) => Vec::new(),
    };
    if matches!(op, Op::Contains(_)) {
        // `contains` holds for a string holding the text, or an array holding the value.
        out = vec!["string", "array"];
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn condition_reads(c: &Condition, part: &'static str, out: &mut Vec<Read>) {
    match c {
        Condition::All(cs) | Condition::Any(cs) => {
            for c in cs {
                condition_reads(c, part, out);
            }
        }
        Condition::Not(c) => condition_reads(c, part, out),
        Condition::Test(t) => out.push(Read {
            path: t.field.text.clone(),
            wants: op_wants(&t.op),
            part,
            branch: None,
        }),
    }
}

fn template_reads(t: &Template, part: &'static str, out: &mut Vec<Read>) {
    for f in t.fields() {
        out.push(Read {
            path: f.text.clone(),
            wants: Vec::new(),
            part,
            branch: None,
        });
    }
}

fn templated_reads(t: &Templated, part: &'static str, out: &mut Vec<Read>) {
    match t {
        Templated::Text(t) => template_reads(t, part, out),
        Templated::List(items) => items.iter().for_each(|i| templated_reads(i, part, out)),
        Templated::Map(entries) => entries
            .iter()
            .for_each(|(_, v)| templated_reads(v, part, out)),
        Templated::Other(_) => {}
    }
}

impl Rule {
    /// Every place of the event this rule reads, once per path and part (the engine's own
    /// roots, `window`, `rule`, `score` and `severity`, are not the event's).
    pub fn reads(&self) -> Vec<Read> {
        let mut out = Vec::new();
        for (branch, sub) in self.pattern.sub_rules.iter().enumerate() {
            for f in &sub.fields {
                let mut wants: Vec<&'static str> = Vec::new();
                for m in &f.matchers {
                    match matcher_wants(m) {
                        Some(w) => wants.push(w),
                        None => {
                            wants.clear();
                            break;
                        }
                    }
                }
                wants.sort_unstable();
                wants.dedup();
                out.push(Read {
                    path: f.path.clone(),
                    wants,
                    part: "match",
                    branch: Some(branch),
                });
            }
        }
        if let Some(c) = &self.condition {
            condition_reads(c, "where", &mut out);
        }
        if let Some(w) = &self.window {
            for g in &w.group_by {
                out.push(Read {
                    path: g.text.clone(),
                    wants: Vec::new(),
                    part: "window",
                    branch: None,
                });
            }
            match &w.aggregate {
                Aggregate::Sum(f) => out.push(Read {
                    path: f.text.clone(),
                    wants: vec!["number"],
                    part: "window",
                    branch: None,
                }),
                Aggregate::Distinct(f) => out.push(Read {
                    path: f.text.clone(),
                    wants: Vec::new(),
                    part: "window",
                    branch: None,
                }),
                Aggregate::Count => {}
            }
        }
        for (c, _) in &self.score.add {
            condition_reads(c, "score", &mut out);
        }
        if let Some(d) = &self.dedupe {
            template_reads(&d.key, "dedupe", &mut out);
        }
        if let Some(e) = &self.explain {
            template_reads(e, "explain", &mut out);
        }
        for a in &self.actions {
            templated_reads(&a.params, "actions", &mut out);
        }
        out.retain(|r| {
            let root = r.path.split('.').next().unwrap_or_default();
            !crate::scope::ENGINE_ROOTS.contains(&root)
        });
        let mut seen = std::collections::HashSet::new();
        out.retain(|r| seen.insert((r.path.clone(), r.part, r.wants.clone(), r.branch)));
        out
    }
}

/// Whether an event of `source` and `type` may match `pattern` (or only its alternative
/// `branch`), judged by its `source` and `type` fields alone: the subjects whose schema a
/// rule reads against.
pub fn may_match_subject(
    pattern: &Pattern,
    branch: Option<usize>,
    source: &str,
    event_type: &str,
) -> bool {
    let (source, event_type) = (Value::from(source), Value::from(event_type));
    pattern
        .sub_rules
        .iter()
        .enumerate()
        .filter(|(i, _)| branch.is_none_or(|b| b == *i))
        .any(|(_, sub)| {
            sub.fields.iter().all(|f| {
                let v = match f.path.as_str() {
                    "source" => &source,
                    "type" => &event_type,
                    _ => return true,
                };
                f.matchers
                    .iter()
                    .any(|m| crate::reference::value_matches(m, v))
            })
        })
}

#[cfg(test)]
mod tests {
    use crate::ruleset::{RuleSet, SourceFile};

    fn set(yaml: &str) -> RuleSet {
        RuleSet::load(&[SourceFile {
            path: "r.yaml".into(),
            text: yaml.into(),
        }])
        .unwrap()
    }

    #[test]
    fn every_part_of_a_rule_is_read_with_what_it_wants() {
        let rs = set(r#"
name: t
version: 1
rules:
  - id: r
    description: d
    match:
      source: [ci]
      type: [{prefix: build.}]
      data: {state: [failed], attempt: [{numeric: [">", 1]}], note: [{exists: true}]}
    where: {all: [{field: data.branch, in: [main, dev]}, {field: data.size, gt: 3}]}
    window: {aggregate: sum, field: data.cost, over: 1h, group_by: [subject, data.repo], at_least: 5}
    score: {base: 10, add: [{when: {field: data.flaky, eq: true}, points: 5}]}
    dedupe: {key: "{{data.repo}}", for: 1h}
    explain: "{{data.repo}} failed ({{window.value}})"
    actions:
      - workflow: decision
        params: {text: "{{data.url}}"}
"#);
        let reads = rs.rules[0].reads();
        let find = |path: &str, part: &str| {
            reads
                .iter()
                .find(|r| r.path == path && r.part == part)
                .unwrap_or_else(|| panic!("{path} in {part}: {reads:?}"))
                .wants
                .clone()
        };
        assert_eq!(find("source", "match"), ["string"]);
        assert_eq!(find("data.state", "match"), ["string"]);
        assert_eq!(find("data.attempt", "match"), ["number"]);
        assert!(find("data.note", "match").is_empty());
        assert_eq!(find("data.branch", "where"), ["string"]);
        assert_eq!(find("data.size", "where"), ["number"]);
        assert_eq!(find("data.cost", "window"), ["number"]);
        assert!(find("data.repo", "window").is_empty());
        assert_eq!(find("data.flaky", "score"), ["boolean"]);
        assert!(find("data.repo", "dedupe").is_empty());
        assert!(find("data.url", "actions").is_empty());
        assert!(
            !reads.iter().any(|r| r.path.starts_with("window")),
            "the engine's roots are not read"
        );
        let p = &rs.rules[0].pattern;
        assert!(super::may_match_subject(p, None, "ci", "build.finished"));
        assert!(!super::may_match_subject(p, None, "ci", "deploy.finished"));
        assert!(!super::may_match_subject(
            p,
            None,
            "github",
            "build.finished"
        ));
        assert!(
            !super::may_match_subject(p, Some(1), "ci", "build.finished"),
            "no such alternative"
        );
    }
}
