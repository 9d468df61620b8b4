//! Each saved query, run by the embedded engine over an archive the archive's own writers
//! made, gives the answer an independent reader computes: pyarrow (from PyPI) reads the same
//! files and plain Python works the answer out from the rows.

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use helios_analytics::{json_rows, saved, Archive, SAVED};
use helios_events::{helios_id, Event, Format};
use helios_local::FileBlobStore;
use helios_ports::store::{Fact, NewDecision, Outcome, RawRef, StoredDecision};
use serde_json::{json, Value};

const SOURCES: [(&str, Format); 6] = [
    ("github", Format::Github),
    ("ci/buildkite", Format::Native),
    ("acme/app", Format::Native),
    ("aws.health", Format::Eventbridge),
    ("acme/billing", Format::Native),
    ("ci/jenkins", Format::Native),
];

fn at(day: u32, secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0).unwrap() + Duration::milliseconds(secs * 1000)
}

fn facts() -> Vec<Fact> {
    (0..3000usize)
        .map(|i| {
            // Sources by a skewed share: the first sends the most.
            let (source, format) = SOURCES[(i * i / 7 + i) % 6];
            let day = 1 + (i % 3) as u32;
            Event {
                helios_id: helios_id(source, &i.to_string()),
                id: i.to_string(),
                source: source.into(),
                event_type: format!("t{}", i % (2 + i % 4)),
                subject: None,
                time: at(day, i as i64),
                received_at: at(day, i as i64),
                schema_version: 1,
                format,
                extensions: Default::default(),
                correlation: Default::default(),
                data: json!({"i": i}),
                schema: None,
                traceparent: None,
            }
        })
        .enumerate()
        .map(|(n, event)| Fact {
            seq: n as i64 + 1,
            event,
            raw: RawRef {
                key: format!("raw/{n}"),
                index: 0,
            },
        })
        .collect()
}

/// Decisions of two facts in three (a third of those decided twice, by another rule set),
/// with the rules that fired and one near miss of `r-c` or `r-d`.
fn decisions(facts: &[Fact]) -> Vec<StoredDecision> {
    let rules = ["r-a", "r-b", "r-c"];
    let mut out = Vec::new();
    for (n, f) in facts.iter().enumerate().filter(|(n, _)| n % 3 != 2) {
        for version in 0..(1 + usize::from(n % 9 == 0)) {
            let k = n + version;
            let fired: Vec<String> = match k % 5 {
                0 => vec![],
                1 | 2 => vec![rules[k % 3].into()],
                _ => vec![rules[k % 3].into(), rules[(k + 1) % 3].into()],
            };
            let (field, wanted) = match k % 4 {
                0 => (Some("data.branch"), json!("main")),
                1 => (Some("data.state"), json!(["failed", "errored"])),
                2 => (None, json!({"count": 3, "within": "PT5M"})),
                _ => (Some("data.branch"), json!("release")),
            };
            let check = json!({"kind": if field.is_some() {"where"} else {"window"}, "field": field,
                               "op": field.map(|_| "=="), "wanted": wanted, "found": "x", "held": false});
            let seq = out.len() as i64 + 1;
            out.push(StoredDecision {
                seq,
                decision: NewDecision {
                    id: format!("dec_{n:05}_{version}"),
                    event_id: f.event.helios_id.clone(),
                    ruleset: format!("default@{}", 1 + version),
                    ruleset_hash: format!("h{version}"),
                    subject: None,
                    severity: (!fired.is_empty()).then(|| "high".to_string()),
                    score: 10.0 * fired.len() as f64,
                    decided_at: f.event.received_at + Duration::milliseconds(k as i64 * 7 % 900),
                    body: json!({
                        "fired": fired.iter().map(|r| json!({"rule": r, "severity": "high", "score": 5})).collect::<Vec<_>>(),
                        "trace": [{"rule": if k % 2 == 0 {"r-c"} else {"r-d"}, "outcome": "near_miss",
                                   "because": "one check", "checks": [check]}],
                    }),
                    rules: fired,
                },
            });
        }
    }
    out
}

/// Outcomes of the decisions that fired: advice for most, then an acknowledgement (some
/// before the advice), an escalation, or nothing.
fn outcomes(decisions: &[StoredDecision]) -> Vec<(i64, Outcome)> {
    let mut out = Vec::new();
    let mut push = |d: &StoredDecision, kind: &str, after_ms: i64, body: Value| {
        let seq = out.len() as i64 + 1;
        out.push((
            seq,
            Outcome {
                decision_id: d.decision.id.clone(),
                execution: format!("{}-0", d.decision.id),
                kind: kind.into(),
                recorded_at: d.decision.decided_at + Duration::milliseconds(after_ms),
                body,
            },
        ));
    };
    for (n, d) in decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.decision.rules.is_empty())
    {
        if n % 4 != 3 {
            push(
                d,
                "advice",
                1500,
                json!({"confidence": (n % 10) as f64 / 10.0, "advisory": true}),
            );
        }
        push(d, "awaiting_ack", 200, json!({"task_token": "t"}));
        match n % 3 {
            0 => push(
                d,
                "acknowledged",
                (n as i64 % 7) * 61_300 + if n % 5 == 0 { -1_000 } else { 2_000 },
                json!({"acked_by": "ann"}),
            ),
            1 => push(d, "outcome", 900_000, json!({"escalated": {"to": "lead"}})),
            _ => push(d, "outcome", 600_000, json!({"closed": true})),
        }
    }
    out
}

async fn write_archive(root: &Path) {
    let blobs = FileBlobStore::open(root).unwrap();
    let facts = facts();
    let decisions = decisions(&facts);
    let outcomes = outcomes(&decisions);
    // In several runs, as the archiver writes them.
    for chunk in facts.chunks(1000) {
        let (first, last) = (chunk[0].seq, chunk[chunk.len() - 1].seq);
        helios_archive::write_facts(&blobs, chunk, first, last)
            .await
            .unwrap();
    }
    for chunk in decisions.chunks(700) {
        let (first, last) = (chunk[0].seq, chunk[chunk.len() - 1].seq);
        helios_archive::write_decisions(&blobs, chunk, first, last)
            .await
            .unwrap();
    }
    for chunk in outcomes.chunks(900) {
        let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
        helios_archive::write_outcomes(&blobs, chunk, first, last)
            .await
            .unwrap();
    }
}

/// The answers of the saved queries as Python computes them from the rows pyarrow reads
/// (unrounded; the test allows each rounded column its rounding).
const REFERENCE: &str = r#"
import json, sys, math
from collections import defaultdict
import pyarrow as pa
import pyarrow.dataset as ds

root = sys.argv[1]
def rows(t, parts):
    p = ds.partitioning(pa.schema([(k, pa.string()) for k in parts]), flavor="hive")
    return ds.dataset(root + "/" + t, format="parquet", partitioning=p).to_table().to_pylist()

facts = rows("facts", ["day", "family"])
decisions = rows("decisions", ["day"])
fired = rows("fired", ["day"])
near = rows("near_misses", ["day"])
outcomes = rows("outcomes", ["day"])
out = {}

per_day = defaultdict(int)
for d in decisions: per_day[d["day"]] += 1
counts = defaultdict(int)
for f in fired: counts[(f["day"], f["rule"])] += 1
r = [{"day": d, "rule": rule, "fired": n, "decisions": per_day[d], "rate": n / per_day[d]}
     for (d, rule), n in counts.items()]
r.sort(key=lambda x: (x["day"], -x["fired"], x["rule"]))
out["rule_firing_rates"] = r

acted = {d["helios_id"] for d in decisions if d["rules_fired"] > 0}
src = defaultdict(lambda: {"events": 0, "types": set(), "acted_on": 0})
for f in facts:
    s = src[(f["source"], f["family"])]
    s["events"] += 1; s["types"].add(f["type"]); s["acted_on"] += f["helios_id"] in acted
r = [{"source": k[0], "family": k[1], "events": v["events"], "types": len(v["types"]),
      "acted_on": v["acted_on"]} for k, v in src.items()]
r.sort(key=lambda x: (-x["events"], x["source"]))
out["noisiest_sources"] = r[:20]

dec = {d["id"]: d for d in decisions}
first = {f["decision_id"]: f["rule"] for f in fired if f["position"] == 0}
secs = lambda t: math.floor(t.timestamp())
waits = defaultdict(list)
for o in outcomes:
    if o["kind"] == "acknowledged" and o["decision_id"] in dec and o["decision_id"] in first:
        waits[first[o["decision_id"]]].append(secs(o["recorded_at"]) - secs(dec[o["decision_id"]]["decided_at"]))
out["time_to_acknowledge"] = [{"rule": k, "acknowledged": len(v), "avg_seconds": sum(v) / len(v),
                               "max_seconds": max(v)} for k, v in sorted(waits.items())]

advice = defaultdict(list)
acked = {}
escalated = set()
for o in outcomes:
    if o["kind"] == "advice": advice[o["decision_id"]].append(o)
    if o["kind"] == "acknowledged": acked[o["decision_id"]] = max(acked.get(o["decision_id"], o["recorded_at"]), o["recorded_at"])
    if o["kind"] == "outcome" and o["escalated"]: escalated.add(o["decision_id"])
per_rule = defaultdict(lambda: {"advised": 0, "followed": 0, "escalated": 0, "conf": []})
for d, notes in advice.items():
    if d not in first: continue
    p = per_rule[first[d]]
    p["advised"] += 1
    advised_at = min(n["recorded_at"] for n in notes)
    p["followed"] += d in acked and acked[d] >= advised_at
    p["escalated"] += d in escalated
    p["conf"].append(sum(n["confidence"] for n in notes) / len(notes))
out["advice_followed"] = [{"rule": k, "advised": v["advised"], "followed": v["followed"],
                           "escalated": v["escalated"], "followed_rate": v["followed"] / v["advised"],
                           "avg_confidence": sum(v["conf"]) / len(v["conf"])}
                          for k, v in sorted(per_rule.items())]

groups = defaultdict(lambda: {"n": 0, "events": set()})
for m in near:
    g = groups[(m["rule"], m["check_kind"], m["field"], m["op"], m["wanted"])]
    g["n"] += 1; g["events"].add(m["helios_id"])
last = lambda v: (v is None, v or "")
r = [{"rule": k[0], "check_kind": k[1], "field": k[2], "op": k[3], "wanted": k[4],
      "near_misses": v["n"], "events": len(v["events"])} for k, v in groups.items()]
r.sort(key=lambda x: (x["rule"], -x["near_misses"], last(x["check_kind"]), last(x["field"]), last(x["wanted"])))
out["near_misses_per_rule"] = r
print(json.dumps(out))
"#;

fn reference(root: &Path) -> Value {
    let out = helios_testkit::pyarrow::run(REFERENCE, root);
    serde_json::from_str(&out).unwrap()
}

/// How far a rounded column may be from the exact answer: half its last digit.
fn tolerance(column: &str) -> f64 {
    match column {
        "rate" | "followed_rate" => 0.00005,
        "avg_seconds" => 0.05,
        "avg_confidence" => 0.005,
        _ => 0.0,
    }
}

fn same(column: &str, got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => (g - w).abs() <= tolerance(column) + 1e-9,
        _ => got == want,
    }
}

#[tokio::test]
async fn every_saved_query_answers_as_pyarrow_and_python_compute_it() {
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path()).await;
    let want = reference(dir.path());
    let archive = Archive::open(dir.path()).await.unwrap();
    for q in SAVED {
        let got = json_rows(&archive.query(q.sql).await.unwrap()).unwrap();
        let expected = want[q.name].as_array().unwrap();
        assert!(
            !expected.is_empty(),
            "{}: the workload gives no rows",
            q.name
        );
        assert_eq!(
            got.len(),
            expected.len(),
            "{}: {got:#?}\nwanted {expected:#?}",
            q.name
        );
        for (n, (g, w)) in got.iter().zip(expected).enumerate() {
            let w = w.as_object().unwrap();
            let g = g.as_object().unwrap();
            // arrow's JSON leaves out the columns that are null in a row.
            let cols: Vec<&String> = w.keys().collect();
            assert!(
                g.keys().all(|k| w.contains_key(k)),
                "{} row {n}: columns {g:?}, wanted {w:?}",
                q.name
            );
            for c in cols {
                let gv = g.get(c).unwrap_or(&Value::Null);
                assert!(
                    same(c, gv, &w[c]),
                    "{} row {n}, column {c}: {gv} but {} (row {g:?}, wanted {w:?})",
                    q.name,
                    w[c]
                );
            }
        }
    }
}

#[tokio::test]
async fn saved_queries_have_names_and_descriptions_and_an_empty_archive_answers_no_rows() {
    assert_eq!(
        saved("noisiest_sources").map(|s| s.name),
        Some("noisiest_sources")
    );
    assert!(saved("nope").is_none());
    for q in SAVED {
        assert!(
            q.description().len() > 20,
            "{}: {}",
            q.name,
            q.description()
        );
    }
    // No file yet: each table exists, empty, so every saved query runs.
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).await.unwrap();
    for q in SAVED {
        let rows = json_rows(&archive.query(q.sql).await.unwrap()).unwrap();
        assert!(rows.is_empty(), "{}: {rows:?}", q.name);
    }
}

#[tokio::test]
async fn a_query_that_writes_or_is_not_sql_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path()).await.unwrap();
    let e = archive
        .query("CREATE TABLE x AS SELECT 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("ddl"), "{e}");
    let e = archive.query("SELEC 1").await.unwrap_err().to_string();
    assert!(e.contains("SELEC"), "{e}");
    let e = archive
        .query("SELECT nope FROM facts")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
    let missing = dir.path().join("missing");
    let e = Archive::open(&missing).await.err().unwrap().to_string();
    assert!(e.contains("no such folder"), "{e}");
}
