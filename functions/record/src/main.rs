//! The record Lambda, a task of the `decision` workflow: writes its outcome and the task
//! token of an awaited acknowledgement. Failures are Lambda errors named for the workflow's
//! `Retry` (`Helios.Retryable`, `Helios.BadRequest`).
//!
//! The first record of an execution is a sample of `DecisionToNotification` (milliseconds
//! from the execution's start, right after the decision, to the record, right after the
//! notifications), the objective terraform's burn-rate alarms watch.

use helios_runtime::lambda::{FunctionPorts, Port};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows];

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let recorder = helios_runtime::wire::recorder(&ports);
    let recorder = &recorder;
    helios_runtime::lambda::serve_task("record", |payload| async move {
        let answer = recorder.handle(payload).await?;
        if let Some(ms) = answer
            .get("first_record_after_ms")
            .and_then(serde_json::Value::as_f64)
        {
            helios_runtime::metrics::emit_values(
                "DecisionToNotification",
                &[ms],
                helios_runtime::metrics::Unit::Milliseconds,
            );
        }
        Ok(answer)
    })
    .await
}
