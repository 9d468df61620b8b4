//! The native envelope: `{"id","source","type","time","subject"?,"data"}`, alone or in a
//! batch `{"events": […]}`. CloudEvents content types sent to `/v1/events` are accepted too.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    as_object, build_event, cloudevents, media_type, opt_str, parse_json, req_str, req_time,
    Context, Format, NormaliseError, Normalised, Request,
};

const FIELDS: [&str; 6] = ["id", "source", "type", "time", "subject", "data"];

pub(crate) fn normalise(
    req: &Request<'_>,
    ctx: &Context<'_>,
) -> Result<Normalised, NormaliseError> {
    match media_type(req.headers).as_deref() {
        None | Some("application/json") | Some("text/json") => {}
        Some(mt) if cloudevents::is_cloudevents_media(mt) => {
            return cloudevents::normalise(req, ctx);
        }
        Some(mt) => {
            return Err(NormaliseError::UnsupportedMediaType {
                got: mt.to_string(),
                expected: "application/json (or application/cloudevents+json)".into(),
            })
        }
    }
    let body = parse_json(req.body, ctx.limits.max_depth)?;
    let obj = as_object(&body, "")?;
    if let (Some(events), false) = (obj.get("events"), obj.contains_key("id")) {
        let list = events
            .as_array()
            .ok_or_else(|| NormaliseError::InvalidField {
                field: "events".into(),
                problem: format!("must be an array, found {}", crate::json_kind(events)),
            })?;
        if list.is_empty() {
            return Err(NormaliseError::EmptyBatch);
        }
        if list.len() > ctx.limits.max_batch {
            return Err(NormaliseError::TooManyEvents {
                count: list.len(),
                limit: ctx.limits.max_batch,
            });
        }
        if let Some(key) = obj.keys().find(|k| k.as_str() != "events") {
            return Err(unknown_field("", key));
        }
        let events = list
            .iter()
            .enumerate()
            .map(|(i, e)| one(e, &format!("events[{i}]"), ctx))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Normalised::Events(events));
    }
    Ok(Normalised::Events(vec![one(&body, "", ctx)?]))
}

pub(crate) fn one(
    v: &Value,
    path: &str,
    ctx: &Context<'_>,
) -> Result<crate::Event, NormaliseError> {
    let obj = as_object(v, path)?;
    if let Some(key) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(unknown_field(path, key));
    }
    let l = ctx.limits;
    let id = req_str(obj, "id", path, l.max_id_len)?;
    let source = req_str(obj, "source", path, l.max_source_len)?;
    let event_type = req_str(obj, "type", path, l.max_type_len)?;
    let time = req_time(obj, "time", path)?;
    let subject = opt_str(obj, "subject", path, l.max_subject_len)?;
    let data = obj
        .get("data")
        .cloned()
        .ok_or_else(|| NormaliseError::MissingField {
            field: crate::join(path, "data"),
        })?;
    Ok(build_event(
        Format::Native,
        id,
        source,
        event_type,
        subject,
        time,
        ctx,
        data,
        serde_json::Map::new(),
        BTreeMap::new(),
    ))
}

fn unknown_field(path: &str, key: &str) -> NormaliseError {
    NormaliseError::InvalidField {
        field: crate::join(path, key),
        problem: format!(
            "is not a field of the native envelope (expected one of {})",
            FIELDS.join(", ")
        ),
    }
}
