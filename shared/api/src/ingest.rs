//! `POST /v1/events` and `POST /v1/hooks/{source}`: the HTTP side of accepting events.
//!
//! For each request, in this order: authenticate (an API key with the `ingest` role, or the
//! source's own signature or token), apply the rate limit, then hand the delivery to
//! [`helios_app::intake::Intake`] (normalise, archive, record, publish) and answer with what
//! became of each event.

use std::sync::Arc;

use bytes::Bytes;
use helios_app::intake::{Accepted, Intake, Refused};
use helios_events::{Format, Handshake};
use helios_store::{ApiKey, Recorded, Role};
use serde_json::{json, Value};

use crate::{ApiKeyAuth, Problem, RateLimiter, Request, Response};

/// The ingest routes: the use case, and who may call it how often.
#[derive(Clone)]
pub struct IngestApi {
    pub intake: Arc<Intake>,
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
}

/// The trace a request continues: its W3C `traceparent` header when valid; in Lambda
/// behind API Gateway, the X-Ray trace of the invocation (so that the spans join the trace
/// X-Ray shows); otherwise a new one.
fn incoming_trace(headers: &http::HeaderMap) -> helios_ports::trace::TraceContext {
    use helios_ports::trace::TraceContext;
    headers
        .get(helios_ports::trace::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .or_else(|| {
            headers
                .get("x-amzn-trace-id")
                .and_then(|v| v.to_str().ok())
                .and_then(TraceContext::from_xray)
        })
        .or_else(|| {
            std::env::var("_X_AMZN_TRACE_ID")
                .ok()
                .and_then(|v| TraceContext::from_xray(&v))
        })
        .unwrap_or_else(TraceContext::root)
}

/// The route of a path, as spans name it: `/v1/events` or `/v1/hooks/{source}`.
fn route_of(path: &str) -> &'static str {
    if path.starts_with("/v1/hooks/") {
        "/v1/hooks/{source}"
    } else {
        "/v1/events"
    }
}

impl From<Refused> for Problem {
    fn from(e: Refused) -> Problem {
        match e {
            Refused::Invalid(e) => e.into(),
            Refused::SourceNotAllowed { .. } => {
                Problem::new(403, "source-not-allowed", "Forbidden", e.to_string())
            }
            Refused::Unavailable(what) => {
                tracing::error!(detail = what, "a port is unavailable");
                Problem::unavailable(what)
            }
            Refused::Schema(verdicts) => Problem::new(
                422,
                "schema-violation",
                "Events do not fit their schema",
                format!(
                    "{} event(s) do not fit the registered schema of their type, whose policy is `enforce`; nothing was stored",
                    verdicts.len()
                ),
            )
            .with_extension(
                "events",
                Value::Array(
                    verdicts
                        .iter()
                        .map(|v| {
                            json!({
                                "index": v.index,
                                "source": v.source,
                                "type": v.event_type,
                                "schema": {"id": v.schema_id, "version": v.schema_version},
                                "violations": v.violations,
                            })
                        })
                        .collect(),
                ),
            ),
            Refused::Store(e) => e.into(),
        }
    }
}

impl IngestApi {
    /// Answers one request; never panics and never fails: every error is a problem response.
    ///
    /// Each request is a span, `ingest`, of the trace its `traceparent` header names, or of
    /// a new one (in Lambda, X-Ray's); the events it records carry that span's context.
    pub async fn handle(&self, req: Request) -> Response {
        use tracing::Instrument as _;
        let path = req.uri().path().to_string();
        let parent = incoming_trace(req.headers());
        let span = tracing::info_span!(
            "ingest",
            otel.kind = "server",
            http.request.method = %req.method(),
            http.route = %route_of(&path),
            http.response.status_code = tracing::field::Empty,
            trace_id = %parent.trace_id_hex(),
        );
        let trace = helios_ports::trace::follow(&span, &parent);
        let response = self
            .answer(req, &path, &trace)
            .instrument(span.clone())
            .await;
        span.record("http.response.status_code", response.status().as_u16());
        response
    }

    async fn answer(
        &self,
        req: Request,
        path: &str,
        trace: &helios_ports::trace::TraceContext,
    ) -> Response {
        match self.route(&req, trace).await {
            Ok(r) => r,
            Err(p) => {
                if p.status >= 500 {
                    tracing::error!(path = %path, status = p.status, detail = %p.detail, "ingest failed");
                } else {
                    tracing::info!(path = %path, status = p.status, problem = p.slug, detail = %p.detail, "request refused");
                }
                p.into_response_for(Some(path))
            }
        }
    }

    async fn route(
        &self,
        req: &Request,
        trace: &helios_ports::trace::TraceContext,
    ) -> Result<Response, Problem> {
        let path = req.uri().path();
        let format = if path == "/v1/events" {
            Format::Native
        } else if let Some(source) = path.strip_prefix("/v1/hooks/") {
            Format::from_hook(source).ok_or_else(|| {
                Problem::not_found(format!(
                    "no hook for source `{source}`; hooks exist for github, eventbridge, pubsub, eventgrid and cloudevents"
                ))
            })?
        } else {
            return Err(Problem::not_found(format!("no route {path}")));
        };
        let options_allowed = format == Format::Eventgrid || format == Format::Cloudevents;
        if req.method() != http::Method::POST
            && !(options_allowed && req.method() == http::Method::OPTIONS)
        {
            return Err(Problem::method_not_allowed(if options_allowed {
                "POST, OPTIONS"
            } else {
                "POST"
            }));
        }

        // Who is sending: a key with the ingest role, or a source that proves itself. Only
        // then is the request charged to its sender's rate limit: unauthenticated traffic
        // spends a budget of its own, per client address, and never a sender's.
        let (bucket, key) = match self.authenticate(req, format).await {
            Ok(sender) => sender,
            Err(p) if p.status == 401 => return Err(crate::unauthenticated(&self.limiter, req, p)),
            Err(p) => return Err(p),
        };
        self.limiter
            .check(&bucket.0, bucket.1)
            .map_err(Problem::rate_limited)?;
        let delivery = helios_events::Request {
            method: req.method(),
            headers: req.headers(),
            query: req.uri().query(),
            body: req.body(),
        };
        let (facts, recorded) = match self
            .intake
            .accept(&delivery, req.uri().path(), format, key.as_ref(), trace)
            .await?
        {
            Accepted::Handshake(h) => return Ok(handshake(h)),
            Accepted::Facts(facts, recorded) => (facts, recorded),
            Accepted::Replay { original, delivery } => {
                return Ok(crate::json(
                    200,
                    &json!({"events": [{"id": original, "source": "github", "source_id": delivery,
                        "status": "duplicate", "replay_of": original}]}),
                ))
            }
        };
        let mut items = Vec::with_capacity(facts.len());
        for (f, r) in facts.iter().zip(&recorded) {
            let mut item = json!({"id": f.event.helios_id, "source": f.event.source, "source_id": f.event.id, "status": r});
            if let Some(check) = &f.event.schema {
                item["schema"] =
                    json!({"id": check.id, "version": check.version, "valid": check.valid});
            }
            // Recorded, and held until an admin releases it (the `quarantine` policy).
            if let (Some(reason), Recorded::Accepted) = (&f.hold, r) {
                item["quarantined"] = Value::Bool(true);
                item["violations"] = reason["violations"].clone();
            }
            // A duplicate whose content differs from what was recorded says so: the status
            // stays `duplicate` (nothing was recorded, retrying changes nothing), and
            // `conflict` tells the sender that it reused an id.
            if *r == Recorded::Duplicate && self.intake.conflicts(&f.event).await {
                item["conflict"] = Value::Bool(true);
            }
            items.push(item);
        }
        // All duplicates: nothing new was accepted, so 200 rather than 202.
        let status = if recorded.contains(&Recorded::Accepted) {
            202
        } else {
            200
        };
        Ok(crate::json(status, &json!({ "events": items })))
    }

    /// The rate-limit bucket of an authenticated sender and its key (none for a hook), or
    /// why it is not one.
    async fn authenticate(
        &self,
        req: &Request,
        format: Format,
    ) -> Result<((String, Option<u32>), Option<ApiKey>), Problem> {
        if format.verified_by_source_secret() {
            helios_events::authenticate(
                format,
                &helios_events::Request {
                    method: req.method(),
                    headers: req.headers(),
                    query: req.uri().query(),
                    body: req.body(),
                },
                &self.intake.secrets,
            )?;
            return Ok(((format!("hook:{format}"), None), None));
        }
        let presented = ApiKeyAuth::presented(req.headers())
            .map(str::to_string)
            .or_else(|| {
                // The CloudEvents webhook spec (3.3.2) lets a sender that cannot set headers,
                // its validation handshake included, pass its token as `access_token`; hooks
                // take `token` too.
                (format == Format::Cloudevents)
                    .then(|| {
                        crate::query_param(req, "access_token")
                            .or_else(|| crate::query_param(req, "token"))
                    })
                    .flatten()
            });
        let key = self
            .auth
            .require_secret(presented.as_deref(), Role::Ingest)
            .await?;
        Ok(((key.id.clone(), key.rate_per_second), Some(key)))
    }
}

fn handshake(h: Handshake) -> Response {
    match h {
        Handshake::EventGridValidation { validation_code } => {
            crate::json(200, &json!({ "validationResponse": validation_code }))
        }
        Handshake::WebhookOrigin { origin } => http::Response::builder()
            .status(200)
            .header("webhook-allowed-origin", origin)
            .header("webhook-allowed-rate", "*")
            .header(http::header::ALLOW, "POST, OPTIONS")
            .body(Bytes::new())
            .unwrap_or_else(|_| Problem::internal("could not build the handshake").into_response()),
    }
}
