//! The ingest Lambda: API Gateway HTTP API (payload format 2.0) → the ingest routes of the
//! one router (`helios_api::router`).

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
    let api = helios_api::ingest::IngestApi {
        intake: Arc::new(helios_runtime::wire::intake(&ports, PublishMode::Inline)),
        auth: helios_api::lambda_key_auth(&ports.store),
        limiter: helios_api::lambda_limiter(),
    };
    let handlers = helios_api::router::Handlers {
        ingest: Some(Arc::new(api)),
        ..Default::default()
    };
    helios_api::lambda::serve_router(helios_api::router::router(&handlers, Default::default()))
        .await
}
