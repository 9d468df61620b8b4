//! The ingest Lambda: API Gateway HTTP API (payload format 2.0) → the ingest routes.

use std::sync::Arc;

use helios_app::outbox::PublishMode;
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
    let ports = FunctionPorts::from_env(PORTS).await?;
    let api = Arc::new(helios_api::ingest::IngestApi {
        intake: Arc::new(helios_runtime::wire::intake(&ports, PublishMode::Inline)),
        auth: helios_api::lambda_key_auth(&ports.store),
        limiter: helios_api::lambda_limiter(),
    });
    helios_api::lambda::serve(move |req| {
        let api = api.clone();
        async move { api.handle(req).await }
    })
    .await
}
