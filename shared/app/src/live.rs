//! The live feed: what the store recorded, in batches, to the dashboard as it happens.
//!
//! Two transports carry the same batches: `GET /v1/stream` (server-sent events, each client
//! polling the store from its own position) and a WebSocket API (API Gateway's in AWS,
//! `GET /v1/socket` on `helios dev`), where one [`Pusher`] reads what is new once and sends
//! it to every connection. A batch is `{"events": [...], "decisions": [...]}`, oldest first,
//! with the position after it as its id (`<fact seq>.<decision seq>`).
//!
//! The connections are one key-value item ([`CONNECTIONS_KEY`]), updated with a conditional
//! write: a dashboard has tens of viewers, not thousands, and the functions that open,
//! close and push already hold the key-value port. The pusher's position is another
//! ([`CURSOR_KEY`]); a batch goes out only after the cursor moved past it, so two pushers
//! never send the same batch twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use helios_ports::store::{
    DecisionPage, DecisionQuery, Fact, FactPage, FactQuery, ReadModel, StoreError, StoredDecision,
};
use helios_ports::update::{update, Change, UpdateError};
use helios_ports::{Clock, Delivery, KeyValue, PortError, Sockets};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The newest facts and decisions a new client starts with.
pub const BACKLOG: usize = 50;
/// The most of each that one batch holds; a client far behind gets several, back to back.
pub const MAX_BATCH: usize = 500;
/// The key-value item listing the open connections.
pub const CONNECTIONS_KEY: &str = "live/connections";
/// The key-value item holding the position the pusher sent up to.
pub const CURSOR_KEY: &str = "live/cursor";
/// How long a connection is kept without being closed: API Gateway ends a WebSocket
/// connection after two hours, and a `$disconnect` may be lost.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// The most connections kept (the item stays far under DynamoDB's 400 KB).
pub const MAX_CONNECTIONS: usize = 1_000;
const ATTEMPTS: usize = 16;

/// Where a client is: the last fact and the last decision it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub fact: i64,
    pub decision: i64,
}

impl Position {
    /// The `id` of a batch: `<fact seq>.<decision seq>`.
    pub fn id(self) -> String {
        format!("{}.{}", self.fact, self.decision)
    }

    pub fn parse(id: &str) -> Option<Position> {
        let (f, d) = id.trim().split_once('.')?;
        let (fact, decision) = (f.parse().ok()?, d.parse().ok()?);
        (fact >= 0 && decision >= 0).then_some(Position { fact, decision })
    }
}

/// A fact as the feed sends it: what a list of events shows.
pub fn fact_summary(f: &Fact) -> Value {
    let e = &f.event;
    json!({
        "seq": f.seq, "id": e.helios_id, "source": e.source, "type": e.event_type,
        "subject": e.subject, "time": e.time, "received_at": e.received_at,
        "format": e.format, "family": e.family(),
    })
}

/// A decision as listings show it (`GET /v1/decisions` and the feed).
pub fn decision_summary(d: &StoredDecision) -> Value {
    let (seq, d) = (d.seq, &d.decision);
    json!({
        "seq": seq, "id": d.id, "event": d.event_id, "subject": d.subject, "severity": d.severity,
        "score": d.score, "rules": d.rules, "decided_at": d.decided_at,
        "ruleset": d.ruleset, "explanation": explanation(&d.body),
    })
}

/// The sentences of the rules that fired, joined: what a decision means, in words.
pub fn explanation(body: &Value) -> String {
    body.get("fired")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|r| r.get("explanation").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// One batch of the feed, and the position after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub next: Position,
    /// `{"events": [...], "decisions": [...]}`.
    pub body: Value,
    /// A page came back full: there is more to read at once.
    pub full: bool,
}

/// The newest `limit` facts and decisions (newest first), or with `after`, the first `limit`
/// recorded after it (oldest first). The two reads go out together.
async fn read(
    store: &dyn ReadModel,
    after: Option<Position>,
    limit: usize,
) -> Result<(FactPage, DecisionPage), StoreError> {
    let newest_first = after.is_none();
    let facts = FactQuery {
        after: after.map(|p| p.fact),
        limit,
        newest_first,
        ..Default::default()
    };
    let decisions = DecisionQuery {
        after: after.map(|p| p.decision),
        limit,
        newest_first,
        ..Default::default()
    };
    futures_util::future::try_join(store.list_facts(&facts), store.list_decisions(&decisions)).await
}

/// The first batch of a new client: the newest [`BACKLOG`] facts and decisions, oldest first.
pub async fn newest(store: &dyn ReadModel) -> Result<Batch, StoreError> {
    let (facts, decisions) = read(store, None, BACKLOG).await?;
    let next = Position {
        fact: facts.facts.first().map_or(0, |f| f.seq),
        decision: decisions.decisions.first().map_or(0, |d| d.seq),
    };
    let events: Vec<Value> = facts.facts.iter().rev().map(fact_summary).collect();
    let decisions: Vec<Value> = decisions
        .decisions
        .iter()
        .rev()
        .map(decision_summary)
        .collect();
    Ok(Batch {
        next,
        body: json!({"events": events, "decisions": decisions}),
        full: false,
    })
}

/// The position after the newest fact and decision.
pub async fn newest_position(store: &dyn ReadModel) -> Result<Position, StoreError> {
    let (facts, decisions) = read(store, None, 1).await?;
    Ok(Position {
        fact: facts.facts.first().map_or(0, |f| f.seq),
        decision: decisions.decisions.first().map_or(0, |d| d.seq),
    })
}

/// What was recorded after `pos`, if anything.
pub async fn after(store: &dyn ReadModel, pos: Position) -> Result<Option<Batch>, StoreError> {
    let (facts, decisions) = read(store, Some(pos), MAX_BATCH).await?;
    if facts.facts.is_empty() && decisions.decisions.is_empty() {
        return Ok(None);
    }
    let full = facts.next.is_some() || decisions.next.is_some();
    let next = Position {
        fact: facts.facts.last().map_or(pos.fact, |f| f.seq),
        decision: decisions.decisions.last().map_or(pos.decision, |d| d.seq),
    };
    let events: Vec<Value> = facts.facts.iter().map(fact_summary).collect();
    let decisions: Vec<Value> = decisions.decisions.iter().map(decision_summary).collect();
    Ok(Some(Batch {
        next,
        body: json!({"events": events, "decisions": decisions}),
        full,
    }))
}

/// A message of the WebSocket feed: `{"type": "batch", "id": "<fact>.<decision>", "data":
/// {...}}`; the same content as the stream's `event: batch`.
pub fn socket_message(kind: &str, id: Option<Position>, data: &Value) -> String {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), json!(kind));
    if let Some(id) = id {
        m.insert("id".into(), json!(id.id()));
    }
    m.insert("data".into(), data.clone());
    Value::Object(m).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    State(String),
    /// More connections than [`MAX_CONNECTIONS`] are open.
    #[error("{MAX_CONNECTIONS} live connections are open already; close one first")]
    Full,
}

impl LiveError {
    pub fn is_retryable(&self) -> bool {
        match self {
            LiveError::Port(e) => e.is_retryable(),
            LiveError::Store(_) => true,
            LiveError::State(_) | LiveError::Full => false,
        }
    }
}

impl From<UpdateError<LiveError>> for LiveError {
    fn from(e: UpdateError<LiveError>) -> LiveError {
        match e {
            UpdateError::Port(p) => LiveError::Port(p),
            UpdateError::Change(c) => c,
            other @ (UpdateError::Unreadable { .. } | UpdateError::Contended(_)) => {
                LiveError::State(other.to_string())
            }
        }
    }
}

/// The open connections, as one key-value item.
pub struct Connections {
    pub kv: Arc<dyn KeyValue>,
    pub clock: Arc<dyn Clock>,
}

/// An open connection: who opened it, and when (milliseconds since the epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    /// The API key it presented (its id, not its secret) and that key's role.
    pub key: String,
    pub role: String,
    pub opened_ms: i64,
}

type Open = BTreeMap<String, Connection>;

impl Connections {
    fn live(&self, open: Open) -> Open {
        let oldest = self.clock.now().timestamp_millis()
            - i64::try_from(CONNECTION_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        open.into_iter()
            .filter(|(_, c)| c.opened_ms >= oldest)
            .collect()
    }

    /// The conditional read-modify-write of the connections' item.
    async fn change(
        &self,
        f: impl FnMut(Option<Open>) -> Result<Change<Open, ()>, LiveError>,
    ) -> Result<(), LiveError> {
        update(self.kv.as_ref(), CONNECTIONS_KEY, None, ATTEMPTS, f)
            .await
            .map_err(LiveError::from)
    }

    /// Records a connection that was just opened (after its key was checked).
    pub async fn open(&self, c: Connection) -> Result<(), LiveError> {
        self.change(|open| {
            let mut open = self.live(open.unwrap_or_default());
            if open.len() >= MAX_CONNECTIONS && !open.contains_key(&c.id) {
                return Err(LiveError::Full);
            }
            open.insert(c.id.clone(), c.clone());
            Ok(Change::Write(open, ()))
        })
        .await
    }

    /// Forgets connections (closed, or gone when a message was sent).
    pub async fn close(&self, ids: &[String]) -> Result<(), LiveError> {
        self.change(|open| {
            let Some(open) = open else {
                return Ok(Change::Keep(()));
            };
            let before = open.len();
            let mut open = self.live(open);
            for id in ids {
                open.remove(id);
            }
            Ok(if open.len() == before {
                Change::Keep(())
            } else {
                Change::Write(open, ())
            })
        })
        .await
    }

    /// The open connections, oldest first.
    pub async fn list(&self) -> Result<Vec<Connection>, LiveError> {
        let Some(item) = self.kv.get(CONNECTIONS_KEY).await? else {
            return Ok(Vec::new());
        };
        let open: Open = serde_json::from_value(item.value).map_err(|e| {
            LiveError::State(format!(
                "the state at `{CONNECTIONS_KEY}` cannot be read: {e}"
            ))
        })?;
        let mut open: Vec<Connection> = self.live(open).into_values().collect();
        open.sort_by(|a, b| (a.opened_ms, &a.id).cmp(&(b.opened_ms, &b.id)));
        Ok(open)
    }
}

/// What one push did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Batches sent (to every connection each).
    pub batches: usize,
    /// Messages delivered, all connections counted.
    pub delivered: usize,
    /// Connections found gone and forgotten.
    pub gone: usize,
}

/// Reads what is new since the last push and sends it to every open connection.
pub struct Pusher {
    pub read: Arc<dyn ReadModel>,
    pub sockets: Arc<dyn Sockets>,
    /// The open connections; the cursor is kept in the same key-value table.
    pub connections: Connections,
}

impl Pusher {
    /// Sends every batch recorded since the last push, oldest first. With no connection open,
    /// the cursor moves to the newest without reading what came between, so that a viewer
    /// who connects later is not sent a backlog (its page read the newest through the API
    /// when it opened). A batch is sent after the cursor moved past it: a concurrent pusher
    /// that lost the move sends nothing.
    pub async fn push(&self) -> Result<Pushed, LiveError> {
        let mut pushed = Pushed::default();
        loop {
            let Some((batch, open)) = self.claim_next().await? else {
                return Ok(pushed);
            };
            let empty = batch.body["events"].as_array().is_none_or(Vec::is_empty)
                && batch.body["decisions"].as_array().is_none_or(Vec::is_empty);
            if !open.is_empty() && !empty {
                let message = socket_message("batch", Some(batch.next), &batch.body);
                self.send_all(&open, &message, &mut pushed).await?;
                pushed.batches += 1;
            }
            if !batch.full {
                return Ok(pushed);
            }
        }
    }

    /// Sends the newest [`BACKLOG`] facts and decisions to one connection: what a page shows
    /// first, asked for by the client once its socket is open (`{"action": "newest"}`).
    pub async fn newest_to(&self, id: &str) -> Result<Delivery, LiveError> {
        let batch = newest(self.read.as_ref()).await?;
        let message = socket_message("batch", Some(batch.next), &batch.body);
        let delivery = self.sockets.send(id, &message).await?;
        if delivery == Delivery::Gone {
            self.connections.close(&[id.to_string()]).await?;
        }
        Ok(delivery)
    }

    /// Sends `message` to every connection; forgets the ones gone. One connection that
    /// cannot be reached does not keep the others from their message.
    async fn send_all(
        &self,
        open: &[Connection],
        message: &str,
        pushed: &mut Pushed,
    ) -> Result<(), LiveError> {
        let sends = open.iter().map(|c| self.sockets.send(&c.id, message));
        let results = futures_util::future::join_all(sends).await;
        let mut gone = Vec::new();
        for (c, r) in open.iter().zip(results) {
            match r {
                Ok(Delivery::Sent) => pushed.delivered += 1,
                Ok(Delivery::Gone) => gone.push(c.id.clone()),
                Err(e) => {
                    tracing::warn!(connection = %c.id, error = %e, "a live message was not delivered")
                }
            }
        }
        if !gone.is_empty() {
            pushed.gone += gone.len();
            self.connections.close(&gone).await?;
        }
        Ok(())
    }

    /// The next batch after the cursor, with the cursor moved past it, and the connections
    /// open then; `None` when nothing is new.
    async fn claim_next(&self) -> Result<Option<(Batch, Vec<Connection>)>, LiveError> {
        let open = self.connections.list().await?;
        for _ in 0..ATTEMPTS {
            let item = self.connections.kv.get(CURSOR_KEY).await?;
            let (at, condition) = match item {
                Some(item) => {
                    let at: Position = serde_json::from_value(item.value).map_err(|e| {
                        LiveError::State(format!("the state at `{CURSOR_KEY}` cannot be read: {e}"))
                    })?;
                    (Some(at), helios_ports::Condition::VersionIs(item.version))
                }
                None => (None, helios_ports::Condition::NotExists),
            };
            let batch = match at {
                // With nobody to send to, or on the first push, the cursor moves to the
                // newest: what came before is history, which a page reads through the API.
                Some(at) if !open.is_empty() => after(self.read.as_ref(), at).await?,
                _ => {
                    let next = newest_position(self.read.as_ref()).await?;
                    (at != Some(next)).then(|| Batch {
                        next,
                        body: json!({"events": [], "decisions": []}),
                        full: false,
                    })
                }
            };
            let Some(batch) = batch else {
                return Ok(None);
            };
            let value = serde_json::to_value(batch.next)
                .map_err(|e| LiveError::State(format!("the cursor is not JSON: {e}")))?;
            match self
                .connections
                .kv
                .put(CURSOR_KEY, value, condition, None)
                .await?
            {
                helios_ports::Written::Yes { .. } => return Ok(Some((batch, open))),
                helios_ports::Written::ConditionFailed => continue,
            }
        }
        Err(LiveError::State(format!(
            "the state at `{CURSOR_KEY}` kept changing under concurrent writes"
        )))
    }
}
