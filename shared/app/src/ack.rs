//! Acknowledging a decision whose workflow waits for it (`.waitForTaskToken`): the
//! workflow's task gets `{"acked_by", "note", "at"}` and goes on. An acknowledgement counts
//! once: the outcome is recorded first, and only the first one answers the workflow.

use std::sync::Arc;

use helios_ports::store::{Decisions, Outcome, Outcomes, Recorded, StoreError};
use helios_ports::{Clock, Workflows};
use serde_json::{json, Value};

pub struct Acknowledge {
    pub decisions: Arc<dyn Decisions>,
    pub outcomes: Arc<dyn Outcomes>,
    pub workflows: Arc<dyn Workflows>,
    pub clock: Arc<dyn Clock>,
}

/// What an acknowledgement did.
#[derive(Debug, PartialEq, Eq)]
pub enum Acked {
    /// The workflow was answered.
    Answered,
    /// It had been acknowledged before; nothing was done.
    Already,
}

#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("no decision has the id `{0}`")]
    UnknownDecision(String),
    #[error("decision `{0}` does not wait for an acknowledgement")]
    NotAwaiting(String),
    #[error("the awaited acknowledgement has no task token")]
    NoTaskToken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workflow could not be answered: {0}")]
    Workflow(String),
}

impl Acknowledge {
    /// Acknowledges decision `id` for `by`, with an optional note: a span, `ack`, in the
    /// decision's trace (a child of its `decide` span).
    pub async fn acknowledge(
        &self,
        id: &str,
        by: &str,
        note: Option<&str>,
    ) -> Result<Acked, AckError> {
        use tracing::Instrument as _;
        let Some(decision) = self.decisions.get_decision(id).await? else {
            return Err(AckError::UnknownDecision(id.to_string()));
        };
        let body = &decision.decision.body;
        let parent = match (body["trace_id"].as_str(), body["span_id"].as_str()) {
            (Some(t), Some(s)) => format!("00-{t}-{s}-01"),
            _ => String::new(),
        };
        let parent = helios_ports::trace::continue_from(Some(&parent));
        let span = tracing::info_span!(
            parent: None,
            "ack",
            decision = id,
            otel.status_code = tracing::field::Empty,
            trace_id = %parent.trace_id_hex(),
        );
        helios_ports::trace::follow(&span, &parent);
        let acked = self.answer(id, by, note).instrument(span.clone()).await;
        if acked.is_err() {
            span.record("otel.status_code", "error");
        }
        acked
    }

    async fn answer(&self, id: &str, by: &str, note: Option<&str>) -> Result<Acked, AckError> {
        let outcomes = self.outcomes.list_outcomes(id).await?;
        let Some(waiting) = outcomes.iter().rev().find(|o| o.kind == "awaiting_ack") else {
            return Err(AckError::NotAwaiting(id.to_string()));
        };
        let token = waiting
            .body
            .get("task_token")
            .and_then(Value::as_str)
            .ok_or(AckError::NoTaskToken)?;
        let now = self.clock.now();
        let answer = json!({"acked_by": by, "note": note, "at": now});
        let recorded = self
            .outcomes
            .record_outcome(&Outcome {
                decision_id: id.to_string(),
                execution: waiting.execution.clone(),
                kind: "acknowledged".into(),
                recorded_at: now,
                body: answer.clone(),
            })
            .await?;
        if recorded == Recorded::Duplicate {
            return Ok(Acked::Already);
        }
        self.workflows
            .send_task_success(token, &answer)
            .await
            .map_err(|e| AckError::Workflow(e.to_string()))?;
        Ok(Acked::Answered)
    }
}
