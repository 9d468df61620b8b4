//! `decide` on the local adapters and the starter rules: three failed CI runs on main decide
//! to notify, once; a redelivered message changes nothing.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use helios_app::decide::Decider;
use helios_local::LocalServices;
use helios_local::RecordedWorkflows;
use helios_ports::ManualClock;
use helios_store::{DecisionQuery, Recorded, SqliteStore, Store};
use serde_json::{json, Value};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn failed_build(n: u32, minutes: i64) -> Value {
    let time = (t0() + Duration::minutes(minutes)).to_rfc3339();
    json!({
        "helios_id": format!("hid-{n}"), "id": format!("build-{n}"), "source": "buildkite",
        "type": "ci.build.finished", "subject": "acme/web", "time": time, "received_at": time,
        "schema_version": 1, "format": "native", "extensions": {}, "correlation": {"subject": "acme/web"},
        "data": {"state": "failed", "branch": "main", "pipeline": "web"}
    })
}

async fn decider(
    dir: &std::path::Path,
) -> (
    Decider,
    Arc<RecordedWorkflows>,
    Arc<dyn Store>,
    Arc<ManualClock>,
) {
    let clock = Arc::new(ManualClock::new(t0() + Duration::minutes(30)));
    let kv = Arc::new(LocalServices::open(&dir.join("local.db"), clock.clone()).unwrap());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("helios.db")).unwrap());
    store.migrate().await.unwrap();
    let rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = helios_runtime::rules::load_rule_set(&rules_dir).unwrap();
    let started = Arc::new(RecordedWorkflows::default());
    let d = Decider {
        rules: Arc::new(rules),
        kv,
        decisions: store.clone(),
        workflows: started.clone(),
        clock: clock.clone(),
        windows: Default::default(),
    };
    (d, started, store, clock)
}

async fn stored_decisions(store: &dyn Store) -> usize {
    let q = DecisionQuery {
        limit: 100,
        ..Default::default()
    };
    store.list_decisions(&q).await.unwrap().decisions.len()
}

/// The stored decision's body, as JSON text.
async fn stored_body(store: &dyn Store, id: &str) -> String {
    store
        .get_decision(id)
        .await
        .unwrap()
        .unwrap()
        .decision
        .body
        .to_string()
}

#[tokio::test]
async fn three_failures_on_main_decide_to_notify_once() {
    let dir = tempfile::tempdir().unwrap();
    let (d, started, store, _) = decider(dir.path()).await;
    let first = d.decide(&failed_build(1, 0)).await.unwrap();
    let second = d.decide(&failed_build(2, 5)).await.unwrap();
    assert!(
        !first.fired.contains(&"ci-failing-on-main".to_string()),
        "{first:?}"
    );
    assert!(!second.fired.contains(&"ci-failing-on-main".to_string()));
    let third = d
        .decide_message(&failed_build(3, 9).to_string())
        .await
        .unwrap();
    assert!(
        third.fired.contains(&"ci-failing-on-main".to_string()),
        "{third:?}"
    );
    assert_eq!(third.recorded, Recorded::Accepted);
    assert_eq!(third.started, 1);
    {
        let s = started.started();
        let (machine, name, input) = s.last().unwrap();
        assert_eq!(machine, "decision");
        assert_eq!(name, &format!("{}-0", third.decision_id));
        assert_eq!(input["decision_id"], json!(third.decision_id));
        assert_eq!(input["title"], "CI failing on acme/web main");
        assert_eq!(input["channels"], json!(["chat"]));
    }

    // The same message again: the window counts it once, the decision is the stored one,
    // and no workflow starts twice.
    let again = d
        .decide_message(&failed_build(3, 9).to_string())
        .await
        .unwrap();
    assert_eq!(again.recorded, Recorded::Duplicate);
    assert_eq!(again.decision_id, third.decision_id);
    assert_eq!(again.started, 0);
    assert_eq!(stored_decisions(&*store).await, 3);
    let stored = store
        .get_decision(&third.decision_id)
        .await
        .unwrap()
        .unwrap();
    let explain = stored.decision.body["trace"].to_string();
    assert!(
        explain.contains("ci-failing-on-main"),
        "the trace is stored: {explain}"
    );
}

#[tokio::test]
async fn a_message_that_is_not_an_event_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _, _, _) = decider(dir.path()).await;
    let e = d.decide_message("{not json").await.unwrap_err();
    assert!(!e.is_retryable());
    let e = d.decide_message(r#"{"source": "x"}"#).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
}

/// After a rule fix, a replayed event keeps its decision unless the replay asks to decide again.
#[tokio::test]
async fn a_replay_decides_again_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _, store, _) = decider(dir.path()).await;
    let first = d.decide(&failed_build(1, 0)).await.unwrap();
    // The same rules with one more line: another content hash.
    let rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut files = helios_runtime::rules::read_rule_files(&rules_dir).unwrap();
    files[0].text.push_str("\n# fixed\n");
    let fixed = Decider {
        rules: Arc::new(helios_rules::RuleSet::load(&files).unwrap()),
        ..d
    };
    let body = failed_build(1, 0).to_string();
    let replay: std::collections::BTreeMap<String, String> =
        [("replay".to_string(), "true".to_string())].into();
    let kept = fixed.decide_delivery(&body, &replay).await.unwrap();
    assert_eq!(kept.decision_id, first.decision_id);
    assert_eq!(kept.recorded, Recorded::Duplicate);
    let mut again = replay.clone();
    again.insert("redecide".into(), "true".into());
    let new = fixed.decide_delivery(&body, &again).await.unwrap();
    assert_ne!(
        new.decision_id, first.decision_id,
        "new rules, new decision"
    );
    assert_eq!(new.recorded, Recorded::Accepted);
    assert_eq!(stored_decisions(&*store).await, 2);
}

/// Many events of one window decided at once (a batch of a hot subject): none fails as
/// contended, and the window counts every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_window_decided_at_once_counts_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _, store, _) = decider(dir.path()).await;
    let d = Arc::new(d);
    let mut running = tokio::task::JoinSet::new();
    for n in 0..60 {
        let d = d.clone();
        running.spawn(async move { d.decide(&failed_build(n, 1)).await });
    }
    while let Some(done) = running.join_next().await {
        done.unwrap()
            .expect("no decision fails on a contended window");
    }
    assert_eq!(stored_decisions(&*store).await, 60);
    let next = d.decide(&failed_build(60, 2)).await.unwrap();
    let body = stored_body(&*store, &next.decision_id).await;
    // The 61st event's trace: the window held all 61.
    assert!(
        body.contains(r#""kind":"window","op":"count over 1h","wanted":3,"found":61"#),
        "{body}"
    );
}

/// Counts the window writes of the key-value store it wraps, each taking a few milliseconds
/// (a store across the network), so that updates of one window come while another is under
/// way.
struct SlowWindowWrites {
    kv: Arc<dyn helios_ports::KeyValue>,
    window_puts: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl helios_ports::KeyValue for SlowWindowWrites {
    async fn get_text(
        &self,
        key: &str,
    ) -> Result<Option<helios_ports::TextItem>, helios_ports::PortError> {
        self.kv.get_text(key).await
    }
    async fn put_text(
        &self,
        key: &str,
        text: String,
        condition: helios_ports::Condition,
        ttl: Option<std::time::Duration>,
    ) -> Result<helios_ports::Written, helios_ports::PortError> {
        if key.starts_with("window/") {
            self.window_puts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.kv.put_text(key, text, condition, ttl).await
    }
    async fn delete(
        &self,
        key: &str,
        condition: helios_ports::Condition,
    ) -> Result<helios_ports::Written, helios_ports::PortError> {
        self.kv.delete(key, condition).await
    }
    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<std::time::Duration>,
    ) -> Result<i64, helios_ports::PortError> {
        self.kv.increment(key, delta, ttl).await
    }
}

/// The events of a hot window that come while its update is under way go in together (far
/// fewer writes than events), yet each decision sees the window as it was right after its own
/// event went in: the counts its trace shows are 1 to 60, each once, as if decided one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_window_is_written_once_per_group_and_each_event_sees_itself_counted_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _, store, _) = decider(dir.path()).await;
    let slow = Arc::new(SlowWindowWrites {
        kv: d.kv.clone(),
        window_puts: Default::default(),
    });
    let d = Arc::new(Decider {
        kv: slow.clone(),
        ..d
    });
    let mut running = tokio::task::JoinSet::new();
    for n in 0..60 {
        let d = d.clone();
        running.spawn(async move { d.decide(&failed_build(n, 1)).await });
    }
    let mut counts = Vec::new();
    while let Some(done) = running.join_next().await {
        let decided = done.unwrap().expect("no decision fails on a hot window");
        let body = stored_body(&*store, &decided.decision_id).await;
        let marker = r#""op":"count over 1h","wanted":3,"found":"#;
        let at = body.find(marker).expect("the trace shows the window") + marker.len();
        let digits: String = body[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        counts.push(digits.parse::<u32>().unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=60).collect::<Vec<u32>>());
    let puts = slow.window_puts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        puts <= 20,
        "{puts} writes of the window for 60 events: the updates did not go together"
    );
}
