//! The query Lambda: API Gateway HTTP API (GET routes) → the query handler.

use std::sync::Arc;
use std::time::Duration;

use helios_api::ApiKeyAuth;
use helios_query::Query;
use helios_runtime::Deployment;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let d = Deployment::from_env().await?;
    let query = Arc::new(Query {
        auth: Arc::new(ApiKeyAuth::new(d.store.clone(), Duration::from_secs(5))),
        store: d.store,
        blobs: d.blobs,
        clock: d.clock,
        executions: Some(Arc::new(helios_runtime::workflows::ExecutionFiles {
            data_dir: d.data_dir.clone(),
        })),
    });
    helios_api::lambda::serve(move |req| {
        let query = query.clone();
        async move { query.handle(req).await }
    })
    .await
}
