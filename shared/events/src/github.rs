//! GitHub webhooks: the event name in `X-GitHub-Event`, the delivery GUID in
//! `X-GitHub-Delivery` (the id), and `X-Hub-Signature-256`, an HMAC-SHA256 of the raw body
//! with the webhook secret, checked in constant time before anything else is read.
//! <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
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
    authenticate(req, ctx.secrets)?;

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
    let subject = subject(&payload);
    let time = event_time(&payload, &event_name, action).unwrap_or(ctx.received_at);
    let mut correlation = correlation(&payload, &event_name);
    if let Some(r) = repo {
        correlation.insert("repository".into(), r);
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

/// Checks the delivery's signature with the configured secret.
pub(crate) fn authenticate(
    req: &Request<'_>,
    secrets: &crate::SourceSecrets,
) -> Result<(), NormaliseError> {
    let secret = secrets.github.as_deref().ok_or_else(|| {
        NormaliseError::Unauthenticated(
            "no webhook secret is configured for source `github` (set HELIOS_GITHUB_SECRET)".into(),
        )
    })?;
    verify_signature(req.headers, req.body, secret)
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

/// What the delivery is about: the repository, else the organisation, else the account the
/// event concerns (an app installation, a Marketplace purchase, a sponsorship), the advisory,
/// and last the user who caused it (`github_app_authorization` carries only the sender).
fn subject(v: &Value) -> Option<String> {
    [
        "/repository/full_name",
        "/organization/login",
        "/installation/account/login",
        "/marketplace_purchase/account/login",
        "/sponsorship/sponsorable/login",
        "/security_advisory/ghsa_id",
        "/enterprise/slug",
        "/sender/login",
    ]
    .iter()
    .find_map(|p| pointer_str(v, p).filter(|s| !s.is_empty()))
}

/// When the thing the webhook reports happened, read from the payload for each event family;
/// `None` (the delivery's receipt time) when the payload has no time of its own. Timestamps of
/// the repository or of older objects (when the repository was created, when an issue was
/// opened before this comment) are never taken for the event's.
///
/// `push` has no time of the push but `repository.pushed_at` (seconds since the epoch in
/// push payloads, RFC 3339 elsewhere); the head commit's `timestamp` is when it was written,
/// possibly days before it was pushed.
fn event_time(v: &Value, event: &str, action: Option<&str>) -> Option<DateTime<Utc>> {
    let action = action.unwrap_or("");
    let pointers: &[&str] = match (event, action) {
        ("push" | "create" | "delete", _) => &["/repository/pushed_at"],
        ("workflow_run", _) => &["/workflow_run/updated_at"],
        ("workflow_job", _) => &[
            "/workflow_job/completed_at",
            "/workflow_job/started_at",
            "/workflow_job/created_at",
        ],
        ("check_run", _) => &["/check_run/completed_at", "/check_run/started_at"],
        ("deployment_review" | "deployment_protection_rule", _) => {
            &["/workflow_job_run/updated_at", "/workflow_run/updated_at"]
        }
        ("issues", _) => &["/issue/updated_at"],
        ("issue_comment" | "commit_comment" | "pull_request_review_comment", _)
        | ("discussion_comment", _) => &["/comment/updated_at", "/comment/created_at"],
        ("pull_request_review", _) => &["/review/submitted_at"],
        ("pull_request_review_thread", _) => &["/pull_request/updated_at"],
        ("release", _) => &["/release/published_at", "/release/created_at"],
        ("code_scanning_alert" | "dependabot_alert" | "secret_scanning_alert", "created") => {
            &["/alert/created_at"]
        }
        ("code_scanning_alert" | "dependabot_alert", "fixed") => {
            &["/alert/fixed_at", "/alert/updated_at"]
        }
        ("code_scanning_alert", "closed_by_user") | ("dependabot_alert", "dismissed") => {
            &["/alert/dismissed_at", "/alert/updated_at"]
        }
        ("secret_scanning_alert", "resolved") => &["/alert/resolved_at", "/alert/updated_at"],
        ("code_scanning_alert" | "dependabot_alert" | "secret_scanning_alert", _) => {
            &["/alert/updated_at"]
        }
        ("repository_vulnerability_alert", "dismiss") => &["/alert/dismissed_at"],
        ("repository_vulnerability_alert", "create") => &["/alert/created_at"],
        ("deploy_key", "created") => &["/key/created_at"],
        ("fork", _) => &["/forkee/created_at"],
        ("installation", "created") => &["/installation/created_at"],
        ("installation", "suspend") => &["/installation/suspended_at"],
        ("installation", "unsuspend" | "new_permissions_accepted") => &["/installation/updated_at"],
        ("marketplace_purchase", _) => &["/effective_date"],
        ("sponsorship", "created") => &["/sponsorship/created_at"],
        ("sponsorship", _) => &["/effective_date"],
        ("security_advisory", "published") => &["/security_advisory/published_at"],
        ("security_advisory", "withdrawn") => &["/security_advisory/withdrawn_at"],
        ("security_advisory", _) => &["/security_advisory/updated_at"],
        ("star", "created") => &["/starred_at"],
        ("status", _) => &["/updated_at", "/created_at"],
        ("page_build", _) => &["/build/updated_at"],
        ("branch_protection_rule", "created" | "edited") => &["/rule/updated_at"],
        ("repository", "created") => &["/repository/created_at"],
        ("organization", "member_invited") => &["/invitation/created_at"],
        ("membership" | "member" | "team" | "team_add" | "public" | "label" | "gollum", _)
        | ("repository" | "ping" | "meta" | "watch" | "org_block", _)
        | ("installation" | "installation_repositories" | "merge_group", _)
        | ("workflow_dispatch" | "repository_dispatch" | "repository_import", _)
        | ("deploy_key" | "star" | "branch_protection_rule", _) => &[],
        // Every other event is named for its object, which carries its own times
        // (`project_card.updated_at`, `milestone.updated_at`, `deployment_status.updated_at`…).
        _ => {
            return [
                format!("/{event}/updated_at"),
                format!("/{event}/created_at"),
            ]
            .iter()
            .find_map(|p| time_at(v, p));
        }
    };
    pointers.iter().find_map(|p| time_at(v, p))
}

/// A timestamp of a GitHub payload: an RFC 3339 string, or seconds since the epoch (as
/// `repository.pushed_at` and `created_at` are in push payloads).
fn time_at(v: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    match v.pointer(pointer)? {
        Value::String(s) => parse_time(s).ok(),
        Value::Number(n) => {
            let t = DateTime::<Utc>::from_timestamp(n.as_i64()?, 0)?;
            // Within what the rest of Helios can store and read back.
            parse_time(&crate::format_time(&t)).ok()
        }
        _ => None,
    }
}

/// The keys that relate a delivery to others: the branch or the tag it is about, and the
/// commit. A tag is recorded as `tag`, never as a branch; a deletion has no commit (GitHub
/// sends forty zeros as the `after` of a deleted ref).
fn correlation(v: &Value, event: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let git_ref = match event {
        // `ref` is the bare name there, and `ref_type` says what it names.
        "create" | "delete" => {
            pointer_str(v, "/ref").map(|r| match v.pointer("/ref_type").and_then(Value::as_str) {
                Some("tag") => ("tag", r),
                _ => ("branch", r),
            })
        }
        _ => [
            "/workflow_run/head_branch",
            "/workflow_job/head_branch",
            "/check_suite/head_branch",
            "/pull_request/head/ref",
        ]
        .iter()
        .find_map(|p| pointer_str(v, p))
        .map(|b| ("branch", b))
        .or_else(|| {
            pointer_str(v, "/ref").map(|r| match r.strip_prefix("refs/tags/") {
                Some(tag) => ("tag", tag.to_string()),
                None => (
                    "branch",
                    r.strip_prefix("refs/heads/").unwrap_or(&r).to_string(),
                ),
            })
        }),
    };
    if let Some((kind, name)) = git_ref.filter(|(_, n)| !n.is_empty()) {
        out.insert(kind.to_string(), name);
    }
    if event == "release" {
        if let Some(tag) = pointer_str(v, "/release/tag_name").filter(|t| !t.is_empty()) {
            out.insert("tag".into(), tag);
        }
    }
    let commit = [
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
    .filter(|c| !c.is_empty() && !c.bytes().all(|b| b == b'0'));
    if let Some(c) = commit {
        out.insert("commit".into(), c);
    }
    out
}
