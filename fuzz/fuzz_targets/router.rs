//! Any method, path and query string in an API Gateway HTTP API event (payload 2.0), through
//! the one router (`helios_api::router`) with a handler for every function: nothing panics,
//! every answer is one the router gives (a handler's 200, or a problem with its status), and
//! a request that reached a handler had a target of valid percent-encoded UTF-8.
#![no_main]

use std::sync::{Arc, OnceLock};

use helios_api::router::{router, BodyLimits, Handle, Handlers};
use libfuzzer_sys::fuzz_target;

struct Echo;

#[async_trait::async_trait]
impl Handle for Echo {
    async fn handle(&self, req: helios_api::Request) -> helios_api::Response {
        assert!(helios_api::router::check_target(req.uri()).is_ok(), "{}", req.uri());
        helios_api::json(200, &serde_json::json!({}))
    }
}

fn setup() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static S: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    S.get_or_init(|| {
        let echo: Arc<dyn Handle> = Arc::new(Echo);
        let handlers = Handlers {
            ingest: Some(echo.clone()),
            query: Some(echo.clone()),
            ack: Some(echo.clone()),
            local: Some(echo),
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        (rt, router(&handlers, BodyLimits::default()))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let method = match parts.next().unwrap_or("").len() % 5 {
        0 => "GET",
        1 => "POST",
        2 => "OPTIONS",
        3 => "DELETE",
        _ => "HEAD",
    };
    let path = parts.next().unwrap_or("/");
    let query = parts.next().unwrap_or("");
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "api.example.com"},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "t", "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "f"}},
        "isBase64Encoded": false
    });
    let Ok(event) = serde_json::from_value(event) else { return };
    let (rt, r) = setup();
    let resp = match helios_api::lambda::to_request(event) {
        Ok(req) => rt.block_on(helios_api::router::call(r, req)),
        Err((problem, _)) => {
            assert_eq!(problem.status, 400);
            return;
        }
    };
    let status = resp.status().as_u16();
    assert!(matches!(status, 200 | 400 | 404 | 405), "{status}");
    if status != 200 {
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
});
