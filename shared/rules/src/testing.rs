//! Rule tests, kept beside the rules like `opa test` keeps them: each test replays a sequence
//! of events through the rule set, windows and dedupe keys carried from step to step as the
//! decide function carries them, and compares each decision with what the step expects.
//!
//! ```yaml
//! tests:
//!   - name: three failures on main within an hour page once
//!     steps:
//!       - event: {id: b1, source: ci/buildkite, type: ci.build.finished,
//!                 time: "2026-11-20T09:00:00Z", subject: acme/web, data: {state: failed}}
//!         expect: {fired: []}
//!       - now: "2026-11-20T09:20:00Z"      # optional; the event's time by default
//!         event: {…}
//!         expect:
//!           fired: [ci-failing-on-main]   # exactly these rules, in this order
//!           severity: high                # optional, as are the rest
//!           score: 70
//!           actions: [{workflow: notify, params: {channel: "#ci"}}]   # params: a subset
//!           near_misses: [rule-id]
//!           suppressed: [rule-id]
//! ```
//!
//! Events are written as the native envelope (`id`, `source`, `type`, `time`, `subject`,
//! `data`, and optionally `correlation` and `extensions`); the caller turns each into a
//! canonical event, as ingest would.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decide::{Decision, Inputs, Outcome};
use crate::ruleset::{Invalid, RuleSet, Severity};
use crate::window::WindowState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub tests: Vec<RuleTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub event: Value,
    #[serde(default)]
    pub now: Option<String>,
    #[serde(default)]
    pub expect: Option<Expect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub fired: Option<Vec<String>>,
    pub severity: Option<Severity>,
    pub score: Option<i64>,
    pub actions: Option<Vec<ExpectedAction>>,
    pub near_misses: Option<Vec<String>>,
    pub suppressed: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAction {
    pub workflow: String,
    #[serde(default)]
    pub params: Option<Value>,
}

/// Parses a test file (YAML).
pub fn parse(text: &str) -> Result<TestFile, Invalid> {
    crate::ruleset::from_yaml(text)
}

/// How one test went.
#[derive(Debug, Serialize)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
    pub failures: Vec<String>,
    /// The decision of every step, for `--json` and for a person reading a failure.
    pub decisions: Vec<Decision>,
}

/// Turns a step's event into a canonical event, given the step's time.
pub type Canonicalise<'a> = dyn Fn(&Value, DateTime<Utc>) -> Result<Value, String> + 'a;

/// Runs one test against `rules`, state starting empty.
pub fn run(rules: &RuleSet, test: &RuleTest, canonicalise: &Canonicalise<'_>) -> TestResult {
    let mut windows: BTreeMap<String, WindowState> = BTreeMap::new();
    // Held dedupe keys: holder event and expiry (ms).
    let mut held: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut decisions = Vec::new();
    for (i, step) in test.steps.iter().enumerate() {
        let n = i + 1;
        let event_time = step
            .event
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let now = match (&step.now, event_time) {
            (Some(t), _) => match DateTime::parse_from_rfc3339(t) {
                Ok(t) => t.with_timezone(&Utc),
                Err(e) => {
                    failures.push(format!("step {n}: `now` is not an RFC 3339 time: {e}"));
                    break;
                }
            },
            (None, Some(t)) => t,
            (None, None) => {
                failures.push(format!(
                    "step {n}: the event has no `time` and the step no `now`"
                ));
                break;
            }
        };
        let event = match canonicalise(&step.event, now) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("step {n}: the event is not valid: {e}"));
                break;
            }
        };
        let decision = match record_and_decide(rules, &event, now, &mut windows, &mut held) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("step {n}: {e}"));
                break;
            }
        };
        if let Some(x) = &step.expect {
            compare(n, x, &decision, &mut failures);
        }
        decisions.push(decision);
    }
    TestResult {
        name: test.name.clone(),
        passed: failures.is_empty(),
        failures,
        decisions,
    }
}

/// What the decide function does with a key-value store, with maps instead: record the
/// event in its windows, read the held dedupe keys, decide, take the claims.
pub fn record_and_decide(
    rules: &RuleSet,
    event: &Value,
    now: DateTime<Utc>,
    windows: &mut BTreeMap<String, WindowState>,
    held: &mut BTreeMap<String, (String, i64)>,
) -> Result<Decision, crate::decide::DecideError> {
    let now_ms = now.timestamp_millis();
    let mut inputs = Inputs::default();
    for t in rules.window_touches(event)? {
        let state = windows.entry(t.key.clone()).or_default();
        state.record(&t);
        inputs.windows.insert(t.key.clone(), state.clone());
    }
    held.retain(|_, (_, expires)| *expires > now_ms);
    for c in rules.dedupe_keys(event)? {
        if let Some((holder, _)) = held.get(&c.key) {
            inputs.held.insert(c.key, holder.clone());
        }
    }
    let decision = rules.decide(event, now, &inputs)?;
    for c in &decision.claims {
        let ttl = i64::try_from(c.ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        held.entry(c.key.clone())
            .or_insert_with(|| (decision.event.clone(), now_ms.saturating_add(ttl)));
    }
    Ok(decision)
}

fn ids(d: &Decision, outcome: Outcome) -> Vec<String> {
    d.trace
        .iter()
        .filter(|t| t.outcome == outcome)
        .map(|t| t.rule.clone())
        .collect()
}

/// Whether `got` has everything `want` has (maps: a subset of keys; other values: equal,
/// numbers by value).
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        _ => crate::condition::same(got, want),
    }
}

fn compare(n: usize, x: &Expect, d: &Decision, failures: &mut Vec<String>) {
    let fired: Vec<String> = d.fired.iter().map(|f| f.rule.clone()).collect();
    if let Some(want) = &x.fired {
        if *want != fired {
            let why: Vec<&str> = d
                .trace
                .iter()
                .filter(|t| t.outcome != Outcome::Fired)
                .map(|t| t.because.as_str())
                .collect();
            failures.push(format!(
                "step {n}: fired {fired:?}, expected {want:?}{}",
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join("; "))
                }
            ));
        }
    }
    if let Some(want) = x.severity {
        if d.severity != want {
            failures.push(format!(
                "step {n}: severity {}, expected {}",
                d.severity.as_str(),
                want.as_str()
            ));
        }
    }
    if let Some(want) = x.score {
        if d.score != want {
            failures.push(format!("step {n}: score {}, expected {want}", d.score));
        }
    }
    if let Some(want) = &x.actions {
        let ok = want.len() == d.actions.len()
            && want.iter().zip(&d.actions).all(|(w, a)| {
                w.workflow == a.workflow && w.params.as_ref().is_none_or(|p| contains(&a.params, p))
            });
        if !ok {
            let got: Vec<String> = d
                .actions
                .iter()
                .map(|a| format!("{} {}", a.workflow, a.params))
                .collect();
            failures.push(format!(
                "step {n}: actions [{}] do not match the {} expected",
                got.join(", "),
                want.len()
            ));
        }
    }
    for (label, want, outcome) in [
        ("near misses", &x.near_misses, Outcome::NearMiss),
        ("suppressed", &x.suppressed, Outcome::Suppressed),
    ] {
        if let Some(want) = want {
            let mut got = ids(d, outcome);
            let mut want = want.clone();
            got.sort();
            want.sort();
            if got != want {
                failures.push(format!("step {n}: {label} {got:?}, expected {want:?}"));
            }
        }
    }
}
