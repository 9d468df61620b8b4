use std::sync::Arc;

use chrono::{TimeZone, Utc};
use helios_app::record::Recorder;
use helios_ports::ManualClock;
use helios_store::{SqliteStore, Store};
use serde_json::json;

/// A recorder over a fresh store, its clock at `now`; the folder lives as long as the first.
async fn recorder(now: chrono::DateTime<Utc>) -> (tempfile::TempDir, Arc<dyn Store>, Recorder) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    store.migrate().await.unwrap();
    let r = Recorder {
        outcomes: store.clone(),
        clock: Arc::new(ManualClock::new(now)),
    };
    (dir, store, r)
}

#[tokio::test]
async fn records_the_ack_token_and_the_outcome_once() {
    let (_dir, store, r) = recorder(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()).await;
    let wait = json!({"kind": "awaiting_ack", "decision_id": "dec_1", "execution": "dec_1-0", "task_token": "tok"});
    assert_eq!(
        r.handle(wait.clone()).await.unwrap(),
        json!({"recorded": "accepted"})
    );
    assert_eq!(
        r.handle(wait).await.unwrap(),
        json!({"recorded": "duplicate"})
    );
    let end = json!({"kind": "outcome", "decision_id": "dec_1", "execution": "dec_1-0", "outcome": {"ack": {"by": "alice"}}});
    r.handle(end).await.unwrap();
    let got = store.list_outcomes("dec_1").await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, json!({"task_token": "tok"}));
    assert_eq!(got[1].kind, "outcome");
    assert_eq!(got[1].body["ack"]["by"], "alice");

    let bad = r
        .handle(json!({"kind": "gossip", "decision_id": "d", "execution": "e"}))
        .await
        .unwrap_err();
    assert_eq!(bad.error, "Helios.BadRequest");
    let bad = r.handle(json!({"kind": "outcome"})).await.unwrap_err();
    assert!(bad.cause.contains("decision_id"), "{}", bad.cause);
}

#[tokio::test]
async fn the_first_record_of_an_execution_is_timed_from_its_start() {
    let (_dir, _store, r) = recorder(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 2).unwrap()).await;
    let started = "2026-11-23T09:00:00.500Z";
    // Awaiting an acknowledgement: the first record, 1.5 s after the start.
    let wait = json!({"kind": "awaiting_ack", "decision_id": "dec_1", "execution": "dec_1-0",
                      "task_token": "tok", "started": started});
    let a = r.handle(wait.clone()).await.unwrap();
    assert_eq!(a["first_record_after_ms"], 1500.0);
    // Again (a retry): nothing new, no second sample.
    assert!(r
        .handle(wait)
        .await
        .unwrap()
        .get("first_record_after_ms")
        .is_none());
    // The outcome after the acknowledgement is not the first record.
    let end = json!({"kind": "outcome", "decision_id": "dec_1", "execution": "dec_1-0",
                     "outcome": {"ack": {"by": "alice"}}, "started": started});
    assert!(r
        .handle(end)
        .await
        .unwrap()
        .get("first_record_after_ms")
        .is_none());
    // An outcome that awaited nothing is.
    let only = json!({"kind": "outcome", "decision_id": "dec_2", "execution": "dec_2-0",
                      "outcome": {"notified": []}, "started": started});
    assert_eq!(
        r.handle(only).await.unwrap()["first_record_after_ms"],
        1500.0
    );
    // Without `started` (an execution begun before it was passed): no sample.
    let old = json!({"kind": "outcome", "decision_id": "dec_3", "execution": "dec_3-0",
                     "outcome": {"notified": []}});
    assert!(r
        .handle(old)
        .await
        .unwrap()
        .get("first_record_after_ms")
        .is_none());
}
