//! Operations commands as a user runs them: `helios redrive` and `helios replay`.

use std::process::Command;

use helios_ports::{Message, Queue};
use serde_json::Value;

/// The local deployment `helios dev` would open on `dir`: its queues and store.
async fn deployment(dir: &std::path::Path) -> helios_runtime::Deployment {
    let opts = helios_runtime::LocalOptions {
        data_dir: dir.to_path_buf(),
        database_url: None,
    };
    helios_runtime::Deployment::open_local(&opts).await.unwrap()
}

fn redrive(dir: &std::path::Path, queue: &str) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["redrive", queue, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v)
}

/// A message that failed `MAX_RECEIVES` times is in `decide-dlq`; after the fix, one redrive
/// puts it back in `decide` once, and a second moves nothing.
#[tokio::test]
async fn redrive_moves_dead_letters_back_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployment(dir.path()).await;
    let q = &d.services;
    q.send(
        "decide",
        &Message {
            body: "poison".into(),
            attributes: Default::default(),
        },
    )
    .await
    .unwrap();
    for _ in 0..helios_runtime::MAX_RECEIVES {
        let got = q.receive("decide", 10, None).await.unwrap();
        assert_eq!(got.len(), 1);
        q.change_visibility("decide", &got[0].receipt, std::time::Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        q.receive("decide", 10, None).await.unwrap().is_empty(),
        "it went to the DLQ"
    );
    assert_eq!(q.depth("decide-dlq").await.unwrap(), (1, 0));

    let (code, v) = redrive(dir.path(), "decide");
    assert_eq!(code, Some(0));
    assert_eq!(v["moved"], 1);
    let (_, v) = redrive(dir.path(), "decide");
    assert_eq!(v["moved"], 0, "a second redrive changes nothing");
    let back = q.receive("decide", 10, None).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "poison");
    assert_eq!(back[0].receive_count, 1);

    let (code, _) = redrive(dir.path(), "nope");
    assert_eq!(code, Some(2));
}

/// `helios replay` publishes the facts of a time range again, marked as a replay, to every
/// queue of the events topic.
#[tokio::test]
async fn replay_publishes_the_facts_of_a_range_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployment(dir.path()).await;
    let event = |id: &str, time: &str| helios_store::NewFact {
        event: serde_json::from_value(serde_json::json!({
            "helios_id": format!("hid-{id}"), "id": id, "source": "ci", "type": "ci.build.finished",
            "subject": "acme/web", "time": time, "received_at": time, "schema_version": 1,
            "format": "native", "extensions": {}, "correlation": {}, "data": {}
        }))
        .unwrap(),
        raw: helios_store::RawRef {
            key: format!("raw/{id}"),
            index: 0,
        },
    };
    d.store
        .record_facts(&[
            event("a", "2026-11-20T09:00:00Z"),
            event("b", "2026-11-21T09:00:00Z"),
        ])
        .await
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args([
            "replay",
            "--since",
            "2026-11-20T00:00:00Z",
            "--until",
            "2026-11-21T00:00:00Z",
            "--redecide",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["replayed"], 1, "only the fact inside the range");
    let got = d.services.receive("decide", 10, None).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attributes["replay"], "true");
    assert_eq!(got[0].attributes["redecide"], "true");
    assert!(got[0].body.contains("hid-a"));
    let bad = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args([
            "replay",
            "--since",
            "yesterday",
            "--until",
            "2026-11-21T00:00:00Z",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
