//! `advise`: the optional task of the `decision` workflow that writes an advisory note beside
//! a decision. It is advisory only: the note is stored as metadata of the decision (an
//! outcome of kind `advice`, marked advisory, with a confidence), never in the decision, and
//! the workflow catches every failure of this task and goes on.
//!
//! The note is a deterministic summary of similar past decisions: those in which the same
//! first rule fired within the 30 days before, how many were about the same subject, and what
//! their workflows ended with (acknowledged, escalated). The same store gives the same note.

use std::collections::BTreeMap;
use std::sync::Arc;

use helios_ports::{Clock, TaskFailure};
use helios_store::{DecisionQuery, Outcome, Recorded, Store, StoreError};
use serde_json::{json, Value};

/// How far back similar decisions are looked for.
pub const LOOKBACK_DAYS: i64 = 30;
/// The most similar decisions read.
pub const MAX_SIMILAR: usize = 200;
/// The most similar decisions whose outcomes are read.
pub const MAX_OUTCOMES_READ: usize = 25;
/// The method named in every note this build writes.
pub const METHOD: &str = "similar-decisions";

pub struct Advisor {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

fn retryable(e: StoreError) -> TaskFailure {
    TaskFailure::new("Helios.Retryable", e.to_string())
}

impl Advisor {
    /// `{"decision_id", "execution"}` → `{"summary", "confidence", "method", "similar"}`,
    /// stored once per (decision, execution).
    pub async fn handle(&self, payload: Value) -> Result<Value, TaskFailure> {
        let field = |name: &str| {
            payload.get(name).and_then(Value::as_str).ok_or_else(|| {
                TaskFailure::new(
                    "Helios.BadRequest",
                    format!("the advise payload needs `{name}`, a string"),
                )
            })
        };
        let decision_id = field("decision_id")?;
        let execution = field("execution")?;
        let advice = self.advise(decision_id).await?;
        let recorded = self
            .store
            .record_outcome(&Outcome {
                decision_id: decision_id.to_string(),
                execution: execution.to_string(),
                kind: "advice".into(),
                recorded_at: self.clock.now(),
                body: advice.clone(),
            })
            .await
            .map_err(retryable)?;
        if recorded == Recorded::Duplicate {
            // A retried task: the note first written stands.
            if let Some(o) = self
                .store
                .list_outcomes(decision_id)
                .await
                .map_err(retryable)?
                .into_iter()
                .find(|o| o.kind == "advice" && o.execution == execution)
            {
                return Ok(o.body);
            }
        }
        Ok(advice)
    }

    /// The note for a decision, without storing it.
    pub async fn advise(&self, decision_id: &str) -> Result<Value, TaskFailure> {
        let stored = self
            .store
            .get_decision(decision_id)
            .await
            .map_err(retryable)?
            .ok_or_else(|| {
                TaskFailure::new(
                    "Helios.UnknownDecision",
                    format!("no decision has the id `{decision_id}`"),
                )
            })?;
        let d = stored.decision;
        let Some(rule) = d.rules.first() else {
            return Ok(json!({
                "summary": "No rule fired, so there is nothing to compare with.",
                "confidence": 0.0, "method": METHOD, "similar": [], "advisory": true,
            }));
        };
        let page = self
            .store
            .list_decisions(&DecisionQuery {
                rule: Some(rule.clone()),
                since: Some(d.decided_at - chrono::Duration::days(LOOKBACK_DAYS)),
                until: Some(d.decided_at),
                limit: MAX_SIMILAR,
                ..Default::default()
            })
            .await
            .map_err(retryable)?;
        let mut similar: Vec<_> = page
            .decisions
            .into_iter()
            .map(|s| s.decision)
            .filter(|s| s.id != d.id)
            .collect();
        // Newest first; the same subject before others.
        similar.sort_by(|a, b| {
            (b.subject == d.subject)
                .cmp(&(a.subject == d.subject))
                .then(b.decided_at.cmp(&a.decided_at))
                .then(a.id.cmp(&b.id))
        });
        let same_subject = similar.iter().filter(|s| s.subject == d.subject).count();
        let mut endings: BTreeMap<&str, usize> = BTreeMap::new();
        for s in similar.iter().take(MAX_OUTCOMES_READ) {
            let outcomes = self.store.list_outcomes(&s.id).await.map_err(retryable)?;
            let ending = if outcomes.iter().any(|o| o.kind == "acknowledged") {
                "acknowledged"
            } else if outcomes
                .iter()
                .any(|o| o.kind == "outcome" && o.body.get("escalated").is_some())
            {
                "escalated"
            } else if outcomes.iter().any(|o| o.kind == "outcome") {
                "closed without acknowledgement"
            } else {
                "still open"
            };
            *endings.entry(ending).or_default() += 1;
        }
        let n = similar.len();
        let subject = d.subject.as_deref().unwrap_or("no subject");
        let summary = if n == 0 {
            format!("First decision of `{rule}` in {LOOKBACK_DAYS} days: nothing similar to compare with.")
        } else {
            let read = n.min(MAX_OUTCOMES_READ);
            let endings: Vec<String> = endings.iter().map(|(k, v)| format!("{v} {k}")).collect();
            format!(
                "`{rule}` fired {n} time(s) before in {LOOKBACK_DAYS} days, {same_subject} of them for {subject}; \
                 of the {read} most relevant: {}. The latest was {}.",
                endings.join(", "),
                iso_seconds(&similar[0].decided_at)
            )
        };
        // More history, more confidence; never certainty.
        let confidence = ((n as f64 / (n as f64 + 5.0)) * 100.0).round() / 100.0;
        Ok(json!({
            "summary": summary,
            "confidence": confidence,
            "method": METHOD,
            "similar": similar.iter().take(10).map(|s| &s.id).collect::<Vec<_>>(),
            "advisory": true,
        }))
    }
}

fn iso_seconds(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
