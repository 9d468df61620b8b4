//! The behaviour suite against the local adapters, and their durability across a restart.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use helios_local::{FileBlobStore, LocalServices, QueueConfig};
use helios_ports::{suite, Clock, ManualClock, Message, Publisher, Queue};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
    ))
}

async fn services(dir: &std::path::Path, clock: Arc<ManualClock>) -> LocalServices {
    let s = LocalServices::open(&dir.join("local.db"), clock as Arc<dyn Clock>).unwrap();
    s.create_queue("work-dlq", QueueConfig::default())
        .await
        .unwrap();
    s.create_queue(
        "work",
        QueueConfig {
            visibility_timeout: Duration::from_secs(30),
            max_receives: Some(2),
            dead_letter_queue: Some("work-dlq".into()),
        },
    )
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn file_blob_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    suite::blob_store(&FileBlobStore::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn local_key_value_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let s = services(dir.path(), c.clone()).await;
    suite::key_value(&s, |d| {
        c.advance(d);
        async {}
    })
    .await;
}

#[tokio::test]
async fn local_queue_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let s = services(dir.path(), c.clone()).await;
    let setup = suite::QueueSetup {
        queue: "work",
        dlq: "work-dlq",
        visibility: Duration::from_secs(30),
        stale_receipts_kept: true,
    };
    suite::queue(&s, setup, |d| {
        c.advance(d);
        async {}
    })
    .await;
}

#[tokio::test]
async fn topic_fans_out_to_subscribed_queues_through_filters() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(dir.path(), clock()).await;
    s.create_queue("github-only", QueueConfig::default())
        .await
        .unwrap();
    s.subscribe("events", "work", None).await.unwrap();
    s.subscribe(
        "events",
        "github-only",
        Some(serde_json::json!({"source": ["github"]})),
    )
    .await
    .unwrap();
    let m = |src: &str| Message {
        body: src.into(),
        attributes: [("source".to_string(), src.to_string())].into(),
    };
    s.publish("events", &[m("github"), m("heartbeat")])
        .await
        .unwrap();
    assert_eq!(s.depth("work").await.unwrap(), (2, 0));
    let gh = s.receive("github-only", 10, None).await.unwrap();
    assert_eq!(gh.len(), 1);
    assert_eq!(gh[0].body, "github");
    assert!(s
        .subscribe(
            "events",
            "work",
            Some(serde_json::json!({"a": [{"nope": 1}]}))
        )
        .await
        .is_err());
}

#[tokio::test]
async fn queues_survive_a_restart_and_dead_letters_can_be_redriven() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    {
        let s = services(dir.path(), c.clone()).await;
        s.send(
            "work",
            &Message {
                body: "poison".into(),
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
        for _ in 0..2 {
            assert_eq!(s.receive("work", 1, None).await.unwrap().len(), 1);
            c.advance(Duration::from_secs(31));
        }
        assert!(s.receive("work", 1, None).await.unwrap().is_empty());
    }
    let s = services(dir.path(), c.clone()).await;
    assert_eq!(
        s.depth("work-dlq").await.unwrap(),
        (1, 0),
        "the dead letter is still there after reopening"
    );
    assert_eq!(s.redrive("work-dlq", None).await.unwrap(), 1);
    assert_eq!(
        s.redrive("work-dlq", None).await.unwrap(),
        0,
        "a second redrive moves nothing"
    );
    let back = s.receive("work", 1, None).await.unwrap();
    assert_eq!(back[0].body, "poison");
    assert_eq!(
        back[0].receive_count, 1,
        "a redriven message starts counting again"
    );
}

#[tokio::test]
async fn delete_many_deletes_only_the_current_receipts_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let s = services(dir.path(), c.clone()).await;
    for body in ["a", "b", "c"] {
        s.send(
            "work",
            &Message {
                body: body.into(),
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    }
    let got = s.receive("work", 3, None).await.unwrap();
    assert_eq!(got.len(), 3);
    // The first two, a receipt of an earlier receive (stale) and one that is not a receipt.
    let stale = format!("{}#0", got[2].message_id);
    let receipts = vec![
        got[0].receipt.clone(),
        got[1].receipt.clone(),
        stale,
        "not a receipt".to_string(),
    ];
    assert_eq!(s.delete_many("work", &receipts).await.unwrap(), 2);
    assert_eq!(s.delete_many("work", &[]).await.unwrap(), 0);
    // The third is still in flight and comes back after its visibility timeout.
    assert_eq!(s.depth("work").await.unwrap(), (0, 1));
    c.advance(Duration::from_secs(31));
    let back = s.receive("work", 3, None).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "c");
}
