//! The decide Lambda: SQS batches from the `decide` queue (the fan-out of the `events`
//! topic), each message decided by [`helios_app::decide::Decider`]; failed messages are
//! reported as partial batch failures, so only they come back. The rule set is read once at
//! init from `HELIOS_RULES` (a folder, shipped as a layer by terraform; default `rules`).

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use helios_runtime::lambda::{sqs_batch, FunctionPorts, Port};
use lambda_runtime::{service_fn, Error, LambdaEvent};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[
    Port::Rows,
    Port::KvRead,
    Port::KvWrite,
    Port::StartExecutions,
    Port::ConsumeQueue,
];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let rules = Arc::new(helios_runtime::rules::load_from_env()?);
    let decider = helios_runtime::wire::decider(&ports, rules, ports.workflows()?);
    let decider = &decider;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            sqs_batch(event.payload, |m| async move {
                decider.handle_message(&m).await
            })
            .await,
        )
    }))
    .await
}
