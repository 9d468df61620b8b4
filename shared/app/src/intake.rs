//! Accepting events: what ingest does once it knows who is sending (normalise, check the
//! sender may speak for the sources, archive the raw delivery, record the facts with their
//! outbox rows in one transaction, publish), and emitting Helios's own events (a missed
//! expectation, a reconciliation) through the same path, typed, with no made-up request.
//!
//! A delivery that fails any step before the transaction stores nothing; once the
//! transaction commits, the events are durable and will be published, inline here or later
//! by the outbox relay, so an accepted event is never lost.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use helios_events::sources::Speaker;
use helios_events::{
    normalise, Context, Event, Format, Handshake, Limits, NormaliseError, Normalised, SourceSecrets,
};
use helios_ports::store::{ApiKey, Facts, NewFact, Outbox, RawRef, Recorded, StoreError};
use helios_ports::{BlobStore, Clock, Condition, KeyValue, Publisher, Written};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use crate::outbox::{BackgroundPublisher, PublishMode};
use crate::registry::{Policy, SchemaGate, Verdict};

/// Everything accepting events depends on, built once per process.
#[derive(Clone)]
pub struct Intake {
    pub facts: Arc<dyn Facts>,
    pub outbox: Arc<dyn Outbox>,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: Arc<dyn Publisher>,
    /// Remembers the bodies of GitHub deliveries for [`GITHUB_REPLAY_WINDOW`].
    pub kv: Arc<dyn KeyValue>,
    pub clock: Arc<dyn Clock>,
    pub secrets: SourceSecrets,
    pub limits: Limits,
    /// The topic facts are published to.
    pub topic: String,
    pub publish: PublishMode,
    /// Checks events against their subject's registered schema.
    pub schemas: Arc<SchemaGate>,
}

/// What became of a delivery.
#[derive(Debug)]
pub enum Accepted {
    /// A handshake the sender expects an answer to (Event Grid, CloudEvents); nothing stored.
    Handshake(Handshake),
    /// The facts, with what became of each (accepted or a duplicate).
    Facts(Vec<NewFact>, Vec<Recorded>),
    /// A GitHub body already delivered under another delivery id: the event it was recorded
    /// as, and the delivery id of this request.
    Replay { original: String, delivery: String },
}

/// Why a delivery was not accepted; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not a delivery of its format, or a source the sender may not speak for.
    #[error(transparent)]
    Invalid(#[from] NormaliseError),
    /// The key's allow-list does not name the source of an event.
    #[error(
        "the API key {key} may send events of the sources {allowed} only, not `{event_source}`"
    )]
    SourceNotAllowed {
        key: String,
        allowed: String,
        event_source: String,
    },
    /// A port other than the store did not answer (the key-value store, the raw archive).
    #[error("{0}")]
    Unavailable(&'static str),
    /// Events of a subject under the `enforce` policy do not fit its schema: each with
    /// every violation.
    #[error("{} event(s) do not fit the registered schema of their type", .0.len())]
    Schema(Vec<Verdict>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why emitting failed: the events themselves (retrying cannot help), or a port that may
/// answer later.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
}

impl EmitError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmitError::Unavailable(_))
    }
}

/// How long the body of a GitHub delivery is remembered, so that the same body under a new
/// `X-GitHub-Delivery` is a replay. GitHub signs the body only (no delivery id, no time), so
/// whoever captured one signed delivery could replay it with a fresh id; GitHub itself
/// redelivers with the same id, for up to three days, which this window covers. After it, a
/// captured body is accepted again: the limit of GitHub's scheme.
pub const GITHUB_REPLAY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// Headers never written to the raw archive: they are credentials.
const REDACTED_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
    "x-helios-token",
    "x-hub-signature",
    "x-hub-signature-256",
    "aeg-sas-key",
];

/// Query parameters never written to the raw archive: the names senders put credentials
/// under (Helios's own `token` and `access_token`, and the usual others).
const REDACTED_QUERY: [&str; 10] = [
    "token",
    "access_token",
    "api_key",
    "apikey",
    "api-key",
    "key",
    "code",
    "sig",
    "signature",
    "secret",
];

impl Intake {
    /// Everything after authentication: normalise, check that `speaker` may speak for the
    /// events' sources, archive, record, publish.
    ///
    /// `path` is where it was delivered, kept in the raw archive with the request; `trace`
    /// the context the events carry (that of the request's span).
    pub async fn accept(
        &self,
        req: &helios_events::Request<'_>,
        path: &str,
        format: Format,
        key: Option<&ApiKey>,
        trace: &helios_ports::trace::TraceContext,
    ) -> Result<Accepted, Refused> {
        let body = req.body;
        let speaker = Speaker::of(format);
        let received_at = self.clock.now();
        let normalised = normalise(
            format,
            req,
            &Context {
                received_at,
                secrets: &self.secrets,
                limits: &self.limits,
            },
        )?;
        let mut events = match normalised {
            Normalised::Handshake(h) => return Ok(Accepted::Handshake(h)),
            // A valid empty batch (CloudEvents): nothing to archive or record.
            Normalised::Events(events) if events.is_empty() => {
                return Ok(Accepted::Facts(Vec::new(), Vec::new()))
            }
            Normalised::Events(events) => events,
        };
        let traceparent = trace.to_string();
        for e in &mut events {
            e.traceparent = Some(traceparent.clone());
        }
        helios_events::sources::check(speaker, &events, |source| {
            key.is_some_and(|k| k.may_use_hook_source(source))
        })?;
        // A key with an allow-list speaks for those sources only.
        if let Some(k) = key {
            if let Some(e) = events.iter().find(|e| !k.may_speak_for(&e.source)) {
                return Err(Refused::SourceNotAllowed {
                    key: k.id.clone(),
                    allowed: k.sources.as_deref().unwrap_or_default().join(", "),
                    event_source: e.source.clone(),
                });
            }
        }
        let verdicts = self.schemas.check(&mut events).await?;
        let refused: Vec<Verdict> = verdicts
            .iter()
            .filter(|v| v.policy == Policy::Enforce && !v.violations.is_empty())
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(Refused::Schema(refused));
        }
        if format == Format::Github {
            if let Some(original) = self.github_replay(body, &events[0]).await? {
                tracing::warn!(original = %original, delivery = %events[0].id, "a GitHub body was delivered again under another delivery id; answered as a duplicate");
                return Ok(Accepted::Replay {
                    original,
                    delivery: events[0].id.clone(),
                });
            }
        }

        let raw_key = self.archive(req, path, format, &events[0]).await?;
        let holds: HashMap<usize, Value> = verdicts
            .iter()
            .filter(|v| v.policy == Policy::Quarantine && !v.violations.is_empty())
            .map(|v| (v.index, hold_reason(v)))
            .collect();
        let (facts, recorded) = self.record(events, &raw_key, format, holds).await?;
        self.emit_drift(&facts, &recorded, &verdicts).await;
        Ok(Accepted::Facts(facts, recorded))
    }

    /// Records and publishes events Helios emits itself (a missed expectation, a
    /// reconciliation), each a native event as JSON: checked as `/v1/events` checks them,
    /// under Helios' own sources, archived as emitted. No HTTP request is made up for it.
    pub async fn emit(&self, events: &[Value]) -> Result<Vec<(String, Recorded)>, EmitError> {
        let received_at = self.clock.now();
        let ctx = Context {
            received_at,
            secrets: &self.secrets,
            limits: &self.limits,
        };
        let events: Vec<Event> = events
            .iter()
            .map(|v| helios_events::native_event(v, &ctx))
            .collect::<Result<_, _>>()
            .map_err(|e| EmitError::Invalid(e.to_string()))?;
        let Some(first) = events.first() else {
            return Ok(Vec::new());
        };
        helios_events::sources::check(Speaker::Helios, &events, |_| false)
            .map_err(|e| EmitError::Invalid(e.to_string()))?;
        let body = serde_json::to_vec(&json!({ "events": events }))
            .map_err(|e| EmitError::Invalid(e.to_string()))?;
        let raw_key = self
            .archive_envelope(
                &body,
                Format::Native,
                first,
                json!({"emitted_by": "helios"}),
            )
            .await
            .map_err(|e| EmitError::Unavailable(e.to_string()))?;
        let (facts, recorded) = self
            .record(events, &raw_key, Format::Native, HashMap::new())
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(e) => EmitError::Unavailable(e),
                e => EmitError::Invalid(e.to_string()),
            })?;
        Ok(facts
            .into_iter()
            .map(|f| f.event.helios_id)
            .zip(recorded)
            .collect())
    }

    /// The event a GitHub body was first recorded as, when this delivery carries it under
    /// another delivery id (a replay); `None` for a first delivery or GitHub's own
    /// redelivery (same id).
    async fn github_replay(&self, body: &[u8], event: &Event) -> Result<Option<String>, Refused> {
        let key = format!("github-body:{}", hex::encode(Sha256::digest(body)));
        let unavailable = |e: helios_ports::PortError| {
            tracing::error!(error = %e, "the key-value store is unavailable");
            Refused::Unavailable("the key-value store is unavailable; nothing was stored, retry")
        };
        let first = json!({ "event": event.helios_id });
        match self
            .kv
            .put(
                &key,
                first,
                Condition::NotExists,
                Some(GITHUB_REPLAY_WINDOW),
            )
            .await
            .map_err(unavailable)?
        {
            Written::Yes { .. } => Ok(None),
            Written::ConditionFailed => {
                let seen = self.kv.get(&key).await.map_err(unavailable)?;
                Ok(seen
                    .and_then(|i| i.value["event"].as_str().map(str::to_string))
                    .filter(|original| *original != event.helios_id))
            }
        }
    }

    /// Whether a duplicate `(source, id)` came with another content than the event recorded
    /// under it: still not recorded (the first one stands), but said, and logged, because a
    /// sender reusing ids for different events loses the later ones.
    pub async fn conflicts(&self, event: &Event) -> bool {
        let stored = match self.facts.get_fact(&event.helios_id).await {
            Ok(Some(f)) => f.event,
            // Recorded a moment ago by another request of the batch, or unreadable: the
            // duplicate answer stands.
            _ => return false,
        };
        // Not the time: for a format without one it is the receipt time, which differs on
        // every redelivery of the same event.
        let differs = stored.event_type != event.event_type
            || stored.subject != event.subject
            || stored.data != event.data;
        if differs {
            tracing::warn!(
                event_id = %event.helios_id, source = %event.source, id = %event.id,
                "an event arrived again under a recorded (source, id) with other content; the first one stands"
            );
        }
        differs
    }

    /// Records facts of `events`, whose raw form is archived at `raw_key`, and publishes
    /// those accepted (inline, or through the background publisher).
    async fn record(
        &self,
        events: Vec<Event>,
        raw_key: &str,
        format: Format,
        mut holds: HashMap<usize, Value>,
    ) -> Result<(Vec<NewFact>, Vec<Recorded>), StoreError> {
        let facts: Vec<NewFact> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| NewFact {
                hold: holds.remove(&i),
                event,
                raw: RawRef {
                    key: raw_key.to_string(),
                    index: i as u32,
                },
            })
            .collect();
        let recorded = {
            use tracing::Instrument as _;
            let span = tracing::info_span!("outbox.write", facts = facts.len());
            self.facts.record_facts(&facts).instrument(span).await?
        };

        // Held facts are published when released, not now.
        let accepted: Vec<&Event> = facts
            .iter()
            .zip(&recorded)
            .filter(|(f, r)| **r == Recorded::Accepted && f.hold.is_none())
            .map(|(f, _)| &f.event)
            .collect();
        for (f, r) in facts.iter().zip(&recorded) {
            tracing::debug!(event_id = %f.event.helios_id, source = %f.event.source, id = %f.event.id, status = ?r, "event recorded");
        }
        tracing::info!(format = %format, events = facts.len(), accepted = accepted.len(), "request recorded");
        if !accepted.is_empty() {
            match &self.publish {
                PublishMode::Inline => {
                    crate::outbox::publish_and_clear(
                        self.outbox.as_ref(),
                        self.publisher.as_ref(),
                        &self.topic,
                        &accepted,
                    )
                    .await
                }
                PublishMode::Background(p) => {
                    p.send(accepted.iter().map(|e| (*e).clone()).collect())
                }
            }
        }
        Ok((facts, recorded))
    }

    /// After a checked request is recorded (the store counts the violations of its facts
    /// per schema version as it records them): emits `helios.schema.drifted` for each place
    /// of a schema version where events were first seen to drift. It does not fail the
    /// request, whose events are recorded; a drift event that could not be written is
    /// logged, and emitted at the next drifting event.
    async fn emit_drift(&self, facts: &[NewFact], recorded: &[Recorded], verdicts: &[Verdict]) {
        let mut drifted: Vec<Value> = Vec::new();
        for v in verdicts {
            if recorded.get(v.index) != Some(&Recorded::Accepted) {
                continue;
            }
            let Some(fact) = facts.get(v.index) else {
                continue;
            };
            for d in &v.drift {
                let place = generalise(&d.pointer);
                let id = drift_id(&v.schema_id, &v.source, &v.event_type, &place, &d.kind);
                if !self.schemas.first_drift(&id) {
                    continue;
                }
                drifted.push(json!({
                    "source": DRIFT_SOURCE,
                    "id": id,
                    "type": DRIFT_TYPE,
                    "subject": format!("{} {}", v.source, v.event_type),
                    "time": helios_events::format_time(&fact.event.received_at),
                    "data": {
                        "source": v.source,
                        "type": v.event_type,
                        "schema_id": v.schema_id,
                        "schema_version": v.schema_version,
                        "policy": v.policy,
                        "pointer": place,
                        "kind": d.kind,
                        "message": d.message,
                        "event_id": fact.event.helios_id,
                    },
                }));
            }
        }
        if !drifted.is_empty() {
            match self.emit(&drifted).await {
                Ok(done) => {
                    tracing::info!(events = done.len(), "schema drift emitted");
                }
                Err(e) => {
                    // Not remembered as emitted: the next drifting event tries again.
                    for d in &drifted {
                        if let Some(id) = d["id"].as_str() {
                            self.schemas.forget_drift(id);
                        }
                    }
                    tracing::warn!(error = %e, "schema drift could not be emitted");
                }
            }
        }
    }

    /// Archives the request as received (credentials removed), so that a normalisation bug
    /// can be fixed and the request normalised again. Content-addressed: a duplicate request
    /// overwrites its own archive and nothing else.
    async fn archive(
        &self,
        req: &helios_events::Request<'_>,
        path: &str,
        format: Format,
        first: &Event,
    ) -> Result<String, Refused> {
        let headers: serde_json::Map<String, Value> = req
            .headers
            .iter()
            .filter(|(k, _)| !REDACTED_HEADERS.contains(&k.as_str()))
            .filter_map(|(k, v)| Some((k.to_string(), Value::String(v.to_str().ok()?.to_string()))))
            .collect();
        let query: Option<String> = req.query.map(|q| {
            q.split('&')
                .filter(|p| {
                    let name = p.split('=').next().unwrap_or_default();
                    let name = urlencoding::decode(name)
                        .map_or_else(|_| name.to_ascii_lowercase(), |n| n.to_ascii_lowercase());
                    !REDACTED_QUERY.contains(&name.as_str())
                })
                .collect::<Vec<_>>()
                .join("&")
        });
        let request = json!({
            "method": req.method.as_str(),
            "path": path,
            "query": query.filter(|q| !q.is_empty()),
            "headers": headers,
        });
        self.archive_envelope(req.body, format, first, request)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "raw archive failed");
                Refused::Unavailable("the raw archive is unavailable; nothing was stored, retry")
            })
    }

    /// Archives `body` with what else is known of how it came (`about`: the request's
    /// method, path and headers, or who emitted it), under a key addressed by its content.
    async fn archive_envelope(
        &self,
        body: &[u8],
        format: Format,
        first: &Event,
        about: Value,
    ) -> Result<String, helios_ports::PortError> {
        let digest = hex::encode(Sha256::digest(body));
        let key = format!(
            "raw/{}/{}/{}.json",
            first.received_at.format("%Y/%m/%d"),
            format,
            digest
        );
        let mut envelope = json!({
            "format": format,
            "received_at": helios_events::format_time(&first.received_at),
        });
        if let (Value::Object(e), Value::Object(a)) = (&mut envelope, about) {
            e.extend(a);
        }
        match std::str::from_utf8(body) {
            Ok(text) => envelope["body"] = Value::String(text.to_string()),
            Err(_) => {
                use base64_engine::Engine;
                envelope["body_base64"] = Value::String(base64_engine::STANDARD.encode(body))
            }
        }
        let bytes = serde_json::to_vec(&envelope)
            .map_err(|e| helios_ports::PortError::Invalid(e.to_string()))?;
        self.blobs
            .put(&key, Bytes::from(bytes), "application/json")
            .await?;
        Ok(key)
    }
}

/// The source and type of the events that say a subject's events drifted from its schema.
pub const DRIFT_SOURCE: &str = "helios/schemas";
pub const DRIFT_TYPE: &str = "helios.schema.drifted";

/// What a held fact is held for.
fn hold_reason(v: &Verdict) -> Value {
    json!({
        "schema": {"id": v.schema_id, "version": v.schema_version},
        "violations": v.violations,
    })
}

/// A pointer with its array indexes replaced by `*`, so that one place drifting in every
/// element of an array is one drift.
fn generalise(pointer: &str) -> String {
    pointer
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The id of the drift event of one place of one schema version: the same drift is one
/// event however often it is seen (the facts are unique by source and id).
fn drift_id(schema_id: &str, source: &str, event_type: &str, place: &str, kind: &str) -> String {
    let digest = Sha256::digest(json!([schema_id, source, event_type, place, kind]).to_string());
    format!("drift-{}", &hex::encode(digest)[..32])
}

mod base64_engine {
    pub use base64::engine::general_purpose::STANDARD;
    pub use base64::Engine;
}
