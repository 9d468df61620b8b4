//! Serves a handler as a Lambda behind API Gateway: the Lambda request types stop here, the
//! handler sees plain `http` types with a `Bytes` body, as it does in `helios dev`.

use std::future::Future;
use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Error, RequestExt};

/// Runs the Lambda runtime loop, answering every request with `handle`.
pub async fn serve<H, F>(handle: H) -> Result<(), Error>
where
    H: Fn(crate::Request) -> F + Send + Sync + 'static,
    F: Future<Output = crate::Response> + Send,
{
    let handle = Arc::new(handle);
    lambda_http::run(service_fn(move |req: lambda_http::Request| {
        let handle = handle.clone();
        async move {
            let started = std::time::Instant::now();
            let client = client_addr(&req);
            let (mut parts, body) = req.into_parts();
            if let Some(c) = client {
                parts.extensions.insert(c);
            }
            let resp = handle(http::Request::from_parts(
                parts,
                bytes::Bytes::from(body.to_vec()),
            ))
            .await;
            let status = resp.status();
            helios_runtime::metrics::emit_timed(
                &[
                    ("Requests", 1.0),
                    ("Status4xx", f64::from(u8::from(status.is_client_error()))),
                    ("Status5xx", f64::from(u8::from(status.is_server_error()))),
                ],
                ("RequestDuration", started),
            );
            let (parts, body) = resp.into_parts();
            Ok::<_, Error>(http::Response::from_parts(parts, Body::from(body.to_vec())))
        }
    }))
    .await
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
fn client_addr(req: &lambda_http::Request) -> Option<crate::ClientAddr> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .http
            .source_ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .map(crate::ClientAddr),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}
