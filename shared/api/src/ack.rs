//! `POST /v1/decisions/{id}/ack`: a person acknowledges a decision whose workflow waits for it
//! ([`helios_app::ack`]).
//!
//! Answers `202` when the workflow was answered, `200` when it already was (an
//! acknowledgement counts once), `404` for an unknown decision, `409` when the decision
//! awaits no acknowledgement. Needs an admin key; the body is optional:
//! `{"by": "alice", "note": "on it"}` (`by` defaults to the key's name).

use std::sync::Arc;

use helios_app::ack::{AckError, Acked, Acknowledge};
use helios_store::Role;
use serde_json::{json, Value};

use crate::{ApiKeyAuth, Problem, RateLimiter, Request, Response};

pub struct AckApi {
    pub ack: Arc<Acknowledge>,
    pub auth: Arc<ApiKeyAuth>,
    /// Each key's rate, and the unauthenticated tries counted, as on every keyed route.
    pub limiter: Arc<RateLimiter>,
}

/// The decision id of an ack route, `/v1/decisions/{id}/ack`.
pub fn route(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/decisions/")?
        .strip_suffix("/ack")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

impl From<AckError> for Problem {
    fn from(e: AckError) -> Problem {
        match e {
            AckError::UnknownDecision(_) => Problem::not_found(e.to_string()),
            AckError::NotAwaiting(_) => Problem::new(
                409,
                "not-awaiting-ack",
                "Nothing to acknowledge",
                e.to_string(),
            ),
            AckError::NoTaskToken => Problem::internal(e.to_string()),
            AckError::Store(e) => e.into(),
            AckError::Workflow(_) => Problem::unavailable(e.to_string()),
        }
    }
}

impl AckApi {
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        crate::answer(&path, self.ack(&req).await)
    }

    async fn ack(&self, req: &Request) -> Result<Response, Problem> {
        let id = route(req.uri().path())
            .ok_or_else(|| Problem::not_found(format!("no route {}", req.uri().path())))?;
        if req.method() != http::Method::POST {
            return Err(Problem::method_not_allowed("POST"));
        }
        let key = crate::authorize(&self.auth, &self.limiter, req, Role::Admin).await?;
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
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= 2000 => Some(s.as_str()),
            Some(_) => {
                return Err(Problem::bad_request(
                    "invalid-body",
                    "`note` is a text of at most 2000 characters",
                ))
            }
        };
        Ok(match self.ack.acknowledge(id, &by, note).await? {
            Acked::Already => crate::json(
                200,
                &json!({"decision": id, "status": "already acknowledged"}),
            ),
            Acked::Answered => crate::json(
                202,
                &json!({"decision": id, "status": "acknowledged", "acked_by": by}),
            ),
        })
    }
}
