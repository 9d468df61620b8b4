//! The archive on `helios dev` (issue 18): the facts it records become Parquet files under
//! `<data>/archive`, which an independent reader (pyarrow, from PyPI) reads back, every fact
//! once, and `helios analytics` queries them; and an archive that cannot be written holds up
//! neither ingest nor decisions.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// Rows and ids pyarrow reads from the archive's facts, with their partitions; `None` when
/// there is no file yet.
fn pyarrow_rows(archive: &Path) -> Option<Value> {
    if !archive.join("facts").is_dir() {
        return None;
    }
    let script = r#"
import json, sys
import pyarrow.dataset as ds
t = ds.dataset(sys.argv[1] + "/facts", format="parquet", partitioning="hive").to_table()
print(json.dumps({"rows": t.num_rows, "ids": sorted(t.column("id").to_pylist()),
                  "families": sorted(set(t.column("family").to_pylist()))}))
"#;
    let out = helios_testkit::pyarrow::run(script, archive);
    Some(serde_json::from_str(&out).unwrap())
}

/// `helios dev` on `data` with the starter rules and state machines, archiving every second.
fn start(data: &Path) -> Dev {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Dev::start_with(
        data,
        None,
        &[
            "--archive-every".as_ref(),
            "1".as_ref(),
            "--statemachines".as_ref(),
            root.join("statemachines").as_os_str(),
            "--rules".as_ref(),
            root.join("rules").as_os_str(),
        ],
        &[],
    )
}

async fn post(dev: &Dev, from: usize, n: usize) {
    let events: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({"id": format!("arc-{i}"), "source": if i % 2 == 0 { "ci/buildkite" } else { "acme/app" },
                   "type": "ci.build.finished", "time": chrono::Utc::now().to_rfc3339(),
                   "subject": "acme/web", "data": {"branch": "dev", "state": "passed", "n": i}})
        })
        .collect();
    let (status, _, body) = post_json(
        dev,
        API_KEY,
        serde_json::to_vec(&json!({"events": events})).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn recorded_facts_are_archived_as_parquet_that_pyarrow_reads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = start(&data);
    for batch in 0..3 {
        post(&dev, batch * 100, 100).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let read = loop {
        if let Some(r) = pyarrow_rows(&data.join("archive")).filter(|r| r["rows"] == 300) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "300 facts not archived within 30 s: {:?}",
            pyarrow_rows(&data.join("archive"))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut ids: Vec<String> = (0..300).map(|i| format!("arc-{i}")).collect();
    ids.sort();
    assert_eq!(read["ids"], json!(ids), "every fact once");
    assert_eq!(read["families"], json!(["ci", "native"]));
    // More facts: only they are added, in new files.
    post(&dev, 300, 50).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pyarrow_rows(&data.join("archive")).is_none_or(|r| r["rows"] != 350) {
        assert!(
            Instant::now() < deadline,
            "the next 50 facts not archived within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every event decided, each decision archived: `helios analytics` counts them with SQL.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = analytics(&data, &["query", "SELECT count(*) AS n FROM decisions"]);
        if n == vec![json!({"n": 350})] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "350 decisions not archived within 30 s: {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // /metrics counts what was archived, by stream.
    let text = metrics(&dev).await;
    for (table, n) in [("facts", 350), ("decisions", 350)] {
        let line = format!("helios_archived_rows_total{{table=\"{table}\"}} {n}");
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    // A saved query by name, over the files helios dev wrote.
    let noisiest = analytics(&data, &["query", "--saved", "noisiest_sources"]);
    let events: Vec<(&str, &str, i64)> = noisiest
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap(),
                r["family"].as_str().unwrap(),
                r["events"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![("acme/app", "native", 175), ("ci/buildkite", "ci", 175)],
        "{noisiest:?}"
    );
}

/// The text of `/metrics`.
async fn metrics(dev: &Dev) -> String {
    client()
        .get(format!("{}/metrics", dev.url))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `helios analytics …` over `data`'s archive, with `--format json`: its rows.
fn analytics(data: &Path, args: &[&str]) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_helios"))
        .arg("analytics")
        .args(args)
        .args(["--format", "json", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helios analytics {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_that_cannot_be_written_holds_up_neither_ingest_nor_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Where the facts' folder would be, a file: every write of the archive fails, as on a
    // full disk.
    std::fs::create_dir_all(data.join("archive")).unwrap();
    std::fs::write(data.join("archive/facts"), "not a folder").unwrap();
    let dev = start(&data);
    for batch in 0..3 {
        post(&dev, batch * 20, 20).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let decided = list_every(&dev, "decisions").await.len();
        if decided == 60 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{decided} of 60 events decided within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(list_all(&dev).await.len(), 60, "every event accepted");
    assert!(data.join("archive/facts").is_file(), "nothing was archived");
    // The failed runs are counted.
    let text = metrics(&dev).await;
    let failed: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("helios_archive_failed_runs_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no helios_archive_failed_runs_total in\n{text}"));
    assert!(failed >= 1.0, "{failed} failed archive runs counted");
}
