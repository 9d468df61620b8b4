//! `expect` on the local adapters and the starter rules: one `expectation` workflow watches
//! an instance however often its events come (a later heartbeat is followed by the watch
//! that is already there), a lapse is emitted once, and a watch that ends lets the next
//! event start one.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use helios_app::expect::{Checker, Emit, Observer, MACHINE};
use helios_local::{LocalServices, RecordedWorkflows};
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

/// What the checker answers of `input` now.
async fn check(w: &World, input: &Value) -> Value {
    w.checker
        .handle(json!({"action": "check", "expectation": input}))
        .await
        .unwrap()
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

    let later = w.observer.observe(&beat(2, 60)).await.unwrap();
    assert_eq!(later.started, 0, "the watch already there follows it");
    w.clock.advance(std::time::Duration::from_secs(90));
    let c = check(&w, input).await;
    assert_eq!(c["met"], true, "{c}");
    assert!(c["reason"].as_str().unwrap().contains("later heartbeat"));
    // The watch goes on with the later heartbeat, to its own deadline.
    assert_eq!(c["next"]["event"], "evt_hb2", "{c}");
    assert_eq!(c["next"]["deadline"], "2026-11-23T09:02:30Z");
    assert_eq!(c["next"]["watcher"], input["watcher"]);
}

#[tokio::test]
async fn a_flood_on_one_key_is_one_execution_and_a_watch_that_ends_lets_the_next_start() {
    let w = world();
    // GIVEN a thousand heartbeats of one service within a minute
    for n in 0..1000u32 {
        w.observer
            .observe(&beat(n, i64::from(n) / 20))
            .await
            .unwrap();
    }
    // THEN one execution watches them
    let started = w.workflows.started();
    assert_eq!(started.len(), 1, "one watcher, not one execution per event");
    // WHEN its check finds a later heartbeat, it follows the latest; when the latest lapses
    // past its repeats (3), the watch ends
    w.clock.advance(std::time::Duration::from_secs(3600));
    let mut input = started[0].2.clone();
    let mut missed = 0;
    let ended = loop {
        let c = check(&w, &input).await;
        if c["met"] == false {
            missed += 1;
        }
        match c.get("next") {
            Some(n) => input = n.clone(),
            None => break c,
        }
    };
    assert_eq!(missed, 3, "{ended}");
    assert_eq!(ended["event"]["data"]["last_seen"], "2026-11-23T09:00:49Z");
    // THEN the next heartbeat starts a watch of its own
    let again = w.observer.observe(&beat(5000, 4000)).await.unwrap();
    assert_eq!(again.started, 1);
}

#[tokio::test]
async fn a_watcher_long_past_its_deadline_is_presumed_lost_and_replaced() {
    let w = world();
    w.observer.observe(&beat(1, 0)).await.unwrap();
    // Its execution never checks (its start was lost, say). An hour past its deadline, a
    // heartbeat is watched afresh.
    assert_eq!(w.observer.observe(&beat(2, 600)).await.unwrap().started, 0);
    let late = w.observer.observe(&beat(3, 90 + 3600 + 1)).await.unwrap();
    assert_eq!(late.started, 1);
    assert_eq!(w.workflows.started().len(), 2);
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
    let c = check(&w, &input).await;
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
    // Whatever the order, one execution watches, and the state holds the latest beat: the
    // watch follows it, and only its check can miss.
    let started = w.workflows.started();
    assert_eq!(started.len(), 1, "{started:?}");
    w.clock.advance(std::time::Duration::from_secs(3600));
    let mut input = started[0].2.clone();
    let c = loop {
        let c = w
            .checker
            .handle(json!({"action": "check", "expectation": input}))
            .await
            .unwrap();
        if c["met"] == false {
            break c;
        }
        input = c["next"].clone();
        assert!(
            input.is_object(),
            "a met check of a heartbeat follows the latest: {c}"
        );
    };
    assert_eq!(
        c["event"]["data"]["last_seen"], "2026-11-23T09:01:10Z",
        "{c}"
    );

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

/// Each reconciliation recorded for the first time is counted by its verdict; a duplicate,
/// and a miss that is no reconciliation's, are not.
#[tokio::test]
async fn reconciliations_are_counted_by_verdict_once() {
    let counted = Arc::new(Mutex::new(Vec::new()));
    let sink = counted.clone();
    let emitter = helios_app::expect::CountVerdicts {
        inner: Arc::new(Emitted::default()),
        counted: move |v: &'static str| sink.lock().unwrap().push(v),
    };
    let event = |id: &str, kind: &str, data: Value| json!({"id": id, "source": "helios/expect", "type": kind, "data": data});
    for e in [
        event("r-1", "helios.reconcile.matched", json!({})),
        event("r-1", "helios.reconcile.matched", json!({})),
        event("r-2", "helios.reconcile.mismatched", json!({})),
        event(
            "r-3",
            "helios.expectation.missed",
            json!({"kind": "reconcile"}),
        ),
        event(
            "h-1",
            "helios.expectation.missed",
            json!({"kind": "heartbeat"}),
        ),
        event("x-1", "deploy.started", json!({})),
    ] {
        emitter.emit(&e).await.unwrap();
    }
    assert_eq!(
        *counted.lock().unwrap(),
        ["matched", "mismatched", "missed"]
    );
}
