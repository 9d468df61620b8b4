//! The HTTP server of `helios dev`: hyper's HTTP/1 connections with the limits a server on a
//! network needs and `axum::serve` does not set. A client that sends its headers slowly, or
//! none at all, or keeps an idle connection open, is cut off after `header_timeout` (hyper
//! starts that timer when a connection opens and again each time it waits for a next
//! request); a body that trickles in is cut off after `body_timeout` (408, in `dev.rs`); and
//! no more than `max_connections` are open at once (the next ones wait in the listen backlog
//! until one closes). Each request carries its peer's address as a [`ClientAddr`], which the
//! edge limits unauthenticated failures by.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use helios_api::ClientAddr;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// The limits of the server; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

/// How long open connections may take to finish once shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections
/// finish their requests (at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    // Every connection is told to finish when this turns true.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // the semaphore is never closed
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer.ip()));
                router.clone().oneshot(req)
            });
        // With upgrades: `GET /v1/socket` turns its connection into a WebSocket (which then
        // lives on its own, outside this connection's future).
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = permit;
            tokio::pin!(conn);
            let mut stopping = false;
            let ended = loop {
                tokio::select! {
                    r = conn.as_mut() => break r,
                    _ = stop.wait_for(|s| *s), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every slot back: every connection has finished.
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::warn!("connections still open {DRAIN:?} after shutdown; closing them");
        }
    }
}
