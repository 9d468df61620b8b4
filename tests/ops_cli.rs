//! Operations commands as a user runs them: `helios redrive`.

use std::process::Command;

use helios_ports::{Message, Queue};
use serde_json::Value;

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
    let d = helios_runtime::Deployment::open_local(&helios_runtime::LocalOptions {
        data_dir: dir.path().to_path_buf(),
        database_url: None,
    })
    .await
    .unwrap();
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
