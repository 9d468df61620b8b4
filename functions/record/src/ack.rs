//! `POST /v1/decisions/{id}/ack`: a person acknowledges a decision whose workflow waits for it
//! (`.waitForTaskToken`). The workflow's task gets `{"acked_by", "note", "at"}` and goes on.
//!
//! Answers `202` when the workflow was answered, `200` when it already was (an
//! acknowledgement counts once), `404` for an unknown decision, `409` when the decision
//! awaits no acknowledgement. Needs an admin key; the body is optional:
//! `{"by": "alice", "note": "on it"}` (`by` defaults to the key's name).

use std::sync::Arc;

use helios_api::{ApiKeyAuth, Problem, Request, Response};
use helios_ports::{Clock, Workflows};
use helios_store::{Outcome, Recorded, Role, Store};
use serde_json::{json, Value};

pub struct Acknowledge {
    pub store: Arc<dyn Store>,
    pub workflows: Arc<dyn Workflows>,
    pub auth: Arc<ApiKeyAuth>,
    pub clock: Arc<dyn Clock>,
}

/// The decision id of an ack route, `/v1/decisions/{id}/ack`.
pub fn route(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/decisions/")?
        .strip_suffix("/ack")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

impl Acknowledge {
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        match self.ack(&req).await {
            Ok(r) => r,
            Err(p) => p.into_response_for(Some(&path)),
        }
    }

    async fn ack(&self, req: &Request) -> Result<Response, Problem> {
        let id = route(req.uri().path())
            .ok_or_else(|| Problem::not_found(format!("no route {}", req.uri().path())))?;
        if req.method() != http::Method::POST {
            return Err(Problem::method_not_allowed("POST"));
        }
        let key = self.auth.require(req.headers(), Role::Admin).await?;
        let body: Value = if req.body().is_empty() {
            json!({})
        } else {
            serde_json::from_slice(req.body()).map_err(|e| {
                Problem::bad_request("invalid-body", format!("the body is not JSON: {e}"))
            })?
        };
        let by = match body.get("by") {
            None => key.name.clone(),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 200 => s.clone(),
            Some(_) => {
                return Err(Problem::bad_request(
                    "invalid-body",
                    "`by` is a name of 1 to 200 characters",
                ))
            }
        };
        let note = match body.get("note") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) if s.len() <= 2000 => Value::String(s.clone()),
            Some(_) => {
                return Err(Problem::bad_request(
                    "invalid-body",
                    "`note` is a text of at most 2000 characters",
                ))
            }
        };
        if self.store.get_decision(id).await?.is_none() {
            return Err(Problem::not_found(format!("no decision has the id `{id}`")));
        }
        let outcomes = self.store.list_outcomes(id).await?;
        let Some(waiting) = outcomes.iter().rev().find(|o| o.kind == "awaiting_ack") else {
            return Err(Problem::new(
                409,
                "not-awaiting-ack",
                "Nothing to acknowledge",
                format!("decision `{id}` does not wait for an acknowledgement"),
            ));
        };
        let token = waiting
            .body
            .get("task_token")
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::internal("the awaited acknowledgement has no task token"))?;
        let now = self.clock.now();
        let answer = json!({"acked_by": by, "note": note, "at": now});
        let recorded = self
            .store
            .record_outcome(&Outcome {
                decision_id: id.to_string(),
                execution: waiting.execution.clone(),
                kind: "acknowledged".into(),
                recorded_at: now,
                body: answer.clone(),
            })
            .await?;
        if recorded == Recorded::Duplicate {
            return Ok(helios_api::json(
                200,
                &json!({"decision": id, "status": "already acknowledged"}),
            ));
        }
        self.workflows
            .send_task_success(token, &answer)
            .await
            .map_err(|e| {
                Problem::unavailable(format!("the workflow could not be answered: {e}"))
            })?;
        Ok(helios_api::json(
            202,
            &json!({"decision": id, "status": "acknowledged", "acked_by": by}),
        ))
    }
}
