//! The real requests of `../shared/conformance/clients/` (written by GitHub, the CloudEvents
//! SDKs, Azure and Google; see its PROVENANCE.md), normalised directly: what each format
//! makes of the fields that `run.py` cannot judge from outside (the event's own time, tags,
//! the subject of account-level deliveries). `run.py` posts the same samples to a real
//! `helios dev` (tests/clients.rs). Read from there, never copied into the repository.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use helios_events::{
    normalise, Context, Event, Format, Limits, NormaliseError, Normalised, Request, SourceSecrets,
};
use serde_json::Value;

fn clients_dir() -> PathBuf {
    let dir = std::env::var_os("HELIOS_CLIENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/clients")
        });
    assert!(
        dir.join("run.py").is_file(),
        "the client corpus is not at {}: check out the project beside `shared/` (the layout of \
         the workspace), or set HELIOS_CLIENTS_DIR to the folder that holds run.py",
        dir.display()
    );
    dir
}

fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn github(name: &str) -> Result<Event, NormaliseError> {
    let body = std::fs::read(clients_dir().join("github").join(name)).unwrap();
    let secret = "corpus-secret";
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    let event = name.split('.').next().unwrap();
    headers.insert("x-github-event", event.parse().unwrap());
    headers.insert(
        "x-github-delivery",
        format!("delivery-{name}").parse().unwrap(),
    );
    headers.insert(
        "x-hub-signature-256",
        helios_events::github_signature(secret, &body)
            .parse()
            .unwrap(),
    );
    let secrets = SourceSecrets {
        github: Some(secret.into()),
        ..Default::default()
    };
    let limits = Limits::default();
    let req = Request {
        method: &http::Method::POST,
        headers: &headers,
        query: None,
        body: &body,
    };
    let ctx = Context {
        received_at: received_at(),
        secrets: &secrets,
        limits: &limits,
    };
    match normalise(Format::Github, &req, &ctx)? {
        Normalised::Events(mut e) => Ok(e.remove(0)),
        other => panic!("{name}: {other:?}"),
    }
}

fn github_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(clients_dir().join("github"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn payload(name: &str) -> Value {
    let body = std::fs::read(clients_dir().join("github").join(name)).unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn time_of(v: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    match v.pointer(pointer)? {
        Value::String(s) => helios_events::parse_time(s).ok(),
        Value::Number(n) => DateTime::from_timestamp(n.as_i64()?, 0),
        _ => None,
    }
}

#[test]
fn every_github_delivery_of_the_corpus_is_accepted_with_a_subject() {
    let names = github_names();
    assert_eq!(names.len(), 273, "the corpus has 273 GitHub deliveries");
    for name in &names {
        let e = github(name).unwrap_or_else(|err| panic!("{name}: {err}"));
        // Installation, Marketplace, sponsorship, advisory and app-authorization deliveries
        // have no repository or organisation: the account they are about is the subject.
        assert!(
            e.subject.as_deref().is_some_and(|s| !s.is_empty()),
            "{name}: no subject"
        );
    }
}

#[test]
fn github_deliveries_without_a_repository_take_the_account_they_are_about() {
    let cases = [
        ("installation.created.payload.json", "Codertocat"),
        ("installation_repositories.removed.payload.json", "octocat"),
        (
            "marketplace_purchase.cancelled.payload.json",
            "organizationUsername",
        ),
        ("sponsorship.created.payload.json", "octocat"),
        (
            "security_advisory.published.payload.json",
            "GHSA-rf4j-j272-fj86",
        ),
        ("github_app_authorization.revoked.payload.json", "octocat"),
    ];
    for (name, subject) in cases {
        assert_eq!(
            github(name).unwrap().subject.as_deref(),
            Some(subject),
            "{name}"
        );
    }
}

#[test]
fn github_time_is_the_events_own_time_from_the_payload() {
    // (delivery, where its time is): the time of what the webhook reports, never the
    // repository's or that of an older object.
    let cases = [
        ("issues.opened.payload.json", "/issue/updated_at"),
        ("issue_comment.created.payload.json", "/comment/updated_at"),
        ("release.published.payload.json", "/release/published_at"),
        (
            "pull_request.opened.payload.json",
            "/pull_request/updated_at",
        ),
        (
            "pull_request_review.submitted.payload.json",
            "/review/submitted_at",
        ),
        ("star.created.payload.json", "/starred_at"),
        ("status.payload.json", "/updated_at"),
        (
            "check_run.completed.payload.json",
            "/check_run/completed_at",
        ),
        (
            "workflow_job.completed.success.with-organization.payload.json",
            "/workflow_job/completed_at",
        ),
        (
            "workflow_run.completed.payload.json",
            "/workflow_run/updated_at",
        ),
        ("fork.payload.json", "/forkee/created_at"),
        (
            "project_card.moved.payload.json",
            "/project_card/updated_at",
        ),
        ("discussion.answered.payload.json", "/discussion/updated_at"),
        (
            "security_advisory.withdrawn.payload.json",
            "/security_advisory/withdrawn_at",
        ),
        (
            "marketplace_purchase.purchased.payload.json",
            "/effective_date",
        ),
        // The push time, in seconds since the epoch: not the head commit's authoring time.
        ("push.with-new-branch.payload.json", "/repository/pushed_at"),
    ];
    for (name, pointer) in cases {
        let v = payload(name);
        let want = time_of(&v, pointer).unwrap_or_else(|| panic!("{name} has no {pointer}"));
        assert_eq!(
            github(name).unwrap().time,
            want,
            "{name}: time from {pointer}"
        );
    }
    let push = payload("push.with-new-branch.payload.json");
    assert_ne!(
        time_of(&push, "/head_commit/timestamp"),
        time_of(&push, "/repository/pushed_at"),
        "the sample tells the push time from the commit time"
    );
}

#[test]
fn github_time_is_the_receipt_time_only_when_the_payload_has_none_of_its_own() {
    // A label or a membership change carries only the repository's timestamps.
    for name in ["label.created.payload.json", "member.added.payload.json"] {
        assert_eq!(github(name).unwrap().time, received_at(), "{name}");
    }
    // Counted over the corpus: a delivery falls back on the receipt time only when its
    // event family has no timestamp of its own in the payload.
    let fell_back: Vec<String> = github_names()
        .into_iter()
        .filter(|n| github(n).unwrap().time == received_at())
        .map(|n| n.split('.').next().unwrap().to_string())
        .collect();
    for family in &fell_back {
        assert!(
            [
                // Only the repository's (or the organisation's) timestamps.
                "label",
                "member",
                "membership",
                "team",
                "team_add",
                "public",
                "gollum",
                "repository",
                "ping",
                "meta",
                "watch",
                "org_block",
                "organization",
                "merge_group",
                "workflow_dispatch",
                "repository_dispatch",
                "repository_import",
                "installation_repositories",
                "github_app_authorization",
                // An action whose time the payload does not carry: an installation deleted,
                // a rule deleted, a star removed, an alert fixed or reopened (its
                // `created_at` is when it first appeared).
                "installation",
                "branch_protection_rule",
                "star",
                "code_scanning_alert",
                "secret_scanning_alert",
            ]
            .contains(&family.as_str()),
            "{family}: receipt time although its family has a time of its own"
        );
    }
}

#[test]
fn github_tags_are_correlated_as_tags_and_deletions_have_no_commit() {
    for name in [
        "create.payload.json",
        "delete.payload.json",
        "push.payload.json",
    ] {
        let e = github(name).unwrap();
        assert_eq!(
            e.correlation.get("tag").map(String::as_str),
            Some("simple-tag"),
            "{name}"
        );
        assert!(
            !e.correlation.contains_key("branch"),
            "{name}: {:?}",
            e.correlation
        );
        assert!(
            !e.correlation.contains_key("commit"),
            "{name}: a deleted ref has no commit: {:?}",
            e.correlation
        );
    }
    let branch_push = github("push.with-new-branch.payload.json").unwrap();
    assert_eq!(branch_push.correlation["branch"], "master");
    assert_eq!(
        branch_push.correlation["commit"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    let release = github("release.published.payload.json").unwrap();
    assert_eq!(release.correlation["tag"], "0.0.1");
}

fn post(
    format: Format,
    content_type: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Normalised, NormaliseError> {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", content_type.parse().unwrap());
    let secrets = SourceSecrets {
        eventgrid: Some("eg-token".into()),
        ..Default::default()
    };
    let limits = Limits::default();
    let req = Request {
        method: &http::Method::POST,
        headers: &headers,
        query,
        body,
    };
    let ctx = Context {
        received_at: received_at(),
        secrets: &secrets,
        limits: &limits,
    };
    normalise(format, &req, &ctx)
}

fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(clients_dir().join(path)).unwrap()
}

fn events(n: Normalised) -> Vec<Event> {
    match n {
        Normalised::Events(e) => e,
        other => panic!("not events: {other:?}"),
    }
}

#[test]
fn an_empty_subject_is_an_absent_one_in_event_grid_and_cloudevents() {
    // Azure's own samples: a custom event and a subscription deletion with `"subject": ""`.
    for name in [
        "CustomEvents.json",
        "EventGridSubscriptionDeletedEvent.json",
    ] {
        let body = corpus(&format!("eventgrid/{name}"));
        let body = if body.trim_ascii_start().starts_with(b"[") {
            body
        } else {
            [b"[".as_slice(), &body, b"]"].concat()
        };
        let got = events(
            post(
                Format::Eventgrid,
                "application/json",
                Some("token=eg-token"),
                &body,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}")),
        );
        assert!(got.iter().any(|e| e.subject.is_none()), "{name}: {got:?}");
    }
    // The same in the CloudEvents schema, as a batch.
    let got = events(
        post(
            Format::Eventgrid,
            "application/cloudevents-batch+json",
            Some("token=eg-token"),
            &corpus("eventgrid/CloudEventBinaryData.json"),
        )
        .unwrap(),
    );
    assert_eq!(got[0].subject, None);
    // A custom topic's own source, recorded under the Event Grid hook's namespace.
    assert_eq!(got[0].source, "eventgrid:contoso/items");
}

#[test]
fn an_empty_cloudevents_batch_is_valid_and_holds_no_events() {
    // CloudEvents JSON format, 4 (JSON Batch Format): "An empty array is a valid batch".
    let body = corpus("cloudevents/json-format.md.block13.json");
    let got = post(
        Format::Cloudevents,
        "application/cloudevents-batch+json",
        None,
        &body,
    )
    .unwrap();
    assert_eq!(got, Normalised::Events(vec![]));
    // Formats with no empty batch still refuse one.
    for (format, body) in [
        (Format::Native, &b"{\"events\": []}"[..]),
        (Format::Eventbridge, &b"[]"[..]),
        (Format::Eventgrid, &b"[]"[..]),
    ] {
        assert_eq!(
            post(format, "application/json", Some("token=eg-token"), body),
            Err(NormaliseError::EmptyBatch),
            "{format}"
        );
    }
}

#[test]
fn a_body_that_starts_with_a_byte_order_mark_is_read() {
    // Two samples of the CloudEvents SDKs start with EF BB BF (RFC 8259, 8.1: a parser may
    // ignore it).
    let batch = corpus("cloudevents/batch-body.json");
    assert!(batch.starts_with(b"\xEF\xBB\xBF"));
    let got = events(
        post(
            Format::Cloudevents,
            "application/cloudevents-batch+json",
            None,
            &batch,
        )
        .unwrap(),
    );
    assert!(!got.is_empty());
    let one = corpus("cloudevents/structured-mode-body-with-extension.json");
    assert!(one.starts_with(b"\xEF\xBB\xBF"));
    let got = events(
        post(
            Format::Cloudevents,
            "application/cloudevents+json",
            None,
            &one,
        )
        .unwrap(),
    );
    assert_eq!(got.len(), 1);
}
