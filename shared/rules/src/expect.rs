//! Expectations: what should happen, so that its absence can be noticed. A rule set declares
//! them beside its rules:
//!
//! ```yaml
//! expectations:
//!   - id: heartbeat                       # a heartbeat every period, per key
//!     heartbeat: {match: {type: [heartbeat]}, every: 5m, grace: 1m, repeat: 3}
//!     key: "{{subject}}"                  # the default
//!   - id: lease                           # each heartbeat may state its own period
//!     heartbeat: {match: {type: [lease]}, every: 1m, every_from: data.every}
//!   - id: deploy-finishes                 # B within T after A, matched on a key
//!     sequence: {first: {type: [deploy.started]}, then: {type: [deploy.finished]}, within: 30m}
//!     key: "{{subject}}"
//!     carry: {environment: data.environment}
//!   - id: push-reaches-ci                 # the same logical event from several sources
//!     reconcile:
//!       sources: {github: {source: [github], type: [push]}, ci: {source: [ci], type: [build.started]}}
//!       compare: [data.branch]
//!       within: 10m
//!     key: "{{correlation.commit}}"
//! ```
//!
//! Like the rest of the engine this does no I/O and reads no clock. The `expect` function
//! asks [`RuleSet::observe`] what an event means to each expectation, keeps an
//! [`ExpectState`] per (expectation, key) in the key-value store, starts the `expectation`
//! workflow with [`Observation::workflow_input`], and at the deadline asks [`check`] whether
//! what was expected came; a lapse becomes an event of its own ([`Check::missed_event`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::duration::Span;
use crate::pattern::Pattern;
use crate::ruleset::{typed, valid_name, Invalid};
use crate::scope::{found_value, FieldPath, Scope, EVENT_ROOTS};
use crate::template::Template;
use crate::RuleSet;

/// The source of the events expectations emit.
pub const SOURCE: &str = "helios/expect";
/// The type of the event a lapsed expectation emits.
pub const MISSED: &str = "helios.expectation.missed";
/// The type of the event a reconciliation that found different values emits.
pub const MISMATCHED: &str = "helios.reconcile.mismatched";
/// The type of the event a reconciliation that every source reported alike emits: met, and
/// recorded as a fact, so that the share of reconciliations that agreed can be counted (the
/// reconciliation-accuracy objective).
pub const MATCHED: &str = "helios.reconcile.matched";

/// One declared expectation.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub id: String,
    pub description: String,
    pub file: String,
    pub kind: Kind,
    /// What relates the events of one instance (rendered from each event); an event whose
    /// key renders empty is not observed.
    pub key: Template,
    /// Fields of the watched event copied into the emitted event's `data`.
    pub carry: Vec<(String, FieldPath)>,
    /// What the expectation watches: a pattern each, with the role of a matching event.
    pub watches: Vec<Watch>,
}

/// One pattern of an expectation.
#[derive(Clone, Debug)]
pub struct Watch {
    pub pattern: Pattern,
    pub role: Role,
    /// The key of a matching event, when this source keeps it elsewhere than the
    /// expectation's `key` says.
    pub key: Option<Template>,
    /// The values a reconciliation compares, by name, for a matching event.
    pub values: Vec<(String, FieldPath)>,
    /// The event types a matching event can have, when the pattern lists them plainly
    /// (`type: [a, b]`); `None` when it may match any type.
    pub types: Option<Vec<String>>,
}

/// Which published facts the expectations of a rule set can mean anything to: what the
/// `expect` queue's subscription needs to let through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interest {
    /// No expectation is declared.
    Nothing,
    /// Only events of these types.
    Types(Vec<String>),
    /// Some pattern does not pin the type.
    Everything,
}

impl Interest {
    /// The SNS filter policy (on message attributes) of the `expect` queue's subscription:
    /// `None` lets every fact through. With no expectation, it lets none through: every
    /// fact has a `type` attribute.
    pub fn filter_policy(&self) -> Option<Value> {
        match self {
            Interest::Nothing => Some(serde_json::json!({"type": [{"exists": false}]})),
            Interest::Types(types) => Some(serde_json::json!({ "type": types })),
            Interest::Everything => None,
        }
    }
}

/// The plain types of a pattern: `type: ["a", "b"]` (strings only), else `None`.
fn plain_types(pattern: &Value) -> Option<Vec<String>> {
    pattern
        .get("type")?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// An event every `every` (plus `grace`); up to `repeat` misses are emitted, one a period.
    /// With `every_from`, a heartbeat that states its own period there (a span from 1s to 7d,
    /// as a lease states its duration) is due within it instead.
    Heartbeat {
        every: Span,
        grace: Span,
        repeat: u32,
        every_from: Option<FieldPath>,
    },
    /// After a `first` event, a `then` event within `within`.
    Sequence { within: Span },
    /// Every source reports the key within `within` of the first, with equal `compare` values.
    Reconcile {
        sources: Vec<String>,
        compare: Vec<String>,
        within: Span,
    },
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Heartbeat { .. } => "heartbeat",
            Kind::Sequence { .. } => "sequence",
            Kind::Reconcile { .. } => "reconcile",
        }
    }
}

/// What an event is to an expectation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", content = "source", rename_all = "snake_case")]
pub enum Role {
    Beat,
    Opens,
    Closes,
    Reports(String),
}

/// An event seen by an expectation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub event: String,
    pub time_ms: i64,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub values: Map<String, Value>,
    /// The event's subject and carried fields, for the watch that follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub carried: Map<String, Value>,
    /// The period a heartbeat stated for itself (`every_from`), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<i64>,
}

/// The shortest and longest period a heartbeat may state for itself.
pub const STATED_PERIOD_MS: (i64, i64) = (1_000, 7 * 86_400_000);

/// The period `event` states at `from`, when it is a span within [`STATED_PERIOD_MS`].
fn stated_period(from: Option<&FieldPath>, scope: &Scope) -> Option<i64> {
    let v = found_value(&scope.resolve(from?));
    let ms = Span::parse(v.as_str()?).ok()?.millis();
    (STATED_PERIOD_MS.0..=STATED_PERIOD_MS.1)
        .contains(&ms)
        .then_some(ms)
}

/// The one workflow execution watching an instance of a heartbeat or a sequence, and the
/// deadline it checks next. Later events of the instance start no execution of their own:
/// the watcher follows the latest one at its check. So a flood of events on one key costs one
/// execution, not one each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watcher {
    pub execution: String,
    pub until_ms: i64,
}

/// A watcher whose deadline passed this long before an event of its instance is presumed
/// gone (its start was never completed, or it failed), and the event starts a new one.
pub const WATCHER_LOST_AFTER_MS: i64 = 3_600_000;

/// What one event means to one expectation.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub expectation: String,
    pub kind: &'static str,
    pub role: Role,
    pub key: String,
    /// The key-value key of this instance's [`ExpectState`].
    pub state_key: String,
    pub seen: Seen,
    pub subject: Option<String>,
    /// When what is expected is due; `None` for an event that only fulfils.
    pub deadline_ms: Option<i64>,
    pub carried: Map<String, Value>,
}

/// The state of one instance (expectation, key), kept in the key-value store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpectState {
    /// The latest heartbeat, or the latest opening event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<Seen>,
    /// The latest closing event of a sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Seen>,
    /// The first report of each source.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reports: BTreeMap<String, Seen>,
    /// The execution watching a heartbeat or a sequence instance, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watching: Option<Watcher>,
}

/// What applying an observation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The state changed and must be written.
    pub changed: bool,
    /// The observation's workflow should be (or have been) started. True again when the same
    /// event is delivered twice, so that a delivery that stored the state and failed before
    /// the start is completed by the next one; the execution name keeps it to one start.
    pub start: bool,
}

fn newer(current: &Option<Seen>, seen: &Seen) -> bool {
    match current {
        None => true,
        Some(c) => (seen.time_ms, &seen.event) > (c.time_ms, &c.event),
    }
}

impl ExpectState {
    pub fn apply(&mut self, o: &Observation) -> Applied {
        match &o.role {
            Role::Beat | Role::Opens => {
                let mut changed = newer(&self.latest, &o.seen);
                if changed {
                    self.latest = Some(o.seen.clone());
                }
                let name = o.execution_name();
                let start = match &self.watching {
                    // The watcher's own event again: its start may not have completed.
                    Some(w) if w.execution == name => true,
                    Some(w) if o.seen.time_ms <= w.until_ms + WATCHER_LOST_AFTER_MS => false,
                    // None, or a watcher long past its deadline: this event starts one.
                    _ => {
                        self.watching = Some(Watcher {
                            execution: name,
                            until_ms: o.deadline_ms.unwrap_or(o.seen.time_ms),
                        });
                        changed = true;
                        true
                    }
                };
                Applied { changed, start }
            }
            Role::Closes => {
                let changed = newer(&self.closed, &o.seen);
                if changed {
                    self.closed = Some(o.seen.clone());
                }
                Applied {
                    changed,
                    start: false,
                }
            }
            Role::Reports(source) => {
                let changed = !self.reports.contains_key(source);
                if changed {
                    self.reports.insert(source.clone(), o.seen.clone());
                }
                Applied {
                    changed,
                    start: true,
                }
            }
        }
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn parse_ms(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

impl Observation {
    /// The `expectation` workflow's execution name: one per watched event (heartbeats,
    /// openings) or per instance (reconciliations), so a redelivery never starts it twice.
    /// At most 80 characters of `[A-Za-z0-9-_]`, as Step Functions requires.
    pub fn execution_name(&self) -> String {
        let id: String = self.expectation.chars().take(40).collect();
        let id = id.replace('.', "_");
        match self.role {
            Role::Reports(_) => format!("exp-{id}-{}", short_hash(&[&self.expectation, &self.key])),
            _ => format!(
                "exp-{id}-{}",
                short_hash(&[&self.expectation, &self.key, &self.seen.event])
            ),
        }
    }

    /// The input of the `expectation` workflow: enough for [`check`] and the missed event.
    pub fn workflow_input(&self) -> Value {
        json!({
            "watcher": self.execution_name(),
            "expectation": self.expectation,
            "kind": self.kind,
            "key": self.key,
            "state_key": self.state_key,
            "event": self.seen.event,
            "time": iso(self.seen.time_ms),
            "subject": self.subject,
            "deadline": self.deadline_ms.map(iso),
            "attempt": 1,
            "carried": self.carried,
            "period_ms": self.seen.period_ms,
        })
    }
}

/// What a check at a deadline found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub met: bool,
    /// Why, in a sentence.
    pub reason: String,
    /// The event to emit (a native envelope for the ingress path): the miss, or a
    /// reconciliation's verdict, met or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// The input of the next check (a heartbeat still missing after this period), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Value>,
}

impl Check {
    fn met(reason: impl Into<String>) -> Check {
        Check {
            met: true,
            reason: reason.into(),
            event: None,
            next: None,
        }
    }

    pub fn missed_event(&self) -> Option<&Value> {
        self.event.as_ref()
    }
}

/// Why a check could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The input is not a workflow input of an expectation.
    #[error("{0}")]
    BadInput(String),
    /// Asked before the deadline (clocks a little apart): ask again later.
    #[error("checked before its deadline {deadline} (now {now})")]
    Early { deadline: String, now: String },
}

/// The key-value key of the state of instance `key` of expectation `id`.
pub fn state_key(id: &str, key: &str) -> String {
    format!("expect/{id}/{}", short_hash(&[id, key]))
}

/// The expectation and key a workflow input is about.
pub fn instance_of(input: &Value) -> Result<(&str, &str), CheckError> {
    let text = |k: &str| {
        input
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| CheckError::BadInput(format!("the input has no `{k}`, a string")))
    };
    Ok((text("expectation")?, text("key")?))
}

/// Checks an instance at its deadline. `input` is the workflow input
/// ([`Observation::workflow_input`], or a `next` of an earlier check); `state` what the
/// key-value store holds now under [`state_key`].
pub fn check(
    rules: &RuleSet,
    input: &Value,
    state: Option<&ExpectState>,
    now_ms: i64,
) -> Result<Check, CheckError> {
    let (id, key) = instance_of(input)?;
    let Some(exp) = rules.expectations.iter().find(|e| e.id == id) else {
        return Ok(Check::met(format!(
            "the expectation `{id}` is no longer declared by rule set {}@{}",
            rules.name, rules.version
        )));
    };
    let text = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or_default();
    let event = text("event");
    let deadline_ms = parse_ms(input.get("deadline")).ok_or_else(|| {
        CheckError::BadInput("the input has no `deadline`, an RFC 3339 time".into())
    })?;
    if now_ms < deadline_ms {
        return Err(CheckError::Early {
            deadline: iso(deadline_ms),
            now: iso(now_ms),
        });
    }
    let attempt = input.get("attempt").and_then(Value::as_u64).unwrap_or(1) as u32;
    let empty = ExpectState::default();
    let state = state.unwrap_or(&empty);
    let mut data = Map::new();
    data.insert("expectation".into(), json!(id));
    data.insert("kind".into(), json!(exp.kind.name()));
    data.insert("key".into(), json!(key));
    data.insert("deadline".into(), json!(iso(deadline_ms)));
    if let Some(Value::Object(c)) = input.get("carried") {
        for (k, v) in c {
            data.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut event_type = MISSED;
    let mut next = None;
    let reason;
    match &exp.kind {
        Kind::Heartbeat {
            every,
            grace,
            repeat,
            ..
        } => {
            let period = |stated: Option<i64>| stated.unwrap_or(every.millis());
            if let Some(latest) = state.latest.as_ref().filter(|l| l.event != event) {
                return Ok(follow(
                    input,
                    latest,
                    latest.time_ms + period(latest.period_ms) + grace.millis(),
                    format!("a later heartbeat came at {}", iso(latest.time_ms)),
                ));
            }
            let stated = input.get("period_ms").and_then(Value::as_i64);
            let every = Span((period(stated) / 1000).max(0) as u64);
            data.insert("last_seen".into(), json!(text("time")));
            data.insert("missed".into(), json!(attempt));
            reason = format!(
                "no heartbeat for `{key}` since {}: {attempt} period(s) of {every} missed",
                text("time")
            );
            if attempt < *repeat {
                let mut n = input.clone();
                n["attempt"] = json!(attempt + 1);
                n["deadline"] = json!(iso(deadline_ms + every.millis()));
                next = Some(n);
            }
        }
        Kind::Sequence { within } => {
            if let Some(latest) = state.latest.as_ref().filter(|l| l.event != event) {
                return Ok(follow(
                    input,
                    latest,
                    latest.time_ms + within.millis(),
                    format!(
                        "superseded by a later opening event at {}",
                        iso(latest.time_ms)
                    ),
                ));
            }
            let opened_ms = parse_ms(input.get("time")).unwrap_or(deadline_ms);
            if let Some(c) = &state.closed {
                if c.time_ms >= opened_ms && c.time_ms <= deadline_ms {
                    return Ok(Check::met(format!(
                        "{} came at {}, before the deadline",
                        c.event,
                        iso(c.time_ms)
                    )));
                }
            }
            data.insert("started_at".into(), json!(text("time")));
            data.insert("opened_by".into(), json!(event));
            reason = format!(
                "`{key}` opened at {} was not closed by {}",
                text("time"),
                iso(deadline_ms)
            );
        }
        Kind::Reconcile {
            sources, compare, ..
        } => {
            let missing: Vec<&String> = sources
                .iter()
                .filter(|s| !state.reports.contains_key(*s))
                .collect();
            let mut mismatched = Vec::new();
            for field in compare {
                let values: BTreeMap<&String, &Value> = state
                    .reports
                    .iter()
                    .map(|(s, r)| (s, r.values.get(field).unwrap_or(&Value::Null)))
                    .collect();
                let distinct: std::collections::BTreeSet<String> =
                    values.values().map(|v| v.to_string()).collect();
                if distinct.len() > 1 {
                    mismatched.push(json!({"field": field, "values": values}));
                }
            }
            let reports: Map<String, Value> = state
                .reports
                .iter()
                .map(|(s, r)| (s.clone(), json!({"event": r.event, "time": iso(r.time_ms)})))
                .collect();
            data.insert("reports".into(), Value::Object(reports));
            data.insert("missing".into(), json!(missing));
            data.insert("mismatched".into(), json!(mismatched));
            reason = match (missing.is_empty(), mismatched.len()) {
                (true, 0) => {
                    event_type = MATCHED;
                    format!(
                        "every source ({}) reported `{key}` with equal values",
                        sources.join(", ")
                    )
                }
                (false, _) => format!(
                    "`{key}` was not reported by {} by {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    iso(deadline_ms)
                ),
                (true, n) => {
                    event_type = MISMATCHED;
                    format!("the sources disagree on {n} field(s) of `{key}`")
                }
            };
        }
    }
    let subject = input.get("subject").filter(|s| s.is_string()).cloned();
    let mut missed = json!({
        "id": format!("{id}-{}", short_hash(&[id, key, event, &attempt.to_string()])),
        "source": SOURCE,
        "type": event_type,
        "time": iso(deadline_ms),
        "data": Value::Object(data),
    });
    if let Some(s) = subject {
        missed["subject"] = s;
    }
    Ok(Check {
        met: event_type == MATCHED,
        reason,
        event: Some(missed),
        next,
    })
}

/// The check of a watch whose event was superseded: met for it, and the watch goes on with
/// the latest event, to its own deadline.
fn follow(input: &Value, latest: &Seen, deadline_ms: i64, reason: String) -> Check {
    let mut next = input.clone();
    next["event"] = json!(latest.event);
    next["time"] = json!(iso(latest.time_ms));
    next["deadline"] = json!(iso(deadline_ms));
    next["attempt"] = json!(1);
    next["period_ms"] = json!(latest.period_ms);
    if let Some(s) = &latest.subject {
        next["subject"] = json!(s);
    }
    if !latest.carried.is_empty() {
        next["carried"] = Value::Object(latest.carried.clone());
    }
    Check {
        met: true,
        reason: format!("{reason}; watching it until {}", iso(deadline_ms)),
        event: None,
        next: Some(next),
    }
}

impl RuleSet {
    /// Which facts the declared expectations can mean anything to.
    pub fn expectation_interest(&self) -> Interest {
        let mut types = std::collections::BTreeSet::new();
        for w in self.expectations.iter().flat_map(|e| &e.watches) {
            match &w.types {
                Some(t) => types.extend(t.iter().cloned()),
                None => return Interest::Everything,
            }
        }
        if self.expectations.is_empty() {
            Interest::Nothing
        } else {
            Interest::Types(types.into_iter().collect())
        }
    }

    /// What `event` (canonical) means to each expectation of the set. Events Helios emits
    /// for expectations are never observed, so an expectation cannot feed on itself.
    pub fn observe(&self, event: &Value) -> Vec<Observation> {
        if event.get("source").and_then(Value::as_str) == Some(SOURCE) {
            return Vec::new();
        }
        let Some(time_ms) = parse_ms(event.get("time")) else {
            return Vec::new();
        };
        let helios_id = event
            .get("helios_id")
            .or_else(|| event.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut scratch = crate::Scratch::default();
        let mut out = Vec::new();
        for ix in self.expect_compiled.matches(event, &mut scratch) {
            let Some((e, w)) = self.expect_roles.get(ix) else {
                continue;
            };
            let exp = &self.expectations[*e];
            let watch = &exp.watches[*w];
            let role = &watch.role;
            let scope = Scope::event(event);
            let key = watch.key.as_ref().unwrap_or(&exp.key).render(&scope);
            if key.trim().is_empty() {
                continue;
            }
            let stated = match &exp.kind {
                Kind::Heartbeat { every_from, .. } => stated_period(every_from.as_ref(), &scope),
                _ => None,
            };
            let (deadline_ms, values) = match (&exp.kind, role) {
                (Kind::Heartbeat { every, grace, .. }, _) => (
                    Some(time_ms + stated.unwrap_or(every.millis()) + grace.millis()),
                    Map::new(),
                ),
                (Kind::Sequence { within }, Role::Opens) => {
                    (Some(time_ms + within.millis()), Map::new())
                }
                (Kind::Sequence { .. }, _) => (None, Map::new()),
                (Kind::Reconcile { within, .. }, _) => (
                    Some(time_ms + within.millis()),
                    watch
                        .values
                        .iter()
                        .map(|(name, f)| (name.clone(), found_value(&scope.resolve(f))))
                        .collect(),
                ),
            };
            let carried: Map<String, Value> = exp
                .carry
                .iter()
                .map(|(name, f)| (name.clone(), found_value(&scope.resolve(f))))
                .collect();
            let subject = event
                .get("subject")
                .and_then(Value::as_str)
                .map(str::to_string);
            out.push(Observation {
                expectation: exp.id.clone(),
                kind: exp.kind.name(),
                role: role.clone(),
                state_key: format!("expect/{}/{}", exp.id, short_hash(&[&exp.id, &key])),
                key,
                seen: Seen {
                    event: helios_id.to_string(),
                    time_ms,
                    values,
                    // Kept for the watch that follows this event (heartbeats, openings).
                    subject: subject
                        .clone()
                        .filter(|_| matches!(role, Role::Beat | Role::Opens)),
                    carried: if matches!(role, Role::Beat | Role::Opens) {
                        carried.clone()
                    } else {
                        Map::new()
                    },
                    period_ms: stated,
                },
                subject,
                deadline_ms,
                carried,
            });
        }
        out
    }
}

/// When one instance of an expectation waited, as a run of events tells it: from the event
/// that opened the wait until it was met or, failing that, until its deadline passed (then
/// it was missed). What [`RuleSet::open_spans`] finds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenSpan {
    pub expectation: String,
    pub kind: &'static str,
    pub key: String,
    /// The event that opened the wait.
    pub event: String,
    pub opened_ms: i64,
    /// When what was expected was due.
    pub deadline_ms: i64,
    /// When it was met by the deadline (the next beat, the closing event, the last source's
    /// report), if it was among the events given.
    pub met_ms: Option<i64>,
}

impl OpenSpan {
    /// Whether the instance was waiting at `at_ms`.
    pub fn open_at(&self, at_ms: i64) -> bool {
        self.opened_ms <= at_ms && at_ms < self.met_ms.unwrap_or(self.deadline_ms)
    }
}

impl RuleSet {
    /// Replays `events` (canonical, in any order) through the expectations, and answers each
    /// wait they opened, oldest first: a heartbeat waits from each beat for the next, a
    /// sequence from its opening event for its closing one, a reconciliation from its first
    /// report for every source's. A wait is met by an event at or before its deadline; a
    /// sequence's closing event meets every wait of its key opened before it. Only the events
    /// given count: a timeline of one subject sees that subject's events, not the reports
    /// other subjects made.
    pub fn open_spans(&self, events: &[Value]) -> Vec<OpenSpan> {
        let mut seen: Vec<Observation> = events.iter().flat_map(|e| self.observe(e)).collect();
        seen.sort_by(|a, b| (a.seen.time_ms, &a.seen.event).cmp(&(b.seen.time_ms, &b.seen.event)));
        let mut spans: Vec<OpenSpan> = Vec::new();
        // Per (expectation, key): the spans still waiting, and a reconciliation's reporters.
        let mut waiting: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        let mut reported: BTreeMap<usize, std::collections::BTreeSet<String>> = BTreeMap::new();
        for o in seen {
            let t = o.seen.time_ms;
            let instance = (o.expectation.clone(), o.key.clone());
            let open = waiting.entry(instance).or_default();
            let meet = |spans: &mut Vec<OpenSpan>, open: &mut Vec<usize>| {
                for &i in open.iter() {
                    if spans[i].met_ms.is_none() && t <= spans[i].deadline_ms {
                        spans[i].met_ms = Some(t);
                    }
                }
                open.clear();
            };
            let start = |spans: &mut Vec<OpenSpan>, deadline_ms: i64| {
                spans.push(OpenSpan {
                    expectation: o.expectation.clone(),
                    kind: o.kind,
                    key: o.key.clone(),
                    event: o.seen.event.clone(),
                    opened_ms: t,
                    deadline_ms,
                    met_ms: None,
                });
                spans.len() - 1
            };
            match &o.role {
                Role::Beat => {
                    meet(&mut spans, open);
                    if let Some(d) = o.deadline_ms {
                        open.push(start(&mut spans, d));
                    }
                }
                Role::Opens => {
                    if let Some(d) = o.deadline_ms {
                        open.push(start(&mut spans, d));
                    }
                }
                Role::Closes => meet(&mut spans, open),
                Role::Reports(source) => {
                    let sources = self
                        .expectations
                        .iter()
                        .find(|e| e.id == o.expectation)
                        .and_then(|e| match &e.kind {
                            Kind::Reconcile { sources, .. } => Some(sources.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    // A report after the deadline starts nothing: the instance was decided.
                    let current = open.last().copied();
                    let i = match current {
                        Some(i) => i,
                        None => match o.deadline_ms {
                            Some(d) => {
                                let i = start(&mut spans, d);
                                open.push(i);
                                i
                            }
                            None => continue,
                        },
                    };
                    let by = reported.entry(i).or_default();
                    by.insert(source.clone());
                    if sources.iter().all(|s| by.contains(s)) {
                        meet(&mut spans, open);
                    }
                }
            }
        }
        spans
    }
}

// ---- loading ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    id: String,
    #[serde(default)]
    description: String,
    heartbeat: Option<RawHeartbeat>,
    sequence: Option<RawSequence>,
    reconcile: Option<RawReconcile>,
    key: Option<String>,
    #[serde(default)]
    carry: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeat {
    #[serde(rename = "match")]
    pattern: Value,
    every: String,
    grace: Option<String>,
    repeat: Option<u32>,
    every_from: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    first: Value,
    then: Value,
    within: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconcile {
    sources: BTreeMap<String, Value>,
    #[serde(default)]
    compare: RawCompare,
    within: String,
}

/// `compare: [data.branch]`, or names for paths: `compare: {branch: data.branch}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCompare {
    Paths(Vec<String>),
    Named(BTreeMap<String, String>),
}

impl Default for RawCompare {
    fn default() -> RawCompare {
        RawCompare::Paths(Vec::new())
    }
}

/// A source of a reconciliation: a pattern, or `{match, key, values}` for a source that keeps
/// the key or a compared value elsewhere.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(rename = "match")]
    pattern: Value,
    key: Option<String>,
    #[serde(default)]
    values: BTreeMap<String, String>,
}

fn field(text: &str, at: String) -> Result<FieldPath, Invalid> {
    FieldPath::parse(text, EVENT_ROOTS).map_err(|message| Invalid { at, message })
}

fn span(text: &str, at: String) -> Result<Span, Invalid> {
    Span::parse(text).map_err(|message| Invalid { at, message })
}

fn pattern(v: &Value, at: String) -> Result<Pattern, Invalid> {
    Pattern::parse(v).map_err(|e| Invalid {
        at: if e.at.is_empty() {
            at
        } else {
            format!("{at}.{}", e.at)
        },
        message: e.message,
    })
}

impl Watch {
    fn plain(raw: &Value, at: String, role: Role) -> Result<Watch, Invalid> {
        Ok(Watch {
            pattern: pattern(raw, at)?,
            role,
            key: None,
            values: Vec::new(),
            types: plain_types(raw),
        })
    }
}

/// Parses one entry of `expectations`, at `at` (`expectations[2]`) of `file`.
pub(crate) fn parse_expectation(v: &Value, at: &str, file: &str) -> Result<Expectation, Invalid> {
    let raw: RawExpectation = typed(v, at)?;
    if !valid_name(&raw.id) {
        return Err(Invalid {
            at: format!("{at}.id"),
            message: format!(
                "`{}` is not an expectation id: lowercase letters, digits, `-`, `_` and `.`, at most 64",
                raw.id
            ),
        });
    }
    let (kind, watches) = match (raw.heartbeat, raw.sequence, raw.reconcile) {
        (Some(h), None, None) => {
            let here = format!("{at}.heartbeat");
            let repeat = h.repeat.unwrap_or(3);
            if repeat == 0 {
                return Err(Invalid {
                    at: format!("{here}.repeat"),
                    message: "`repeat` is at least 1".into(),
                });
            }
            (
                Kind::Heartbeat {
                    every: span(&h.every, format!("{here}.every"))?,
                    grace: match &h.grace {
                        Some(g) => span(g, format!("{here}.grace"))?,
                        None => Span(0),
                    },
                    repeat,
                    every_from: h
                        .every_from
                        .as_deref()
                        .map(|f| field(f, format!("{here}.every_from")))
                        .transpose()?,
                },
                vec![Watch::plain(
                    &h.pattern,
                    format!("{here}.match"),
                    Role::Beat,
                )?],
            )
        }
        (None, Some(s), None) => {
            let here = format!("{at}.sequence");
            (
                Kind::Sequence {
                    within: span(&s.within, format!("{here}.within"))?,
                },
                vec![
                    Watch::plain(&s.first, format!("{here}.first"), Role::Opens)?,
                    Watch::plain(&s.then, format!("{here}.then"), Role::Closes)?,
                ],
            )
        }
        (None, None, Some(r)) => {
            let here = format!("{at}.reconcile");
            if r.sources.len() < 2 {
                return Err(Invalid {
                    at: format!("{here}.sources"),
                    message: "a reconciliation compares at least two sources".into(),
                });
            }
            let compare: Vec<(String, String)> = match r.compare {
                RawCompare::Paths(p) => p.into_iter().map(|f| (f.clone(), f)).collect(),
                RawCompare::Named(m) => m.into_iter().collect(),
            };
            let mut watches = Vec::new();
            for (name, v) in &r.sources {
                let at_source = format!("{here}.sources.{name}");
                let raw_source = if v.get("match").is_some() {
                    typed::<RawSource>(v, &at_source)?
                } else {
                    RawSource {
                        pattern: v.clone(),
                        key: None,
                        values: BTreeMap::new(),
                    }
                };
                let mut values = Vec::new();
                for (cname, default) in &compare {
                    let (path, at) = match raw_source.values.get(cname) {
                        Some(p) => (p, format!("{at_source}.values.{cname}")),
                        None => (default, format!("{here}.compare.{cname}")),
                    };
                    values.push((cname.clone(), field(path, at)?));
                }
                if let Some(extra) = raw_source
                    .values
                    .keys()
                    .find(|k| !compare.iter().any(|c| &c.0 == *k))
                {
                    return Err(Invalid {
                        at: format!("{at_source}.values.{extra}"),
                        message: format!("`{extra}` is not one of the compared values (`compare`)"),
                    });
                }
                watches.push(Watch {
                    pattern: pattern(&raw_source.pattern, format!("{at_source}.match"))?,
                    role: Role::Reports(name.clone()),
                    key: raw_source
                        .key
                        .as_deref()
                        .map(|k| Template::parse(k, &format!("{at_source}.key"), EVENT_ROOTS))
                        .transpose()?,
                    values,
                    types: plain_types(&raw_source.pattern),
                });
            }
            (
                Kind::Reconcile {
                    sources: r.sources.keys().cloned().collect(),
                    compare: compare.into_iter().map(|c| c.0).collect(),
                    within: span(&r.within, format!("{here}.within"))?,
                },
                watches,
            )
        }
        _ => {
            return Err(Invalid {
                at: at.to_string(),
                message: "an expectation is exactly one of `heartbeat`, `sequence` or `reconcile`"
                    .into(),
            })
        }
    };
    let key = Template::parse(
        raw.key.as_deref().unwrap_or("{{subject}}"),
        &format!("{at}.key"),
        EVENT_ROOTS,
    )?;
    let carry = raw
        .carry
        .iter()
        .map(|(name, f)| Ok((name.clone(), field(f, format!("{at}.carry.{name}"))?)))
        .collect::<Result<_, _>>()?;
    Ok(Expectation {
        id: raw.id,
        description: raw.description,
        file: file.to_string(),
        kind,
        key,
        carry,
        watches,
    })
}
