//! The ack Lambda: API Gateway HTTP API `POST /v1/decisions/{id}/ack` → the acknowledgement
//! handler of the record crate, which answers the workflow waiting for it through Step
//! Functions (`SendTaskSuccess`) and records the acknowledgement as an outcome.

use std::sync::Arc;

use helios_api::ApiKeyAuth;
use helios_record::ack::Acknowledge;
use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::Error;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows, Port::AnswerTasks];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let ack = Arc::new(Acknowledge {
        auth: Arc::new(ApiKeyAuth::new(
            ports.store.clone(),
            helios_api::LAMBDA_KEY_CACHE,
        )),
        workflows: ports.workflows()?,
        store: ports.store,
        clock: ports.clock,
    });
    helios_api::lambda::serve(move |req| {
        let ack = ack.clone();
        async move { ack.handle(req).await }
    })
    .await
}
