//! The canonical event of Helios and the normalisers that turn every supported source format
//! into it.
//!
//! Each normaliser is a pure function from a request (method, headers, query, body) and a
//! context (the time the request was received, the source secrets, the limits) to a list of
//! canonical events, a handshake to answer, or a specific [`NormaliseError`]. This crate does
//! no I/O and reads no clock: the caller passes `received_at` in, so that the same request
//! always normalises to the same events.
//!
//! Formats follow their publishers' documentation: CloudEvents 1.0 (JSON event format and
//! HTTP protocol binding, structured, batch and binary modes), GitHub webhooks (delivery
//! headers and `X-Hub-Signature-256`), the Amazon EventBridge event envelope, Google Cloud
//! Pub/Sub push subscriptions, and Azure Event Grid (its own schema, the CloudEvents schema,
//! and both validation handshakes).

mod cloudevents;
mod error;
mod event;
mod eventbridge;
mod eventgrid;
mod github;
mod json;
mod native;
mod pubsub;
pub mod sample;
pub mod sources;

pub use error::NormaliseError;
pub use event::{
    earliest_time, format_time, helios_id, parse_time, Event, SchemaCheck, SCHEMA_VERSION,
};
pub use github::sign as github_signature;
pub use json::{check_depth, parse_json};

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The source formats Helios understands, one normaliser each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Native,
    Github,
    Eventbridge,
    Pubsub,
    Eventgrid,
    Cloudevents,
}

impl Format {
    /// Every format, in the order the documentation lists them.
    pub const ALL: [Format; 6] = [
        Format::Native,
        Format::Github,
        Format::Eventbridge,
        Format::Pubsub,
        Format::Eventgrid,
        Format::Cloudevents,
    ];

    /// The format served at `POST /v1/hooks/{source}`, if `source` names one.
    pub fn from_hook(source: &str) -> Option<Format> {
        match source {
            "github" => Some(Format::Github),
            "eventbridge" => Some(Format::Eventbridge),
            "pubsub" => Some(Format::Pubsub),
            "eventgrid" => Some(Format::Eventgrid),
            "cloudevents" => Some(Format::Cloudevents),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Github => "github",
            Format::Eventbridge => "eventbridge",
            Format::Pubsub => "pubsub",
            Format::Eventgrid => "eventgrid",
            Format::Cloudevents => "cloudevents",
        }
    }

    /// Whether requests in this format authenticate with the source's own secret (a
    /// signature or a shared token) rather than a Helios API key: these are the sources
    /// whose senders cannot be configured to send an API key header.
    pub fn verified_by_source_secret(self) -> bool {
        matches!(self, Format::Github | Format::Pubsub | Format::Eventgrid)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Explicit limits on what one request may carry.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_batch: usize,
    pub max_depth: usize,
    pub max_id_len: usize,
    pub max_source_len: usize,
    pub max_type_len: usize,
    pub max_subject_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_batch: 100,
            max_depth: 64,
            max_id_len: 256,
            max_source_len: 1024,
            max_type_len: 256,
            max_subject_len: 1024,
        }
    }
}

/// Per-source secrets for the hooks that verify their sender themselves.
#[derive(Clone, Debug, Default)]
pub struct SourceSecrets {
    /// The webhook secret configured on the GitHub side (HMAC-SHA256 key).
    pub github: Option<String>,
    /// The shared token appended to the Pub/Sub push endpoint (`?token=`).
    pub pubsub: Option<String>,
    /// The shared token appended to the Event Grid webhook endpoint (`?token=`).
    pub eventgrid: Option<String>,
}

/// One HTTP request as a normaliser sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a http::Method,
    pub headers: &'a http::HeaderMap,
    /// The raw query string, without the `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// What a normaliser needs besides the request.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub received_at: DateTime<Utc>,
    pub secrets: &'a SourceSecrets,
    pub limits: &'a Limits,
}

/// What a request turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Normalised {
    /// Events to record, in the order they were sent.
    Events(Vec<Event>),
    /// A handshake to answer as it is, recording nothing.
    Handshake(Handshake),
}

/// Subscription handshakes, answered without storing anything.
#[derive(Clone, Debug, PartialEq)]
pub enum Handshake {
    /// Event Grid schema: answer `{"validationResponse": code}` with 200.
    EventGridValidation { validation_code: String },
    /// CloudEvents webhook abuse protection (`OPTIONS` with `WebHook-Request-Origin`):
    /// answer 200 with `WebHook-Allowed-Origin`.
    WebhookOrigin { origin: String },
}

/// Checks the credential of a format that authenticates with the source's own secret (the
/// GitHub signature, the Pub/Sub and Event Grid tokens); `Ok` for the others, which take an
/// API key. [`normalise`] checks it again; this lets the edge authenticate a request before
/// charging it to the source's rate limit, so that unauthenticated traffic cannot spend it.
pub fn authenticate(
    format: Format,
    req: &Request<'_>,
    secrets: &SourceSecrets,
) -> Result<(), NormaliseError> {
    match format {
        Format::Github => github::authenticate(req, secrets),
        Format::Pubsub => pubsub::check_token(
            req,
            secrets.pubsub.as_deref(),
            "pubsub",
            "HELIOS_PUBSUB_TOKEN",
        ),
        Format::Eventgrid => pubsub::check_token(
            req,
            secrets.eventgrid.as_deref(),
            "eventgrid",
            "HELIOS_EVENTGRID_TOKEN",
        ),
        Format::Native | Format::Eventbridge | Format::Cloudevents => Ok(()),
    }
}

/// Turns one request in `format` into canonical events, a handshake, or a specific error.
pub fn normalise(
    format: Format,
    req: &Request<'_>,
    ctx: &Context<'_>,
) -> Result<Normalised, NormaliseError> {
    if req.body.len() > ctx.limits.max_body_bytes {
        return Err(NormaliseError::TooLarge {
            size: req.body.len(),
            limit: ctx.limits.max_body_bytes,
        });
    }
    let out = match format {
        Format::Native => native::normalise(req, ctx)?,
        Format::Github => github::normalise(req, ctx)?,
        Format::Eventbridge => eventbridge::normalise(req, ctx)?,
        Format::Pubsub => pubsub::normalise(req, ctx)?,
        Format::Eventgrid => eventgrid::normalise(req, ctx)?,
        Format::Cloudevents => cloudevents::normalise(req, ctx)?,
    };
    if let Normalised::Events(events) = &out {
        // An empty list is refused by each format that has no empty batch (the native
        // envelope, EventBridge, Event Grid); a CloudEvents batch `[]` is valid (JSON event
        // format, 4: "an empty array is a valid batch") and is answered with no events.
        if events.len() > ctx.limits.max_batch {
            return Err(NormaliseError::TooManyEvents {
                count: events.len(),
                limit: ctx.limits.max_batch,
            });
        }
        for (i, e) in events.iter().enumerate() {
            check_key_chars(&e.source, "source", i, events.len())?;
            check_key_chars(&e.id, "id", i, events.len())?;
        }
    }
    Ok(out)
}

/// One native event given as JSON rather than in a request: what Helios emits itself (a
/// missed expectation, a reconciliation). Checked as `/v1/events` checks each event.
pub fn native_event(value: &serde_json::Value, ctx: &Context<'_>) -> Result<Event, NormaliseError> {
    let e = native::one(value, "", ctx)?;
    check_key_chars(&e.source, "source", 0, 1)?;
    check_key_chars(&e.id, "id", 0, 1)?;
    Ok(e)
}

/// Refuses a control character in a source or an id: the pair is the idempotency key and
/// is hashed as `source ‖ 0x00 ‖ id`, so a NUL inside either could make two events one.
fn check_key_chars(
    value: &str,
    field: &str,
    index: usize,
    count: usize,
) -> Result<(), NormaliseError> {
    match value.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(NormaliseError::InvalidField {
            field: if count > 1 {
                format!("{field} (event {index})")
            } else {
                field.to_string()
            },
            problem: format!(
                "holds the control character U+{:04X}; an event's source and id must not",
                c as u32
            ),
        }),
    }
}

// ---- helpers shared by the normalisers ------------------------------------------------

/// The media type of the request without parameters, lowercased; `None` when absent.
pub(crate) fn media_type(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

pub(crate) fn is_json_media(mt: &str) -> bool {
    mt == "application/json" || mt == "text/json" || mt.ends_with("+json")
}

/// Rejects anything but JSON (an absent content type is taken as JSON, as curl users expect).
pub(crate) fn require_json(
    headers: &http::HeaderMap,
    expected: &str,
) -> Result<(), NormaliseError> {
    match media_type(headers) {
        None => Ok(()),
        Some(mt) if is_json_media(&mt) => Ok(()),
        Some(mt) => Err(NormaliseError::UnsupportedMediaType {
            got: mt,
            expected: expected.to_string(),
        }),
    }
}

pub(crate) fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The value of one query parameter, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            let v = v.replace('+', " ");
            urlencoding::decode(&v).map(|c| c.into_owned()).unwrap_or(v)
        })
    })
}

/// Reads a required, non-empty string field within its length limit.
pub(crate) fn req_str(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    path: &str,
    max: usize,
) -> Result<String, NormaliseError> {
    match obj.get(key) {
        None | Some(serde_json::Value::Null) => Err(NormaliseError::MissingField {
            field: join(path, key),
        }),
        Some(v) => string_value(v, &join(path, key), max),
    }
}

/// Reads an optional string field within its length limit.
pub(crate) fn opt_str(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    path: &str,
    max: usize,
) -> Result<Option<String>, NormaliseError> {
    match obj.get(key) {
        // An empty optional field is an absent one, in every format (Azure sends
        // `"subject": ""` for events about no particular resource).
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => string_value(v, &join(path, key), max).map(Some),
    }
}

fn string_value(v: &serde_json::Value, field: &str, max: usize) -> Result<String, NormaliseError> {
    let s = v.as_str().ok_or_else(|| NormaliseError::InvalidField {
        field: field.to_string(),
        problem: format!("must be a string, found {}", json_kind(v)),
    })?;
    check_len(s, field, max)?;
    Ok(s.to_string())
}

pub(crate) fn check_len(s: &str, field: &str, max: usize) -> Result<(), NormaliseError> {
    if s.is_empty() {
        return Err(NormaliseError::InvalidField {
            field: field.to_string(),
            problem: "must not be empty".into(),
        });
    }
    if s.chars().count() > max {
        return Err(NormaliseError::InvalidField {
            field: field.to_string(),
            problem: format!("is longer than {max} characters"),
        });
    }
    Ok(())
}

pub(crate) fn req_time(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    path: &str,
) -> Result<DateTime<Utc>, NormaliseError> {
    let s = req_str(obj, key, path, 64)?;
    parse_time(&s).map_err(|problem| NormaliseError::InvalidField {
        field: join(path, key),
        problem,
    })
}

pub(crate) fn opt_time(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    path: &str,
) -> Result<Option<DateTime<Utc>>, NormaliseError> {
    match opt_str(obj, key, path, 64)? {
        None => Ok(None),
        Some(s) => parse_time(&s)
            .map(Some)
            .map_err(|problem| NormaliseError::InvalidField {
                field: join(path, key),
                problem,
            }),
    }
}

pub(crate) fn as_object<'a>(
    v: &'a serde_json::Value,
    path: &str,
) -> Result<&'a serde_json::Map<String, serde_json::Value>, NormaliseError> {
    v.as_object().ok_or_else(|| NormaliseError::InvalidField {
        field: if path.is_empty() {
            "body".into()
        } else {
            path.to_string()
        },
        problem: format!("must be a JSON object, found {}", json_kind(v)),
    })
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Builds a canonical event; every normaliser ends here so that ids and times are made one way.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_event(
    format: Format,
    id: String,
    source: String,
    event_type: String,
    subject: Option<String>,
    time: DateTime<Utc>,
    ctx: &Context<'_>,
    data: serde_json::Value,
    extensions: serde_json::Map<String, serde_json::Value>,
    mut correlation: BTreeMap<String, String>,
) -> Event {
    if let Some(s) = &subject {
        correlation
            .entry("subject".to_string())
            .or_insert_with(|| s.clone());
    }
    Event {
        helios_id: helios_id(&source, &id),
        id,
        source,
        event_type,
        subject,
        time: event::truncate_micros(time),
        received_at: event::truncate_micros(ctx.received_at),
        schema_version: SCHEMA_VERSION,
        format,
        extensions,
        correlation,
        data,
        schema: None,
        traceparent: None,
    }
}
