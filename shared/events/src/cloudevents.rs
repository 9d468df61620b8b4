//! CloudEvents 1.0 over HTTP: structured mode (`application/cloudevents+json`), batch mode
//! (`application/cloudevents-batch+json`) and binary mode (`ce-*` headers, the body is the
//! data), plus the webhook abuse-protection handshake.
//! <https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md>

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::{
    as_object, build_event, header, is_json_media, media_type, opt_str, opt_time, parse_json,
    req_str, Context, Format, Handshake, NormaliseError, Normalised, Request,
};

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";
/// Attributes with a place in the canonical envelope; every other one is an extension.
const ENVELOPE: [&str; 7] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "data",
];

pub(crate) fn is_cloudevents_media(mt: &str) -> bool {
    mt == STRUCTURED || mt == BATCH
}

pub(crate) fn normalise(
    req: &Request<'_>,
    ctx: &Context<'_>,
) -> Result<Normalised, NormaliseError> {
    normalise_as(req, ctx, Format::Cloudevents)
}

/// Normalises a CloudEvents request, labelling the events with `format` (Event Grid delivers
/// CloudEvents too).
pub(crate) fn normalise_as(
    req: &Request<'_>,
    ctx: &Context<'_>,
    format: Format,
) -> Result<Normalised, NormaliseError> {
    if req.method == http::Method::OPTIONS {
        return webhook_handshake(req);
    }
    let mt = media_type(req.headers);
    match mt.as_deref() {
        Some(STRUCTURED) => {
            let body = parse_json(req.body, ctx.limits.max_depth)?;
            Ok(Normalised::Events(vec![structured(&body, "", ctx, format)?]))
        }
        Some(BATCH) => batch(req, ctx, format),
        _ if header(req.headers, "ce-specversion").is_some() => binary(req, ctx, format, mt),
        None | Some("application/json") => {
            // Structured events sent as plain JSON: accepted when they say what they are.
            let body = parse_json(req.body, ctx.limits.max_depth)?;
            match &body {
                Value::Array(_) => batch(req, ctx, format),
                Value::Object(o) if o.contains_key("specversion") => {
                    Ok(Normalised::Events(vec![structured(&body, "", ctx, format)?]))
                }
                _ => Err(NormaliseError::MissingHeader {
                    name: "ce-specversion (binary mode), or send application/cloudevents+json".into(),
                }),
            }
        }
        Some(other) => Err(NormaliseError::MissingHeader {
            name: format!(
                "ce-specversion (a `{other}` body is only accepted in binary mode, with ce-* headers)"
            ),
        }),
    }
}

fn batch(
    req: &Request<'_>,
    ctx: &Context<'_>,
    format: Format,
) -> Result<Normalised, NormaliseError> {
    let body = parse_json(req.body, ctx.limits.max_depth)?;
    let list = body
        .as_array()
        .ok_or_else(|| NormaliseError::InvalidField {
            field: "body".into(),
            problem: format!(
                "a CloudEvents batch must be an array, found {}",
                crate::json_kind(&body)
            ),
        })?;
    if list.len() > ctx.limits.max_batch {
        return Err(NormaliseError::TooManyEvents {
            count: list.len(),
            limit: ctx.limits.max_batch,
        });
    }
    let events = list
        .iter()
        .enumerate()
        .map(|(i, e)| structured(e, &format!("[{i}]"), ctx, format))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Normalised::Events(events))
}

fn structured(
    v: &Value,
    path: &str,
    ctx: &Context<'_>,
    format: Format,
) -> Result<crate::Event, NormaliseError> {
    let obj = as_object(v, path)?;
    check_specversion(
        &req_str(obj, "specversion", path, 8)?,
        &crate::join(path, "specversion"),
    )?;
    let l = ctx.limits;
    let id = req_str(obj, "id", path, l.max_id_len)?;
    let source = event_grid_namespace(req_str(obj, "source", path, l.max_source_len)?, format);
    crate::check_len(&source, &crate::join(path, "source"), l.max_source_len)?;
    let event_type = req_str(obj, "type", path, l.max_type_len)?;
    let subject = opt_str(obj, "subject", path, l.max_subject_len)?;
    let time = opt_time(obj, "time", path)?.unwrap_or(ctx.received_at);
    if obj.contains_key("data") && obj.contains_key("data_base64") {
        return Err(NormaliseError::InvalidField {
            field: crate::join(path, "data_base64"),
            problem: "cannot be sent together with `data`".into(),
        });
    }
    let mut extensions = serde_json::Map::new();
    for (k, v) in obj {
        if ENVELOPE.contains(&k.as_str()) {
            continue;
        }
        if k == "data_base64" {
            let s = v.as_str().ok_or_else(|| NormaliseError::InvalidField {
                field: crate::join(path, k),
                problem: "must be a base64 string".into(),
            })?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| NormaliseError::InvalidField {
                    field: crate::join(path, k),
                    problem: format!("is not base64 ({e})"),
                })?;
            extensions.insert("data_encoding".into(), Value::String("base64".into()));
            continue;
        }
        if matches!(v, Value::Object(_) | Value::Array(_)) {
            return Err(NormaliseError::InvalidField {
                field: crate::join(path, k),
                problem: "is a CloudEvents attribute and must be a string, number or boolean"
                    .into(),
            });
        }
        extensions.insert(k.clone(), v.clone());
    }
    let data = obj
        .get("data")
        .or_else(|| obj.get("data_base64"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(build_event(
        format,
        id,
        source,
        event_type,
        subject,
        time,
        ctx,
        data,
        extensions,
        BTreeMap::new(),
    ))
}

fn binary(
    req: &Request<'_>,
    ctx: &Context<'_>,
    format: Format,
    mt: Option<String>,
) -> Result<Normalised, NormaliseError> {
    let h = req.headers;
    let l = ctx.limits;
    let get = |name: &str, max: usize| -> Result<Option<String>, NormaliseError> {
        match h.get(name) {
            None => Ok(None),
            Some(v) => {
                let raw = v.to_str().map_err(|_| NormaliseError::InvalidHeader {
                    name: name.into(),
                    problem: "is not visible ASCII".into(),
                })?;
                // Header values are percent-encoded per the HTTP binding (3.1.3.2).
                let s = urlencoding::decode(raw)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| raw.to_string());
                // An empty attribute is an absent one.
                if s.is_empty() {
                    return Ok(None);
                }
                crate::check_len(&s, name, max)?;
                Ok(Some(s))
            }
        }
    };
    let need = |name: &str, max: usize| -> Result<String, NormaliseError> {
        get(name, max)?.ok_or_else(|| NormaliseError::MissingHeader { name: name.into() })
    };
    check_specversion(&need("ce-specversion", 8)?, "ce-specversion")?;
    let id = need("ce-id", l.max_id_len)?;
    let source = event_grid_namespace(need("ce-source", l.max_source_len)?, format);
    crate::check_len(&source, "ce-source", l.max_source_len)?;
    let event_type = need("ce-type", l.max_type_len)?;
    let subject = get("ce-subject", l.max_subject_len)?;
    let time = match get("ce-time", 64)? {
        None => ctx.received_at,
        Some(t) => crate::parse_time(&t).map_err(|problem| NormaliseError::InvalidHeader {
            name: "ce-time".into(),
            problem,
        })?,
    };
    let mut extensions = serde_json::Map::new();
    for (name, _) in h.iter() {
        let n = name.as_str();
        if let Some(attr) = n.strip_prefix("ce-") {
            if ["specversion", "id", "source", "type", "subject", "time"].contains(&attr) {
                continue;
            }
            if let Some(v) = get(n, 4096)? {
                extensions.insert(attr.to_string(), Value::String(v));
            }
        }
    }
    let data = match mt.as_deref() {
        _ if req.body.is_empty() => Value::Null,
        None => parse_json(req.body, l.max_depth)?,
        Some(m) if is_json_media(m) => parse_json(req.body, l.max_depth)?,
        Some(m) if m.starts_with("text/") => match std::str::from_utf8(req.body) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => {
                return Err(NormaliseError::InvalidField {
                    field: "body".into(),
                    problem: format!("is declared `{m}` but is not UTF-8"),
                })
            }
        },
        Some(_) => {
            extensions.insert("data_encoding".into(), Value::String("base64".into()));
            Value::String(base64::engine::general_purpose::STANDARD.encode(req.body))
        }
    };
    if let Some(m) = mt {
        extensions.insert("datacontenttype".into(), Value::String(m));
    }
    Ok(Normalised::Events(vec![build_event(
        format,
        id,
        source,
        event_type,
        subject,
        time,
        ctx,
        data,
        extensions,
        BTreeMap::new(),
    )]))
}

/// Through Event Grid, a source outside the Azure namespace is the publisher's claim, kept
/// under `eventgrid:` (see [`crate::sources`]).
fn event_grid_namespace(source: String, format: Format) -> String {
    if format == Format::Eventgrid {
        crate::sources::eventgrid_source(&source)
    } else {
        source
    }
}

fn check_specversion(v: &str, field: &str) -> Result<(), NormaliseError> {
    if v == "1.0" {
        Ok(())
    } else {
        Err(NormaliseError::InvalidField {
            field: field.into(),
            problem: format!("must be \"1.0\" (CloudEvents 1.0), found {v:?}"),
        })
    }
}

/// The abuse-protection handshake of the CloudEvents webhook spec: an `OPTIONS` request with
/// `WebHook-Request-Origin`, answered with `WebHook-Allowed-Origin`.
pub(crate) fn webhook_handshake(req: &Request<'_>) -> Result<Normalised, NormaliseError> {
    let origin = header(req.headers, "webhook-request-origin").ok_or_else(|| {
        NormaliseError::MissingHeader {
            name: "WebHook-Request-Origin".into(),
        }
    })?;
    crate::check_len(origin, "WebHook-Request-Origin", 512)?;
    Ok(Normalised::Handshake(Handshake::WebhookOrigin {
        origin: origin.to_string(),
    }))
}
