//! GitHub webhooks: the event name in `X-GitHub-Event`, the delivery GUID in
//! `X-GitHub-Delivery` (the id), and `X-Hub-Signature-256`, an HMAC-SHA256 of the raw body
//! with the webhook secret, checked in constant time before anything else is read.
//! <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::{
    build_event, header, media_type, parse_json, parse_time, query_param, Context, Format,
    NormaliseError, Normalised, Request,
};

pub(crate) fn normalise(
    req: &Request<'_>,
    ctx: &Context<'_>,
) -> Result<Normalised, NormaliseError> {
    let secret = ctx.secrets.github.as_deref().ok_or_else(|| {
        NormaliseError::Unauthenticated(
            "no webhook secret is configured for source `github` (set HELIOS_GITHUB_SECRET)".into(),
        )
    })?;
    verify_signature(req.headers, req.body, secret)?;

    let event_name = required_header(req.headers, "x-github-event")?;
    let delivery = required_header(req.headers, "x-github-delivery")?;
    crate::check_len(&delivery, "X-GitHub-Delivery", ctx.limits.max_id_len)?;
    crate::check_len(&event_name, "X-GitHub-Event", 64)?;

    let payload = match media_type(req.headers).as_deref() {
        None | Some("application/json") => parse_json(req.body, ctx.limits.max_depth)?,
        Some("application/x-www-form-urlencoded") => {
            let text = std::str::from_utf8(req.body)
                .map_err(|_| NormaliseError::MalformedJson("form body is not UTF-8".into()))?;
            let payload =
                query_param(Some(text), "payload").ok_or_else(|| NormaliseError::MissingField {
                    field: "payload".into(),
                })?;
            parse_json(payload.as_bytes(), ctx.limits.max_depth)?
        }
        Some(mt) => {
            return Err(NormaliseError::UnsupportedMediaType {
                got: mt.into(),
                expected: "application/json or application/x-www-form-urlencoded".into(),
            })
        }
    };
    let obj = crate::as_object(&payload, "")?;

    let action = obj.get("action").and_then(Value::as_str);
    let event_type = match action {
        Some(a) => format!("github.{event_name}.{a}"),
        None => format!("github.{event_name}"),
    };
    let repo = pointer_str(&payload, "/repository/full_name");
    let subject = repo
        .clone()
        .or_else(|| pointer_str(&payload, "/organization/login"));
    let time = event_time(&payload).unwrap_or(ctx.received_at);

    let mut correlation = BTreeMap::new();
    if let Some(r) = repo {
        correlation.insert("repository".into(), r);
    }
    if let Some(b) = branch(&payload) {
        correlation.insert("branch".into(), b);
    }
    if let Some(c) = commit(&payload) {
        correlation.insert("commit".into(), c);
    }
    let mut extensions = serde_json::Map::new();
    extensions.insert("github_event".into(), Value::String(event_name.clone()));
    if let Some(hook_id) = header(req.headers, "x-github-hook-id") {
        extensions.insert("github_hook_id".into(), Value::String(hook_id.into()));
    }

    Ok(Normalised::Events(vec![build_event(
        Format::Github,
        delivery,
        "github".into(),
        event_type,
        subject,
        time,
        ctx,
        payload,
        extensions,
        correlation,
    )]))
}

fn required_header(headers: &http::HeaderMap, name: &str) -> Result<String, NormaliseError> {
    match headers.get(name) {
        None => Err(NormaliseError::MissingHeader { name: name.into() }),
        Some(v) => v
            .to_str()
            .map(str::to_string)
            .map_err(|_| NormaliseError::InvalidHeader {
                name: name.into(),
                problem: "is not visible ASCII".into(),
            }),
    }
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the HMAC of the raw body.
fn verify_signature(
    headers: &http::HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<(), NormaliseError> {
    let sig = header(headers, "x-hub-signature-256").ok_or_else(|| {
        NormaliseError::Unauthenticated("missing X-Hub-Signature-256 header".into())
    })?;
    let hex_sig = sig.strip_prefix("sha256=").ok_or_else(|| {
        NormaliseError::Unauthenticated("X-Hub-Signature-256 must start with `sha256=`".into())
    })?;
    let expected = hex::decode(hex_sig).map_err(|_| {
        NormaliseError::Unauthenticated("X-Hub-Signature-256 is not hexadecimal".into())
    })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| NormaliseError::Unauthenticated("the github secret is unusable".into()))?;
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected).map_err(|_| {
        NormaliseError::Unauthenticated(
            "X-Hub-Signature-256 does not match the body signed with the github secret".into(),
        )
    })
}

/// The signature GitHub would send for `body` signed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn pointer_str(v: &Value, p: &str) -> Option<String> {
    v.pointer(p).and_then(Value::as_str).map(str::to_string)
}

/// When the thing the webhook reports happened: the most specific timestamp the payload has.
fn event_time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    const POINTERS: [&str; 10] = [
        "/workflow_run/updated_at",
        "/workflow_job/completed_at",
        "/workflow_job/started_at",
        "/check_run/completed_at",
        "/check_run/started_at",
        "/check_suite/updated_at",
        "/deployment_status/updated_at",
        "/deployment/updated_at",
        "/head_commit/timestamp",
        "/pull_request/updated_at",
    ];
    POINTERS
        .iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_str))
        .find_map(|s| parse_time(s).ok())
}

fn branch(v: &Value) -> Option<String> {
    [
        "/workflow_run/head_branch",
        "/workflow_job/head_branch",
        "/check_suite/head_branch",
        "/pull_request/head/ref",
    ]
    .iter()
    .find_map(|p| pointer_str(v, p))
    .or_else(|| pointer_str(v, "/ref").map(|r| r.trim_start_matches("refs/heads/").to_string()))
}

fn commit(v: &Value) -> Option<String> {
    [
        "/workflow_run/head_sha",
        "/workflow_job/head_sha",
        "/check_run/head_sha",
        "/check_suite/head_sha",
        "/deployment/sha",
        "/after",
        "/pull_request/head/sha",
    ]
    .iter()
    .find_map(|p| pointer_str(v, p))
}
