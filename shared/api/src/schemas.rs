//! The schema registry's writes and checks, and the quarantine's releases and drops
//! ([`helios_app::registry`]); served by the ingest function in AWS, whose gate they change.
//! The reads (`GET /v1/schemas…`, `GET /v1/quarantine`) are the query function's.
//!
//! - `POST /v1/schemas/{source}/{type}/versions` `{"schema": {…}}`: registers the next
//!   version when it is compatible under the subject's mode: 201, or 200 when the same schema
//!   is a version already; 409 `incompatible-schema` with every breaking change and its
//!   pointer; 422 `invalid-schema` for what is not a usable JSON Schema. Admin.
//! - `POST /v1/schemas/{source}/{type}/check` `{"schema": {…}, "mode"?: "FULL"}`: the same
//!   check, nothing written. Read.
//! - `PUT /v1/schemas/{source}/{type}/settings` `{"mode"?: …, "policy"?: …}`. Admin.
//! - `POST /v1/quarantine/{id}/release` and `…/drop`. Admin.
//!
//! A subject's source and type are path segments, percent-encoded (`helios%2Fexpect`).

use std::sync::Arc;

use helios_app::registry::{
    Checked, HeldFacts, Policy, Registry, RegistryError, ResolveError, Settings,
};
use helios_schemas::Mode;
use helios_store::{HoldStatus, Role};
use serde_json::{json, Value};

use crate::{ApiKeyAuth, Problem, RateLimiter, Request, Response};

pub struct SchemasApi {
    pub registry: Arc<Registry>,
    pub held: Arc<HeldFacts>,
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
}

/// A subject route, `/v1/schemas/{source}/{type}[/rest]`: the source and type decoded, and
/// the rest (`""`, `versions`, `versions/3`, …). `None` when the path is not one, or a
/// segment is not valid percent-encoded UTF-8.
pub fn subject_route(path: &str) -> Option<(String, String, &str)> {
    let rest = path.strip_prefix("/v1/schemas/")?;
    let mut parts = rest.splitn(3, '/');
    let source = decode_segment(parts.next()?)?;
    let event_type = decode_segment(parts.next()?)?;
    Some((source, event_type, parts.next().unwrap_or("")))
}

fn decode_segment(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    urlencoding::decode(s).ok().map(|c| c.into_owned())
}

/// The held fact of a quarantine route, `/v1/quarantine/{id}/{action}`.
fn held_route(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v1/quarantine/")?;
    let (id, action) = rest.split_once('/')?;
    (!id.is_empty() && !action.contains('/')).then_some((id, action))
}

impl From<RegistryError> for Problem {
    fn from(e: RegistryError) -> Problem {
        match e {
            RegistryError::Invalid(detail) => {
                Problem::new(422, "invalid-schema", "Not a usable schema", detail)
            }
            RegistryError::Incompatible {
                ref subject,
                mode,
                ref breaking,
            } => Problem::new(
                409,
                "incompatible-schema",
                "Incompatible schema",
                format!(
                    "the schema breaks the {mode} compatibility of {subject} in {} place(s); see `breaking`",
                    breaking.len()
                ),
            )
            .with_extension("mode", json!(mode))
            .with_extension("breaking", json!(breaking)),
            RegistryError::NotFound(detail) => Problem::not_found(detail),
            RegistryError::Store(e) => e.into(),
        }
    }
}

impl From<ResolveError> for Problem {
    fn from(e: ResolveError) -> Problem {
        match e {
            ResolveError::NotHeld(_) => Problem::not_found(e.to_string()),
            ResolveError::Resolved { .. } => {
                Problem::new(409, "not-held", "Not held", e.to_string())
            }
            ResolveError::Store(e) => e.into(),
        }
    }
}

/// A subject's settings as the API shows them.
pub fn settings_json(s: &Settings) -> Value {
    json!({"mode": s.mode, "policy": s.policy, "set": s.set})
}

fn checked_json(c: &Checked) -> Value {
    json!({
        "compatible": c.compatible,
        "mode": c.mode,
        "against": c.against,
        "breaking": c.breaking,
    })
}

/// The body's JSON object, or a 400.
fn body_object(req: &Request) -> Result<serde_json::Map<String, Value>, Problem> {
    match serde_json::from_slice::<Value>(req.body()) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Problem::bad_request(
            "invalid-body",
            "the body is a JSON object",
        )),
        Err(e) => Err(Problem::bad_request(
            "invalid-body",
            format!("the body is not JSON: {e}"),
        )),
    }
}

fn schema_of(body: &serde_json::Map<String, Value>) -> Result<Value, Problem> {
    body.get("schema").cloned().ok_or_else(|| {
        Problem::bad_request(
            "invalid-body",
            "the body holds the schema as `schema`: {\"schema\": {…}}",
        )
    })
}

fn mode_of(v: Option<&Value>) -> Result<Option<Mode>, Problem> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|e: helios_schemas::UnknownMode| {
                Problem::bad_request("invalid-body", e.to_string())
            }),
        Some(_) => Err(Problem::bad_request(
            "invalid-body",
            "`mode` is a compatibility mode's name",
        )),
    }
}

impl SchemasApi {
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        crate::answer(&path, self.route(&req).await)
    }

    async fn route(&self, req: &Request) -> Result<Response, Problem> {
        let path = req.uri().path();
        if let Some((id, action)) = held_route(path) {
            let to = match action {
                "release" => HoldStatus::Released,
                "drop" => HoldStatus::Dropped,
                _ => return Err(Problem::not_found(format!("no route {path}"))),
            };
            if req.method() != http::Method::POST {
                return Err(Problem::method_not_allowed("POST"));
            }
            let key = crate::authorize(&self.auth, &self.limiter, req, Role::Admin).await?;
            let held = self.held.resolve(id, to, &key.name).await?;
            return Ok(crate::json(200, &json!(held)));
        }
        let (source, event_type, rest) =
            subject_route(path).ok_or_else(|| Problem::not_found(format!("no route {path}")))?;
        let method = req.method().as_str();
        match (rest, method) {
            ("versions", "POST") => {
                crate::authorize(&self.auth, &self.limiter, req, Role::Admin).await?;
                let body = body_object(req)?;
                let registered = self
                    .registry
                    .register(&source, &event_type, schema_of(&body)?)
                    .await?;
                let status = if registered.created { 201 } else { 200 };
                Ok(crate::json(status, &json!(registered)))
            }
            ("check", "POST") => {
                crate::authorize(&self.auth, &self.limiter, req, Role::Read).await?;
                let body = body_object(req)?;
                let mode = mode_of(body.get("mode"))?;
                let checked = self
                    .registry
                    .check(&source, &event_type, &schema_of(&body)?, mode)
                    .await?;
                Ok(crate::json(200, &checked_json(&checked)))
            }
            ("settings", "PUT") => {
                crate::authorize(&self.auth, &self.limiter, req, Role::Admin).await?;
                let body = body_object(req)?;
                if let Some(k) = body.keys().find(|k| *k != "mode" && *k != "policy") {
                    return Err(Problem::bad_request(
                        "invalid-body",
                        format!("unknown setting `{k}`; a subject has `mode` and `policy`"),
                    ));
                }
                let mode = mode_of(body.get("mode"))?;
                let policy = match body.get("policy") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(Policy::parse(s).ok_or_else(|| {
                        Problem::bad_request(
                            "invalid-body",
                            format!("`{s}` is not a policy (enforce, quarantine or observe)"),
                        )
                    })?),
                    Some(_) => {
                        return Err(Problem::bad_request(
                            "invalid-body",
                            "`policy` is enforce, quarantine or observe",
                        ))
                    }
                };
                let settings = self
                    .registry
                    .configure(&source, &event_type, mode, policy)
                    .await?;
                Ok(crate::json(
                    200,
                    &json!({"source": source, "type": event_type, "settings": settings_json(&settings)}),
                ))
            }
            ("versions" | "check", _) => Err(Problem::method_not_allowed("POST")),
            ("settings", _) => Err(Problem::method_not_allowed("PUT")),
            _ => Err(Problem::not_found(format!("no route {path}"))),
        }
    }
}

#[async_trait::async_trait]
impl crate::router::Handle for SchemasApi {
    async fn handle(&self, req: Request) -> Response {
        SchemasApi::handle(self, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_routes_decode_each_segment() {
        assert_eq!(
            subject_route("/v1/schemas/helios%2Fexpect/CloudWatch%20Alarm/versions/3"),
            Some((
                "helios/expect".to_string(),
                "CloudWatch Alarm".to_string(),
                "versions/3"
            ))
        );
        assert_eq!(
            subject_route("/v1/schemas/ci/build"),
            Some(("ci".to_string(), "build".to_string(), ""))
        );
        assert_eq!(subject_route("/v1/schemas/ci"), None);
        assert_eq!(subject_route("/v1/schemas//build"), None);
        assert_eq!(subject_route("/v1/schemas/%FF/build"), None);
        assert_eq!(
            held_route("/v1/quarantine/abc/release"),
            Some(("abc", "release"))
        );
        assert_eq!(held_route("/v1/quarantine//release"), None);
        assert_eq!(held_route("/v1/quarantine/abc"), None);
    }
}
