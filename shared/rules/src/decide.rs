//! Decisions: what a rule set makes of one event, and why.
//!
//! Evaluation order is the rule set's (priority, highest first, then id). A rule fires when
//! its `match` pattern and its `where` conditions hold and, for a rule with a `window`, the
//! window's value has reached `at_least`. A fired rule whose `dedupe` key is held by another
//! event is suppressed: it is traced, but adds no score and no action. The decision's score
//! is the highest score of the rules that fired and its severity the highest severity.
//!
//! Every rule that fired, was suppressed, or nearly fired is traced check by check. A near
//! miss is a rule that did not fire because of exactly one check (the pattern field,
//! condition or window that stood in the way) while at least one field of its pattern held,
//! so that the event concerned it. A decision traces the [`MAX_NEAR_MISSES`] closest near
//! misses (most checks held) and counts the rest, so that a large rule set cannot make a
//! decision large.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::compiled::Scratch;
use crate::condition::ConditionTrace;
use crate::duration::Span;
use crate::explain::PatternCheck;
use crate::ruleset::{Rule, RuleSet, Severity};
use crate::scope::Scope;
use crate::window::{value_json, Aggregate, Touch, WindowState};

/// Why an event cannot be decided.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("the event is not a canonical event: {0}")]
    NotCanonical(String),
}

/// What the caller read from the key-value store for this event.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Window states by key (see [`RuleSet::window_touches`]). A missing state is empty.
    pub windows: BTreeMap<String, WindowState>,
    /// Dedupe keys that are held, with the Helios id of the event that holds each.
    pub held: BTreeMap<String, String>,
}

/// A dedupe key a fired rule takes: the caller stores it for `ttl_seconds`, unless held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub rule: String,
    pub key: String,
    pub ttl_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleSetRef {
    pub name: String,
    pub version: String,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fired {
    pub rule: String,
    pub priority: i64,
    pub score: i64,
    pub severity: Severity,
    pub explanation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Action {
    pub rule: String,
    pub workflow: String,
    pub params: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Fired,
    Suppressed,
    NearMiss,
}

/// One check of a rule: a pattern field, a condition, the window or the dedupe key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// `match`, `arrays`, `where`, `window` or `dedupe`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    pub wanted: Arc<Value>,
    pub found: Value,
    pub held: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ConditionTrace>,
}

impl Check {
    /// The check in a phrase: `data.state was "passed", wanted one of ["failed"]`.
    pub fn phrase(&self) -> String {
        let found = |v: &Value| {
            if v.is_null() {
                "absent".to_string()
            } else {
                v.to_string()
            }
        };
        match self.kind {
            "match" => format!(
                "{} was {}, wanted {}",
                self.field.as_deref().unwrap_or("?"),
                found(&self.found),
                match &*self.wanted {
                    Value::Array(l) if l.len() == 1 => l[0].to_string(),
                    w => format!("one of {w}"),
                }
            ),
            "arrays" => "the matching fields came from different elements of the same array".into(),
            "window" => format!(
                "the window ({}) was {}, wanted at least {}",
                self.op.as_deref().unwrap_or(""),
                self.found,
                self.wanted
            ),
            "dedupe" => format!(
                "the dedupe key {} was held by {}",
                self.wanted,
                found(&self.found)
            ),
            _ => ConditionTrace {
                op: self.op.clone().unwrap_or_default(),
                field: self.field.as_deref().map(str::to_string),
                wanted: self.field.as_ref().map(|_| (*self.wanted).clone()),
                found: self.field.as_ref().map(|_| self.found.clone()),
                held: self.held,
                children: self.children.clone(),
            }
            .phrase(),
        }
    }
}

/// Why one rule fired, was suppressed or nearly fired.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleTrace {
    pub rule: String,
    pub outcome: Outcome,
    /// One sentence.
    pub because: String,
    pub checks: Vec<Check>,
}

/// A decision: its rules, score, severity and actions, and the trace that explains it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// `dec_` and 32 hex digits of (event, rule set hash): the same event decided by the
    /// same rules has the same id.
    pub id: String,
    pub event: String,
    pub decided_at: String,
    pub ruleset: RuleSetRef,
    pub score: i64,
    pub severity: Severity,
    pub fired: Vec<Fired>,
    pub actions: Vec<Action>,
    /// Dedupe keys the rules that fired take.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
    pub trace: Vec<RuleTrace>,
    /// Near misses beyond the closest [`MAX_NEAR_MISSES`], left out of the trace.
    #[serde(skip_serializing_if = "is_zero")]
    pub near_misses_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The most near misses a decision traces: the closest ones (most checks held).
pub const MAX_NEAR_MISSES: usize = 8;

struct EventFacts<'a> {
    helios_id: &'a str,
    time_ms: i64,
}

fn facts(event: &Value) -> Result<EventFacts<'_>, DecideError> {
    let helios_id = event
        .get("helios_id")
        .and_then(Value::as_str)
        .ok_or_else(|| DecideError::NotCanonical("it has no `helios_id`".into()))?;
    let time = event
        .get("time")
        .and_then(Value::as_str)
        .ok_or_else(|| DecideError::NotCanonical("it has no `time`".into()))?;
    let time = DateTime::parse_from_rfc3339(time)
        .map_err(|e| DecideError::NotCanonical(format!("`time` is not RFC 3339: {e}")))?;
    Ok(EventFacts {
        helios_id,
        time_ms: time.timestamp_millis(),
    })
}

/// A rule whose pattern matched, with its `where` evaluated.
struct Candidate {
    index: usize,
    where_held: bool,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

impl RuleSet {
    /// Runs the compiled matcher with this thread's scratch memory.
    fn with_scratch<T>(&self, run: impl Fn(&mut Scratch) -> T) -> T {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => run(&mut scratch),
            Err(_) => run(&mut Scratch::default()),
        })
    }

    /// Per rule: whether its pattern matched, and how near the event came to it (the
    /// closest sub-rule and its failing fields; `None` when nowhere near).
    fn match_flags(&self, event: &Value) -> (Vec<bool>, Vec<Option<(usize, usize)>>) {
        self.with_scratch(|scratch| {
            let mut matched = vec![false; self.rules.len()];
            for i in self.compiled.matches(event, scratch) {
                matched[i] = true;
            }
            (matched, self.compiled.closeness(scratch))
        })
    }

    fn candidates(&self, event: &Value) -> Vec<Candidate> {
        let scope = Scope::event(event);
        self.with_scratch(|scratch| self.compiled.matches(event, scratch))
            .into_iter()
            .map(|index| Candidate {
                index,
                where_held: self.rules[index]
                    .condition
                    .as_ref()
                    .is_none_or(|c| c.holds(&scope)),
            })
            .collect()
    }

    /// The windows `event` adds to: one per rule with a window whose `match` and `where`
    /// hold. The caller records each touch in the state at its key.
    pub fn window_touches(&self, event: &Value) -> Result<Vec<Touch>, DecideError> {
        let f = facts(event)?;
        Ok(self
            .candidates(event)
            .into_iter()
            .filter(|c| c.where_held)
            .filter_map(|c| {
                let r = &self.rules[c.index];
                r.window
                    .as_ref()?
                    .touch(&self.name, &r.id, event, f.time_ms, f.helios_id)
            })
            .collect())
    }

    /// The dedupe keys of the rules that may fire on `event`; the caller looks them up and
    /// passes the held ones in [`Inputs::held`].
    pub fn dedupe_keys(&self, event: &Value) -> Result<Vec<Claim>, DecideError> {
        facts(event)?;
        Ok(self
            .candidates(event)
            .into_iter()
            .filter(|c| c.where_held)
            .filter_map(|c| self.claim(&self.rules[c.index], event))
            .collect())
    }

    fn claim(&self, r: &Rule, event: &Value) -> Option<Claim> {
        let d = r.dedupe.as_ref()?;
        let text = d.key.render(&Scope::event(event));
        let digest = hex::encode(&Sha256::digest(text.as_bytes())[..12]);
        Some(Claim {
            rule: r.id.clone(),
            key: format!("dedupe/{}/{}/{digest}", self.name, r.id),
            ttl_seconds: d.for_.seconds(),
        })
    }

    /// Decides `event` at `now`: same inputs, same decision, byte for byte.
    pub fn decide(
        &self,
        event: &Value,
        now: DateTime<Utc>,
        inputs: &Inputs,
    ) -> Result<Decision, DecideError> {
        let f = facts(event)?;
        let now_ms = now.timestamp_millis();
        let scope = Scope::event(event);
        let (matched, closeness) = self.match_flags(event);

        let mut fired = Vec::new();
        let mut actions = Vec::new();
        let mut claims = Vec::new();
        // (rule index, trace); near misses are chosen after every rule is seen.
        let mut traced: Vec<(usize, RuleTrace)> = Vec::new();
        // (held checks, rule index, closest sub-rule, window check) of each near miss.
        let mut near: Vec<(usize, usize, usize, Option<Check>)> = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            // Only rules whose pattern the event came near are looked at, and closely only
            // when at most one check fails: count cheaply first.
            let Some((sub, pattern_failures)) = closeness[i] else {
                continue;
            };
            if pattern_failures > 1 {
                continue;
            }
            let top = r.condition.as_ref().map_or(&[][..], |c| c.top_level());
            let where_failures = top.iter().filter(|t| !t.holds(&scope)).count();
            let checks_count = r.plan.fields(sub) + top.len();
            if pattern_failures + where_failures == 1 {
                // A near miss concerns the event: some field of its pattern held.
                if pattern_failures == 0 || r.plan.fields(sub) > 1 || matched[i] {
                    near.push((checks_count - 1, i, sub, None));
                }
                continue;
            }
            if pattern_failures + where_failures > 1 {
                continue;
            }

            let mut window_view = None;
            if let Some(w) = &r.window {
                let (value, view) = match w.touch(&self.name, &r.id, event, f.time_ms, f.helios_id)
                {
                    Some(t) => {
                        let value = match inputs.windows.get(&t.key) {
                            // Recorded already, as the caller does before deciding: recording
                            // again would change nothing, so the state is read where it is
                            // (a copy of a full window is 2,000 entries).
                            Some(state) if state.holds(&t.entry.id) => {
                                state.value(&w.aggregate, w.over, now_ms)
                            }
                            stored => {
                                let mut state = stored.cloned().unwrap_or_default();
                                state.record(&t);
                                state.value(&w.aggregate, w.over, now_ms)
                            }
                        };
                        (
                            value,
                            json!({
                                "aggregate": w.aggregate.name(),
                                "over": w.over.to_string(),
                                "group": t.group,
                                "value": value_json(value),
                                "at_least": value_json(w.at_least),
                            }),
                        )
                    }
                    None => (
                        0.0,
                        json!({
                            "aggregate": w.aggregate.name(),
                            "over": w.over.to_string(),
                            "value": 0,
                            "at_least": value_json(w.at_least),
                        }),
                    ),
                };
                let check = Check {
                    kind: "window",
                    field: match &w.aggregate {
                        Aggregate::Count => None,
                        Aggregate::Sum(p) | Aggregate::Distinct(p) => {
                            Some(Arc::from(p.text.as_str()))
                        }
                    },
                    op: Some(format!("{} over {}", w.aggregate.name(), w.over)),
                    wanted: Arc::new(value_json(w.at_least)),
                    found: value_json(value),
                    held: value >= w.at_least,
                    children: Vec::new(),
                };
                if !check.held {
                    near.push((checks_count, i, sub, Some(check)));
                    continue;
                }
                window_view = Some((view, check));
            }
            let mut checks = self.checks(r, event, sub, matched[i], &scope);
            let window_view = window_view.map(|(view, check)| {
                checks.push(check);
                view
            });

            // The rule fired: score it, then see whether a dedupe key suppresses it.
            let mut extra = Map::new();
            extra.insert("rule".into(), json!({"id": r.id, "priority": r.priority}));
            if let Some(v) = &window_view {
                extra.insert("window".into(), v.clone());
            }
            let rule_scope = Scope {
                event,
                extra: Some(&extra),
            };
            let mut score = r.score.base;
            for (when, points) in &r.score.add {
                if when.holds(&rule_scope) {
                    score = score.saturating_add(*points);
                }
            }
            if let Some(cap) = r.score.cap {
                score = score.min(cap);
            }
            let severity = r.severity.unwrap_or_else(|| self.thresholds.of(score));
            extra.insert("score".into(), json!(score));
            extra.insert("severity".into(), json!(severity.as_str()));
            let rule_scope = Scope {
                event,
                extra: Some(&extra),
            };

            let claim = self.claim(r, event);
            if let Some(c) = &claim {
                let holder = inputs
                    .held
                    .get(&c.key)
                    .filter(|h| h.as_str() != f.helios_id);
                checks.push(Check {
                    kind: "dedupe",
                    field: None,
                    op: Some(format!("for {}", Span(c.ttl_seconds))),
                    wanted: Arc::new(json!(c.key)),
                    found: holder.map_or(Value::Null, |h| json!(h)),
                    held: holder.is_none(),
                    children: Vec::new(),
                });
                if let Some(h) = holder {
                    traced.push((i, RuleTrace {
                        rule: r.id.clone(),
                        outcome: Outcome::Suppressed,
                        because: format!(
                            "`{}` matched but was suppressed: {h} made the same decision less than {} ago",
                            r.id,
                            Span(c.ttl_seconds)
                        ),
                        checks,
                    }));
                    continue;
                }
            }

            let explanation = match &r.explain {
                Some(t) => t.render(&rule_scope),
                None => {
                    let held: Vec<String> = checks.iter().map(Check::phrase).collect();
                    held.join("; ")
                }
            };
            traced.push((
                i,
                RuleTrace {
                    rule: r.id.clone(),
                    outcome: Outcome::Fired,
                    because: format!("`{}` fired: {explanation}", r.id),
                    checks,
                },
            ));
            for a in &r.actions {
                actions.push(Action {
                    rule: r.id.clone(),
                    workflow: a.workflow.clone(),
                    params: a.params.render(&rule_scope),
                });
            }
            claims.extend(claim);
            fired.push(Fired {
                rule: r.id.clone(),
                priority: r.priority,
                score,
                severity,
                explanation,
                window: window_view,
            });
        }

        // The closest near misses (most checks held), then by rule order.
        near.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let omitted = near.len().saturating_sub(MAX_NEAR_MISSES);
        for (_, i, sub, window) in near.into_iter().take(MAX_NEAR_MISSES) {
            let r = &self.rules[i];
            let mut checks = self.checks(r, event, sub, matched[i], &scope);
            checks.extend(window);
            let failing = checks
                .iter()
                .find(|c| !c.held)
                .map(Check::phrase)
                .unwrap_or_default();
            traced.push((
                i,
                RuleTrace {
                    rule: r.id.clone(),
                    outcome: Outcome::NearMiss,
                    because: format!("`{}` did not fire: {failing}", r.id),
                    checks,
                },
            ));
        }
        traced.sort_by_key(|(i, _)| *i);

        let mut id = Sha256::new();
        id.update(f.helios_id.as_bytes());
        id.update([0]);
        id.update(self.hash.as_bytes());
        Ok(Decision {
            id: format!("dec_{}", hex::encode(&id.finalize()[..16])),
            event: f.helios_id.to_string(),
            decided_at: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            ruleset: RuleSetRef {
                name: self.name.clone(),
                version: self.version.clone(),
                hash: self.hash.clone(),
            },
            score: fired.iter().map(|x| x.score).max().unwrap_or(0),
            severity: fired
                .iter()
                .map(|x| x.severity)
                .max()
                .unwrap_or(Severity::None),
            fired,
            actions,
            claims,
            trace: traced.into_iter().map(|(_, t)| t).collect(),
            near_misses_omitted: omitted,
        })
    }

    /// The pattern and `where` checks of a rule, in full.
    fn checks(
        &self,
        r: &Rule,
        event: &Value,
        sub: usize,
        matched: bool,
        scope: &Scope<'_>,
    ) -> Vec<Check> {
        let pattern = r.plan.explain(event, sub, matched);
        let mut checks = pattern_checks(&pattern);
        if let Some(c) = &r.condition {
            for top in c.top_level() {
                checks.push(where_check(top.eval(scope)));
            }
        }
        checks
    }
}

fn pattern_checks(p: &PatternCheck) -> Vec<Check> {
    let mut out: Vec<Check> = p
        .fields
        .iter()
        .map(|f| Check {
            kind: "match",
            field: Some(f.path.clone()),
            op: None,
            wanted: f.wanted.clone(),
            found: f.found.clone(),
            held: f.held,
            children: Vec::new(),
        })
        .collect();
    if !p.arrays_consistent {
        out.push(Check {
            kind: "arrays",
            field: None,
            op: None,
            wanted: Arc::new(json!("one array element for every field")),
            found: json!("different elements"),
            held: false,
            children: Vec::new(),
        });
    }
    out
}

fn where_check(t: ConditionTrace) -> Check {
    Check {
        kind: "where",
        field: t.field.map(Arc::from),
        op: Some(t.op),
        wanted: Arc::new(t.wanted.unwrap_or(Value::Null)),
        found: t.found.unwrap_or(Value::Null),
        held: t.held,
        children: t.children,
    }
}
