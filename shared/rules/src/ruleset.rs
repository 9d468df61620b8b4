//! Rule sets: YAML documents, loaded and checked into rules the engine evaluates.
//!
//! A rule set is one file, or a folder of files read in path order. Exactly one file names it
//! (`name`) and gives its `version`; any file may hold `rules`. The SHA-256 of every file's
//! path and text is the rule set's hash, which every decision carries, so a decision always
//! says exactly which rules made it. The crate reads no files: the caller hands it
//! [`SourceFile`]s.
//!
//! ```yaml
//! name: starter
//! version: 3
//! severity: {critical: 90, high: 70, medium: 40, low: 0}   # optional, these are the defaults
//! rules:
//!   - id: ci-failing-on-main
//!     description: CI on the main branch failed three times within an hour
//!     priority: 10
//!     match: {source: [github], data: {workflow_run: {conclusion: [failure]}}}
//!     where: [{field: correlation.branch, in: [main, master]}]
//!     window: {aggregate: count, over: 1h, group_by: [correlation.repository], at_least: 3}
//!     score: {base: 50, add: [{when: {field: window.value, gte: 5}, points: 30}], cap: 100}
//!     actions: [{workflow: notify, params: {text: "CI failing on {{correlation.repository}}"}}]
//!     dedupe: {key: "{{correlation.repository}}", for: 30m}
//!     explain: "CI failed {{window.value}} times on {{correlation.repository}} in 1h"
//! ```

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::compiled::CompiledPatterns;
use crate::condition::Condition;
use crate::duration::Span;
use crate::expect::{parse_expectation, Expectation};
use crate::explain::PatternPlan;
use crate::pattern::Pattern;
use crate::scope::{FieldPath, ENGINE_ROOTS, EVENT_ROOTS};
use crate::template::{Template, Templated};
use crate::window::{Aggregate, WindowSpec};

/// Something wrong at a place inside a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub at: String,
    pub message: String,
}

/// Why a rule set does not load: the file, the rule, where inside it, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{file}{}{}: {message}",
    rule.as_ref().map(|r| format!(": rule `{r}`")).unwrap_or_default(),
    if at.is_empty() { String::new() } else { format!(": at `{at}`") })]
pub struct LoadError {
    pub file: String,
    pub rule: Option<String>,
    pub at: String,
    pub message: String,
}

/// One file of a rule set, as read by the caller.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path shown in errors and hashed with the text.
    pub path: String,
    pub text: String,
}

/// Severity levels, lowest first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The lowest score of each severity.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default = "d_critical")]
    pub critical: i64,
    #[serde(default = "d_high")]
    pub high: i64,
    #[serde(default = "d_medium")]
    pub medium: i64,
    #[serde(default)]
    pub low: i64,
}

fn d_critical() -> i64 {
    90
}
fn d_high() -> i64 {
    70
}
fn d_medium() -> i64 {
    40
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            critical: d_critical(),
            high: d_high(),
            medium: d_medium(),
            low: 0,
        }
    }
}

impl Thresholds {
    /// The severity of a score; a score below `low` is still `low`: a rule that fires
    /// always means something.
    pub fn of(&self, score: i64) -> Severity {
        if score >= self.critical {
            Severity::Critical
        } else if score >= self.high {
            Severity::High
        } else if score >= self.medium {
            Severity::Medium
        } else {
            Severity::Low
        }
    }
}

/// A loaded rule set.
#[derive(Debug)]
pub struct RuleSet {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// `sha256:<hex>` of every file's path and text.
    pub hash: String,
    pub thresholds: Thresholds,
    /// `schemas: {strict: true}`: checking the rules against the schemas is required, and a
    /// warning of it fails (`helios rules check --schemas`).
    pub strict_schemas: bool,
    /// In evaluation order: priority (highest first), then id.
    pub rules: Vec<Rule>,
    pub(crate) compiled: CompiledPatterns,
    /// Declared expectations, in file order ([`crate::expect`]).
    pub expectations: Vec<Expectation>,
    /// Every expectation's patterns, compiled together; `expect_roles[i]` says whose pattern
    /// `i` is: (index into `expectations`, index into its `watches`).
    pub(crate) expect_compiled: CompiledPatterns,
    pub(crate) expect_roles: Vec<(usize, usize)>,
}

/// One rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub priority: i64,
    pub file: String,
    pub pattern: Pattern,
    pub(crate) plan: PatternPlan,
    pub condition: Option<Condition>,
    pub window: Option<WindowSpec>,
    pub score: ScoreSpec,
    pub severity: Option<Severity>,
    pub actions: Vec<ActionSpec>,
    pub dedupe: Option<DedupeSpec>,
    pub explain: Option<Template>,
}

#[derive(Clone, Debug, Default)]
pub struct ScoreSpec {
    pub base: i64,
    pub add: Vec<(Condition, i64)>,
    pub cap: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct ActionSpec {
    pub workflow: String,
    pub params: Templated,
}

#[derive(Clone, Debug)]
pub struct DedupeSpec {
    pub key: Template,
    pub for_: Span,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    version: Option<Value>,
    description: Option<String>,
    severity: Option<Thresholds>,
    schemas: Option<RawSchemas>,
    #[serde(default)]
    rules: Vec<Value>,
    #[serde(default)]
    expectations: Vec<Value>,
}

/// `schemas: {strict: true}`: the rule set's rules must read only what the registered schemas
/// of the events they match can have (`helios rules check --schemas` fails on a warning).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchemas {
    #[serde(default)]
    strict: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    priority: i64,
    #[serde(rename = "match")]
    pattern: Value,
    #[serde(rename = "where")]
    condition: Option<Value>,
    window: Option<RawWindow>,
    score: Option<RawScore>,
    severity: Option<String>,
    #[serde(default)]
    actions: Vec<RawAction>,
    dedupe: Option<RawDedupe>,
    explain: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default = "count")]
    aggregate: String,
    field: Option<String>,
    over: String,
    #[serde(default)]
    group_by: Vec<String>,
    at_least: f64,
}

fn count() -> String {
    "count".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScore {
    #[serde(default)]
    base: i64,
    #[serde(default)]
    add: Vec<RawAddition>,
    cap: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddition {
    when: Value,
    points: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    workflow: String,
    #[serde(default)]
    params: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDedupe {
    key: String,
    #[serde(rename = "for")]
    for_: String,
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Parses YAML (or JSON, which is YAML), merge keys (`<<: *anchor`) applied, into `T`, with
/// the path of what is wrong.
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Invalid> {
    let mut v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| Invalid {
        at: String::new(),
        message: format!("not valid YAML: {e}"),
    })?;
    v.apply_merge().map_err(|e| Invalid {
        at: String::new(),
        message: format!("a merge key (`<<`) cannot be applied: {e}"),
    })?;
    serde_path_to_error::deserialize(v).map_err(|e| Invalid {
        at: display_path(e.path()),
        message: e.inner().to_string(),
    })
}

fn display_path(p: &serde_path_to_error::Path) -> String {
    let s = p.to_string();
    if s == "." {
        String::new()
    } else {
        s
    }
}

pub(crate) fn typed<T: serde::de::DeserializeOwned>(v: &Value, prefix: &str) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = display_path(e.path());
        let at = match (prefix.is_empty(), inner.is_empty()) {
            (_, true) => prefix.to_string(),
            (true, false) => inner,
            (false, false) => format!("{prefix}.{inner}"),
        };
        Invalid {
            at,
            message: e.inner().to_string(),
        }
    })
}

impl RuleSet {
    /// Loads a rule set from its files, reporting every problem found, not just the first.
    pub fn load(files: &[SourceFile]) -> Result<RuleSet, Vec<LoadError>> {
        let mut files: Vec<&SourceFile> = files.iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut errors = Vec::new();
        let mut name: Option<(String, String)> = None;
        let mut version: Option<String> = None;
        let mut description: Option<String> = None;
        let mut thresholds: Option<Thresholds> = None;
        let mut strict_schemas = false;
        let mut rules = Vec::new();
        let mut ids = BTreeSet::new();
        let mut expectations: Vec<Expectation> = Vec::new();
        let mut h = Sha256::new();

        for f in &files {
            h.update(f.path.as_bytes());
            h.update([0]);
            h.update(f.text.as_bytes());
            h.update([0]);
            let at_file = |rule: Option<&str>, inv: Invalid| LoadError {
                file: f.path.clone(),
                rule: rule.map(str::to_string),
                at: inv.at,
                message: inv.message,
            };
            let doc = match from_yaml::<Value>(&f.text).and_then(|v| {
                if v.is_object() {
                    Ok(v)
                } else {
                    Err(Invalid {
                        at: String::new(),
                        message: "a rule file is a map with `name`, `version` and `rules`".into(),
                    })
                }
            }) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(at_file(None, e));
                    continue;
                }
            };
            let raw: RawFile = match typed(&doc, "") {
                Ok(r) => r,
                Err(e) => {
                    errors.push(at_file(None, e));
                    continue;
                }
            };
            if raw.description.is_some() {
                description = raw.description;
            }
            if let Some(n) = raw.name {
                if !valid_name(&n) {
                    errors.push(at_file(None, Invalid {
                        at: "name".into(),
                        message: format!("`{n}` is not a rule set name: lowercase letters, digits, `-`, `_` and `.`, at most 64"),
                    }));
                } else if let Some((first, file)) = &name {
                    errors.push(at_file(None, Invalid {
                        at: "name".into(),
                        message: format!("the rule set is already named `{first}` in {file}; one file names it"),
                    }));
                } else {
                    name = Some((n, f.path.clone()));
                }
            }
            if let Some(v) = raw.version {
                match v {
                    Value::String(s) if !s.trim().is_empty() => version = Some(s),
                    Value::Number(n) => version = Some(n.to_string()),
                    _ => errors.push(at_file(
                        None,
                        Invalid {
                            at: "version".into(),
                            message: "`version` is a string or a number".into(),
                        },
                    )),
                }
            }
            if let Some(spec) = raw.schemas {
                strict_schemas |= spec.strict;
            }
            if let Some(t) = raw.severity {
                if !(t.low <= t.medium && t.medium <= t.high && t.high <= t.critical) {
                    errors.push(at_file(
                        None,
                        Invalid {
                            at: "severity".into(),
                            message: "thresholds must rise: low ≤ medium ≤ high ≤ critical".into(),
                        },
                    ));
                }
                thresholds = Some(t);
            }
            for (i, rv) in raw.rules.iter().enumerate() {
                let at = format!("rules[{i}]");
                let id_hint = rv.get("id").and_then(Value::as_str).map(str::to_string);
                match parse_rule(rv, &at, &f.path) {
                    Ok(rule) => {
                        if !ids.insert(rule.id.clone()) {
                            errors.push(at_file(
                                Some(&rule.id),
                                Invalid {
                                    at: format!("{at}.id"),
                                    message: "another rule of the set has this id".into(),
                                },
                            ));
                        } else {
                            rules.push(rule);
                        }
                    }
                    Err(e) => errors.push(at_file(id_hint.as_deref(), e)),
                }
            }
            for (i, ev) in raw.expectations.iter().enumerate() {
                let at = format!("expectations[{i}]");
                let id_hint = ev.get("id").and_then(Value::as_str).map(str::to_string);
                match parse_expectation(ev, &at, &f.path) {
                    Ok(e) if expectations.iter().any(|x| x.id == e.id) => errors.push(at_file(
                        Some(&e.id),
                        Invalid {
                            at: format!("{at}.id"),
                            message: "another expectation of the set has this id".into(),
                        },
                    )),
                    Ok(e) => expectations.push(e),
                    Err(e) => errors.push(at_file(id_hint.as_deref(), e)),
                }
            }
        }
        let first = files.first().map(|f| f.path.clone()).unwrap_or_default();
        if files.is_empty() {
            errors.push(LoadError {
                file: String::new(),
                rule: None,
                at: String::new(),
                message: "a rule set has at least one file".into(),
            });
        }
        if name.is_none() && !files.is_empty() {
            errors.push(LoadError {
                file: first.clone(),
                rule: None,
                at: "name".into(),
                message: "no file names the rule set: one file has `name` and `version`".into(),
            });
        }
        if version.is_none() && name.is_some() {
            errors.push(LoadError {
                file: name.as_ref().map(|n| n.1.clone()).unwrap_or(first),
                rule: None,
                at: "version".into(),
                message: "the rule set has no `version`".into(),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        rules.sort_by(|a: &Rule, b: &Rule| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
        // Two anchors per sub-rule, so that decisions find every near miss.
        let compiled = CompiledPatterns::compile_with(
            rules.iter().map(|r| &r.pattern),
            crate::compiled::Anchors::Two,
        );
        let expect_roles: Vec<(usize, usize)> = expectations
            .iter()
            .enumerate()
            .flat_map(|(i, e)| (0..e.watches.len()).map(move |w| (i, w)))
            .collect();
        let expect_compiled = CompiledPatterns::compile(
            expectations
                .iter()
                .flat_map(|e| e.watches.iter().map(|w| &w.pattern)),
        );
        Ok(RuleSet {
            expectations,
            expect_compiled,
            expect_roles,
            name: name.map(|n| n.0).unwrap_or_default(),
            version: version.unwrap_or_default(),
            description,
            hash: format!("sha256:{}", hex::encode(h.finalize())),
            thresholds: thresholds.unwrap_or_default(),
            strict_schemas,
            rules,
            compiled,
        })
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

fn parse_rule(v: &Value, at: &str, file: &str) -> Result<Rule, Invalid> {
    let raw: RawRule = typed(v, at)?;
    if !valid_name(&raw.id) {
        return Err(Invalid {
            at: format!("{at}.id"),
            message: format!(
                "`{}` is not a rule id: lowercase letters, digits, `-`, `_` and `.`, at most 64",
                raw.id
            ),
        });
    }
    let pattern = Pattern::parse(&raw.pattern).map_err(|e| Invalid {
        at: if e.at.is_empty() {
            format!("{at}.match")
        } else {
            format!("{at}.match.{}", e.at)
        },
        message: e.message,
    })?;
    let condition = raw
        .condition
        .as_ref()
        .map(|c| Condition::parse(c, &format!("{at}.where"), EVENT_ROOTS))
        .transpose()?;
    let window = raw
        .window
        .map(|w| parse_window(w, &format!("{at}.window")))
        .transpose()?;
    let all_roots: Vec<&str> = EVENT_ROOTS.iter().chain(ENGINE_ROOTS).copied().collect();
    let score = match raw.score {
        None => ScoreSpec::default(),
        Some(s) => ScoreSpec {
            base: s.base,
            add: s
                .add
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    Ok((
                        Condition::parse(
                            &a.when,
                            &format!("{at}.score.add[{i}].when"),
                            &all_roots,
                        )?,
                        a.points,
                    ))
                })
                .collect::<Result<_, Invalid>>()?,
            cap: s.cap,
        },
    };
    let severity = raw
        .severity
        .map(|s| {
            Severity::parse(&s).ok_or_else(|| Invalid {
                at: format!("{at}.severity"),
                message: format!("`{s}` is not a severity: low, medium, high or critical"),
            })
        })
        .transpose()?;
    let actions = raw
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let here = format!("{at}.actions[{i}]");
            if !valid_name(&a.workflow) {
                return Err(Invalid {
                    at: format!("{here}.workflow"),
                    message: format!("`{}` is not a workflow name", a.workflow),
                });
            }
            let params = match &a.params {
                Value::Null => Value::Object(Default::default()),
                Value::Object(_) => a.params.clone(),
                _ => {
                    return Err(Invalid {
                        at: format!("{here}.params"),
                        message: "`params` is a map".into(),
                    })
                }
            };
            Ok(ActionSpec {
                workflow: a.workflow.clone(),
                params: Templated::parse(&params, &format!("{here}.params"), &all_roots)?,
            })
        })
        .collect::<Result<_, Invalid>>()?;
    let dedupe = raw
        .dedupe
        .map(|d| {
            Ok::<_, Invalid>(DedupeSpec {
                key: Template::parse(&d.key, &format!("{at}.dedupe.key"), EVENT_ROOTS)?,
                for_: Span::parse(&d.for_).map_err(|message| Invalid {
                    at: format!("{at}.dedupe.for"),
                    message,
                })?,
            })
        })
        .transpose()?;
    let explain = raw
        .explain
        .map(|e| Template::parse(&e, &format!("{at}.explain"), &all_roots))
        .transpose()?;
    Ok(Rule {
        id: raw.id,
        description: raw.description,
        priority: raw.priority,
        file: file.to_string(),
        plan: PatternPlan::new(&pattern),
        pattern,
        condition,
        window,
        score,
        severity,
        actions,
        dedupe,
        explain,
    })
}

fn parse_window(w: RawWindow, at: &str) -> Result<WindowSpec, Invalid> {
    let path = |p: &str, here: String| {
        FieldPath::parse(p, EVENT_ROOTS).map_err(|message| Invalid { at: here, message })
    };
    let field = |w: &RawWindow| -> Result<FieldPath, Invalid> {
        match &w.field {
            Some(f) => path(f, format!("{at}.field")),
            None => Err(Invalid {
                at: at.to_string(),
                message: format!("a `{}` window needs `field`", w.aggregate),
            }),
        }
    };
    let aggregate = match w.aggregate.as_str() {
        "count" => {
            if w.field.is_some() {
                return Err(Invalid {
                    at: format!("{at}.field"),
                    message: "a `count` window counts events and takes no `field`".into(),
                });
            }
            Aggregate::Count
        }
        "sum" => Aggregate::Sum(field(&w)?),
        "distinct" => Aggregate::Distinct(field(&w)?),
        other => {
            return Err(Invalid {
                at: format!("{at}.aggregate"),
                message: format!("`{other}` is not an aggregate: count, sum or distinct"),
            })
        }
    };
    let over = Span::parse(&w.over).map_err(|message| Invalid {
        at: format!("{at}.over"),
        message,
    })?;
    let group_by = w
        .group_by
        .iter()
        .enumerate()
        .map(|(i, g)| path(g, format!("{at}.group_by[{i}]")))
        .collect::<Result<_, _>>()?;
    if !w.at_least.is_finite() || w.at_least <= 0.0 {
        return Err(Invalid {
            at: format!("{at}.at_least"),
            message: "`at_least` is a positive number".into(),
        });
    }
    Ok(WindowSpec {
        aggregate,
        over,
        group_by,
        at_least: w.at_least,
    })
}
