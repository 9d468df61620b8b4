//! The live feed over WebSocket: API Gateway's WebSocket API in AWS (its `$connect` and
//! `$disconnect` routes reach the `push` function, [`websocket_event`]), `GET /v1/socket` on
//! `helios dev` ([`serve`], with the `socket` feature). Both check the key when the socket
//! opens and keep the connection in [`Connections`]; a [`helios_app::live::Pusher`] sends
//! the batches.
//!
//! A browser cannot set headers on a WebSocket and a key never goes in a URL, so the key
//! travels as the second of two subprotocols: `new WebSocket(url, ["helios.v1", key])`
//! sends `Sec-WebSocket-Protocol: helios.v1, <key>`, and the answer selects `helios.v1`.

use std::sync::Arc;

use helios_app::live::{Connection, Connections, LiveError};
use helios_store::Role;

use crate::{ApiKeyAuth, Problem, RateLimiter};

/// The subprotocol the feed speaks; the client offers it first, its key second.
pub const PROTOCOL: &str = "helios.v1";

/// Whether a client's message asks for the newest facts and decisions (`{"action":
/// "newest"}`, sent once its socket is open: a socket cannot resume, so a page starts from
/// the newest and takes the pushed batches after them).
pub fn asks_newest(message: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(message)
        .ok()
        .and_then(|v| {
            v.get("action")
                .and_then(|a| a.as_str())
                .map(|a| a == "newest")
        })
        .unwrap_or(false)
}

/// The key in a `Sec-WebSocket-Protocol` header: the token after [`PROTOCOL`].
pub fn presented_key(header: Option<&str>) -> Result<&str, Problem> {
    let offered: Vec<&str> = header
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match offered.as_slice() {
        [p, key] if *p == PROTOCOL => Ok(key),
        _ => Err(Problem::unauthenticated(format!(
            "open the socket with the subprotocols `{PROTOCOL}` and your API key: new WebSocket(url, [\"{PROTOCOL}\", key])"
        ))),
    }
}

impl From<LiveError> for Problem {
    fn from(e: LiveError) -> Problem {
        match e {
            LiveError::Full => Problem::unavailable(e.to_string()),
            LiveError::Store(s) => Problem::from(s),
            e if e.is_retryable() => Problem::unavailable(e.to_string()),
            e => Problem::internal(e.to_string()),
        }
    }
}

/// Who may open a socket (a read key or better), and the record of the open ones.
pub struct Gate {
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
    pub connections: Arc<Connections>,
}

impl Gate {
    /// Checks the key offered in `protocol_header` and records the connection `id`.
    pub async fn open(&self, id: &str, protocol_header: Option<&str>) -> Result<(), Problem> {
        let secret = presented_key(protocol_header)?;
        let key = self.auth.require_secret(Some(secret), Role::Read).await?;
        self.limiter
            .check(&key.id, key.rate_per_second)
            .map_err(Problem::rate_limited)?;
        self.connections
            .open(Connection {
                id: id.to_string(),
                key: key.id.clone(),
                role: key.role.as_str().to_string(),
                opened_ms: self.connections.clock.now().timestamp_millis(),
            })
            .await?;
        Ok(())
    }

    pub async fn close(&self, id: &str) -> Result<(), Problem> {
        Ok(self.connections.close(&[id.to_string()]).await?)
    }
}

/// One invocation of the WebSocket API's `$connect`, `$disconnect` or `$default` route
/// (Lambda proxy integration): `$connect` answers 200 with the subprotocol when the key may
/// read, else the problem's status (API Gateway then refuses the handshake); a message
/// asking for the newest is answered on the socket by `pusher`.
#[cfg(feature = "lambda")]
pub async fn websocket_event(
    gate: &Gate,
    pusher: Option<&helios_app::live::Pusher>,
    event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
) -> aws_lambda_events::apigw::ApiGatewayProxyResponse {
    let ctx = &event.request_context;
    let id = ctx.connection_id.clone().unwrap_or_default();
    let route = ctx.route_key.clone().unwrap_or_default();
    let answer = match route.as_str() {
        "$connect" => {
            let header = event
                .headers
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok());
            match gate.open(&id, header).await {
                Ok(()) => Ok(Some(PROTOCOL)),
                Err(p) => Err(p),
            }
        }
        "$disconnect" => gate.close(&id).await.map(|()| None),
        // The feed goes one way, but for the first batch.
        _ => match (pusher, event.body.as_deref()) {
            (Some(pusher), Some(body)) if asks_newest(body) => pusher
                .newest_to(&id)
                .await
                .map(|_| None)
                .map_err(Problem::from),
            _ => Ok(None),
        },
    };
    let mut response = aws_lambda_events::apigw::ApiGatewayProxyResponse::default();
    match answer {
        Ok(protocol) => {
            response.status_code = 200;
            if let Some(p) = protocol {
                response
                    .headers
                    .insert("sec-websocket-protocol", http::HeaderValue::from_static(p));
            }
        }
        Err(p) => {
            tracing::info!(connection = %id, route, status = p.status, detail = %p.detail, "socket refused");
            response.status_code = i64::from(p.status);
            response.body = Some(aws_lambda_events::encodings::Body::Text(
                p.body(None).to_string(),
            ));
        }
    }
    response
}

/// `helios dev`'s side of the WebSocket feed: each open socket's messages go through a
/// channel ([`ChannelSockets`], the local adapter of [`helios_ports::Sockets`]).
#[cfg(feature = "socket")]
pub use local::{serve, ChannelSockets};

#[cfg(feature = "socket")]
mod local {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::extract::FromRequestParts;
    use helios_ports::{Delivery, PortError, Sockets};

    use super::{Gate, PROTOCOL};

    /// Messages a slow client may have waiting before it is dropped as gone.
    const QUEUED: usize = 256;

    /// The sockets `helios dev` holds open, by connection id.
    #[derive(Default)]
    pub struct ChannelSockets {
        open: Mutex<HashMap<String, tokio::sync::mpsc::Sender<String>>>,
    }

    impl ChannelSockets {
        fn attach(&self, id: &str) -> tokio::sync::mpsc::Receiver<String> {
            let (tx, rx) = tokio::sync::mpsc::channel(QUEUED);
            self.open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.to_string(), tx);
            rx
        }

        fn detach(&self, id: &str) {
            self.open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
    }

    #[async_trait]
    impl Sockets for ChannelSockets {
        async fn send(&self, id: &str, message: &str) -> Result<Delivery, PortError> {
            let tx = self
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .cloned();
            let Some(tx) = tx else {
                return Ok(Delivery::Gone);
            };
            // A client that fell QUEUED messages behind is let go (its page reconnects and
            // reads what it missed through the API), as API Gateway lets a slow one go.
            match tx.try_send(message.to_string()) {
                Ok(()) => Ok(Delivery::Sent),
                Err(_) => {
                    self.detach(id);
                    Ok(Delivery::Gone)
                }
            }
        }
    }

    fn connection_id() -> String {
        let mut b = [0u8; 12];
        // Without randomness, a time-based id is still unique within this process.
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            b.copy_from_slice(&t.to_le_bytes()[..12]);
        }
        hex::encode(b)
    }

    /// `GET /v1/socket`: checks the key offered with the subprotocol, then upgrades.
    pub async fn serve(
        gate: Arc<Gate>,
        sockets: Arc<ChannelSockets>,
        pusher: Arc<helios_app::live::Pusher>,
        req: axum::extract::Request,
    ) -> axum::response::Response {
        let path = req.uri().path().to_string();
        let (mut parts, _) = req.into_parts();
        let problem = |p: crate::Problem| {
            let (parts, body) = p.into_response_for(Some(&path)).into_parts();
            axum::response::Response::from_parts(parts, axum::body::Body::from(body))
        };
        let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => ws,
            Err(e) => {
                return problem(crate::Problem::bad_request(
                    "not-a-websocket",
                    format!("GET /v1/socket opens a WebSocket: {e}"),
                ))
            }
        };
        let header = parts
            .headers
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok());
        let id = connection_id();
        if let Err(p) = gate.open(&id, header).await {
            return problem(p);
        }
        let rx = sockets.attach(&id);
        ws.protocols([PROTOCOL])
            .on_upgrade(move |socket| async move {
                carry(socket, rx, &pusher, &id).await;
                sockets.detach(&id);
                if let Err(p) = gate.close(&id).await {
                    tracing::warn!(connection = %id, detail = %p.detail, "a closed socket is still listed");
                }
            })
    }

    /// Sends what comes for the connection until either side ends it.
    async fn carry(
        mut socket: WebSocket,
        mut rx: tokio::sync::mpsc::Receiver<String>,
        pusher: &helios_app::live::Pusher,
        id: &str,
    ) {
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(text) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                    // Let go as too slow: close, so that the client reconnects.
                    None => {
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                },
                inbound = socket.recv() => match inbound {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    // The feed goes one way, but for the first batch (through the channel,
                    // in order with the pushed ones); pings are answered by axum.
                    Some(Ok(Message::Text(t))) if super::asks_newest(t.as_str()) => {
                        if let Err(e) = pusher.newest_to(id).await {
                            tracing::warn!(connection = %id, error = %e, "the newest were not sent");
                        }
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}
