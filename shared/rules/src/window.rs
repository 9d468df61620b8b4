//! Stateful windows without I/O.
//!
//! A rule with a `window` counts (or sums, or counts the distinct values of a field in) the
//! events that satisfied its `match` and `where` over a sliding time window, per group of
//! `group_by` values. The engine owns the arithmetic and the caller owns the storage:
//!
//! 1. [`crate::RuleSet::window_touches`] says which windows an event touches: a key per (rule,
//!    group) and the entry the event adds.
//! 2. The caller reads each [`WindowState`] at its key (DynamoDB in AWS, the local key-value
//!    store in `helios dev`), calls [`WindowState::record`], and writes it back with a
//!    conditional put on the version it read, retrying on conflict.
//! 3. The caller hands the states to [`crate::RuleSet::decide`].
//!
//! A state keeps one entry per event (time, event id, value), so the window slides exactly,
//! an event delivered twice is counted once, and `distinct` is exact. Entries older than the
//! window are dropped whenever the state is written; a state holds at most
//! [`MAX_ENTRIES`] entries (the oldest go first, and the state says how many it dropped), which
//! keeps it well inside a DynamoDB item.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::duration::Span;
use crate::scope::{found_value, FieldPath, Scope};

/// The most entries a window state keeps.
pub const MAX_ENTRIES: usize = 2_000;

/// What a window computes.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregate {
    Count,
    Sum(FieldPath),
    Distinct(FieldPath),
}

impl Aggregate {
    pub fn name(&self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum(_) => "sum",
            Aggregate::Distinct(_) => "distinct",
        }
    }
}

/// A rule's `window`.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSpec {
    pub aggregate: Aggregate,
    pub over: Span,
    pub group_by: Vec<FieldPath>,
    /// The rule fires when the window's value is at least this.
    pub at_least: f64,
}

/// One event's entry in a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Event time, milliseconds since the epoch.
    pub t: i64,
    /// The event's Helios id.
    pub id: String,
    /// The summed number or the distinct value (as JSON text); absent for `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<Value>,
}

/// A window an event touches: where its state lives and what the event adds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Touch {
    pub rule: String,
    /// The key-value key of the state.
    pub key: String,
    /// How long the state must live after this write.
    pub ttl_seconds: u64,
    pub over_seconds: u64,
    pub group: Map<String, Value>,
    pub entry: Entry,
}

/// The stored state of one window (one rule, one group).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    pub entries: Vec<Entry>,
    /// Entries dropped because the state was full.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WindowSpec {
    /// The touch of an event that satisfied the rule, or `None` when the event has nothing
    /// to add (`distinct` of a field it lacks).
    pub fn touch(
        &self,
        ruleset: &str,
        rule: &str,
        event: &Value,
        time_ms: i64,
        event_id: &str,
    ) -> Option<Touch> {
        let scope = Scope::event(event);
        let v = match &self.aggregate {
            Aggregate::Count => None,
            Aggregate::Sum(f) => {
                let total: f64 = scope.resolve(f).iter().filter_map(|v| v.as_f64()).sum();
                Some(value_json(total))
            }
            Aggregate::Distinct(f) => {
                let found = scope.resolve(f);
                if found.is_empty() {
                    return None;
                }
                Some(Value::String(match found_value(&found) {
                    Value::String(s) => s,
                    other => other.to_string(),
                }))
            }
        };
        let mut group = Map::new();
        for g in &self.group_by {
            group.insert(g.text.clone(), found_value(&scope.resolve(g)));
        }
        // The key names the rule set, the rule and everything that shapes the state, so a
        // rule whose window changes meaning starts a new state.
        let mut h = Sha256::new();
        let shape = serde_json::json!([
            self.aggregate.name(),
            match &self.aggregate {
                Aggregate::Count => "",
                Aggregate::Sum(f) | Aggregate::Distinct(f) => f.text.as_str(),
            },
            group,
        ]);
        h.update(shape.to_string().as_bytes());
        let digest = hex::encode(&h.finalize()[..12]);
        Some(Touch {
            rule: rule.to_string(),
            key: format!("window/{ruleset}/{rule}/{digest}"),
            ttl_seconds: self.over.seconds() + 300,
            over_seconds: self.over.seconds(),
            group,
            entry: Entry {
                t: time_ms,
                id: event_id.to_string(),
                v,
            },
        })
    }
}

/// The JSON number of a window value (whole numbers without a fraction).
pub fn value_json(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

impl WindowState {
    /// Whether the event `id` has its entry here: [`WindowState::record`] of its touch would
    /// change nothing.
    pub fn holds(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    /// Adds the touch's entry; false when nothing changed (the event was already counted,
    /// or is older than the window).
    pub fn record(&mut self, touch: &Touch) -> bool {
        let over_ms = i64::try_from(touch.over_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let latest = self
            .entries
            .iter()
            .map(|e| e.t)
            .max()
            .unwrap_or(touch.entry.t)
            .max(touch.entry.t);
        let horizon = latest.saturating_sub(over_ms);
        if self.holds(&touch.entry.id) {
            return false;
        }
        let before = self.entries.len();
        self.entries.retain(|e| e.t > horizon);
        if touch.entry.t <= horizon {
            return self.entries.len() != before;
        }
        let at = self
            .entries
            .partition_point(|e| (e.t, e.id.as_str()) <= (touch.entry.t, touch.entry.id.as_str()));
        self.entries.insert(at, touch.entry.clone());
        if self.entries.len() > MAX_ENTRIES {
            let excess = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..excess);
            self.dropped += excess as u64;
        }
        true
    }

    /// The window's value at `now_ms`: the entries in `(now - over, ∞)`.
    pub fn value(&self, aggregate: &Aggregate, over: Span, now_ms: i64) -> f64 {
        let horizon = now_ms.saturating_sub(over.millis());
        let live = self.entries.iter().filter(|e| e.t > horizon);
        match aggregate {
            Aggregate::Count => live.count() as f64,
            Aggregate::Sum(_) => live
                .filter_map(|e| e.v.as_ref().and_then(Value::as_f64))
                .sum(),
            Aggregate::Distinct(_) => {
                let seen: std::collections::BTreeSet<String> = live
                    .filter_map(|e| e.v.as_ref())
                    .map(Value::to_string)
                    .collect();
                seen.len() as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::EVENT_ROOTS;
    use serde_json::json;

    fn spec(aggregate: Aggregate) -> WindowSpec {
        WindowSpec {
            aggregate,
            over: Span(3600),
            group_by: vec![FieldPath::parse("subject", EVENT_ROOTS).unwrap()],
            at_least: 3.0,
        }
    }

    fn touch(s: &WindowSpec, id: &str, minute: i64, data: Value) -> Touch {
        let e = json!({"subject": "acme/web", "data": data});
        s.touch("set", "r", &e, minute * 60_000, id).unwrap()
    }

    #[test]
    fn a_window_counts_each_event_once_and_slides() {
        let s = spec(Aggregate::Count);
        let mut st = WindowState::default();
        assert!(st.record(&touch(&s, "e1", 0, json!({}))));
        assert!(st.record(&touch(&s, "e2", 30, json!({}))));
        assert!(
            !st.record(&touch(&s, "e2", 30, json!({}))),
            "a redelivery counts once"
        );
        assert!(st.record(&touch(&s, "e3", 59, json!({}))));
        assert_eq!(st.value(&s.aggregate, s.over, 59 * 60_000), 3.0);
        // At minute 61 the first event has left the window.
        assert_eq!(st.value(&s.aggregate, s.over, 61 * 60_000), 2.0);
        assert!(st.record(&touch(&s, "e4", 90, json!({}))));
        assert_eq!(
            st.entries.len(),
            2,
            "entries older than the window are dropped on write"
        );
    }

    #[test]
    fn sum_and_distinct_aggregate_the_field() {
        let f = FieldPath::parse("data.n", EVENT_ROOTS).unwrap();
        let s = spec(Aggregate::Sum(f.clone()));
        let mut st = WindowState::default();
        st.record(&touch(&s, "a", 0, json!({"n": 2})));
        st.record(&touch(&s, "b", 1, json!({"n": 2.5})));
        assert_eq!(st.value(&s.aggregate, s.over, 60_000), 4.5);

        let s = spec(Aggregate::Distinct(f));
        let mut st = WindowState::default();
        for (id, n) in [("a", "x"), ("b", "y"), ("c", "x")] {
            st.record(&touch(&s, id, 0, json!({ "n": n })));
        }
        assert_eq!(st.value(&s.aggregate, s.over, 0), 2.0);
        assert!(s.touch("set", "r", &json!({"data": {}}), 0, "d").is_none());
    }

    #[test]
    fn groups_have_their_own_keys() {
        let s = spec(Aggregate::Count);
        let a = s
            .touch("set", "r", &json!({"subject": "a"}), 0, "1")
            .unwrap();
        let b = s
            .touch("set", "r", &json!({"subject": "b"}), 0, "2")
            .unwrap();
        let a2 = s
            .touch("set", "r", &json!({"subject": "a"}), 5, "3")
            .unwrap();
        assert_ne!(a.key, b.key);
        assert_eq!(a.key, a2.key);
        assert!(a.key.starts_with("window/set/r/"));
    }

    #[test]
    fn a_full_state_drops_its_oldest_entries_and_says_so() {
        let s = spec(Aggregate::Count);
        let mut st = WindowState::default();
        for i in 0..(MAX_ENTRIES + 5) {
            let t = s
                .touch(
                    "set",
                    "r",
                    &json!({"subject": "a"}),
                    i as i64,
                    &format!("e{i}"),
                )
                .unwrap();
            st.record(&t);
        }
        assert_eq!(st.entries.len(), MAX_ENTRIES);
        assert_eq!(st.dropped, 5);
        assert_eq!(st.entries[0].id, "e5");
    }
}
