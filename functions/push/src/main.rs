//! The push Lambda, behind two triggers:
//! - the dashboard's WebSocket API (API Gateway): `$connect` checks the key offered as the
//!   second subprotocol and keeps the connection; `$disconnect` forgets it; a client's
//!   `{"action": "newest"}` is answered with the newest facts and decisions;
//! - the fan-out's `push` queue: each batch of facts published starts a push of what the
//!   store recorded since the last one (facts and decisions) to every open connection. The
//!   messages only say that something happened; the store says what.
//!
//! Decisions are recorded shortly after their facts are published, so after a push that
//! sent something it looks again, once a second, until a look finds nothing new (at most
//! [`FOLLOW_UPS`] times).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use helios_api::socket::Gate;
use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[
    Port::Rows,
    Port::KvRead,
    Port::KvWrite,
    Port::ConsumeQueue,
    Port::Sockets,
];

/// Looks after a push that sent something, one a second.
const FOLLOW_UPS: usize = 3;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let sockets = ports
        .sockets
        .clone()
        .ok_or("the live sockets are AWS's: set HELIOS_SOCKET_ENDPOINT, as terraform does")?;
    let pusher = helios_runtime::wire::pusher(&ports, sockets);
    let gate = Gate {
        auth: helios_api::lambda_key_auth(&ports.store),
        limiter: helios_api::lambda_limiter(),
        connections: Arc::new(helios_runtime::wire::connections(&ports)),
    };
    let (pusher, gate) = (&pusher, &gate);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        let websocket = payload
            .get("requestContext")
            .and_then(|c| c.get("connectionId"))
            .is_some();
        if websocket {
            let request: ApiGatewayWebsocketProxyRequest = serde_json::from_value(payload)?;
            let response = helios_api::socket::websocket_event(gate, Some(pusher), request).await;
            return Ok::<Value, Error>(serde_json::to_value(response)?);
        }
        let batch: SqsEvent = serde_json::from_value(payload)?;
        Ok(serde_json::to_value(push(pusher, batch).await)?)
    }))
    .await
}

/// Pushes for a batch of the `push` queue. When the push fails, every message of the batch
/// comes back (after the queue's visibility timeout) to start it again.
async fn push(pusher: &helios_app::live::Pusher, batch: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut looks = 0;
    loop {
        match pusher.push().await {
            Ok(p) => {
                tracing::info!(
                    batches = p.batches,
                    delivered = p.delivered,
                    gone = p.gone,
                    "pushed"
                );
                if p.batches == 0 || looks == FOLLOW_UPS {
                    return response;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retryable = e.is_retryable(), "push failed; its messages come back");
                response.batch_item_failures = batch
                    .records
                    .into_iter()
                    .filter_map(|r| r.message_id)
                    .map(|id| {
                        let mut f = BatchItemFailure::default();
                        f.item_identifier = id;
                        f
                    })
                    .collect();
                return response;
            }
        }
        looks += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
