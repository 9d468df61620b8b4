//! The ops Lambda: API Gateway HTTP API → what an operator does from the dashboard.
//! `GET /v1/health` (each queue's and dead-letter queue's depth, the outbox, the running
//! executions), `GET /v1/dead-letters` (with samples), `POST /v1/dead-letters/{queue}/redrive`
//! (SQS's `StartMessageMoveTask`) and `POST /v1/replay` (the facts of a time range published
//! again), through the same router and handler as `helios dev`.

use std::collections::BTreeMap;
use std::sync::Arc;

use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::Error;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[
    Port::Rows,
    Port::Publish,
    Port::DeadLetters,
    Port::ReadExecutions,
];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let d = FunctionPorts::from_env(PORTS).await?;
    // Each event queue and its dead-letter queue, by name: `{"helios-decide":
    // "helios-decide-dlq", …}` (terraform sets it).
    let names: BTreeMap<String, String> = serde_json::from_str(
        &std::env::var("HELIOS_QUEUES").map_err(|_| "HELIOS_QUEUES is not set (terraform sets it: {\"<queue>\": \"<its dead-letter queue>\", …})")?,
    )
    .map_err(|e| format!("HELIOS_QUEUES is a JSON object of queue names: {e}"))?;
    let queues = d
        .queues
        .clone()
        .ok_or("no queues: this function declares Port::DeadLetters")?;
    let ops = Arc::new(helios_app::ops::Operations {
        queues,
        names: names.into_iter().collect(),
    });
    let executions = d
        .workflows
        .clone()
        .map(|w| w as Arc<dyn helios_ports::Executions>);
    let api = helios_api::ops::OpsApi {
        health: Arc::new(helios_api::ops::DeploymentHealth {
            ops: ops.clone(),
            outbox: d.store.clone(),
            executions,
        }),
        ops,
        facts: helios_store::read_only(d.store.clone()),
        publisher: d.publisher.clone(),
        topic: helios_runtime::EVENTS_TOPIC.to_string(),
        auth: helios_api::lambda_key_auth(&d.store),
        limiter: helios_api::lambda_limiter(),
    };
    let handlers = helios_api::router::Handlers {
        ops: Some(Arc::new(api)),
        ..Default::default()
    };
    helios_api::lambda::serve_router(helios_api::router::router(&handlers, Default::default()))
        .await
}
