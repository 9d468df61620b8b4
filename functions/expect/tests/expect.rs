//! `expect` on the local adapters and the starter rules: a heartbeat starts one
//! `expectation` workflow however often it is delivered, a later heartbeat meets the earlier
//! one's check, and a lapse is emitted once.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use helios_expect::{Checker, Emit, Observer, MACHINE};
use helios_ports::local::{LocalServices, RecordedWorkflows};
use helios_ports::{ManualClock, TaskFailure};
use serde_json::{json, Value};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn beat(n: u32, seconds: i64) -> Value {
    let time = (t0() + Duration::seconds(seconds)).to_rfc3339();
    json!({
        "helios_id": format!("evt_hb{n}"), "id": format!("hb-{n}"), "source": "svc/api",
        "type": "heartbeat", "subject": "api", "time": time, "received_at": time,
        "schema_version": 1, "format": "native", "data": {}
    })
}

/// Keeps what is emitted; the same id twice is a duplicate.
#[derive(Default)]
struct Emitted(Mutex<Vec<Value>>);

#[async_trait::async_trait]
impl Emit for Emitted {
    async fn emit(&self, event: &Value) -> Result<&'static str, TaskFailure> {
        let mut e = self.0.lock().unwrap();
        if e.iter().any(|x| x["id"] == event["id"]) {
            return Ok("duplicate");
        }
        e.push(event.clone());
        Ok("accepted")
    }
}

struct World {
    observer: Observer,
    checker: Checker,
    workflows: Arc<RecordedWorkflows>,
    emitted: Arc<Emitted>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let kv = Arc::new(LocalServices::open(&dir.path().join("local.db"), clock.clone()).unwrap());
    let rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = Arc::new(helios_runtime::rules::load_rule_set(&rules_dir).unwrap());
    let workflows = Arc::new(RecordedWorkflows::default());
    let emitted = Arc::new(Emitted::default());
    World {
        observer: Observer {
            rules: rules.clone(),
            kv: kv.clone(),
            workflows: workflows.clone(),
        },
        checker: Checker {
            rules,
            kv,
            clock: clock.clone(),
            emitter: emitted.clone(),
        },
        workflows,
        emitted,
        clock,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_heartbeat_starts_its_workflow_once_and_a_later_one_meets_its_check() {
    let w = world();
    let first = w.observer.observe(&beat(1, 0)).await.unwrap();
    assert_eq!(
        first.instances,
        [("heartbeat".to_string(), "api".to_string())]
    );
    assert_eq!(first.started, 1);
    let again = w
        .observer
        .observe_message(&beat(1, 0).to_string())
        .await
        .unwrap();
    assert_eq!(again.started, 0, "a redelivery starts nothing");
    let started = w.workflows.started();
    assert_eq!(started.len(), 1);
    let (machine, _, input) = &started[0];
    assert_eq!(machine, MACHINE);
    // Starter rules: every 1m, grace 30s.
    assert_eq!(input["deadline"], "2026-11-23T09:01:30Z");

    w.observer.observe(&beat(2, 60)).await.unwrap();
    w.clock.advance(std::time::Duration::from_secs(90));
    let c = w
        .checker
        .handle(json!({"action": "check", "expectation": input}))
        .await
        .unwrap();
    assert_eq!(c["met"], true, "{c}");
    assert!(c["reason"].as_str().unwrap().contains("later heartbeat"));
}

#[tokio::test]
async fn a_lapsed_heartbeat_is_emitted_once_and_checked_again_next_period() {
    let w = world();
    w.observer.observe(&beat(1, 0)).await.unwrap();
    let input = w.workflows.started()[0].2.clone();

    // Too early (the workflow's clock a little ahead): a retryable failure.
    let early = w
        .checker
        .handle(json!({"action": "check", "expectation": input}))
        .await
        .unwrap_err();
    assert_eq!(early.error, "Helios.Retryable");

    w.clock.advance(std::time::Duration::from_secs(91));
    let c = w
        .checker
        .handle(json!({"action": "check", "expectation": input}))
        .await
        .unwrap();
    assert_eq!(c["met"], false, "{c}");
    assert_eq!(c["event"]["type"], "helios.expectation.missed");
    assert_eq!(c["event"]["subject"], "api");
    assert_eq!(c["event"]["data"]["missed"], 1);
    assert_eq!(c["next"]["deadline"], "2026-11-23T09:02:30Z");
    for want in ["accepted", "duplicate"] {
        let r = w
            .checker
            .handle(json!({"action": "emit_missed", "check": c}))
            .await
            .unwrap();
        assert_eq!(r["status"], want);
    }
    assert_eq!(w.emitted.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_heartbeats_keep_the_latest_and_bad_payloads_are_refused() {
    let w = world();
    let observer = Arc::new(w.observer);
    let mut running = Vec::new();
    for n in 0..8u32 {
        let o = observer.clone();
        running.push(tokio::spawn(async move {
            o.observe(&beat(n, i64::from(n) * 10)).await.unwrap()
        }));
    }
    for r in running {
        r.await.unwrap();
    }
    // Whatever the order, the state holds the latest beat: only its check can miss.
    let started = w.workflows.started();
    let last = started
        .iter()
        .find(|(_, _, i)| i["event"] == "evt_hb7")
        .expect("the latest beat started its workflow");
    w.clock.advance(std::time::Duration::from_secs(3600));
    let c = w
        .checker
        .handle(json!({"action": "check", "expectation": last.2}))
        .await
        .unwrap();
    assert_eq!(c["met"], false, "{c}");
    for (_, _, input) in started.iter().filter(|(_, _, i)| i["event"] != "evt_hb7") {
        let c = w
            .checker
            .handle(json!({"action": "check", "expectation": input}))
            .await
            .unwrap();
        assert_eq!(c["met"], true, "{c}");
    }

    for bad in [
        json!({}),
        json!({"action": "check"}),
        json!({"action": "check", "expectation": {"expectation": "heartbeat"}}),
        json!({"action": "emit_missed", "check": {"met": true}}),
        json!({"action": "explode"}),
    ] {
        let e = w.checker.handle(bad.clone()).await.unwrap_err();
        assert_eq!(e.error, "Helios.BadRequest", "{bad}: {e}");
    }
    assert!(observer.observe_message("not json").await.is_err());
    assert!(!observer
        .observe_message("[1]")
        .await
        .unwrap_err()
        .is_retryable());
}
