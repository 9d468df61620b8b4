//! The query Lambda: API Gateway HTTP API (GET routes) → the query handler.

use std::sync::Arc;
use std::time::Duration;

use helios_api::ApiKeyAuth;
use helios_query::Query;
use helios_runtime::Deployment;
use lambda_http::{service_fn, Body, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let d = Deployment::from_env().await?;
    let query = Arc::new(Query {
        auth: Arc::new(ApiKeyAuth::new(d.store.clone(), Duration::from_secs(5))),
        store: d.store,
        blobs: d.blobs,
    });
    lambda_http::run(service_fn(move |req: Request| {
        let query = query.clone();
        async move {
            let (parts, body) = req.into_parts();
            let resp = query
                .handle(http::Request::from_parts(
                    parts,
                    bytes::Bytes::from(body.to_vec()),
                ))
                .await;
            let (parts, body) = resp.into_parts();
            Ok::<_, Error>(http::Response::from_parts(parts, Body::from(body.to_vec())))
        }
    }))
    .await
}
