//! `advise`: the optional task of the `decision` workflow that writes an advisory note beside
//! a decision. It is advisory only: the note is stored as metadata of the decision (an
//! outcome of kind `advice`, marked advisory, with a confidence), never in the decision, and
//! the workflow catches every failure of this task and goes on.
//!
//! The note is a deterministic summary of similar past decisions: those in which the same
//! first rule fired within the 30 days before, how many were about the same subject, and what
//! their workflows ended with (acknowledged, escalated). The same store gives the same note.
//!
//! With a text model configured (Amazon Bedrock in AWS: `HELIOS_BEDROCK_MODEL_ID`), the model
//! writes the note from the decision and that summary, which is kept beside it as its
//! `basis`; the confidence stays the summary's (it measures how much history there is, not
//! how sure the model sounds). A model that fails or is slow leaves the summary as the note,
//! with the reason: the task never fails for the model.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use helios_ports::store::{DecisionQuery, Decisions, Outcome, Outcomes, Recorded, StoreError};
use helios_ports::{Clock, TaskFailure, TextModel};
use serde_json::{json, Value};

/// How far back similar decisions are looked for.
pub const LOOKBACK_DAYS: i64 = 30;
/// The most similar decisions read.
pub const MAX_SIMILAR: usize = 200;
/// The most similar decisions whose outcomes are read.
pub const MAX_OUTCOMES_READ: usize = 25;
/// The method named in every note this build writes.
pub const METHOD: &str = "similar-decisions";

/// How long the model may take before the summary stands alone.
pub const MODEL_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest note kept from a model.
pub const MAX_MODEL_NOTE_CHARS: usize = 2_000;

/// What the model is told, whatever the decision.
pub const MODEL_INSTRUCTIONS: &str = "You write a short advisory note, at most four sentences, \
for the person on call about an automated decision. You cannot change the decision. Use only \
the facts given; say plainly when they are too few to suggest anything. Suggest what to check \
or do first, in the light of how similar past decisions ended.";

pub struct Advisor {
    pub decisions: Arc<dyn Decisions>,
    pub outcomes: Arc<dyn Outcomes>,
    pub clock: Arc<dyn Clock>,
    /// Writes the note from the summary when set (Bedrock in AWS).
    pub model: Option<Arc<dyn TextModel>>,
}

fn retryable(e: StoreError) -> TaskFailure {
    TaskFailure::of(helios_ports::TaskError::Retryable, e.to_string())
}

impl Advisor {
    /// `{"decision_id", "execution"}` → `{"summary", "confidence", "method", "similar"}`,
    /// stored once per (decision, execution).
    pub async fn handle(&self, payload: Value) -> Result<Value, TaskFailure> {
        let field = |name: &str| {
            payload.get(name).and_then(Value::as_str).ok_or_else(|| {
                TaskFailure::of(
                    helios_ports::TaskError::BadRequest,
                    format!("the advise payload needs `{name}`, a string"),
                )
            })
        };
        let decision_id = field("decision_id")?;
        let execution = field("execution")?;
        let advice = self.advise(decision_id).await?;
        let recorded = self
            .outcomes
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
                .outcomes
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
        let (note, decision) = self.summarise(decision_id).await?;
        let Some(model) = &self.model else {
            return Ok(note);
        };
        Ok(with_model(model.as_ref(), note, &decision).await)
    }

    /// The deterministic note, and the decision it is about.
    async fn summarise(
        &self,
        decision_id: &str,
    ) -> Result<(Value, helios_ports::store::NewDecision), TaskFailure> {
        let stored = self
            .decisions
            .get_decision(decision_id)
            .await
            .map_err(retryable)?
            .ok_or_else(|| {
                TaskFailure::of(
                    helios_ports::TaskError::UnknownDecision,
                    format!("no decision has the id `{decision_id}`"),
                )
            })?;
        let d = stored.decision;
        let Some(rule) = d.rules.first().cloned() else {
            let note = json!({
                "summary": "No rule fired, so there is nothing to compare with.",
                "confidence": 0.0, "method": METHOD, "similar": [], "advisory": true,
            });
            return Ok((note, d));
        };
        let page = self
            .decisions
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
            let outcomes = self
                .outcomes
                .list_outcomes(&s.id)
                .await
                .map_err(retryable)?;
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
        let note = json!({
            "summary": summary,
            "confidence": confidence,
            "method": METHOD,
            "similar": similar.iter().take(10).map(|s| &s.id).collect::<Vec<_>>(),
            "advisory": true,
        });
        Ok((note, d))
    }
}

/// The prompt for a decision: what it is, and the summary of its history.
pub fn model_prompt(d: &helios_ports::store::NewDecision, summary: &str) -> String {
    let explanations: Vec<&str> = d.body["fired"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["explanation"].as_str()).collect())
        .unwrap_or_default();
    let facts = json!({
        "decision": d.id,
        "rules_fired": d.rules,
        "severity": d.severity,
        "subject": d.subject,
        "score": d.score,
        "why": explanations,
        "decided_at": iso_seconds(&d.decided_at),
    });
    format!(
        "The decision:\n{}\n\nSimilar past decisions: {summary}\n\nWrite the note.",
        serde_json::to_string_pretty(&facts).unwrap_or_default()
    )
}

/// The note the model writes from `note`'s summary, `note` itself with the reason when it
/// cannot.
async fn with_model(
    model: &dyn TextModel,
    mut note: Value,
    d: &helios_ports::store::NewDecision,
) -> Value {
    let summary = note["summary"].as_str().unwrap_or_default().to_string();
    let prompt = model_prompt(d, &summary);
    let answer = tokio::time::timeout(
        MODEL_TIMEOUT,
        model.complete(MODEL_INSTRUCTIONS, &prompt, 400),
    )
    .await;
    match answer {
        Ok(Ok(text)) if !text.trim().is_empty() => {
            note["summary"] =
                Value::String(text.trim().chars().take(MAX_MODEL_NOTE_CHARS).collect());
            note["basis"] = Value::String(summary);
            note["method"] = Value::String(format!("model:{}", model.name()));
        }
        Ok(Ok(_)) => {
            note["model_error"] = Value::String(format!("{} answered no text", model.name()));
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, model = model.name(), "the model wrote no note; the summary stands");
            note["model_error"] = Value::String(e.to_string());
        }
        Err(_) => {
            tracing::warn!(
                model = model.name(),
                "the model took too long; the summary stands"
            );
            note["model_error"] = Value::String(format!(
                "{} did not answer within {} s",
                model.name(),
                MODEL_TIMEOUT.as_secs()
            ));
        }
    }
    note
}

fn iso_seconds(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
