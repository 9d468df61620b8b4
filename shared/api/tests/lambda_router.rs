//! The HTTP Lambda entry, end to end: API Gateway HTTP API events (payload format 2.0) are
//! turned into requests and answered by the same router `helios dev` serves
//! (`helios_api::router`), over a real embedded store.

use helios_store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use helios_api::ingest::IngestApi;
use helios_api::query::Query;
use helios_api::router::{router, BodyLimits, Handlers};
use helios_api::{ApiKeyAuth, RateLimiter};
use helios_app::intake::{Intake, PublishMode};
use helios_local::{FileBlobStore, LocalServices};
use helios_ports::{Clock, SystemClock};
use helios_store::{Role, SqliteStore, Store};
use serde_json::{json, Value};

const KEY: &str = "hk_lambda_router_test_0001";

fn event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    body: Option<&Value>,
) -> ApiGatewayV2httpRequest {
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": {"content-type": "application/json", "x-api-key": KEY},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r-1", "routeKey": "$default",
            "stage": "$default", "time": "02/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "test"}
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    }))
    .unwrap()
}

struct Answer {
    status: i64,
    headers: http::HeaderMap,
    body: Value,
}

async fn answer(r: &axum::Router, ev: ApiGatewayV2httpRequest) -> Answer {
    let resp = match helios_api::lambda::to_request(ev) {
        Ok(req) => helios_api::router::call(r, req).await,
        Err((p, path)) => p.into_response_for(path.as_deref()),
    };
    let out = helios_api::lambda::to_response(resp);
    let body = match out.body {
        Some(Body::Text(t)) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
        None => Value::Null,
        Some(other) => panic!("unexpected body {other:?}"),
    };
    Answer {
        status: out.status_code,
        headers: out.headers,
        body,
    }
}

#[tokio::test]
async fn api_gateway_events_are_answered_by_the_one_router() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("helios.db")).unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let services = LocalServices::open(&dir.path().join("local.db"), clock.clone()).unwrap();
    let key = helios_app::keys::key_for(KEY, "t", Role::Admin, None, clock.now()).unwrap();
    store.create_api_key(&key).await.unwrap();
    let auth = Arc::new(ApiKeyAuth::new(store.clone(), Duration::ZERO));
    let limiter = Arc::new(RateLimiter::new(1000));
    let handlers = Handlers {
        ingest: Some(Arc::new(IngestApi {
            intake: Arc::new(Intake {
                facts: store.clone(),
                outbox: store.clone(),
                blobs: Arc::new(FileBlobStore::open(dir.path().join("blobs")).unwrap()),
                publisher: Arc::new(services.clone()),
                kv: Arc::new(services.clone()),
                clock: clock.clone(),
                secrets: Default::default(),
                limits: Default::default(),
                topic: "events".into(),
                publish: PublishMode::Inline,
                schemas: Arc::new(helios_app::registry::SchemaGate::new(
                    store.clone(),
                    Duration::ZERO,
                )),
            }),
            auth: auth.clone(),
            limiter: limiter.clone(),
        })),
        query: Some(Arc::new(Query {
            store: helios_store::read_only(store.clone()),
            auth,
            limiter,
            clock,
            executions: None,
            rules: None,
            slo: Default::default(),
        })),
        ..Default::default()
    };
    let r = router(&handlers, BodyLimits::default());

    let sent = json!({"id": "lr-1", "source": "app", "type": "deploy", "subject": "café",
        "time": "2026-12-02T09:00:00Z", "data": {"n": 1}});
    let a = answer(&r, event("POST", "/v1/events", "", Some(&sent))).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.body["events"][0]["id"].as_str().unwrap().to_string();

    // Percent-encoded and raw non-ASCII query strings read the same subject.
    for q in [
        "subject=caf%C3%A9",
        "subject=café",
        "subject=caf%c3%a9&limit=5",
    ] {
        let a = answer(&r, event("GET", "/v1/events", q, None)).await;
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        assert_eq!(
            a.body["events"].as_array().unwrap().len(),
            1,
            "{q}: {}",
            a.body
        );
        assert_eq!(a.body["events"][0]["subject"], "café");
    }
    let a = answer(&r, event("GET", &format!("/v1/events/{id}"), "", None)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["event"]["id"], "lr-1");

    // What is not valid percent-encoded UTF-8, or no URI at all, is a 400 problem.
    for q in ["subject=%E9", "subject=%ZZ", "a=\"x\""] {
        let a = answer(&r, event("GET", "/v1/events", q, None)).await;
        assert_eq!(a.status, 400, "{q}: {}", a.body);
        assert_eq!(a.headers["content-type"], "application/problem+json");
    }
    let a = answer(&r, event("GET", "/v1/events/%FF", "", None)).await;
    assert_eq!(a.status, 400, "{}", a.body);

    // Unknown paths and methods, as in helios dev.
    let a = answer(&r, event("GET", "/v1/eventsfoo", "", None)).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = answer(&r, event("DELETE", "/v1/events", "", None)).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "GET, HEAD, POST");
    let a = answer(&r, event("GET", "/v1/hooks/github", "", None)).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "POST");

    // The Lambda counts each refusal by its problem type (the `Refused` embedded metric),
    // read from the answer as the router gives it; an answer that is no problem is none.
    let mut unsigned = event("GET", "/v1/events", "", None);
    unsigned.headers.remove("x-api-key");
    let req = helios_api::lambda::to_request(unsigned).unwrap();
    let resp = helios_api::router::call(&r, req).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        helios_api::lambda::refused_as(&resp),
        Some("unauthenticated")
    );
    let req = helios_api::lambda::to_request(event("DELETE", "/v1/events", "", None)).unwrap();
    let resp = helios_api::router::call(&r, req).await;
    assert_eq!(
        helios_api::lambda::refused_as(&resp),
        Some("method-not-allowed")
    );
    let req = helios_api::lambda::to_request(event("GET", &format!("/v1/events/{id}"), "", None))
        .unwrap();
    let resp = helios_api::router::call(&r, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(helios_api::lambda::refused_as(&resp), None);
}
