//! The migrate Lambda: invoked by terraform on deploy (and by an operator for the first API
//! key). It connects to the store only; its answer is the handler's JSON.

use std::sync::Arc;

use helios_migrate::Migrate;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let migrate = Migrate {
        store: helios_runtime::lambda::store_from_env().await?,
        clock: Arc::new(helios_ports::SystemClock),
    };
    let migrate = &migrate;
    helios_runtime::lambda::serve_task(|payload| migrate.handle(payload)).await
}
