//! Serves a handler as a Lambda behind an API Gateway HTTP API (payload format 2.0): the
//! Lambda event types stop here, the handler sees plain `http` types with a `Bytes` body,
//! as it does in `helios dev`.
//!
//! The request is built here, not by `lambda_http`, whose conversion panics on a raw query
//! string that is not a valid URI query (`?a="x"`, which curl sends as is): such a request
//! is answered with a 400 problem, like any other bad input.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use crate::Problem;

/// Runs the Lambda runtime loop, answering every request with `handle`.
pub async fn serve<H, F>(handle: H) -> Result<(), Error>
where
    H: Fn(crate::Request) -> F + Send + Sync + 'static,
    F: Future<Output = crate::Response> + Send,
{
    let handle = Arc::new(handle);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let handle = handle.clone();
            async move {
                let started = std::time::Instant::now();
                let resp = match to_request(event.payload) {
                    Ok(req) => handle(req).await,
                    Err((problem, path)) => problem.into_response_for(path.as_deref()),
                };
                let status = resp.status();
                // Counted by problem type, as `helios dev`'s health counts them.
                if let Some(slug) = refused_as(&resp) {
                    helios_runtime::metrics::emit_refused(slug);
                }
                helios_runtime::metrics::emit_commits();
                helios_runtime::metrics::emit_timed(
                    &[
                        ("Requests", 1.0),
                        ("Status4xx", f64::from(u8::from(status.is_client_error()))),
                        ("Status5xx", f64::from(u8::from(status.is_server_error()))),
                    ],
                    ("RequestDuration", started),
                );
                helios_runtime::telemetry::flush().await;
                Ok::<_, Error>(to_response(resp))
            }
        },
    ))
    .await
}

/// The problem type an answer refused its request with (the slug of
/// `urn:helios:problem:<slug>`), `None` for an answer that is no problem.
pub fn refused_as(resp: &crate::Response) -> Option<&'static str> {
    resp.extensions()
        .get::<crate::problem::ProblemType>()
        .map(|p| p.0)
}

/// Runs the Lambda runtime loop, answering every request through `router` ([`crate::router`]),
/// the same router `helios dev` serves.
pub async fn serve_router(router: axum::Router) -> Result<(), Error> {
    let router = Arc::new(router);
    serve(move |req| {
        let router = router.clone();
        async move { crate::router::call(&router, req).await }
    })
    .await
}

/// The request an API Gateway HTTP API event describes: its method, raw path and raw query
/// string, headers (cookies folded into `Cookie`), body (base64-decoded when API Gateway
/// encoded it), and the caller's address. A request whose target or body cannot be
/// represented is a 400 problem (with the path, when it has one).
pub fn to_request(
    ag: ApiGatewayV2httpRequest,
) -> Result<crate::Request, (Problem, Option<String>)> {
    let path = ag
        .raw_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let bad = |detail: String| {
        (
            Problem::new(400, "invalid-request-target", "Bad Request", detail),
            Some(path.clone()),
        )
    };
    let mut target = path.clone();
    if let Some(q) = ag.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(q);
    }
    let uri: http::Uri = target.parse().map_err(|e| {
        bad(format!(
            "the path or query string is not a valid request target ({e}): a space, a quote or a control character must be percent-encoded"
        ))
    })?;
    let body = match ag.body {
        None => bytes::Bytes::new(),
        Some(b) if ag.is_base64_encoded => {
            use base64::Engine as _;
            bytes::Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| bad(format!("the body API Gateway encoded is not base64: {e}")))?,
            )
        }
        Some(b) => bytes::Bytes::from(b),
    };
    let mut req = http::Request::new(body);
    *req.method_mut() = ag.request_context.http.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = ag.headers;
    if let Some(cookies) = ag.cookies.filter(|c| !c.is_empty()) {
        if let Ok(v) = http::HeaderValue::from_str(&cookies.join("; ")) {
            req.headers_mut().insert(http::header::COOKIE, v);
        }
    }
    if let Some(ip) = ag
        .request_context
        .http
        .source_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok())
    {
        req.extensions_mut().insert(crate::ClientAddr(ip));
    }
    Ok(req)
}

/// The API Gateway answer of a response: text bodies as text, others base64-encoded.
pub fn to_response(resp: crate::Response) -> ApiGatewayV2httpResponse {
    let (parts, body) = resp.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    let text = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/") || ct.contains("json") || ct.contains("xml"));
    out.body = if body.is_empty() {
        None
    } else if text {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => Some(Body::Text(s)),
            Err(e) => {
                out.is_base64_encoded = true;
                Some(Body::Binary(e.into_bytes()))
            }
        }
    } else {
        out.is_base64_encoded = true;
        Some(Body::Binary(body.to_vec()))
    };
    out.headers = parts.headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(
        method: &str,
        raw_path: &str,
        raw_query: &str,
        body: Option<&str>,
        b64: bool,
    ) -> ApiGatewayV2httpRequest {
        serde_json::from_value(json!({
            "version": "2.0",
            "routeKey": format!("{method} {raw_path}"),
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "cookies": ["a=1", "b=2"],
            "headers": {"content-type": "application/json", "host": "api.example.com"},
            "requestContext": {
                "accountId": "1", "apiId": "api", "domainName": "api.example.com",
                "domainPrefix": "api", "requestId": "r-1", "routeKey": "$default",
                "stage": "$default", "time": "02/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
                "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.9", "userAgent": "test"}
            },
            "body": body,
            "isBase64Encoded": b64
        }))
        .unwrap()
    }

    /// Percent-encoded and raw non-ASCII query strings reach the handler as sent (the
    /// handlers decode them, byte-safely); method, headers, cookies, body and the caller's
    /// address come along.
    #[test]
    fn a_request_reaches_the_handler_as_sent() {
        for q in [
            "subject=caf%C3%A9&limit=5",
            "subject=café",
            "a=%E9%ZZ",
            "source=gcp.pubsub%2Fp%2Fs",
        ] {
            let req = to_request(event("GET", "/v1/events", q, None, false)).unwrap();
            assert_eq!(req.uri().path(), "/v1/events");
            assert_eq!(req.uri().query(), Some(q));
            assert_eq!(req.method(), http::Method::GET);
        }
        let req = to_request(event(
            "POST",
            "/v1/hooks/github",
            "",
            Some("{\"a\":1}"),
            false,
        ))
        .unwrap();
        assert_eq!(req.body().as_ref(), b"{\"a\":1}");
        assert_eq!(req.headers()["cookie"], "a=1; b=2");
        assert_eq!(req.headers()["content-type"], "application/json");
        assert_eq!(
            req.extensions()
                .get::<crate::ClientAddr>()
                .map(|c| c.0.to_string()),
            Some("203.0.113.9".into())
        );
        let req = to_request(event("POST", "/v1/events", "", Some("AAEC/w=="), true)).unwrap();
        assert_eq!(req.body().as_ref(), &[0u8, 1, 2, 255]);
    }

    /// What `lambda_http` panics on is a 400 problem naming the path.
    #[test]
    fn a_target_that_is_no_uri_is_a_400_problem_not_a_panic() {
        for q in ["a=\"x\"", "a=b c", "a=\u{7f}", "a=<x>"] {
            let (problem, path) =
                to_request(event("GET", "/v1/events", q, None, false)).unwrap_err();
            assert_eq!(problem.status, 400, "{q:?}");
            assert_eq!(path.as_deref(), Some("/v1/events"));
        }
        let (problem, _) =
            to_request(event("POST", "/v1/events", "", Some("not base64!"), true)).unwrap_err();
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn json_answers_are_text_and_others_base64() {
        let json = http::Response::builder()
            .status(202)
            .header("content-type", "application/problem+json")
            .body(bytes::Bytes::from_static(b"{}"))
            .unwrap();
        let out = to_response(json);
        assert_eq!(out.status_code, 202);
        assert_eq!(out.body, Some(Body::Text("{}".into())));
        assert!(!out.is_base64_encoded);
        let bin = http::Response::builder()
            .header("content-type", "application/octet-stream")
            .body(bytes::Bytes::from_static(&[0, 159]))
            .unwrap();
        let out = to_response(bin);
        assert!(out.is_base64_encoded);
        assert_eq!(out.body, Some(Body::Binary(vec![0, 159])));
    }
}
