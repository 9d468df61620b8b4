//! The ingest handler: `POST /v1/events` and `POST /v1/hooks/{source}`.
//!
//! For each request, in this order: authenticate (an API key with the `ingest` role, or the
//! source's own signature or token), apply the rate limit, normalise (a pure function of the
//! request), archive the raw request, record the facts with their outbox rows in one
//! transaction, answer, publish. A request that fails any step before the transaction stores
//! nothing; once the transaction commits, the events are durable and will be published,
//! inline here or later by `relay`, so an acknowledged event is never lost.

use std::sync::Arc;

use bytes::Bytes;
use helios_api::{ApiKeyAuth, Problem, RateLimiter, Request, Response};
use helios_events::{
    normalise, Context, Event, Format, Handshake, Limits, Normalised, SourceSecrets,
};
use helios_ports::{BlobStore, Clock, Condition, KeyValue, Message, Publisher, Written};
use helios_store::{ApiKey, NewFact, RawRef, Recorded, Role, Store};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Everything the handler depends on, built once per process.
#[derive(Clone)]
pub struct Ingest {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: Arc<dyn Publisher>,
    /// Remembers the bodies of GitHub deliveries for [`GITHUB_REPLAY_WINDOW`].
    pub kv: Arc<dyn KeyValue>,
    pub clock: Arc<dyn Clock>,
    pub auth: Arc<ApiKeyAuth>,
    pub limiter: Arc<RateLimiter>,
    pub secrets: SourceSecrets,
    pub limits: Limits,
    /// The topic facts are published to.
    pub topic: String,
    pub publish: PublishMode,
}

impl Ingest {
    /// The ingress path as a Lambda runs it (the ingest function, and expect, which emits
    /// through it): the function's ports, publishing before answering.
    pub fn in_lambda(p: &helios_runtime::lambda::FunctionPorts) -> Ingest {
        Ingest {
            auth: Arc::new(ApiKeyAuth::new(
                p.store.clone(),
                helios_api::LAMBDA_KEY_CACHE,
            )),
            limiter: Arc::new(RateLimiter::new(helios_api::LAMBDA_DEFAULT_RATE)),
            store: p.store.clone(),
            blobs: p.blobs.clone(),
            publisher: p.publisher.clone(),
            kv: p.kv.clone(),
            clock: p.clock.clone(),
            secrets: p.secrets.clone(),
            limits: Default::default(),
            topic: helios_runtime::EVENTS_TOPIC.to_string(),
            publish: PublishMode::Inline,
        }
    }
}

/// When accepted facts are published. Either way the outbox row is written first, so a
/// publish that never happens loses nothing: `relay` does it.
#[derive(Clone, Debug)]
pub enum PublishMode {
    /// Before answering: in Lambda, work left after the answer may be frozen with the
    /// execution environment.
    Inline,
    /// After answering, by a task that publishes the facts of many requests together: a
    /// long-running server (`helios dev`) answers sooner and commits less.
    Background(BackgroundPublisher),
}

/// A task that publishes accepted facts in batches and clears them from the outbox.
#[derive(Clone, Debug)]
pub struct BackgroundPublisher {
    tx: tokio::sync::mpsc::UnboundedSender<Event>,
}

impl BackgroundPublisher {
    /// The most facts published in one batch.
    pub const MAX_BATCH: usize = 500;

    /// Starts the task on the current runtime; it ends when every handle is dropped.
    pub fn spawn(
        store: Arc<dyn Store>,
        publisher: Arc<dyn Publisher>,
        topic: String,
    ) -> BackgroundPublisher {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(Self::MAX_BATCH);
            while rx.recv_many(&mut batch, Self::MAX_BATCH).await > 0 {
                let refs: Vec<&Event> = batch.iter().collect();
                publish_and_clear(store.as_ref(), publisher.as_ref(), &topic, &refs).await;
                batch.clear();
            }
        });
        BackgroundPublisher { tx }
    }

    fn send(&self, events: Vec<Event>) {
        for e in events {
            if self.tx.send(e).is_err() {
                tracing::warn!(
                    "the background publisher has stopped; relay will publish from the outbox"
                );
                return;
            }
        }
    }
}

enum Accepted {
    Handshake(Handshake),
    Facts(Vec<NewFact>, Vec<Recorded>),
    /// A GitHub body already delivered under another delivery id: the event it was recorded
    /// as, and the delivery id of this request.
    Replay {
        original: String,
        delivery: String,
    },
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

impl Ingest {
    /// Answers one request; never panics and never fails: every error is a problem response.
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        match self.route(&req).await {
            Ok(r) => r,
            Err(p) => {
                if p.status >= 500 {
                    tracing::error!(path = %path, status = p.status, detail = %p.detail, "ingest failed");
                } else {
                    tracing::info!(path = %path, status = p.status, problem = p.slug, detail = %p.detail, "request refused");
                }
                p.into_response_for(Some(&path))
            }
        }
    }

    async fn route(&self, req: &Request) -> Result<Response, Problem> {
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
            Err(p) if p.status == 401 => {
                return Err(helios_api::unauthenticated(&self.limiter, req, p))
            }
            Err(p) => return Err(p),
        };
        self.limiter
            .check(&bucket.0, bucket.1)
            .map_err(Problem::rate_limited)?;
        let speaker = helios_events::sources::Speaker::of(format);
        let (facts, recorded) = match self.accept(req, format, speaker, key.as_ref()).await? {
            Accepted::Handshake(h) => return Ok(handshake(h)),
            Accepted::Facts(facts, recorded) => (facts, recorded),
            Accepted::Replay { original, delivery } => {
                return Ok(helios_api::json(
                    200,
                    &json!({"events": [{"id": original, "source": "github", "source_id": delivery,
                        "status": "duplicate", "replay_of": original}]}),
                ))
            }
        };
        let mut items = Vec::with_capacity(facts.len());
        for (f, r) in facts.iter().zip(&recorded) {
            let mut item = json!({"id": f.event.helios_id, "source": f.event.source, "source_id": f.event.id, "status": r});
            // A duplicate whose content differs from what was recorded says so: the status
            // stays `duplicate` (nothing was recorded, retrying changes nothing), and
            // `conflict` tells the sender that it reused an id.
            if *r == Recorded::Duplicate && self.conflicts(&f.event).await {
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
        Ok(helios_api::json(status, &json!({ "events": items })))
    }

    /// The event a GitHub body was first recorded as, when this delivery carries it under
    /// another delivery id (a replay); `None` for a first delivery or GitHub's own
    /// redelivery (same id).
    async fn github_replay(&self, body: &[u8], event: &Event) -> Result<Option<String>, Problem> {
        let key = format!("github-body:{}", hex::encode(Sha256::digest(body)));
        let unavailable = |e: helios_ports::PortError| {
            tracing::error!(error = %e, "the key-value store is unavailable");
            Problem::unavailable("the key-value store is unavailable; nothing was stored, retry")
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
    async fn conflicts(&self, event: &Event) -> bool {
        let stored = match self.store.get_fact(&event.helios_id).await {
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
                &self.secrets,
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
                        helios_api::query_param(req, "access_token")
                            .or_else(|| helios_api::query_param(req, "token"))
                    })
                    .flatten()
            });
        let key = self
            .auth
            .require_secret(presented.as_deref(), Role::Ingest)
            .await?;
        Ok(((key.id.clone(), key.rate_per_second), Some(key)))
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
        helios_events::sources::check(helios_events::sources::Speaker::Helios, &events, |_| false)
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
            .record(events, &raw_key, Format::Native)
            .await
            .map_err(|e| match e {
                helios_store::StoreError::Unavailable(e) => EmitError::Unavailable(e),
                e => EmitError::Invalid(e.to_string()),
            })?;
        Ok(facts
            .into_iter()
            .map(|f| f.event.helios_id)
            .zip(recorded)
            .collect())
    }

    /// Everything after authentication: normalise, check that `speaker` may speak for the
    /// events' sources, archive, record, publish.
    async fn accept(
        &self,
        req: &Request,
        format: Format,
        speaker: helios_events::sources::Speaker,
        key: Option<&ApiKey>,
    ) -> Result<Accepted, Problem> {
        let body = req.body();
        if body.len() > self.limits.max_body_bytes {
            return Err(Problem::too_large(body.len(), self.limits.max_body_bytes));
        }
        let received_at = self.clock.now();
        let normalised = normalise(
            format,
            &helios_events::Request {
                method: req.method(),
                headers: req.headers(),
                query: req.uri().query(),
                body,
            },
            &Context {
                received_at,
                secrets: &self.secrets,
                limits: &self.limits,
            },
        )?;
        let events = match normalised {
            Normalised::Handshake(h) => return Ok(Accepted::Handshake(h)),
            // A valid empty batch (CloudEvents): nothing to archive or record.
            Normalised::Events(events) if events.is_empty() => {
                return Ok(Accepted::Facts(Vec::new(), Vec::new()))
            }
            Normalised::Events(events) => events,
        };
        helios_events::sources::check(speaker, &events, |source| {
            key.is_some_and(|k| k.may_use_hook_source(source))
        })?;
        // A key with an allow-list speaks for those sources only.
        if let Some(k) = key {
            if let Some(e) = events.iter().find(|e| !k.may_speak_for(&e.source)) {
                return Err(Problem::new(
                    403,
                    "source-not-allowed",
                    "Forbidden",
                    format!(
                        "the API key {} may send events of the sources {} only, not `{}`",
                        k.id,
                        k.sources.as_deref().unwrap_or_default().join(", "),
                        e.source
                    ),
                ));
            }
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

        let raw_key = self.archive(req, format, &events[0]).await?;
        let (facts, recorded) = self.record(events, &raw_key, format).await?;
        Ok(Accepted::Facts(facts, recorded))
    }

    /// Records facts of `events`, whose raw form is archived at `raw_key`, and publishes
    /// those accepted (inline, or through the background publisher).
    async fn record(
        &self,
        events: Vec<Event>,
        raw_key: &str,
        format: Format,
    ) -> Result<(Vec<NewFact>, Vec<Recorded>), helios_store::StoreError> {
        let facts: Vec<NewFact> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| NewFact {
                event,
                raw: RawRef {
                    key: raw_key.to_string(),
                    index: i as u32,
                },
            })
            .collect();
        let recorded = self.store.record_facts(&facts).await?;

        let accepted: Vec<&Event> = facts
            .iter()
            .zip(&recorded)
            .filter(|(_, r)| **r == Recorded::Accepted)
            .map(|(f, _)| &f.event)
            .collect();
        for (f, r) in facts.iter().zip(&recorded) {
            tracing::debug!(event_id = %f.event.helios_id, source = %f.event.source, id = %f.event.id, status = ?r, "event recorded");
        }
        tracing::info!(format = %format, events = facts.len(), accepted = accepted.len(), "request recorded");
        if !accepted.is_empty() {
            match &self.publish {
                PublishMode::Inline => {
                    publish_and_clear(
                        self.store.as_ref(),
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

    /// Archives the request as received (credentials removed), so that a normalisation bug
    /// can be fixed and the request normalised again. Content-addressed: a duplicate request
    /// overwrites its own archive and nothing else.
    async fn archive(
        &self,
        req: &Request,
        format: Format,
        first: &Event,
    ) -> Result<String, Problem> {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .filter(|(k, _)| !REDACTED_HEADERS.contains(&k.as_str()))
            .filter_map(|(k, v)| Some((k.to_string(), Value::String(v.to_str().ok()?.to_string()))))
            .collect();
        let query: Option<String> = req.uri().query().map(|q| {
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
            "method": req.method().as_str(),
            "path": req.uri().path(),
            "query": query.filter(|q| !q.is_empty()),
            "headers": headers,
        });
        self.archive_envelope(req.body(), format, first, request)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "raw archive failed");
                Problem::unavailable("the raw archive is unavailable; nothing was stored, retry")
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

mod base64_engine {
    pub use base64::engine::general_purpose::STANDARD;
    pub use base64::Engine;
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

/// The message published for a fact: the canonical event, with the attributes that
/// subscription filter policies select on.
pub fn fact_message(e: &Event) -> Result<Message, serde_json::Error> {
    Ok(Message {
        body: serde_json::to_string(e)?,
        attributes: [
            ("helios_id".to_string(), e.helios_id.clone()),
            ("source".to_string(), e.source.clone()),
            ("type".to_string(), e.event_type.clone()),
            ("format".to_string(), e.format.to_string()),
        ]
        .into(),
    })
}

/// Publishes facts to `topic`; shared by the inline publish and `relay`.
pub async fn publish_facts(
    publisher: &dyn Publisher,
    topic: &str,
    events: &[&Event],
) -> Result<(), String> {
    let messages = events
        .iter()
        .map(|e| fact_message(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    publisher
        .publish(topic, &messages)
        .await
        .map_err(|e| e.to_string())
}

fn handshake(h: Handshake) -> Response {
    match h {
        Handshake::EventGridValidation { validation_code } => {
            helios_api::json(200, &json!({ "validationResponse": validation_code }))
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

/// Publishes accepted facts and takes them out of the outbox. A failure here loses nothing:
/// the facts stay in the outbox and `relay` publishes them.
async fn publish_and_clear(
    store: &dyn Store,
    publisher: &dyn Publisher,
    topic: &str,
    events: &[&Event],
) {
    match publish_facts(publisher, topic, events).await {
        Ok(()) => {
            let ids: Vec<String> = events.iter().map(|e| e.helios_id.clone()).collect();
            if let Err(e) = store.mark_published(&ids).await {
                tracing::warn!(error = %e, "published, but the outbox was not cleared; relay will publish again");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, count = events.len(), "publish failed; the facts stay in the outbox for relay")
        }
    }
}
