//! The loaded rule set, read-only: `GET /v1/rules` (its name, version and hash, each rule and
//! expectation, and the files they come from) and `POST /v1/rules/try` (an event in the native
//! envelope, decided with the rule set as if it were the first of its windows, and nothing
//! stored, started or sent). Served by the query function in AWS, beside the rule set's layer.

use std::sync::Arc;

use helios_events::sample::PreparedRequest;
use helios_ports::Clock;
use helios_rules::{RuleSet, SourceFile};
use helios_store::Role;
use serde_json::{json, Value};

use crate::{ApiKeyAuth, Problem, RateLimiter, Request, Response};

pub struct RulesApi {
    pub set: Arc<RuleSet>,
    /// The files the rule set was loaded from.
    pub files: Vec<SourceFile>,
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
    pub clock: Arc<dyn Clock>,
}

impl RulesApi {
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        crate::answer(&path, self.route(&req).await)
    }

    async fn route(&self, req: &Request) -> Result<Response, Problem> {
        crate::authorize(&self.auth, &self.limiter, req, Role::Read).await?;
        match (req.method().as_str(), req.uri().path()) {
            ("GET" | "HEAD", "/v1/rules") => Ok(crate::json(200, &self.describe())),
            ("POST", "/v1/rules/try") => self.try_event(req.body()),
            (_, "/v1/rules") => Err(Problem::method_not_allowed("GET, HEAD")),
            (_, "/v1/rules/try") => Err(Problem::method_not_allowed("POST")),
            (_, path) => Err(Problem::not_found(format!("no route {path}"))),
        }
    }

    fn describe(&self) -> Value {
        let s = &self.set;
        json!({
            "name": s.name,
            "version": s.version,
            "description": s.description,
            "hash": s.hash,
            "rules": s.rules.iter().map(|r| json!({
                "id": r.id,
                "description": r.description,
                "priority": r.priority,
                "file": r.file,
                "severity": r.severity.map(|v| v.as_str()),
                "workflows": r.actions.iter().map(|a| a.workflow.as_str()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "expectations": s.expectations.iter().map(|e| json!({
                "id": e.id, "description": e.description, "file": e.file,
            })).collect::<Vec<_>>(),
            "files": self.files.iter().map(|f| json!({"path": f.path, "text": f.text})).collect::<Vec<_>>(),
        })
    }

    /// Decides one native event with the rule set; stores nothing.
    fn try_event(&self, body: &[u8]) -> Result<Response, Problem> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            Problem::bad_request("invalid-body", format!("the body is not JSON: {e}"))
        })?;
        if !v.is_object() {
            return Err(Problem::bad_request(
                "invalid-body",
                "the body is one event in the native envelope (an object)",
            ));
        }
        let now = self.clock.now();
        let request = PreparedRequest {
            method: "POST".into(),
            path: "/v1/events".into(),
            query: None,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_vec(),
        };
        let secrets = helios_events::SourceSecrets::default();
        let limits = helios_events::Limits::default();
        let ctx = helios_events::Context {
            received_at: now,
            secrets: &secrets,
            limits: &limits,
        };
        let event = match request.normalise(&ctx).map_err(|e| match e {
            helios_events::sample::ReplayError::Normalise(e) => Problem::from(e),
            other => Problem::bad_request("invalid-body", other.to_string()),
        })? {
            helios_events::Normalised::Events(mut events) if events.len() == 1 => events.remove(0),
            helios_events::Normalised::Events(events) => {
                return Err(Problem::bad_request(
                    "invalid-body",
                    format!("one event at a time, not {}", events.len()),
                ))
            }
            helios_events::Normalised::Handshake(_) => {
                return Err(Problem::bad_request("invalid-body", "not an event"))
            }
        };
        let event = serde_json::to_value(&event)
            .map_err(|e| Problem::internal(format!("the event could not be written: {e}")))?;
        let decision = self
            .set
            .decide(&event, now, &helios_rules::Inputs::default())
            .map_err(|e| Problem::bad_request("invalid-body", e.to_string()))?;
        let decision = serde_json::to_value(&decision)
            .map_err(|e| Problem::internal(format!("the decision could not be written: {e}")))?;
        Ok(crate::json(
            200,
            &json!({
                "event": event,
                "explanation": crate::query::explanation(&decision),
                "decision": decision,
            }),
        ))
    }
}

#[async_trait::async_trait]
impl crate::router::Handle for RulesApi {
    async fn handle(&self, req: Request) -> Response {
        RulesApi::handle(self, req).await
    }
}
