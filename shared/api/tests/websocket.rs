//! The WebSocket API's Lambda entry (`push` behind API Gateway): `$connect` opens a socket
//! for a key that may read, offered as the second subprotocol, and answers with the
//! subprotocol; anything else is refused before a connection is kept; `$disconnect`
//! forgets it. Over a real embedded store and the local key-value.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use helios_api::socket::{websocket_event, Gate, PROTOCOL};
use helios_api::{ApiKeyAuth, RateLimiter};
use helios_app::live::Connections;
use helios_local::LocalServices;
use helios_ports::{Clock, SystemClock};
use helios_store::{Role, SqliteStore, Store};
use serde_json::json;

fn event(route: &str, connection: &str, protocol: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
    let mut headers = serde_json::Map::new();
    headers.insert(
        "Host".into(),
        json!("abc.execute-api.eu-west-1.amazonaws.com"),
    );
    if let Some(p) = protocol {
        headers.insert("Sec-WebSocket-Protocol".into(), json!(p));
    }
    serde_json::from_value(json!({
        "headers": headers,
        "requestContext": {
            "routeKey": route, "eventType": if route == "$connect" { "CONNECT" } else { "DISCONNECT" },
            "connectionId": connection, "requestId": "r-1", "apiId": "abc", "stage": "live",
            "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "extendedRequestId": "x", "requestTime": "03/Dec/2026:10:00:00 +0000",
            "messageDirection": "IN", "connectedAt": 0, "requestTimeEpoch": 0,
            "identity": {"sourceIp": "203.0.113.9"}
        },
        "isBase64Encoded": false
    }))
    .unwrap()
}

#[tokio::test]
async fn connect_checks_the_key_in_the_subprotocol_and_disconnect_forgets() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    store.migrate().await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    for (secret, role) in [
        ("hk_reader_0000000001", Role::Read),
        ("hk_ingest_0000000001", Role::Ingest),
    ] {
        let key = helios_app::keys::key_for(secret, secret, role, None, clock.now()).unwrap();
        store.create_api_key(&key).await.unwrap();
    }
    let kv = Arc::new(LocalServices::open(&dir.path().join("local.db"), clock.clone()).unwrap());
    let connections = Arc::new(Connections {
        kv,
        clock: clock.clone(),
    });
    let gate = Gate {
        auth: Arc::new(ApiKeyAuth::new(
            store.clone(),
            std::time::Duration::from_secs(1),
        )),
        limiter: Arc::new(RateLimiter::new(100)),
        connections: connections.clone(),
    };

    let ok = websocket_event(
        &gate,
        None,
        event("$connect", "c-1", Some("helios.v1, hk_reader_0000000001")),
    )
    .await;
    assert_eq!(ok.status_code, 200);
    assert_eq!(ok.headers.get("sec-websocket-protocol").unwrap(), PROTOCOL);
    let open = connections.list().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].id.as_str(), open[0].role.as_str()),
        ("c-1", "read")
    );

    // Refused, and not kept: no key, a key in the wrong place, an unknown key, a key that
    // may only send events.
    for (protocol, status) in [
        (None, 401),
        (Some("hk_reader_0000000001"), 401),
        (Some("helios.v1, hk_unknown_00000001"), 401),
        (Some("helios.v1, hk_ingest_0000000001"), 403),
    ] {
        let r = websocket_event(&gate, None, event("$connect", "c-2", protocol)).await;
        assert_eq!(r.status_code, status, "{protocol:?}");
        assert!(r.headers.get("sec-websocket-protocol").is_none());
        let body = match r.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => t,
            other => panic!("{other:?}"),
        };
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], status);
    }
    assert_eq!(connections.list().await.unwrap().len(), 1);

    let bye = websocket_event(&gate, None, event("$disconnect", "c-1", None)).await;
    assert_eq!(bye.status_code, 200);
    assert!(connections.list().await.unwrap().is_empty());
}
