//! The migrate Lambda: invoked by terraform on deploy (and by an operator for the first API
//! key). It connects to the store only; its answer is the handler's JSON.

use std::sync::Arc;

use helios_migrate::{AppRole, Migrate};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    // PostgreSQL in AWS, where the functions' role (terraform sets HELIOS_DB_APP_ROLE) is
    // granted too; the local store beside HELIOS_DATA_DIR otherwise.
    let (store, pg): (Arc<dyn helios_store::Store>, _) =
        match helios_runtime::lambda::pg_store_from_env().await? {
            Some(pg) => (Arc::new(pg.clone()), Some(pg)),
            None => (helios_runtime::lambda::store_from_env().await?, None),
        };
    let app_role = match (std::env::var("HELIOS_DB_APP_ROLE"), pg) {
        (Ok(name), Some(store)) if !name.is_empty() => Some(AppRole { name, store }),
        _ => None,
    };
    let migrate = Migrate {
        store,
        clock: Arc::new(helios_ports::SystemClock),
        app_role,
    };
    let migrate = &migrate;
    helios_runtime::lambda::serve_task(|payload| migrate.handle(payload)).await
}
