//! The ack Lambda: API Gateway HTTP API `POST /v1/decisions/{id}/ack` → the acknowledgement,
//! which answers the workflow waiting for it through Step Functions (`SendTaskSuccess`) and
//! records the acknowledgement as an outcome.

use std::sync::Arc;

use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::Error;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows, Port::AnswerTasks];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let api = Arc::new(helios_api::ack::AckApi {
        ack: Arc::new(helios_runtime::wire::acknowledge(
            &ports,
            ports.workflows()?,
        )),
        auth: helios_api::lambda_key_auth(&ports.store),
        limiter: helios_api::lambda_limiter(),
    });
    helios_api::lambda::serve(move |req| {
        let api = api.clone();
        async move { api.handle(req).await }
    })
    .await
}
