//! `GET /v1/stream`: what happens, as it happens, as server-sent events (served by
//! `helios dev`; in AWS the dashboard's WebSocket API carries the same messages).
//!
//! - `event: batch`, with an `id`: the facts and decisions recorded since the last batch,
//!   `{"events": [...], "decisions": [...]}`, oldest first. A client that reconnects sends the
//!   last id it saw as `Last-Event-ID` and gets what it missed, nothing twice; a client without
//!   one starts with the newest [`BACKLOG`] of each.
//! - `event: health`, every [`HEALTH_EVERY`]: the deployment's health (queues, dead letters,
//!   executions, refused requests by problem type), the answer of `GET /healthz`.
//! - `event: problem`: the store could not be read this time (a problem+json body); the stream
//!   goes on and tries again.
//!
//! The batches are [`helios_app::live`]'s, which the WebSocket feed sends too.
//!
//! The stream reads the store only (its [`ReadModel`]); it polls every [`POLL`], so an
//! accepted event is on the wire within that and a store read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use helios_app::live;
pub use helios_app::live::{decision_summary, fact_summary, Position, BACKLOG, MAX_BATCH};
use helios_store::{ReadModel, Role};
use serde_json::{json, Value};

use crate::{ApiKeyAuth, Problem, RateLimiter, Request};

/// How often the store is asked for what is new.
pub const POLL: Duration = Duration::from_millis(150);
/// How often the health goes out.
pub const HEALTH_EVERY: Duration = Duration::from_secs(2);
/// A comment line after this long with nothing else, so that proxies keep the connection.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Where the health in the stream comes from.
#[async_trait]
pub trait Health: Send + Sync {
    async fn health(&self) -> Result<Value, String>;
}

/// Requests refused, by problem type, since the process started: counted from the answers
/// of the router ([`count_refusals`]).
#[derive(Default)]
pub struct Refusals(Mutex<BTreeMap<&'static str, u64>>);

impl Refusals {
    pub fn add(&self, slug: &'static str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(slug).or_default() += 1;
        }
    }

    /// `{"<problem type slug>": count}`.
    pub fn snapshot(&self) -> Value {
        match self.0.lock() {
            Ok(m) => json!(*m),
            Err(_) => json!({}),
        }
    }
}

/// `router` with every problem answer counted in `refusals` by its type.
pub fn count_refusals(router: axum::Router, refusals: Arc<Refusals>) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let refusals = refusals.clone();
            async move {
                let resp = next.run(req).await;
                if let Some(p) = resp.extensions().get::<crate::problem::ProblemType>() {
                    refusals.add(p.0);
                }
                resp
            }
        },
    ))
}

/// The stream's handler.
pub struct Live {
    pub store: Arc<dyn ReadModel>,
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
    pub health: Option<Arc<dyn Health>>,
}

impl Live {
    /// Authenticates, then answers with the stream (or a problem).
    pub async fn open(self: Arc<Self>, req: Request) -> axum::response::Response {
        let path = req.uri().path().to_string();
        match self.start(&req).await {
            Ok(r) => r,
            Err(p) => {
                let (parts, body) = p.into_response_for(Some(&path)).into_parts();
                axum::response::Response::from_parts(parts, axum::body::Body::from(body))
            }
        }
    }

    async fn start(self: &Arc<Self>, req: &Request) -> Result<axum::response::Response, Problem> {
        crate::authorize(&self.auth, &self.limiter, req, Role::Read).await?;
        let resume = match req.headers().get("last-event-id") {
            None => None,
            Some(v) => Some(v.to_str().ok().and_then(Position::parse).ok_or_else(|| {
                Problem::bad_request(
                    "invalid-last-event-id",
                    "`Last-Event-ID` is not an id this stream gave out (`<fact>.<decision>`)",
                )
            })?),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let live = self.clone();
        tokio::spawn(async move { live.run(resume, tx).await });
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        });
        http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "text/event-stream")
            .header(http::header::CACHE_CONTROL, "no-store")
            // Proxies that buffer (nginx) pass it on at once.
            .header("x-accel-buffering", "no")
            .body(axum::body::Body::from_stream(body))
            .map_err(|e| Problem::internal(format!("could not build the stream: {e}")))
    }

    /// Sends until the client goes (its receiver is dropped).
    async fn run(&self, resume: Option<Position>, tx: tokio::sync::mpsc::Sender<bytes::Bytes>) {
        // Reconnect after 2 s when the connection drops (the client's own backoff may add to it).
        if tx
            .send(bytes::Bytes::from_static(b"retry: 2000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        // Where the client is; `None` until the newest could be read for a new client.
        let mut at = resume;
        let start = tokio::time::Instant::now();
        let mut next_health = start;
        let mut last_sent = start;
        loop {
            let now = tokio::time::Instant::now();
            let step = match at {
                None => live::newest(self.store.as_ref()).await.map(Some),
                Some(pos) => live::after(self.store.as_ref(), pos).await,
            };
            let mut full = false;
            match step.map_err(Problem::from) {
                Ok(Some(batch)) => {
                    let m = message("batch", Some(batch.next), &batch.body);
                    if tx.send(m).await.is_err() {
                        return;
                    }
                    at = Some(batch.next);
                    full = batch.full;
                    last_sent = now;
                }
                Ok(None) => {}
                Err(p) => {
                    if tx.send(problem_message(&p)).await.is_err() {
                        return;
                    }
                    last_sent = now;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            if let (Some(h), true) = (&self.health, now >= next_health) {
                let data = match h.health().await {
                    Ok(v) => v,
                    Err(e) => json!({"status": "unavailable", "detail": e}),
                };
                if tx.send(message("health", None, &data)).await.is_err() {
                    return;
                }
                next_health = now + HEALTH_EVERY;
                last_sent = now;
            }
            if now.duration_since(last_sent) >= KEEP_ALIVE {
                if tx
                    .send(bytes::Bytes::from_static(b": keep-alive\n\n"))
                    .await
                    .is_err()
                {
                    return;
                }
                last_sent = now;
            }
            if !full {
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// One server-sent event. `data` is one line of JSON (serde_json writes no newline).
fn message(event: &str, id: Option<Position>, data: &Value) -> bytes::Bytes {
    let mut s = format!("event: {event}\n");
    if let Some(id) = id {
        s.push_str(&format!("id: {}\n", id.id()));
    }
    s.push_str("data: ");
    s.push_str(&data.to_string());
    s.push_str("\n\n");
    bytes::Bytes::from(s)
}

fn problem_message(p: &Problem) -> bytes::Bytes {
    message("problem", None, &p.body(Some("/v1/stream")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_read_back_from_their_id() {
        let p = Position {
            fact: 12,
            decision: 3,
        };
        assert_eq!(Position::parse(&p.id()), Some(p));
        for bad in ["", "12", "12.", ".3", "a.b", "-1.2", "1.2.3"] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_message_is_one_event_with_one_data_line() {
        let m = message(
            "batch",
            Some(Position {
                fact: 1,
                decision: 2,
            }),
            &json!({"events": [{"subject": "a\nb"}]}),
        );
        let text = std::str::from_utf8(&m).unwrap();
        assert_eq!(
            text,
            "event: batch\nid: 1.2\ndata: {\"events\":[{\"subject\":\"a\\nb\"}]}\n\n"
        );
    }
}
