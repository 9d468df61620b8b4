//! `record`: the task function of the `decision` workflow that writes what happened.
//!
//! Its payload has a `kind`:
//! - `awaiting_ack`: the workflow waits for a person; the task token is kept with the
//!   decision, so that acknowledging the decision can answer the workflow;
//! - `outcome`: the end of the workflow (notifications, acknowledgement, escalation).
//!
//! Each is written once per (decision, execution, kind): a retried task writes nothing new.
//!
//! The first record of an execution (`awaiting_ack`, or an `outcome` that awaited none) comes
//! right after its notifications: its answer carries `first_record_after_ms`, the time since
//! the execution started (`started`, the decision's moment), which the Lambda reports as a
//! sample of the decision-to-notification objective.

use std::sync::Arc;

use helios_ports::store::{Outcome, Outcomes, Recorded, StoreError};
use helios_ports::Clock;
use serde_json::{json, Value};

pub struct Recorder {
    pub outcomes: Arc<dyn Outcomes>,
    pub clock: Arc<dyn Clock>,
}

/// A failed record, named for the workflow's `Retry` and `Catch`.
pub use helios_ports::TaskFailure as Failure;

fn field<'v>(payload: &'v Value, name: &str) -> Result<&'v str, Failure> {
    payload
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Failure {
            error: helios_ports::TaskError::BadRequest.name(),
            cause: format!("the record payload needs `{name}`, a string"),
        })
}

impl Recorder {
    /// Handles the workflow's payload; answers `{"recorded": "accepted" | "duplicate"}`.
    pub async fn handle(&self, payload: Value) -> Result<Value, Failure> {
        let kind = field(&payload, "kind")?;
        let body = match kind {
            "awaiting_ack" => json!({"task_token": field(&payload, "task_token")?}),
            "outcome" => payload.get("outcome").cloned().unwrap_or(Value::Null),
            other => {
                return Err(Failure {
                    error: helios_ports::TaskError::BadRequest.name(),
                    cause: format!("`{other}` is not a kind of record (awaiting_ack, outcome)"),
                })
            }
        };
        let outcome = Outcome {
            decision_id: field(&payload, "decision_id")?.to_string(),
            execution: field(&payload, "execution")?.to_string(),
            kind: kind.to_string(),
            recorded_at: self.clock.now(),
            body,
        };
        let recorded = self
            .outcomes
            .record_outcome(&outcome)
            .await
            .map_err(|e| Failure {
                error: helios_ports::TaskError::Retryable.name(),
                cause: match e {
                    StoreError::Unavailable(why) => why,
                    other => other.to_string(),
                },
            })?;
        let mut answer = json!({"recorded": if recorded == Recorded::Accepted { "accepted" } else { "duplicate" }});
        // An outcome after an awaited acknowledgement (or its timeout) is not the first.
        let first = kind == "awaiting_ack"
            || outcome
                .body
                .as_object()
                .is_some_and(|o| !o.contains_key("ack") && !o.contains_key("ack_timeout"));
        let started = payload
            .get("started")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if let (true, Recorded::Accepted, Some(started)) = (first, recorded, started) {
            let ms = (outcome.recorded_at - started.with_timezone(&chrono::Utc))
                .num_microseconds()
                .map_or(f64::MAX, |us| us as f64 / 1000.0);
            answer["first_record_after_ms"] = json!(ms.max(0.0));
        }
        Ok(answer)
    }
}
