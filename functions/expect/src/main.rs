//! The expect Lambda, with two triggers: SQS batches from the `expect` queue (each fact
//! observed by [`helios_app::expect::Observer`], failures reported as partial batch
//! failures), and the `expectation` workflow's task payloads (`check`, `emit_missed`) for the
//! [`helios_app::expect::Checker`], whose failures are Lambda errors named for the workflow's
//! `Retry` (`Helios.Retryable`, …).

use std::sync::Arc;

use helios_app::outbox::PublishMode;
use helios_runtime::lambda::{sqs_batch, FunctionPorts, Port};
use helios_runtime::wire;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::Instrument as _;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[
    Port::Rows,
    Port::KvRead,
    Port::KvWrite,
    Port::ArchiveWrite,
    Port::Publish,
    Port::StartExecutions,
    Port::ConsumeQueue,
];

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let rules = Arc::new(helios_runtime::rules::load_from_env()?);
    // Misses are emitted through the ingress path: archived, recorded, published.
    let intake = Arc::new(wire::intake(&ports, PublishMode::Inline));
    let observer = wire::observer(&ports, rules.clone(), ports.workflows()?);
    // Each reconciliation decided is counted by its verdict (the reconciliation-accuracy
    // objective's alarms read `Reconciliations`).
    let emitter = Arc::new(helios_app::expect::CountVerdicts {
        inner: intake,
        counted: helios_runtime::metrics::emit_reconciliation,
    });
    let checker = wire::checker(&ports, rules, emitter);
    let (observer, checker) = (&observer, &checker);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.get("Records").is_some() {
            let batch = serde_json::from_value(event.payload).map_err(|e| Diagnostic {
                error_type: helios_ports::TaskError::BadRequest.name().into(),
                error_message: format!("not an SQS event: {e}"),
            })?;
            let response =
                sqs_batch(batch, |m| async move { observer.handle_message(&m).await }).await;
            helios_runtime::telemetry::flush().await;
            return serde_json::to_value(response).map_err(|e| Diagnostic {
                error_type: helios_ports::TaskError::Internal.name().into(),
                error_message: e.to_string(),
            });
        }
        let span = helios_app::task_span("expect", &event.payload);
        let checked = checker
            .handle(event.payload)
            .instrument(span)
            .await
            .map_err(helios_runtime::lambda::task_error);
        helios_runtime::telemetry::flush().await;
        checked
    }))
    .await
}
