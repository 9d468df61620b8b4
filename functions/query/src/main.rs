//! The query Lambda: API Gateway HTTP API (GET routes) → the query handler.

use std::sync::Arc;

use helios_api::query::Query;
use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::Error;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows, Port::ReadExecutions];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let d = FunctionPorts::from_env(PORTS).await?;
    // Step Functions in AWS; the files of `helios dev` beside a local data folder.
    let executions: Option<Arc<dyn helios_ports::Executions>> = match &d.workflows {
        Some(sfn) => Some(sfn.clone()),
        None => local_executions(),
    };
    let auth = helios_api::lambda_key_auth(&d.store);
    let limiter = helios_api::lambda_limiter();
    // The rule set of the layer (`HELIOS_RULES`): read and tried through `/v1/rules`, and
    // its expectations replayed on timelines.
    let (set, files) = match std::env::var_os("HELIOS_RULES") {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            (
                Some(Arc::new(helios_runtime::rules::load_rule_set(&path)?)),
                helios_runtime::rules::read_rule_files(&path)?,
            )
        }
        None => (None, Default::default()),
    };
    // The service level objectives of `GET /v1/slo` (`HELIOS_SLO`, YAML or JSON; the
    // defaults without it).
    let slo = helios_api::slo::Objectives::parse(&std::env::var("HELIOS_SLO").unwrap_or_default())
        .map_err(|e| format!("HELIOS_SLO: {e}"))?;
    let query = Arc::new(Query {
        auth: auth.clone(),
        limiter: limiter.clone(),
        store: helios_store::read_only(d.store),
        clock: d.clock.clone(),
        executions,
        rules: set.clone(),
        slo: Arc::new(slo),
    });
    let rules = set.map(|set| {
        Arc::new(helios_api::rules::RulesApi {
            set,
            files,
            auth,
            limiter,
            clock: d.clock.clone(),
        }) as Arc<dyn helios_api::router::Handle>
    });
    let handlers = helios_api::router::Handlers {
        query: Some(query),
        rules,
        ..Default::default()
    };
    helios_api::lambda::serve_router(helios_api::router::router(&handlers, Default::default()))
        .await
}

/// The execution files of `helios dev` beside a local data folder (`HELIOS_DATA_DIR`).
#[cfg(feature = "local")]
fn local_executions() -> Option<Arc<dyn helios_ports::Executions>> {
    std::env::var("HELIOS_DATA_DIR").ok().map(|dir| {
        Arc::new(helios_local::workflows::ExecutionFiles {
            data_dir: dir.into(),
            index: None,
            statemachines: None,
        }) as Arc<dyn helios_ports::Executions>
    })
}

#[cfg(not(feature = "local"))]
fn local_executions() -> Option<Arc<dyn helios_ports::Executions>> {
    None
}
