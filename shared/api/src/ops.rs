//! What an operator does from the dashboard: `GET /v1/health` (the backlog of each queue and
//! its dead-letter queue, the executions), `GET /v1/dead-letters` (each queue's dead letters,
//! with samples), `POST /v1/dead-letters/{queue}/redrive` and `POST /v1/replay` (an admin key
//! each). Served by `helios dev`, and in AWS by the `ops` function (SQS moves the dead letters
//! itself there: `StartMessageMoveTask`).
//!
//! And one-time sign-in links (`helios demo` prints one), `helios dev`'s alone: `POST
//! /v1/session/tickets` makes a ticket for the key presented, good once and for ten minutes;
//! `POST /v1/session/redeem` hands the key back for the ticket, once. The link carries the
//! ticket, never the key, so an address kept in a browser's history or shown on a screen signs
//! nobody in twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helios_app::ops::{Operations, ReplayRange};
use helios_ports::{Publisher, Redriven};
use helios_store::{ReadModel, Role};
use serde_json::{json, Value};

use crate::{ApiKeyAuth, Problem, RateLimiter, Request, Response};

pub struct OpsApi {
    pub ops: Arc<Operations>,
    pub facts: Arc<dyn ReadModel>,
    pub publisher: Arc<dyn Publisher>,
    /// The topic replayed facts are published to.
    pub topic: String,
    /// What `GET /v1/health` answers.
    pub health: Arc<dyn crate::stream::Health>,
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
}

/// The one-time sign-in links of `helios dev` (their tickets live in its memory).
pub struct SessionApi {
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
    pub tickets: SignInTickets,
}

/// How long a sign-in ticket is good for.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(600);

/// Sign-in tickets not yet redeemed, in this process's memory only: the SHA-256 of each
/// ticket, with the key it stands for and when it expires.
#[derive(Clone, Default)]
pub struct SignInTickets {
    open: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

impl SignInTickets {
    /// A new ticket for `key`: `st_` and 128 random bits in hex.
    pub fn issue(&self, key: &str) -> Result<String, Problem> {
        let mut bits = [0u8; 16];
        getrandom::fill(&mut bits)
            .map_err(|e| Problem::unavailable(format!("no randomness available: {e}")))?;
        let ticket = format!("st_{}", hex(&bits));
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, (_, until)| *until > now);
        open.insert(digest(&ticket), (key.to_string(), now + TICKET_LIFETIME));
        Ok(ticket)
    }

    /// The key of `ticket`, once: a ticket redeemed, expired or never issued is `None`.
    pub fn redeem(&self, ticket: &str) -> Option<String> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (key, until) = open.remove(&digest(ticket))?;
        (until > Instant::now()).then_some(key)
    }
}

fn digest(ticket: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(ticket.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A deployment's health as `GET /v1/health` answers it in AWS (`helios dev` adds its own
/// executions' and refusals' counts): the backlog of the outbox and of each queue and its
/// dead-letter queue, and how many executions run.
pub struct DeploymentHealth {
    pub ops: Arc<Operations>,
    pub outbox: Arc<dyn helios_ports::store::Outbox>,
    pub executions: Option<Arc<dyn helios_ports::Executions>>,
}

/// Running executions are counted up to this many per machine.
pub const RUNNING_CAP: usize = 10_000;

#[async_trait::async_trait]
impl crate::stream::Health for DeploymentHealth {
    async fn health(&self) -> Result<Value, String> {
        let backlog = self.ops.backlog(self.outbox.as_ref()).await?;
        let mut health = json!({"status": "ok", "backlog": backlog, "executions": {}});
        if let Some(x) = &self.executions {
            // One listing of the running executions, by machine.
            let by = x
                .running_by_machine(RUNNING_CAP)
                .await
                .map_err(|e| format!("the executions cannot be listed: {e}"))?;
            let running: usize = by.values().map(|(n, _)| n).sum();
            health["executions"] = json!({ "running": running });
            if by.values().any(|(_, more)| *more) {
                health["executions"]["running_counted_up_to"] = json!(RUNNING_CAP);
            }
            // Each open expectation is one `expectation` execution watching it.
            let open = by.get(helios_app::expect::MACHINE).map_or(0, |(n, _)| *n);
            health["expectations"] = json!({ "open": open });
        }
        Ok(health)
    }
}

/// How many dead letters of each queue are shown.
pub const SAMPLES: usize = 5;

impl SessionApi {
    async fn route(&self, req: &Request) -> Result<Response, Problem> {
        let path = req.uri().path();
        if path == "/v1/session/redeem" {
            return self.redeem(req);
        }
        // Any live key may make a link for itself (it gives nothing the key does not).
        crate::authorize(&self.auth, &self.limiter, req, Role::Read).await?;
        let key = ApiKeyAuth::presented(req.headers()).unwrap_or_default();
        let ticket = self.tickets.issue(key)?;
        Ok(crate::json(
            201,
            &json!({"ticket": ticket, "expires_in": TICKET_LIFETIME.as_secs()}),
        ))
    }

    /// A ticket that is not open counts as an unauthenticated try of the client's address,
    /// as a wrong key does elsewhere.
    fn redeem(&self, req: &Request) -> Result<Response, Problem> {
        let bad = |detail: String| Problem::bad_request("invalid-body", detail);
        let v: Value = serde_json::from_slice(req.body())
            .map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let ticket = v
            .get("ticket")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("`ticket` (the ticket of a sign-in link) is required".into()))?;
        match self.tickets.redeem(ticket) {
            Some(key) => Ok(crate::json(200, &json!({ "key": key }))),
            None => Err(crate::unauthenticated(
                &self.limiter,
                req,
                Problem::not_found(
                    "this sign-in link was used already, has expired, or was never made: sign in with the key",
                ),
            )),
        }
    }
}

impl OpsApi {
    async fn route(&self, req: &Request) -> Result<Response, Problem> {
        let path = req.uri().path();
        let role = if req.method() == http::Method::POST {
            Role::Admin
        } else {
            Role::Read
        };
        crate::authorize(&self.auth, &self.limiter, req, role).await?;
        if path == "/v1/health" {
            let health = self.health.health().await.map_err(Problem::unavailable)?;
            return Ok(crate::json(200, &health));
        }
        if path == "/v1/dead-letters" {
            let queues = self
                .ops
                .dead_letters(SAMPLES)
                .await
                .map_err(|e| Problem::unavailable(format!("the queues cannot be read: {e}")))?;
            return Ok(crate::json(200, &json!({ "queues": queues })));
        }
        if path == "/v1/replay" {
            return self.replay(req.body()).await;
        }
        let queue = path
            .strip_prefix("/v1/dead-letters/")
            .and_then(|rest| rest.strip_suffix("/redrive"))
            .ok_or_else(|| Problem::not_found(format!("no route {path}")))?;
        match self.ops.redrive(queue).await {
            Ok(Some((dlq, Redriven::Moved(moved)))) => Ok(crate::json(
                200,
                &json!({"queue": queue, "dead_letter_queue": dlq, "moved": moved}),
            )),
            // SQS moves them itself: the answer is that it started, with its task's handle.
            Ok(Some((dlq, Redriven::MoveTask(handle)))) => Ok(crate::json(
                202,
                &json!({"queue": queue, "dead_letter_queue": dlq, "task_handle": handle}),
            )),
            Ok(None) => Err(Problem::not_found(format!(
                "`{queue}` is not a queue with a dead-letter queue"
            ))),
            Err(e) => Err(Problem::unavailable(format!("the redrive stopped: {e}"))),
        }
    }

    async fn replay(&self, body: &[u8]) -> Result<Response, Problem> {
        let bad = |detail: String| Problem::bad_request("invalid-body", detail);
        let v: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let time = |name: &str| -> Result<chrono::DateTime<chrono::Utc>, Problem> {
            let s = v
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("`{name}` (an RFC 3339 time) is required")))?;
            helios_events::parse_time(s).map_err(|e| bad(format!("`{name}` {e}")))
        };
        let text = |name: &str| -> Result<Option<String>, Problem> {
            match v.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("`{name}` is a non-empty text"))),
            }
        };
        let range = ReplayRange {
            since: time("since")?,
            until: time("until")?,
            source: text("source")?,
            event_type: text("type")?,
            redecide: match v.get("redecide") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("`redecide` is true or false".into())),
            },
        };
        if range.since >= range.until {
            return Err(bad("`since` must be before `until`".into()));
        }
        let replayed = helios_app::ops::replay(
            self.facts.as_ref(),
            self.publisher.as_ref(),
            &self.topic,
            &range,
        )
        .await
        .map_err(|e| Problem::unavailable(format!("the replay stopped: {e}")))?;
        Ok(crate::json(
            200,
            &json!({"replayed": replayed, "redecide": range.redecide}),
        ))
    }
}

#[async_trait::async_trait]
impl crate::router::Handle for SessionApi {
    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        crate::answer(&path, self.route(&req).await)
    }
}

#[async_trait::async_trait]
impl crate::router::Handle for OpsApi {
    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        crate::answer(&path, self.route(&req).await)
    }
}
