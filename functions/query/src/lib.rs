//! The query handler: the read-only API. `GET /v1/events` (filters, cursor pagination) and
//! `GET /v1/events/{id}` (the canonical event and where its raw payload is). It reads the
//! store and writes nothing, ever.

use std::sync::Arc;

use base64::Engine;
use helios_api::{query_param, ApiKeyAuth, Problem, Request, Response};
use helios_ports::BlobStore;
use helios_store::{FactQuery, Role, Store};
use serde_json::json;

/// The most events one page may hold.
pub const MAX_LIMIT: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 100;

pub struct Query {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub auth: Arc<ApiKeyAuth>,
}

impl Query {
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        match self.route(&req).await {
            Ok(r) => r,
            Err(p) => p.into_response_for(Some(&path)),
        }
    }

    async fn route(&self, req: &Request) -> Result<Response, Problem> {
        let path = req.uri().path();
        let rest = path
            .strip_prefix("/v1/events")
            .ok_or_else(|| Problem::not_found(format!("no route {path}")))?;
        if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
            return Err(Problem::method_not_allowed("GET"));
        }
        self.auth.require(req.headers(), Role::Read).await?;
        match rest {
            "" | "/" => self.list(req).await,
            id => self.get(id.trim_start_matches('/')).await,
        }
    }

    async fn list(&self, req: &Request) -> Result<Response, Problem> {
        let limit = match query_param(req, "limit") {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Problem::bad_request(
                        "invalid-parameter",
                        format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}, found {s:?}"
                        ),
                    )
                })?,
        };
        let time = |name: &str| -> Result<_, Problem> {
            query_param(req, name)
                .map(|s| {
                    helios_events::parse_time(&s).map_err(|p| {
                        Problem::bad_request("invalid-parameter", format!("`{name}` {p}"))
                    })
                })
                .transpose()
        };
        let q = FactQuery {
            source: query_param(req, "source"),
            event_type: query_param(req, "type"),
            since: time("since")?,
            until: time("until")?,
            after: query_param(req, "cursor")
                .map(|c| decode_cursor(&c))
                .transpose()?,
            limit,
        };
        let page = self.store.list_facts(&q).await?;
        let events: Vec<_> = page.facts.iter().map(|f| &f.event).collect();
        Ok(helios_api::json(
            200,
            &json!({ "events": events, "next": page.next.map(encode_cursor) }),
        ))
    }

    async fn get(&self, id: &str) -> Result<Response, Problem> {
        let fact = self
            .store
            .get_fact(id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no event has the id `{id}`")))?;
        Ok(helios_api::json(
            200,
            &json!({
                "event": fact.event,
                "raw": {"key": fact.raw.key, "index": fact.raw.index, "location": self.blobs.locate(&fact.raw.key)},
            }),
        ))
    }
}

/// Cursors are opaque to clients: the position after which the next page starts.
pub fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(c: &str) -> Result<i64, Problem> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("seq:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-parameter",
                "`cursor` is not a cursor this API gave out",
            )
        })
}
