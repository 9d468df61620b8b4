//! The archive of facts, against the embedded store and a folder: the files are where the
//! layout says, read back by an independent reader (pyarrow, from PyPI) with the documented
//! schema and every fact once, and a run done again after a crash rewrites the same files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use helios_archive::{Archiver, CURSOR_KEY};
use helios_events::{helios_id, Event, Format};
use helios_local::{FileBlobStore, LocalServices};
use helios_ports::store::Schema as _;
use helios_ports::store::{Decisions, Facts, NewDecision, NewFact, Outcome, Outcomes, RawRef};
use helios_ports::{Condition, KeyValue, ManualClock};
use helios_store::SqliteStore;
use serde_json::{json, Value};

/// A fact of `source` received at `day` (of December 2026), hour `h`.
fn fact(source: &str, format: Format, id: usize, day: u32, h: u32) -> NewFact {
    let at = Utc.with_ymd_and_hms(2026, 12, day, h, 0, 0).unwrap();
    NewFact {
        hold: None,
        event: Event {
            helios_id: helios_id(source, &id.to_string()),
            id: id.to_string(),
            source: source.into(),
            event_type: "build".into(),
            subject: (!id.is_multiple_of(3)).then(|| format!("repo-{}", id % 5)),
            time: at,
            received_at: at,
            schema_version: 1,
            format,
            extensions: Default::default(),
            correlation: [("subject".to_string(), format!("repo-{}", id % 5))].into(),
            data: json!({"n": id, "ok": id.is_multiple_of(2)}),
            schema: None,
            traceparent: id
                .is_multiple_of(2)
                .then(|| "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        },
        raw: RawRef {
            key: format!("raw/{id}.json"),
            index: 0,
        },
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    archiver: Archiver,
    kv: Arc<LocalServices>,
}

async fn setup(facts: &[NewFact]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("helios.db")).unwrap());
    store.migrate().await.unwrap();
    for chunk in facts.chunks(500) {
        store.record_facts(chunk).await.unwrap();
    }
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 9, 0, 0, 0).unwrap(),
    ));
    let kv = Arc::new(LocalServices::open(&dir.path().join("local.db"), clock.clone()).unwrap());
    let root = dir.path().join("archive");
    let archiver = Archiver {
        facts: store.clone(),
        decisions: store.clone(),
        outcomes: store,
        blobs: Arc::new(FileBlobStore::open(&root).unwrap()),
        kv: kv.clone(),
        clock,
        grace: Duration::from_secs(60),
        batch: 1000,
    };
    Setup {
        _dir: dir,
        root,
        archiver,
        kv,
    }
}

/// What pyarrow reads of the archive: the dataset with its Hive partitions.
fn read_with_pyarrow(root: &Path) -> Value {
    let script = r#"
import json, sys
import pyarrow.dataset as ds
d = ds.dataset(sys.argv[1] + "/facts", format="parquet", partitioning="hive")
t = d.to_table()
rows = t.to_pylist()
print(json.dumps({
    "schema": [[f.name, str(f.type)] for f in d.schema],
    "rows": len(rows),
    "ids": sorted(r["helios_id"] for r in rows),
    "partitions": sorted({(str(r["day"]), r["family"]) for r in rows}),
    "sample": {k: (str(v) if k in ("time", "received_at", "day") else v) for k, v in rows[0].items()},
}))
"#;
    let out = helios_testkit::pyarrow::run(script, root);
    serde_json::from_str(&out).unwrap()
}

fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

fn workload() -> Vec<NewFact> {
    (0..2500)
        .map(|i| match i % 3 {
            0 => fact("github", Format::Github, i, 1 + (i % 2) as u32, 9),
            1 => fact("ci/buildkite", Format::Native, i, 1 + (i % 2) as u32, 10),
            _ => fact("acme/app", Format::Native, i, 2, 11),
        })
        .collect()
}

#[tokio::test]
async fn every_fact_is_archived_once_in_its_partition_and_pyarrow_reads_it_back() {
    let facts = workload();
    let s = setup(&facts).await;
    let report = s.archiver.run().await.unwrap();
    assert_eq!(report.facts, 2500);
    assert_eq!(report.through, 2500);
    // Three runs of at most 1000 facts, each a file per partition it touched.
    let written = files(&s.root);
    assert_eq!(written.len(), report.files, "{written:#?}");
    assert!(
        written.iter().all(|f| f.starts_with("facts/day=2026-12-0")
            && f.ends_with(".parquet")
            && f.contains("/family=")),
        "{written:#?}"
    );
    assert!(written.contains(
        &"facts/day=2026-12-01/family=github/part-00000000000000000001-00000000000000001000.parquet"
            .to_string()
    ));

    let read = read_with_pyarrow(&s.root);
    assert_eq!(read["rows"], 2500, "every fact, once");
    let mut ids: Vec<String> = facts.iter().map(|f| f.event.helios_id.clone()).collect();
    ids.sort();
    assert_eq!(read["ids"], json!(ids));
    assert_eq!(
        read["partitions"],
        json!([
            ["2026-12-01", "ci"],
            ["2026-12-01", "github"],
            ["2026-12-02", "ci"],
            ["2026-12-02", "github"],
            ["2026-12-02", "native"]
        ])
    );
    let schema: Vec<(String, String)> = serde_json::from_value(read["schema"].clone()).unwrap();
    let expected = [
        ("seq", "int64"),
        ("helios_id", "string"),
        ("source", "string"),
        ("id", "string"),
        ("type", "string"),
        ("subject", "string"),
        ("time", "timestamp[us, tz=UTC]"),
        ("received_at", "timestamp[us, tz=UTC]"),
        ("format", "string"),
        ("correlation", "string"),
        ("data", "string"),
        ("schema_valid", "bool"),
        ("trace_id", "string"),
        ("day", "date32[day]"),
        ("family", "string"),
    ];
    let got: Vec<(&str, &str)> = schema
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    // pyarrow infers the partition `date` as a date or a string, by its version.
    assert_eq!(&got[..13], &expected[..13], "{schema:?}");
    assert_eq!(got[13].0, "day");
    assert_eq!(got[14], ("family", "string"));
    let sample = &read["sample"];
    let data: Value = serde_json::from_str(sample["data"].as_str().unwrap()).unwrap();
    assert!(
        data.get("n").is_some(),
        "data is the event's JSON: {sample}"
    );

    // Nothing new: nothing written.
    let again = s.archiver.run().await.unwrap();
    assert_eq!(again.facts, 0);
    assert_eq!(files(&s.root), written);
}

#[tokio::test]
async fn a_run_done_again_after_a_crash_rewrites_the_same_files() {
    let facts = workload();
    let s = setup(&facts).await;
    s.archiver.run_once().await.unwrap();
    let after_one = files(&s.root);
    // A crash after the files of the second range were written, before the cursor said so:
    // the cursor holds the range as pending.
    let item = s.kv.get(CURSOR_KEY).await.unwrap().unwrap();
    assert_eq!(item.value, json!({"done": 1000}));
    s.kv.put(
        CURSOR_KEY,
        json!({"done": 1000, "pending": 2000}),
        Condition::VersionIs(item.version),
        None,
    )
    .await
    .unwrap();
    let second = s.archiver.run_once().await.unwrap();
    assert_eq!((second.facts, second.through), (1000, 2000));
    let after_two = files(&s.root);
    s.kv.put(
        CURSOR_KEY,
        json!({"done": 1000, "pending": 2000}),
        Condition::Always,
        None,
    )
    .await
    .unwrap();
    s.archiver.run_once().await.unwrap();
    assert_eq!(files(&s.root), after_two, "the same files, no new ones");
    assert!(after_two.len() > after_one.len());
    s.archiver.run().await.unwrap();
    assert_eq!(read_with_pyarrow(&s.root)["rows"], 2500, "no fact twice");
}

#[tokio::test]
async fn facts_younger_than_the_grace_wait_for_the_next_run() {
    let mut facts = workload();
    // Received an instant before the archiver's clock: within the grace of a minute.
    let now = Utc.with_ymd_and_hms(2026, 12, 8, 23, 59, 30).unwrap();
    for f in facts.iter_mut().skip(2000) {
        f.event.received_at = now;
    }
    let s = setup(&facts).await;
    let report = s.archiver.run().await.unwrap();
    assert_eq!(report.facts, 2000);
    assert_eq!(read_with_pyarrow(&s.root)["rows"], 2000);
}

/// Decision `i` of day `day`: rules `r-a` (and `r-b` for even `i`) fired, `r-c` nearly did.
fn decision(i: usize, day: u32) -> NewDecision {
    let at = Utc.with_ymd_and_hms(2026, 12, day, 12, 0, 0).unwrap()
        + chrono::Duration::seconds(i as i64);
    let rules: Vec<String> = if i.is_multiple_of(2) {
        vec!["r-a".into(), "r-b".into()]
    } else {
        vec!["r-a".into()]
    };
    NewDecision {
        id: format!("dec_{i:04}"),
        event_id: format!("evt_{i:04}"),
        ruleset: "default@3".into(),
        ruleset_hash: "ab".repeat(32),
        subject: Some(format!("repo-{}", i % 3)),
        severity: Some("high".into()),
        score: 70.0,
        decided_at: at,
        body: json!({
            "fired": rules.iter().map(|r| json!({"rule": r, "severity": if r == "r-a" {"high"} else {"low"}, "score": 70, "priority": 1})).collect::<Vec<_>>(),
            "trace": [
                {"rule": "r-a", "outcome": "fired", "because": "all held", "checks": []},
                {"rule": "r-c", "outcome": "near_miss", "because": "one check did not hold",
                 "checks": [
                    {"kind": "match", "field": "type", "op": "equals", "wanted": ["build"], "found": "build", "held": true},
                    {"kind": "where", "field": "data.branch", "op": "==", "wanted": "main", "found": "dev", "held": false}
                 ]}
            ],
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        }),
        rules,
    }
}

fn outcome(decision: usize, kind: &str, at: chrono::DateTime<Utc>, body: Value) -> Outcome {
    Outcome {
        decision_id: format!("dec_{decision:04}"),
        execution: format!("dec_{decision:04}-0"),
        kind: kind.into(),
        recorded_at: at,
        body,
    }
}

#[tokio::test]
async fn decisions_and_outcomes_are_archived_in_their_tables_once() {
    let s = setup(&[]).await;
    let store = SqliteStore::open(&s._dir.path().join("helios.db")).unwrap();
    for i in 0..30 {
        store
            .record_decision(&decision(i, 1 + (i % 2) as u32))
            .await
            .unwrap();
    }
    let t0 = Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap();
    for i in 0..10 {
        let at = t0 + chrono::Duration::minutes(i as i64);
        store
            .record_outcome(&outcome(
                i,
                "advice",
                at,
                json!({"confidence": 0.5, "summary": "s"}),
            ))
            .await
            .unwrap();
        store
            .record_outcome(&outcome(i, "awaiting_ack", at, json!({"task_token": "t"})))
            .await
            .unwrap();
        let end = if i < 4 {
            json!({"acked_by": "ann", "note": null})
        } else {
            json!({"escalated": {"to": "lead"}})
        };
        let kind = if i < 4 { "acknowledged" } else { "outcome" };
        store
            .record_outcome(&outcome(i, kind, at + chrono::Duration::seconds(90), end))
            .await
            .unwrap();
    }
    let report = s.archiver.run().await.unwrap();
    assert_eq!(
        (report.facts, report.decisions, report.outcomes),
        (0, 30, 30)
    );
    let written = files(&s.root);
    assert!(
        written.contains(
            &"decisions/day=2026-12-01/part-00000000000000000001-00000000000000000030.parquet"
                .to_string()
        ),
        "{written:#?}"
    );
    let script = r#"
import json, sys
import pyarrow.dataset as ds
out = {}
for t in ["decisions", "fired", "near_misses", "outcomes"]:
    tab = ds.dataset(sys.argv[1] + "/" + t, format="parquet", partitioning="hive").to_table()
    out[t] = {"rows": tab.num_rows, "columns": tab.column_names, "data": tab.to_pylist()}
print(json.dumps(out, default=str))
"#;
    let out = helios_testkit::pyarrow::run(script, &s.root);
    let read: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(read["decisions"]["rows"], 30);
    assert_eq!(read["fired"]["rows"], 45, "30 of r-a, 15 of r-b");
    assert_eq!(
        read["near_misses"]["rows"], 30,
        "the one check in r-c's way"
    );
    assert_eq!(read["outcomes"]["rows"], 30);
    let cols = |t: &str| read[t]["columns"].clone();
    assert_eq!(
        cols("decisions"),
        json!([
            "seq",
            "id",
            "helios_id",
            "ruleset",
            "ruleset_hash",
            "subject",
            "severity",
            "score",
            "rules_fired",
            "near_misses",
            "decided_at",
            "trace_id",
            "day"
        ])
    );
    assert_eq!(
        cols("outcomes"),
        json!([
            "seq",
            "decision_id",
            "execution",
            "kind",
            "recorded_at",
            "escalated",
            "acked_by",
            "confidence",
            "body",
            "day"
        ])
    );
    let nm = &read["near_misses"]["data"][0];
    assert_eq!(
        (
            &nm["rule"],
            &nm["check_kind"],
            &nm["field"],
            &nm["wanted"],
            &nm["found"]
        ),
        (
            &json!("r-c"),
            &json!("where"),
            &json!("data.branch"),
            &json!("\"main\""),
            &json!("\"dev\"")
        )
    );
    let fired_b: Vec<&Value> = read["fired"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"] == "r-b")
        .collect();
    assert!(fired_b
        .iter()
        .all(|r| r["position"] == 1 && r["severity"] == "low"));
    let outcomes = read["outcomes"]["data"].as_array().unwrap();
    let count = |f: &dyn Fn(&Value) -> bool| outcomes.iter().filter(|o| f(o)).count();
    assert_eq!(count(&|o| o["escalated"] == true), 6);
    assert_eq!(count(&|o| o["acked_by"] == "ann"), 4);
    assert_eq!(count(&|o| o["confidence"] == 0.5), 10);

    // Nothing new: nothing written.
    let again = s.archiver.run().await.unwrap();
    assert_eq!(again.rows(), 0);
    assert_eq!(files(&s.root), written);
}

#[tokio::test]
async fn a_cursor_that_cannot_be_read_stops_the_archive_rather_than_starting_over() {
    let facts = workload();
    let s = setup(&facts).await;
    s.archiver.run_once().await.unwrap();
    let written = files(&s.root);
    s.kv.put(CURSOR_KEY, json!({"done": "many"}), Condition::Always, None)
        .await
        .unwrap();
    let e = s.archiver.run_once().await.unwrap_err().to_string();
    assert!(e.contains("archive/facts") && e.contains("many"), "{e}");
    assert_eq!(files(&s.root), written, "nothing archived again");
}
