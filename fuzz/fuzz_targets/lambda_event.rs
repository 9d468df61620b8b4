//! Any path and query string in an API Gateway HTTP API event (payload 2.0), as API Gateway
//! hands them over raw: building the request never panics (`lambda_http` did, on
//! `?a="x"`), and a request that is built reads its query parameters without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, query) = text.split_once('\n').unwrap_or((&text, ""));
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "api.example.com"},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "t", "timeEpoch": 0,
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "f"}},
        "isBase64Encoded": false
    });
    let Ok(event) = serde_json::from_value(event) else { return };
    match helios_api::lambda::to_request(event) {
        Ok(req) => {
            for name in ["source", "subject", "cursor", "limit", ""] {
                let _ = helios_api::query_param(&req, name);
            }
        }
        Err((problem, _)) => assert_eq!(problem.status, 400),
    }
});
