//! The ingest Lambda: API Gateway HTTP API (payload format 2.0) → the ingest handler.

use std::sync::Arc;

use helios_ingest::Ingest;
use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::Error;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[
    Port::Rows,
    Port::HookSecrets,
    Port::ArchiveWrite,
    Port::Publish,
    Port::KvRead,
    Port::KvWrite,
];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let d = FunctionPorts::from_env(PORTS).await?;
    let ingest = Arc::new(Ingest::in_lambda(&d));
    helios_api::lambda::serve(move |req| {
        let ingest = ingest.clone();
        async move { ingest.handle(req).await }
    })
    .await
}
