//! Amazon EventBridge events, as an API destination or a relay delivers them: the envelope
//! with `version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`,
//! `detail`. One event per request, or an array of them.
//! <https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html>

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    as_object, build_event, opt_str, parse_json, req_str, req_time, require_json, Context, Format,
    NormaliseError, Normalised, Request,
};

pub(crate) fn normalise(
    req: &Request<'_>,
    ctx: &Context<'_>,
) -> Result<Normalised, NormaliseError> {
    require_json(req.headers, "application/json")?;
    let body = parse_json(req.body, ctx.limits.max_depth)?;
    let events = match &body {
        Value::Array(list) => {
            if list.is_empty() {
                return Err(NormaliseError::EmptyBatch);
            }
            if list.len() > ctx.limits.max_batch {
                return Err(NormaliseError::TooManyEvents {
                    count: list.len(),
                    limit: ctx.limits.max_batch,
                });
            }
            list.iter()
                .enumerate()
                .map(|(i, e)| one(e, &format!("[{i}]"), ctx))
                .collect::<Result<Vec<_>, _>>()?
        }
        _ => vec![one(&body, "", ctx)?],
    };
    Ok(Normalised::Events(events))
}

fn one(v: &Value, path: &str, ctx: &Context<'_>) -> Result<crate::Event, NormaliseError> {
    let obj = as_object(v, path)?;
    let l = ctx.limits;
    let id = req_str(obj, "id", path, l.max_id_len)?;
    let source = req_str(obj, "source", path, l.max_source_len)?;
    let detail_type = req_str(obj, "detail-type", path, l.max_type_len)?;
    let time = req_time(obj, "time", path)?;
    let account = req_str(obj, "account", path, 64)?;
    let region = req_str(obj, "region", path, 64)?;
    let version = opt_str(obj, "version", path, 16)?;
    let detail = match obj.get("detail") {
        None => {
            return Err(NormaliseError::MissingField {
                field: crate::join(path, "detail"),
            })
        }
        Some(d @ Value::Object(_)) => d.clone(),
        Some(d) => {
            return Err(NormaliseError::InvalidField {
                field: crate::join(path, "detail"),
                problem: format!("must be an object, found {}", crate::json_kind(d)),
            })
        }
    };
    let resources = match obj.get("resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| NormaliseError::InvalidField {
                        field: format!("{}[{i}]", crate::join(path, "resources")),
                        problem: "must be a string (an ARN)".into(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(NormaliseError::InvalidField {
                field: crate::join(path, "resources"),
                problem: format!(
                    "must be an array of ARNs, found {}",
                    crate::json_kind(other)
                ),
            })
        }
    };
    let subject = resources.first().cloned();

    let mut extensions = serde_json::Map::new();
    extensions.insert("account".into(), Value::String(account.clone()));
    extensions.insert("region".into(), Value::String(region.clone()));
    extensions.insert(
        "resources".into(),
        Value::Array(resources.iter().cloned().map(Value::String).collect()),
    );
    if let Some(v) = version {
        extensions.insert("eventbridge_version".into(), Value::String(v));
    }
    let mut correlation = BTreeMap::new();
    correlation.insert("account".into(), account);
    correlation.insert("region".into(), region);

    Ok(build_event(
        Format::Eventbridge,
        id,
        source,
        detail_type,
        subject,
        time,
        ctx,
        detail,
        extensions,
        correlation,
    ))
}
