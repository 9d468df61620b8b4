//! Azure Event Grid webhooks, in both schemas a subscription can use:
//! - the Event Grid schema, an array of `{id, topic, subject, eventType, eventTime, data,
//!   dataVersion}`, whose subscription is validated by a `SubscriptionValidationEvent`
//!   answered with `{"validationResponse": code}`;
//! - the CloudEvents 1.0 schema, validated by the CloudEvents webhook abuse-protection
//!   handshake (`OPTIONS` with `WebHook-Request-Origin`).
//!
//! Authenticated by a shared token in the endpoint's query string (`?token=`).
//! <https://learn.microsoft.com/azure/event-grid/webhook-event-delivery>

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    as_object, build_event, cloudevents, media_type, opt_str, parse_json, pubsub::check_token,
    req_str, req_time, Context, Format, Handshake, NormaliseError, Normalised, Request,
};

const VALIDATION_EVENT: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";
/// The longest validation code echoed back (Event Grid sends a GUID, 36 characters).
const MAX_VALIDATION_CODE: usize = 128;

pub(crate) fn normalise(
    req: &Request<'_>,
    ctx: &Context<'_>,
) -> Result<Normalised, NormaliseError> {
    check_token(
        req,
        ctx.secrets.eventgrid.as_deref(),
        "eventgrid",
        "HELIOS_EVENTGRID_TOKEN",
    )?;
    if req.method == http::Method::OPTIONS {
        return cloudevents::webhook_handshake(req);
    }
    let mt = media_type(req.headers);
    match mt.as_deref() {
        Some(mt) if cloudevents::is_cloudevents_media(mt) => {
            return cloudevents::normalise_as(req, ctx, Format::Eventgrid)
        }
        None | Some("application/json") => {}
        Some(mt) => {
            return Err(NormaliseError::UnsupportedMediaType {
                got: mt.into(),
                expected: "application/json or application/cloudevents+json".into(),
            })
        }
    }
    let body = parse_json(req.body, ctx.limits.max_depth)?;
    let list = match &body {
        Value::Array(list) => list,
        other => {
            return Err(NormaliseError::InvalidField {
                field: "body".into(),
                problem: format!(
                    "must be an array of Event Grid events, found {}",
                    crate::json_kind(other)
                ),
            })
        }
    };
    // A JSON array of CloudEvents sent as plain application/json.
    if list
        .first()
        .and_then(Value::as_object)
        .is_some_and(|o| o.contains_key("specversion"))
    {
        return cloudevents::normalise_as(req, ctx, Format::Eventgrid);
    }
    if list.is_empty() {
        return Err(NormaliseError::EmptyBatch);
    }
    if list.len() > ctx.limits.max_batch {
        return Err(NormaliseError::TooManyEvents {
            count: list.len(),
            limit: ctx.limits.max_batch,
        });
    }
    for (i, e) in list.iter().enumerate() {
        let obj = as_object(e, &format!("[{i}]"))?;
        if obj.get("eventType").and_then(Value::as_str) == Some(VALIDATION_EVENT) {
            // Event Grid sends the validation event alone; answering it would drop the
            // other events of the batch without a word.
            if list.len() > 1 {
                return Err(NormaliseError::InvalidField {
                    field: format!("[{i}].eventType"),
                    problem: format!(
                        "is {VALIDATION_EVENT}, which Event Grid sends alone, but the batch holds {} events",
                        list.len()
                    ),
                });
            }
            let field = format!("[{i}].data.validationCode");
            let code = obj
                .get("data")
                .and_then(|d| d.get("validationCode"))
                .and_then(Value::as_str)
                .ok_or_else(|| NormaliseError::MissingField {
                    field: field.clone(),
                })?;
            // Event Grid's codes are GUIDs; the answer echoes the code, so it is bounded.
            crate::check_len(code, &field, MAX_VALIDATION_CODE)?;
            return Ok(Normalised::Handshake(Handshake::EventGridValidation {
                validation_code: code.to_string(),
            }));
        }
    }
    let events = list
        .iter()
        .enumerate()
        .map(|(i, e)| one(e, &format!("[{i}]"), ctx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Normalised::Events(events))
}

fn one(v: &Value, path: &str, ctx: &Context<'_>) -> Result<crate::Event, NormaliseError> {
    let obj = as_object(v, path)?;
    let l = ctx.limits;
    let id = req_str(obj, "id", path, l.max_id_len)?;
    let event_type = req_str(obj, "eventType", path, l.max_type_len)?;
    // Required by the Event Grid schema, but Azure itself sends `""` for events about no
    // particular resource (CustomEvents.json of its SDKs): empty is absent.
    let subject = opt_str(obj, "subject", path, l.max_subject_len)?;
    let time = req_time(obj, "eventTime", path)?;
    let topic = opt_str(obj, "topic", path, l.max_source_len)?;
    // Event Grid sends an empty dataVersion for many system topics.
    let version_of = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
    let data_version = version_of("dataVersion");
    let data = obj.get("data").cloned().unwrap_or(Value::Null);

    let mut extensions = serde_json::Map::new();
    if let Some(v) = data_version {
        extensions.insert("data_version".into(), Value::String(v));
    }
    if let Some(v) = version_of("metadataVersion") {
        extensions.insert("metadata_version".into(), Value::String(v));
    }
    let source =
        crate::sources::eventgrid_source(&topic.unwrap_or_else(|| "azure.eventgrid".into()));
    crate::check_len(&source, &crate::join(path, "topic"), l.max_source_len)?;
    Ok(build_event(
        Format::Eventgrid,
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
