//! Hostile input found by probing `helios dev`, refused at the edge with the field at fault.

use chrono::{TimeZone, Utc};
use helios_events::{
    normalise, Context, Format, Handshake, Limits, NormaliseError, Normalised, Request,
    SourceSecrets,
};
use serde_json::json;

fn post(
    format: Format,
    headers: &[(&str, &str)],
    query: Option<&str>,
    body: &[u8],
) -> Result<Normalised, NormaliseError> {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    for (k, v) in headers {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let secrets = SourceSecrets {
        github: None,
        pubsub: Some("ps".into()),
        eventgrid: Some("eg".into()),
    };
    let limits = Limits::default();
    normalise(
        format,
        &Request {
            method: &http::Method::POST,
            headers: &h,
            query,
            body,
        },
        &Context {
            received_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            secrets: &secrets,
            limits: &limits,
        },
    )
}

fn invalid_field(r: Result<Normalised, NormaliseError>) -> (String, String) {
    match r {
        Err(NormaliseError::InvalidField { field, problem }) => (field, problem),
        Err(NormaliseError::InvalidHeader { name, problem }) => (name, problem),
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

const OUT_OF_RANGE: [&str; 2] = ["0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"];

#[test]
fn times_that_fall_outside_years_1_to_9999_in_utc_are_refused_in_every_format() {
    for t in OUT_OF_RANGE {
        let native = json!({"id": "1", "source": "s", "type": "t", "time": t, "data": {}});
        let (field, problem) = invalid_field(post(
            Format::Native,
            &[],
            None,
            native.to_string().as_bytes(),
        ));
        assert_eq!(field, "time");
        assert!(
            problem.contains("outside the years 0001 to 9999"),
            "{problem}"
        );

        let pubsub = json!({"subscription": "projects/p/subscriptions/s",
            "message": {"messageId": "1", "publishTime": t, "data": "e30="}});
        let (field, _) = invalid_field(post(
            Format::Pubsub,
            &[],
            Some("token=ps"),
            pubsub.to_string().as_bytes(),
        ));
        assert_eq!(field, "message.publishTime");

        let ce = json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "time": t});
        let (field, _) = invalid_field(post(
            Format::Cloudevents,
            &[("content-type", "application/cloudevents+json")],
            None,
            ce.to_string().as_bytes(),
        ));
        assert_eq!(field, "time");

        let (name, _) = invalid_field(post(
            Format::Cloudevents,
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "s"),
                ("ce-type", "t"),
                ("ce-time", t),
            ],
            None,
            b"{}",
        ));
        assert_eq!(name, "ce-time");

        let eg = json!([{"id": "1", "topic": "/subscriptions/x", "subject": "s",
            "eventType": "t", "eventTime": t, "data": {}, "dataVersion": "1"}]);
        let (field, _) = invalid_field(post(
            Format::Eventgrid,
            &[],
            Some("token=eg"),
            eg.to_string().as_bytes(),
        ));
        assert_eq!(field, "[0].eventTime");
    }
}

#[test]
fn a_control_character_in_a_source_or_an_id_is_refused() {
    // `source ‖ 0x00 ‖ id` is hashed into the Helios id: ("a\0b", "c") and ("a", "b\0c")
    // would be one event.
    for (source, id, field) in [("a\u{0}b", "c", "source"), ("a", "b\u{0}c", "id")] {
        let body = json!({"id": id, "source": source, "type": "t",
            "time": "2026-12-01T00:00:00Z", "data": {}});
        let (f, problem) =
            invalid_field(post(Format::Native, &[], None, body.to_string().as_bytes()));
        assert_eq!(f, field);
        assert!(problem.contains("U+0000"), "{problem}");
    }
    // Percent-encoded in a binary CloudEvent's header.
    let (f, _) = invalid_field(post(
        Format::Cloudevents,
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", "x%00y"),
            ("ce-source", "s"),
            ("ce-type", "t"),
        ],
        None,
        b"{}",
    ));
    assert_eq!(f, "id");
    // In a batch, the event is named.
    let body = json!({"events": [
        {"id": "1", "source": "s", "type": "t", "time": "2026-12-01T00:00:00Z", "data": {}},
        {"id": "2\u{1b}", "source": "s", "type": "t", "time": "2026-12-01T00:00:00Z", "data": {}}]});
    let (f, problem) = invalid_field(post(Format::Native, &[], None, body.to_string().as_bytes()));
    assert_eq!(f, "id (event 1)");
    assert!(problem.contains("U+001B"), "{problem}");
}

#[test]
fn a_pubsub_subject_attribute_keeps_the_subject_limit() {
    let long = "s".repeat(1025);
    let body = json!({"subscription": "projects/p/subscriptions/s",
        "message": {"messageId": "1", "publishTime": "2026-12-01T00:00:00Z",
                    "attributes": {"subject": long}}});
    let (field, problem) = invalid_field(post(
        Format::Pubsub,
        &[],
        Some("token=ps"),
        body.to_string().as_bytes(),
    ));
    assert_eq!(field, "message.attributes.subject");
    assert!(problem.contains("1024"), "{problem}");
}

#[test]
fn the_event_grid_validation_code_is_bounded_and_never_drops_a_batch() {
    let validation = |code: &str| {
        json!({"id": "v", "topic": "/subscriptions/x", "subject": "",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-12-01T00:00:00Z", "data": {"validationCode": code},
            "dataVersion": "1"})
    };
    let ok = post(
        Format::Eventgrid,
        &[],
        Some("token=eg"),
        json!([validation("512d38b6-c7b8-40c8-89fe-f46f9e9622b6")])
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        ok,
        Ok(Normalised::Handshake(Handshake::EventGridValidation {
            validation_code: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6".into()
        }))
    );
    let (field, _) = invalid_field(post(
        Format::Eventgrid,
        &[],
        Some("token=eg"),
        json!([validation(&"x".repeat(100_000))])
            .to_string()
            .as_bytes(),
    ));
    assert_eq!(field, "[0].data.validationCode");
    // A validation event among others would answer the handshake and drop the others.
    let other = json!({"id": "e1", "topic": "/subscriptions/x", "subject": "s",
        "eventType": "t", "eventTime": "2026-12-01T00:00:00Z", "data": {}, "dataVersion": "1"});
    let (field, problem) = invalid_field(post(
        Format::Eventgrid,
        &[],
        Some("token=eg"),
        json!([other, validation("c")]).to_string().as_bytes(),
    ));
    assert_eq!(field, "[1].eventType");
    assert!(problem.contains("alone"), "{problem}");
}
