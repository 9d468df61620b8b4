//! The query handler: the read-only API. It reads the store and writes nothing, ever.
//!
//! - `GET /v1/events` (filters, cursor pagination) and `GET /v1/events/{id}` (the canonical
//!   event and where its raw payload is);
//! - `GET /v1/decisions` (filters `event`, `subject`, `rule`, `severity`, `since`, `until`; cursor
//!   pagination) and `GET /v1/decisions/{id}` (the decision with its trace, the sentence that
//!   explains it, and the outcomes its workflows recorded);
//! - `GET /v1/timeline?subject=S` (`since`, `until`, `limit`): the events, decisions and
//!   outcomes of one subject, in time order.

use std::sync::Arc;

use base64::Engine;
use helios_api::{query_param, ApiKeyAuth, Problem, Request, Response};
use helios_ports::BlobStore;
use helios_store::{DecisionQuery, FactQuery, Role, Store};
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
        let timeline = path == "/v1/timeline";
        let (events, rest) = if let Some(rest) = path.strip_prefix("/v1/events") {
            (true, rest)
        } else if let Some(rest) = path.strip_prefix("/v1/decisions") {
            (false, rest)
        } else if timeline {
            (false, "")
        } else {
            return Err(Problem::not_found(format!("no route {path}")));
        };
        if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
            return Err(Problem::method_not_allowed("GET"));
        }
        self.auth.require(req.headers(), Role::Read).await?;
        if timeline {
            return self.timeline(req).await;
        }
        match (events, rest) {
            (true, "" | "/") => self.list(req).await,
            (true, id) => self.get(id.trim_start_matches('/')).await,
            (false, "" | "/") => self.list_decisions(req).await,
            (false, id) => self.get_decision(id.trim_start_matches('/')).await,
        }
    }

    async fn list(&self, req: &Request) -> Result<Response, Problem> {
        let p = Page::read(req)?;
        let q = FactQuery {
            source: query_param(req, "source"),
            event_type: query_param(req, "type"),
            subject: query_param(req, "subject"),
            since: p.since,
            until: p.until,
            after: p.after,
            limit: p.limit,
        };
        let page = self.store.list_facts(&q).await?;
        let events: Vec<_> = page.facts.iter().map(|f| &f.event).collect();
        Ok(helios_api::json(
            200,
            &json!({ "events": events, "next": page.next.map(encode_cursor) }),
        ))
    }

    async fn list_decisions(&self, req: &Request) -> Result<Response, Problem> {
        let p = Page::read(req)?;
        let q = DecisionQuery {
            event_id: query_param(req, "event"),
            subject: query_param(req, "subject"),
            rule: query_param(req, "rule"),
            severity: query_param(req, "severity"),
            since: p.since,
            until: p.until,
            after: p.after,
            limit: p.limit,
        };
        let page = self.store.list_decisions(&q).await?;
        let decisions: Vec<_> = page
            .decisions
            .iter()
            .map(|d| {
                let d = &d.decision;
                json!({
                    "id": d.id, "event": d.event_id, "subject": d.subject, "severity": d.severity,
                    "score": d.score, "rules": d.rules, "decided_at": d.decided_at,
                    "ruleset": d.ruleset, "explanation": explanation(&d.body),
                })
            })
            .collect();
        Ok(helios_api::json(
            200,
            &json!({ "decisions": decisions, "next": page.next.map(encode_cursor) }),
        ))
    }

    async fn timeline(&self, req: &Request) -> Result<Response, Problem> {
        let subject = query_param(req, "subject").ok_or_else(|| {
            Problem::bad_request(
                "invalid-parameter",
                "`subject` is required: whose timeline?",
            )
        })?;
        let p = Page::read(req)?;
        let facts = self
            .store
            .list_facts(&FactQuery {
                subject: Some(subject.clone()),
                since: p.since,
                until: p.until,
                limit: p.limit,
                ..Default::default()
            })
            .await?;
        let decisions = self
            .store
            .list_decisions(&DecisionQuery {
                subject: Some(subject.clone()),
                since: p.since,
                until: p.until,
                limit: p.limit,
                ..Default::default()
            })
            .await?;
        let mut items: Vec<(chrono::DateTime<chrono::Utc>, serde_json::Value)> = Vec::new();
        for f in &facts.facts {
            let e = &f.event;
            items.push((e.time, json!({"at": e.time, "kind": "event", "id": e.helios_id, "source": e.source, "type": e.event_type})));
        }
        for d in &decisions.decisions {
            let d = &d.decision;
            items.push((
                d.decided_at,
                json!({
                    "at": d.decided_at, "kind": "decision", "id": d.id, "event": d.event_id,
                    "rules": d.rules, "severity": d.severity, "explanation": explanation(&d.body),
                }),
            ));
            for o in self.store.list_outcomes(&d.id).await? {
                items.push((o.recorded_at, json!({
                    "at": o.recorded_at, "kind": o.kind, "decision": o.decision_id, "execution": o.execution,
                })));
            }
        }
        // Time order; at the same instant an event comes before its decision, and that
        // before what its workflow did.
        let rank = |v: &serde_json::Value| match v["kind"].as_str() {
            Some("event") => 0,
            Some("decision") => 1,
            _ => 2,
        };
        items.sort_by(|a, b| a.0.cmp(&b.0).then(rank(&a.1).cmp(&rank(&b.1))));
        Ok(helios_api::json(
            200,
            &json!({
                "subject": subject,
                "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
                "truncated": facts.next.is_some() || decisions.next.is_some(),
            }),
        ))
    }

    async fn get_decision(&self, id: &str) -> Result<Response, Problem> {
        let stored = self
            .store
            .get_decision(id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no decision has the id `{id}`")))?;
        let outcomes = self.store.list_outcomes(id).await?;
        let d = &stored.decision;
        Ok(helios_api::json(
            200,
            &json!({
                "decision": d.body,
                "explanation": explanation(&d.body),
                "outcomes": outcomes.iter().map(|o| json!({
                    "execution": o.execution, "kind": o.kind, "recorded_at": o.recorded_at, "outcome": o.body,
                })).collect::<Vec<_>>(),
            }),
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

/// The sentences of the rules that fired, joined: what the decision means, in words.
fn explanation(body: &serde_json::Value) -> String {
    body.get("fired")
        .and_then(serde_json::Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|r| r.get("explanation").and_then(serde_json::Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The paging and time parameters every listing takes.
struct Page {
    limit: usize,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    after: Option<i64>,
}

impl Page {
    fn read(req: &Request) -> Result<Page, Problem> {
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
        Ok(Page {
            limit,
            since: time("since")?,
            until: time("until")?,
            after: query_param(req, "cursor")
                .map(|c| decode_cursor(&c))
                .transpose()?,
        })
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
