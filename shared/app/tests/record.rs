use std::sync::Arc;

use chrono::{TimeZone, Utc};
use helios_app::record::Recorder;
use helios_ports::ManualClock;
use helios_store::{SqliteStore, Store};
use serde_json::json;

#[tokio::test]
async fn records_the_ack_token_and_the_outcome_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    store.migrate().await.unwrap();
    let r = Recorder {
        outcomes: store.clone(),
        clock: Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
        )),
    };
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
