//! The transactional outbox end to end: an event acknowledged while publishing fails is
//! published later by the relay, once.

use helios_store::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::TimeZone;
use helios_api::ingest::IngestApi;
use helios_api::{ApiKeyAuth, RateLimiter};
use helios_app::intake::{Intake, PublishMode};
use helios_local::{FileBlobStore, LocalServices, QueueConfig};
use helios_ports::{Clock, ManualClock, Message, PortError, Publisher, Queue};
use helios_store::{Role, SqliteStore, Store};

/// A publisher that fails until told to work.
struct Flaky {
    up: AtomicBool,
    inner: LocalServices,
}

#[async_trait]
impl Publisher for Flaky {
    async fn publish(&self, topic: &str, messages: &[Message]) -> Result<(), PortError> {
        if self.up.load(Ordering::SeqCst) {
            self.inner.publish(topic, messages).await
        } else {
            Err(PortError::unavailable("publisher", "connection refused"))
        }
    }
}

#[tokio::test]
async fn an_event_acknowledged_while_publishing_fails_is_relayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
    ));
    let store = SqliteStore::open(&dir.path().join("helios.db")).unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let services = LocalServices::open(
        &dir.path().join("local.db"),
        clock.clone() as Arc<dyn Clock>,
    )
    .unwrap();
    services
        .create_queue("decide", QueueConfig::default())
        .await
        .unwrap();
    services.subscribe("events", "decide", None).await.unwrap();
    let publisher = Arc::new(Flaky {
        up: AtomicBool::new(false),
        inner: services.clone(),
    });
    let key = helios_app::keys::key_for(
        "hk_outbox_test_key_000",
        "t",
        Role::Ingest,
        None,
        clock.now(),
    )
    .unwrap();
    store.create_api_key(&key).await.unwrap();
    let ingest = IngestApi {
        intake: Arc::new(Intake {
            facts: store.clone(),
            outbox: store.clone(),
            blobs: Arc::new(FileBlobStore::open(dir.path().join("blobs")).unwrap()),
            publisher: publisher.clone(),
            kv: Arc::new(services.clone()),
            clock: clock.clone(),
            secrets: Default::default(),
            limits: Default::default(),
            topic: "events".into(),
            publish: PublishMode::Inline,
            schemas: Arc::new(helios_app::registry::SchemaGate::new(
                store.clone(),
                Duration::ZERO,
            )),
        }),
        auth: Arc::new(ApiKeyAuth::new(store.clone(), Duration::ZERO)),
        limiter: Arc::new(RateLimiter::new(100)),
    };
    let body =
        r#"{"id":"o-1","source":"app","type":"t","time":"2026-11-20T09:00:00Z","data":{"n":1}}"#;
    let req = http::Request::builder()
        .method("POST")
        .uri("/v1/events")
        .header("x-api-key", "hk_outbox_test_key_000")
        .header("content-type", "application/json")
        .body(Bytes::from_static(body.as_bytes()))
        .unwrap();
    let resp = ingest.handle(req).await;
    assert_eq!(
        resp.status(),
        202,
        "acknowledged although the publish failed"
    );
    assert_eq!(
        services.depth("decide").await.unwrap(),
        (0, 0),
        "nothing was published"
    );

    let grace = Duration::from_secs(30);
    let run = |p: Arc<Flaky>| {
        let (store, clock) = (store.clone(), clock.clone());
        async move {
            helios_app::outbox::relay_once(
                store.as_ref(),
                p.as_ref(),
                clock.as_ref(),
                "events",
                grace,
                100,
            )
            .await
            .unwrap()
        }
    };
    let report = run(publisher.clone()).await;
    assert_eq!(
        report.published + report.failed,
        0,
        "a fact younger than the grace period is left to ingest"
    );

    clock.advance(Duration::from_secs(31));
    let report = run(publisher.clone()).await;
    assert_eq!(
        report.failed, 1,
        "while the publisher is down the fact stays in the outbox"
    );
    assert_eq!(
        store.pending_outbox(clock.now(), 10).await.unwrap().len(),
        1
    );

    publisher.up.store(true, Ordering::SeqCst);
    let report = run(publisher.clone()).await;
    assert_eq!(report.published, 1);
    assert_eq!(
        services.depth("decide").await.unwrap(),
        (1, 0),
        "the fact reached its queue"
    );
    assert!(
        store
            .pending_outbox(clock.now(), 10)
            .await
            .unwrap()
            .is_empty(),
        "and left the outbox"
    );
    let again = run(publisher.clone()).await;
    assert_eq!(again.published, 0, "a second run publishes nothing");
    let msg = services.receive("decide", 1, None).await.unwrap().remove(0);
    let event: helios_events::Event = serde_json::from_str(&msg.body).unwrap();
    assert_eq!(event.id, "o-1");
    assert_eq!(msg.attributes["source"], "app");
}

#[tokio::test]
async fn an_outbox_row_that_cannot_be_read_back_is_parked_and_the_later_ones_go_on() {
    // GIVEN three facts in the outbox, the middle one unreadable (a time no build can read
    // back, as a faulty build could have written)
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
    ));
    let db = dir.path().join("helios.db");
    let store = SqliteStore::open(&db).unwrap();
    store.migrate().await.unwrap();
    let services = LocalServices::open(
        &dir.path().join("local.db"),
        clock.clone() as Arc<dyn Clock>,
    )
    .unwrap();
    services
        .create_queue("decide", QueueConfig::default())
        .await
        .unwrap();
    services.subscribe("events", "decide", None).await.unwrap();
    let facts: Vec<helios_store::NewFact> = (1..=3)
        .map(|i| {
            let body = format!(
                r#"{{"id":"u-{i}","source":"app","type":"t","time":"2026-11-20T09:00:00Z","data":{{}}}}"#
            );
            let headers = http::HeaderMap::new();
            let limits = helios_events::Limits::default();
            let secrets = helios_events::SourceSecrets::default();
            let event = match helios_events::normalise(
                helios_events::Format::Native,
                &helios_events::Request {
                    method: &http::Method::POST,
                    headers: &headers,
                    query: None,
                    body: body.as_bytes(),
                },
                &helios_events::Context {
                    received_at: clock.now(),
                    secrets: &secrets,
                    limits: &limits,
                },
            )
            .unwrap()
            {
                helios_events::Normalised::Events(mut e) => e.remove(0),
                other => panic!("{other:?}"),
            };
            helios_store::NewFact {
                hold: None,
                event,
                raw: helios_store::RawRef {
                    key: format!("raw/u-{i}.json"),
                    index: 0,
                },
            }
        })
        .collect();
    store.record_facts(&facts).await.unwrap();
    let broken = facts[1].event.helios_id.clone();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE facts SET event = json_set(event, '$.time', '-0001-12-31T23:00:00Z') WHERE helios_id = ?1",
            [&broken],
        )
        .unwrap();
    clock.advance(Duration::from_secs(60));

    // WHEN the relay runs
    let report = helios_app::outbox::relay_once(
        &store,
        &services,
        clock.as_ref(),
        "events",
        Duration::from_secs(30),
        100,
    )
    .await
    .unwrap();

    // THEN the readable facts are published, the other parked with its reason, and the next
    // run has nothing left to do
    assert_eq!((report.published, report.parked, report.failed), (2, 1, 0));
    assert_eq!(services.depth("decide").await.unwrap(), (2, 0));
    let parked = store.parked_outbox(10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].0, broken);
    assert!(parked[0].1.contains("fact"), "{}", parked[0].1);
    let again = helios_app::outbox::relay_once(
        &store,
        &services,
        clock.as_ref(),
        "events",
        Duration::from_secs(30),
        100,
    )
    .await
    .unwrap();
    assert_eq!(again, helios_app::outbox::RelayReport::default());
}
