//! The `ops` function's API in AWS, as the function wires it: health, dead letters and redrive
//! over SQS and Step Functions (a moto server), answering API Gateway payload-format-2.0
//! requests through the router `helios dev` serves. (moto has no `StartMessageMoveTask`, so
//! the redrive is the message-by-message move; against SQS it is a move task, answered 202.)

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use aws_sdk_sqs::types::QueueAttributeName;
use helios_api::ops::{DeploymentHealth, OpsApi};
use helios_api::router::{router, BodyLimits, Handlers};
use helios_api::{ApiKeyAuth, RateLimiter};
use helios_ports::{Clock, SystemClock};
use helios_store::prelude::*;
use helios_store::{Role, SqliteStore, Store};
use helios_testkit::moto::Moto;
use serde_json::{json, Value};

const ADMIN: &str = "hk_ops_aws_test_admin_0001";
const READER: &str = "hk_ops_aws_test_reader_001";

fn event(method: &str, path: &str, key: &str) -> ApiGatewayV2httpRequest {
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"x-api-key": key},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r-1", "routeKey": format!("{method} {path}"),
            "stage": "$default", "time": "03/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "test"}
        },
        "isBase64Encoded": false
    }))
    .unwrap()
}

/// The answer of the router to an API Gateway event: status and JSON body, checked against
/// the OpenAPI description.
async fn answer(r: &axum::Router, method: &str, path: &str, key: &str) -> (i64, Value) {
    let req = helios_api::lambda::to_request(event(method, path, key)).unwrap();
    let out = helios_api::lambda::to_response(helios_api::router::call(r, req).await);
    let body: Value = match &out.body {
        Some(Body::Text(t)) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    };
    let template = helios_api::router::ROUTES
        .iter()
        .find(|r| r.method == method && template_matches(r.path, path))
        .map(|r| r.path);
    let content_type = out
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    helios_api::openapi::Conformance::new()
        .check_response(
            method,
            template,
            out.status_code as u16,
            content_type,
            body.to_string().as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (out.status_code, body)
}

fn template_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
}

async fn queue_with_dlq(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (queue, dlq)
}

#[tokio::test]
async fn the_ops_function_shows_health_and_dead_letters_and_redrives_over_sqs() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let cfg = support::moto_config(&moto).await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let (decide, decide_dlq) = queue_with_dlq(&sqs, "t-decide").await;
    queue_with_dlq(&sqs, "t-expect").await;
    for (url, body) in [
        (&decide_dlq, r#"{"helios_id":"f-1"}"#),
        (&decide_dlq, r#"{"helios_id":"f-2"}"#),
        (&decide, r#"{"helios_id":"f-3"}"#),
    ] {
        sqs.send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    // Two decisions' executions and one expectation's waiting (moto runs none to its end).
    let sfn_client = aws_sdk_sfn::Client::new(&cfg);
    let waiting_machine = |name: &'static str| {
        let sfn_client = sfn_client.clone();
        async move {
            sfn_client
                .create_state_machine()
                .name(name)
                .definition(
                    r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}"#,
                )
                .role_arn("arn:aws:iam::123456789012:role/t-states")
                .send()
                .await
                .unwrap()
                .state_machine_arn
        }
    };
    let machine = waiting_machine("t-decision").await;
    let watcher = waiting_machine("t-expectation").await;
    for (arn, name) in [(&machine, "x-1"), (&machine, "x-2"), (&watcher, "w-1")] {
        sfn_client
            .start_execution()
            .state_machine_arn(arn)
            .name(name)
            .input("{}")
            .send()
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("helios.db")).unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    for (key, role) in [(ADMIN, Role::Admin), (READER, Role::Read)] {
        let k = helios_app::keys::key_for(key, "t", role, None, clock.now()).unwrap();
        store.create_api_key(&k).await.unwrap();
    }
    // As functions/ops/src/main.rs builds it from HELIOS_QUEUES.
    let ops = Arc::new(helios_app::ops::Operations {
        queues: Arc::new(helios_aws::SqsQueues::new(&cfg)),
        names: vec![
            ("t-decide".into(), "t-decide-dlq".into()),
            ("t-expect".into(), "t-expect-dlq".into()),
        ],
    });
    let sfn = helios_aws::StepFunctions::new(
        &cfg,
        HashMap::from([
            ("decision".into(), machine),
            ("expectation".into(), watcher),
        ]),
    );
    let api = OpsApi {
        health: Arc::new(DeploymentHealth {
            ops: ops.clone(),
            outbox: store.clone(),
            executions: Some(Arc::new(sfn)),
        }),
        ops,
        facts: helios_store::read_only(store.clone()),
        publisher: Arc::new(helios_aws::SnsPublisher::new(&cfg, HashMap::new())),
        topic: "events".into(),
        auth: Arc::new(ApiKeyAuth::new(store.clone(), Duration::ZERO)),
        limiter: Arc::new(RateLimiter::new(1000)),
    };
    let handlers = Handlers {
        ops: Some(Arc::new(api)),
        ..Default::default()
    };
    let r = router(&handlers, BodyLimits::default());

    let (status, health) = answer(&r, "GET", "/v1/health", READER).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["backlog"]["outbox"], 0);
    let queues = &health["backlog"]["queues"];
    assert_eq!(queues["t-decide-dlq"]["visible"], 2, "{health}");
    assert_eq!(queues["t-decide"]["visible"], 1, "{health}");
    assert_eq!(queues["t-expect"]["visible"], 0, "{health}");
    assert_eq!(queues["t-expect-dlq"]["visible"], 0, "{health}");
    assert_eq!(health["executions"]["running"], 3, "{health}");
    assert_eq!(
        health["expectations"]["open"], 1,
        "each open expectation is a running `expectation` execution: {health}"
    );

    let (status, dead) = answer(&r, "GET", "/v1/dead-letters", READER).await;
    assert_eq!(status, 200, "{dead}");
    let decide_letters = &dead["queues"][0];
    assert_eq!(decide_letters["queue"], "t-decide");
    assert_eq!(decide_letters["dead_letter_queue"], "t-decide-dlq");
    assert_eq!(decide_letters["visible"], 2);
    let mut ids: Vec<&str> = decide_letters["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["body"]["helios_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["f-1", "f-2"],
        "the samples are the dead letters, as JSON"
    );
    // Looking leaves them where they were, visible.
    let (_, health) = answer(&r, "GET", "/v1/health", READER).await;
    assert_eq!(health["backlog"]["queues"]["t-decide-dlq"]["visible"], 2);

    let (status, refused) = answer(&r, "POST", "/v1/dead-letters/t-decide/redrive", READER).await;
    assert_eq!(status, 403, "a read key may not redrive: {refused}");
    let (status, unknown) = answer(&r, "POST", "/v1/dead-letters/t-nope/redrive", ADMIN).await;
    assert_eq!(status, 404, "{unknown}");

    let (status, moved) = answer(&r, "POST", "/v1/dead-letters/t-decide/redrive", ADMIN).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["moved"], 2);
    assert_eq!(moved["dead_letter_queue"], "t-decide-dlq");
    let (_, health) = answer(&r, "GET", "/v1/health", READER).await;
    let queues = &health["backlog"]["queues"];
    assert_eq!(queues["t-decide-dlq"]["visible"], 0, "{health}");
    assert_eq!(queues["t-decide"]["visible"], 3, "{health}");
}
