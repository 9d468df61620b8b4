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
    let intake = Arc::new(helios_runtime::wire::intake(&ports, PublishMode::Inline));
    let auth = helios_api::lambda_key_auth(&ports.store);
    let limiter = helios_api::lambda_limiter();
    // The schema registry's writes are served here, beside the gate they change.
    let schemas = helios_api::schemas::SchemasApi {
        registry: Arc::new(helios_runtime::wire::registry(&ports, &intake)),
        held: Arc::new(helios_runtime::wire::held_facts(&ports)),
        auth: auth.clone(),
        limiter: limiter.clone(),
    };
    let api = helios_api::ingest::IngestApi {
        intake,
        auth,
        limiter,
    };
    let handlers = helios_api::router::Handlers {
        ingest: Some(Arc::new(api)),
        schemas: Some(Arc::new(schemas)),
        ..Default::default()
    };
    helios_api::lambda::serve_router(helios_api::router::router(&handlers, Default::default()))
        .await
}
