//! Every sample in `events/` normalised as the ingest handler would: valid ones give their
//! events with their data intact, invalid ones their specific error.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use helios_events::sample::{Credentials, ReplayError, Sample};
use helios_events::{
    normalise, Context, Format, Handshake, Limits, Normalised, Request, SourceSecrets,
};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn all_samples() -> Vec<(String, Sample)> {
    let mut out = Vec::new();
    let mut stack = vec![samples_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&p).unwrap();
                let name = p.strip_prefix(samples_dir()).unwrap().display().to_string();
                out.push((
                    name,
                    Sample::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn secrets() -> SourceSecrets {
    SourceSecrets {
        github: Some("gh-test-secret".into()),
        pubsub: Some("ps-test-token".into()),
        eventgrid: Some("eg-test-token".into()),
    }
}

fn run(sample: &Sample) -> Result<Normalised, helios_events::NormaliseError> {
    let creds = Credentials {
        api_key: Some("unused".into()),
        secrets: secrets(),
    };
    let prepared = sample.prepare(&creds).unwrap();
    let limits = Limits::default();
    let secrets = secrets();
    let ctx = Context {
        received_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
        secrets: &secrets,
        limits: &limits,
    };
    match prepared.normalise(&ctx) {
        Ok(n) => Ok(n),
        Err(ReplayError::Normalise(e)) => Err(e),
        Err(ReplayError::Request(m)) => panic!("sample {}: {m}", sample.description),
    }
}

#[test]
fn every_sample_normalises_as_it_expects() {
    let samples = all_samples();
    assert!(
        samples.len() >= 30,
        "expected the samples of events/, found {}",
        samples.len()
    );
    let mut checked = 0;
    for (name, sample) in &samples {
        let status = sample.expect["status"].as_u64().unwrap();
        // Missing API keys are the handler's to refuse; the normaliser never sees them.
        if sample.expect["problem"] == "unauthenticated" && sample.request.path == "/v1/events" {
            continue;
        }
        match (run(sample), status) {
            (Ok(Normalised::Events(events)), 202) => {
                assert_eq!(
                    events.len() as u64,
                    sample.expect["events"].as_u64().unwrap(),
                    "{name}"
                );
                for e in &events {
                    assert!(e.helios_id.starts_with("evt_"), "{name}");
                    assert!(
                        !e.source.is_empty() && !e.id.is_empty() && !e.event_type.is_empty(),
                        "{name}"
                    );
                }
            }
            (
                Ok(Normalised::Handshake(Handshake::EventGridValidation { validation_code })),
                200,
            ) => {
                assert_eq!(
                    validation_code,
                    sample.expect["validation_response"].as_str().unwrap(),
                    "{name}"
                );
            }
            (Ok(Normalised::Handshake(Handshake::WebhookOrigin { origin })), 200) => {
                assert_eq!(
                    origin,
                    sample.expect["allowed_origin"].as_str().unwrap(),
                    "{name}"
                );
            }
            (Err(e), s) if s >= 400 => {
                assert_eq!(e.status() as u64, s, "{name}: {e}");
                assert_eq!(
                    e.slug(),
                    sample.expect["problem"].as_str().unwrap(),
                    "{name}: {e}"
                );
                let want = sample.expect["detail_contains"].as_str().unwrap();
                assert!(
                    e.to_string().contains(want),
                    "{name}: {e:?} should mention {want:?}"
                );
            }
            (other, s) => panic!("{name}: expected {s}, got {other:?}"),
        }
        checked += 1;
    }
    assert!(checked >= 30);
}

fn events_of(name: &str) -> Vec<helios_events::Event> {
    let (_, sample) = all_samples().into_iter().find(|(n, _)| n == name).unwrap();
    match run(&sample).unwrap() {
        Normalised::Events(e) => e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn native_batch_keeps_order_data_and_fraction_of_seconds() {
    let events = events_of("native/valid/batch.json");
    let ids: Vec<_> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "deploy-7781-start",
            "hb-db-1-20261120T0920",
            "deploy-7781-done"
        ]
    );
    let last = &events[2];
    assert_eq!(
        helios_events::format_time(&last.time),
        "2026-11-20T09:26:41.250Z"
    );
    assert_eq!(last.data["unicode"], "zoë ✓");
    assert!(last.data["nothing"].is_null());
    assert_eq!(last.correlation["subject"], "web/prod");
}

#[test]
fn github_workflow_run_becomes_typed_event_with_correlation_keys() {
    let e = &events_of("github/valid/workflow_run-failure.json")[0];
    assert_eq!(e.source, "github");
    assert_eq!(e.id, "6b7f0a80-c6b1-11f0-9c2e-3d1a7e5b2f41");
    assert_eq!(e.event_type, "github.workflow_run.completed");
    assert_eq!(e.subject.as_deref(), Some("acme/web"));
    assert_eq!(helios_events::format_time(&e.time), "2026-11-20T09:14:03Z");
    assert_eq!(e.correlation["branch"], "main");
    assert_eq!(
        e.correlation["commit"],
        "9f1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5"
    );
    assert_eq!(e.data["workflow_run"]["conclusion"], "failure");
    let push = &events_of("github/valid/push.json")[0];
    assert_eq!(push.event_type, "github.push");
    assert_eq!(push.correlation["branch"], "main");
}

#[test]
fn github_signature_over_other_bytes_is_refused() {
    let (_, mut sample) = all_samples()
        .into_iter()
        .find(|(n, _)| n == "github/valid/push.json")
        .unwrap();
    // Signed correctly, then one byte of the body changed in transit.
    let creds = Credentials {
        api_key: None,
        secrets: secrets(),
    };
    let mut prepared = sample.prepare(&creds).unwrap();
    let sig = prepared
        .headers
        .iter()
        .find(|(k, _)| k == "x-hub-signature-256")
        .unwrap()
        .1
        .clone();
    prepared.body[10] ^= 1;
    sample.request.body = None;
    sample.request.body_text = Some(String::from_utf8(prepared.body).unwrap());
    sample
        .request
        .headers
        .insert("x-hub-signature-256".into(), sig);
    sample.auth = helios_events::sample::SampleAuth::None;
    let err = run(&sample).unwrap_err();
    assert_eq!(err.status(), 401, "{err}");
}

#[test]
fn eventbridge_detail_becomes_data_and_envelope_becomes_extensions() {
    let e = &events_of("eventbridge/valid/cloudwatch-alarm.json")[0];
    assert_eq!(e.source, "aws.cloudwatch");
    assert_eq!(e.event_type, "CloudWatch Alarm State Change");
    assert_eq!(
        e.subject.as_deref(),
        Some("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web-5xx")
    );
    assert_eq!(e.data["state"]["value"], "ALARM");
    assert_eq!(e.extensions["account"], "123456789012");
    assert_eq!(e.extensions["region"], "eu-west-1");
}

#[test]
fn pubsub_data_is_decoded_from_base64() {
    let e = &events_of("pubsub/valid/gcs-object-finalize.json")[0];
    assert_eq!(e.source, "gcp.pubsub/acme-prod/helios-push");
    assert_eq!(e.id, "13207464810927365");
    assert_eq!(e.event_type, "OBJECT_FINALIZE");
    assert_eq!(e.subject.as_deref(), Some("reports/2026-11-20.csv"));
    assert_eq!(e.data["bucket"], "acme-uploads");
    assert_eq!(
        helios_events::format_time(&e.time),
        "2026-11-20T09:30:00.456Z"
    );
    let t = &events_of("pubsub/valid/text-message.json")[0];
    assert_eq!(t.data, "nightly backup finished in 312s");
    assert_eq!(t.event_type, "backup.finished");
    assert_eq!(t.correlation["ordering_key"], "db-1");
}

#[test]
fn eventgrid_schemas_both_normalise() {
    let e = &events_of("eventgrid/valid/blob-created.json")[0];
    assert_eq!(e.event_type, "Microsoft.Storage.BlobCreated");
    assert!(e.source.starts_with("/subscriptions/"));
    // Event Grid sends seven fraction digits; Helios keeps microseconds.
    assert_eq!(
        helios_events::format_time(&e.time),
        "2026-11-20T09:30:00.958410Z"
    );
    let c = &events_of("eventgrid/valid/cloudevents-schema.json")[0];
    assert_eq!(c.format, Format::Eventgrid);
    assert_eq!(c.id, "9aeb0fdf-c01e-0131-0922-9eb54906e209");
    assert_eq!(c.extensions["dataschema"], "#");
}

#[test]
fn cloudevents_binary_mode_reads_attributes_from_headers() {
    let e = &events_of("cloudevents/valid/binary.json")[0];
    assert_eq!(e.id, "C-88413");
    assert_eq!(e.event_type, "com.acme.orders.payment.succeeded");
    assert_eq!(e.extensions["acmetenant"], "eu-1");
    assert_eq!(e.data["amount"], 15.0);
    let batch = events_of("cloudevents/valid/batch.json");
    assert_eq!(batch[1].data, "cmV0cnkgMg==");
    assert_eq!(batch[1].extensions["data_encoding"], "base64");
    let s = &events_of("cloudevents/valid/structured.json")[0];
    assert_eq!(s.extensions["acmetenant"], "eu-1");
    assert_eq!(s.extensions["datacontenttype"], "application/json");
}

#[test]
fn over_a_mebibyte_is_refused_before_parsing() {
    let body = vec![b' '; 1024 * 1024 + 1];
    let headers = http::HeaderMap::new();
    let secrets = secrets();
    let limits = Limits::default();
    let ctx = Context {
        received_at: Utc::now(),
        secrets: &secrets,
        limits: &limits,
    };
    let req = Request {
        method: &http::Method::POST,
        headers: &headers,
        query: None,
        body: &body,
    };
    let err = normalise(Format::Native, &req, &ctx).unwrap_err();
    assert_eq!(err.status(), 413);
}

#[test]
fn unconfigured_source_secret_is_refused_with_the_variable_to_set() {
    let (_, sample) = all_samples()
        .into_iter()
        .find(|(n, _)| n == "github/valid/push.json")
        .unwrap();
    let prepared = sample
        .prepare(&Credentials {
            api_key: None,
            secrets: secrets(),
        })
        .unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in &prepared.headers {
        headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let none = SourceSecrets::default();
    let limits = Limits::default();
    let ctx = Context {
        received_at: Utc::now(),
        secrets: &none,
        limits: &limits,
    };
    let req = Request {
        method: &http::Method::POST,
        headers: &headers,
        query: None,
        body: &prepared.body,
    };
    let err = normalise(Format::Github, &req, &ctx).unwrap_err();
    assert!(err.to_string().contains("HELIOS_GITHUB_SECRET"), "{err}");
}
