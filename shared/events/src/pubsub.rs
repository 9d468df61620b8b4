//! Google Cloud Pub/Sub push subscriptions: `{"message": {"data": base64, "attributes",
//! "messageId", "publishTime", "orderingKey"?}, "subscription", "deliveryAttempt"?}`,
//! authenticated by a shared token in the push endpoint's query string (`?token=`).
//! <https://cloud.google.com/pubsub/docs/push>

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use crate::{
    as_object, build_event, opt_str, parse_json, req_str, req_time, require_json, Context, Format,
    NormaliseError, Normalised, Request,
};

pub(crate) fn normalise(
    req: &Request<'_>,
    ctx: &Context<'_>,
) -> Result<Normalised, NormaliseError> {
    check_token(
        req,
        ctx.secrets.pubsub.as_deref(),
        "pubsub",
        "HELIOS_PUBSUB_TOKEN",
    )?;
    require_json(req.headers, "application/json")?;
    let body = parse_json(req.body, ctx.limits.max_depth)?;
    let obj = as_object(&body, "")?;
    let message = as_object(
        obj.get("message")
            .ok_or_else(|| NormaliseError::MissingField {
                field: "message".into(),
            })?,
        "message",
    )?;
    let subscription = req_str(obj, "subscription", "", 512)?;
    let l = ctx.limits;
    // Pub/Sub sends both spellings; the camelCase one is documented.
    let id = match opt_str(message, "messageId", "message", l.max_id_len)? {
        Some(id) => id,
        None => req_str(message, "message_id", "message", l.max_id_len)?,
    };
    let time = req_time(message, "publishTime", "message")?;

    let attributes = match message.get("attributes") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !v.is_string() {
                    return Err(NormaliseError::InvalidField {
                        field: format!("message.attributes.{k}"),
                        problem: "must be a string (Pub/Sub attributes are strings)".into(),
                    });
                }
            }
            m.clone()
        }
        Some(other) => {
            return Err(NormaliseError::InvalidField {
                field: "message.attributes".into(),
                problem: format!("must be an object, found {}", crate::json_kind(other)),
            })
        }
    };
    // An empty attribute is an absent one.
    let attr = |k: &str| {
        attributes
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };

    let mut extensions = serde_json::Map::new();
    let data = match opt_str(message, "data", "message", usize::MAX)? {
        None => Value::Null,
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| NormaliseError::InvalidField {
                    field: "message.data".into(),
                    problem: format!("is not base64 ({e})"),
                })?;
            decode_data(&bytes, &b64, l.max_depth, &mut extensions)?
        }
    };

    let (project, sub_name) = split_subscription(&subscription);
    let source = format!("gcp.pubsub/{project}/{sub_name}");
    let event_type = attr("type")
        .or_else(|| attr("eventType"))
        .or_else(|| attr("ce-type"))
        .unwrap_or_else(|| "gcp.pubsub.message".into());
    crate::check_len(&event_type, "message.attributes.type", l.max_type_len)?;
    let ordering_key = opt_str(message, "orderingKey", "message", 1024)?;
    let subject = attr("subject")
        .or_else(|| attr("objectId"))
        .or_else(|| ordering_key.clone());
    if let Some(s) = &subject {
        crate::check_len(s, "message.attributes.subject", l.max_subject_len)?;
    }

    extensions.insert("subscription".into(), Value::String(subscription));
    if !attributes.is_empty() {
        extensions.insert("attributes".into(), Value::Object(attributes.clone()));
    }
    if let Some(n) = obj.get("deliveryAttempt").and_then(Value::as_u64) {
        extensions.insert("delivery_attempt".into(), n.into());
    }
    let mut correlation = BTreeMap::new();
    if let Some(k) = ordering_key {
        extensions.insert("ordering_key".into(), Value::String(k.clone()));
        correlation.insert("ordering_key".into(), k);
    }

    Ok(Normalised::Events(vec![build_event(
        Format::Pubsub,
        id,
        source,
        event_type,
        subject,
        time,
        ctx,
        data,
        extensions,
        correlation,
    )]))
}

/// The message body as JSON when it is JSON, as text when it is UTF-8, else left in base64.
fn decode_data(
    bytes: &[u8],
    b64: &str,
    depth: usize,
    extensions: &mut serde_json::Map<String, Value>,
) -> Result<Value, NormaliseError> {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        crate::check_depth(bytes, depth)?;
        return Ok(v);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Value::String(text.to_string())),
        Err(_) => {
            extensions.insert("data_encoding".into(), Value::String("base64".into()));
            Ok(Value::String(b64.to_string()))
        }
    }
}

/// `projects/P/subscriptions/S` → (P, S); anything else is kept whole.
fn split_subscription(s: &str) -> (&str, &str) {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "subscriptions", name] => (p, name),
        _ => ("-", s),
    }
}

/// Checks the shared token of a push source (`?token=` or the `X-Helios-Token` header) in
/// constant time.
pub(crate) fn check_token(
    req: &Request<'_>,
    expected: Option<&str>,
    source: &str,
    variable: &str,
) -> Result<(), NormaliseError> {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let expected = expected.ok_or_else(|| {
        NormaliseError::Unauthenticated(format!(
            "no token is configured for source `{source}` (set {variable})"
        ))
    })?;
    let given = crate::query_param(req.query, "token")
        .or_else(|| crate::header(req.headers, "x-helios-token").map(str::to_string))
        .ok_or_else(|| {
            NormaliseError::Unauthenticated(format!(
                "source `{source}` needs its token in the `token` query parameter or the X-Helios-Token header"
            ))
        })?;
    // Hashing first makes the comparison independent of the lengths too.
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        Err(NormaliseError::Unauthenticated(format!(
            "the token does not match the one configured for source `{source}`"
        )))
    }
}
