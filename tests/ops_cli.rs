//! Operations commands as a user runs them: `helios redrive` and `helios replay`.

mod support;

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
        hold: None,
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

/// `helios redrive decide --aws` moves the dead letters of a terraform deployment's queues
/// back (`helios-decide-dlq` → `helios-decide`), against moto here. moto has no
/// `StartMessageMoveTask`, so this runs the portable move the command falls back to; a
/// second redrive moves nothing.
#[tokio::test]
async fn redrive_aws_moves_the_dead_letters_of_a_deployment() {
    let moto = helios_testkit::moto::Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let config = support::moto_config(&moto).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq = sqs
        .create_queue()
        .queue_name("helios-decide-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name("helios-decide")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&dlq)
        .message_body(r#"{"id":"poison"}"#)
        .send()
        .await
        .unwrap();

    let redrive = || {
        let out = Command::new(env!("CARGO_BIN_EXE_helios"))
            .args(["redrive", "decide", "--aws"])
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = redrive();
    assert_eq!(first["queue"], "helios-decide");
    assert_eq!(first["dead_letter_queue"], "helios-decide-dlq");
    assert_eq!(first["moved"], 1, "{first}");
    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = got
        .messages()
        .iter()
        .filter_map(|m| m.body.clone())
        .collect();
    assert_eq!(bodies, vec![r#"{"id":"poison"}"#.to_string()]);
    assert_eq!(redrive()["moved"], 0, "a second redrive changes nothing");
}
