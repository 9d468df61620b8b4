//! The live feed's WebSocket side on the embedded store and the local key-value: the open
//! connections, and a pusher that sends each batch once to every connection, in order, and
//! forgets the connections found gone.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use helios_app::live::{Connection, Connections, Pusher, MAX_BATCH};
use helios_local::LocalServices;
use helios_ports::{Clock, Delivery, KeyValue, ManualClock, PortError, Sockets};
use helios_store::{NewDecision, SqliteStore, Store};
use serde_json::{json, Value};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap()
}

/// Sockets that keep what was sent to each connection; the ones in `gone` answer Gone.
#[derive(Default)]
struct Recorded {
    sent: Mutex<Vec<(String, Value)>>,
    gone: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl Sockets for Recorded {
    async fn send(&self, id: &str, message: &str) -> Result<Delivery, PortError> {
        if self.gone.lock().unwrap().contains(id) {
            return Ok(Delivery::Gone);
        }
        let v: Value = serde_json::from_str(message).expect("a message is JSON");
        self.sent.lock().unwrap().push((id.to_string(), v));
        Ok(Delivery::Sent)
    }
}

impl Recorded {
    /// The decision ids each batch sent to `id` carried, batch by batch.
    fn batches_to(&self, id: &str) -> Vec<Vec<String>> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(to, _)| to == id)
            .map(|(_, m)| {
                assert_eq!(m["type"], "batch");
                assert!(m["id"].as_str().unwrap().contains('.'), "{m}");
                m["data"]["decisions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    kv: Arc<dyn KeyValue>,
    clock: Arc<ManualClock>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    let clock = Arc::new(ManualClock::new(t0()));
    let kv = Arc::new(LocalServices::open(&dir.path().join("local.db"), clock.clone()).unwrap());
    Setup {
        _dir: dir,
        store,
        kv,
        clock,
    }
}

impl Setup {
    fn connections(&self) -> Connections {
        Connections {
            kv: self.kv.clone(),
            clock: self.clock.clone(),
        }
    }

    fn pusher(&self, sockets: Arc<dyn Sockets>) -> Pusher {
        Pusher {
            read: helios_ports::store::read_only(self.store.clone()),
            sockets,
            connections: self.connections(),
        }
    }

    async fn decide(&self, n: usize) -> String {
        let id = format!("dec_{n:04}");
        self.store
            .record_decision(&NewDecision {
                id: id.clone(),
                event_id: format!("evt_{n}"),
                ruleset: "starter@1".into(),
                ruleset_hash: "h".into(),
                subject: Some("acme/web".into()),
                severity: Some("high".into()),
                score: 70.0,
                rules: vec!["ci-failing-on-main".into()],
                decided_at: t0(),
                body: json!({"fired": [{"rule": "ci-failing-on-main", "explanation": format!("number {n}")}]}),
            })
            .await
            .unwrap();
        id
    }

    async fn open(&self, id: &str) {
        self.connections()
            .open(Connection {
                id: id.into(),
                key: "key_1".into(),
                role: "read".into(),
                opened_ms: self.clock.now().timestamp_millis(),
            })
            .await
            .unwrap();
    }
}

fn ids(cs: &[Connection]) -> Vec<&str> {
    cs.iter().map(|c| c.id.as_str()).collect()
}

#[tokio::test]
async fn connections_are_listed_until_closed_or_two_hours_old() {
    let s = setup();
    s.store.migrate().await.unwrap();
    let c = s.connections();
    assert!(c.list().await.unwrap().is_empty());
    s.open("a").await;
    s.clock.advance(std::time::Duration::from_secs(90 * 60));
    s.open("b").await;
    assert_eq!(ids(&c.list().await.unwrap()), ["a", "b"]);
    c.close(&["a".into(), "unknown".into()]).await.unwrap();
    assert_eq!(ids(&c.list().await.unwrap()), ["b"]);
    // API Gateway ends a connection after two hours; a lost `$disconnect` does not keep it.
    s.clock.advance(std::time::Duration::from_secs(121 * 60));
    assert!(c.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn each_batch_goes_once_to_every_connection_and_gone_ones_are_forgotten() {
    let s = setup();
    s.store.migrate().await.unwrap();
    let sockets = Arc::new(Recorded::default());
    let pusher = s.pusher(sockets.clone());

    // Nobody connected: history is not sent later.
    let first = s.decide(1).await;
    let pushed = pusher.push().await.unwrap();
    assert_eq!((pushed.batches, pushed.delivered), (0, 0));

    s.open("a").await;
    s.open("b").await;
    sockets.gone.lock().unwrap().insert("b".into());
    let (d2, d3) = (s.decide(2).await, s.decide(3).await);
    let pushed = pusher.push().await.unwrap();
    assert_eq!((pushed.batches, pushed.delivered, pushed.gone), (1, 1, 1));
    assert_eq!(sockets.batches_to("a"), [vec![d2.clone(), d3.clone()]]);
    assert!(!sockets.batches_to("a").concat().contains(&first));
    assert_eq!(ids(&s.connections().list().await.unwrap()), ["a"]);

    // Nothing new: nothing sent.
    assert_eq!(pusher.push().await.unwrap().batches, 0);

    // Two pushers at once (two Lambda instances): the new decision goes out once.
    let other = s.pusher(sockets.clone());
    let d4 = s.decide(4).await;
    let (x, y) = tokio::join!(pusher.push(), other.push());
    assert_eq!(x.unwrap().batches + y.unwrap().batches, 1);
    assert_eq!(sockets.batches_to("a"), [vec![d2, d3], vec![d4]]);
}

#[tokio::test]
async fn a_backlog_larger_than_a_batch_goes_in_order_in_several() {
    let s = setup();
    s.store.migrate().await.unwrap();
    let sockets = Arc::new(Recorded::default());
    let pusher = s.pusher(sockets.clone());
    s.decide(0).await;
    pusher.push().await.unwrap();
    s.open("a").await;
    let mut want = Vec::new();
    for n in 1..=MAX_BATCH + 20 {
        want.push(s.decide(n).await);
    }
    let pushed = pusher.push().await.unwrap();
    assert_eq!(pushed.batches, 2);
    let got = sockets.batches_to("a");
    assert_eq!(got[0].len(), MAX_BATCH);
    assert_eq!(got.concat(), want);
}
