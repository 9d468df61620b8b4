//! The migrate Lambda: invoked by terraform on deploy (and by an operator for the first API
//! key). It connects to the store only; its answer is the handler's JSON.

use std::sync::Arc;

use helios_app::migrate::{AppRole, Migrate};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs)
/// (it connects as the master user, whose password is in the secret RDS keeps).
#[allow(dead_code)]
const PORTS: &[helios_runtime::lambda::Port] = &[helios_runtime::lambda::Port::MasterUser];

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
        (Ok(name), Some(store)) if !name.is_empty() => Some(AppRole {
            name,
            login: app_login().await?,
            store: Arc::new(store),
        }),
        _ => None,
    };
    let migrate = Migrate {
        keys: store.clone(),
        schema: store,
        clock: Arc::new(helios_ports::SystemClock),
        app_role,
    };
    let migrate = &migrate;
    helios_runtime::lambda::serve_task("migrate", |payload| migrate.handle(payload)).await
}

/// How the functions' role logs in: with the password of the secret
/// `HELIOS_DB_APP_PASSWORD_SECRET_ARN` (its `password`) when set (RDS Proxy logs in with it),
/// with IAM authentication tokens otherwise.
async fn app_login() -> anyhow::Result<helios_store::Login> {
    use anyhow::Context as _;
    match std::env::var("HELIOS_DB_APP_PASSWORD_SECRET_ARN") {
        Ok(arn) if !arn.is_empty() => {
            let secrets = helios_aws::Secrets::new(&helios_aws::sdk_config().await);
            let password = helios_runtime::lambda::secret_password(&secrets, &arn)
                .await
                .map_err(anyhow::Error::msg)
                .context("the functions' database password")?;
            Ok(helios_store::Login::Password(password))
        }
        _ => Ok(helios_store::Login::Iam),
    }
}
