//! The read-modify-write loop of key-value state (`helios_ports::update`), over the local
//! key-value adapter.

use helios_local::LocalServices;
use helios_ports::update::{update, Change, UpdateError};
use helios_ports::*;
use std::sync::Arc;

#[derive(serde::Serialize, serde::Deserialize, Default, Clone, PartialEq, Debug)]
struct Count {
    n: u32,
}

fn kv() -> (tempfile::TempDir, LocalServices) {
    let dir = tempfile::tempdir().unwrap();
    let kv = LocalServices::open(
        &dir.path().join("kv.db"),
        Arc::new(helios_ports::SystemClock),
    )
    .unwrap();
    (dir, kv)
}

async fn bump(kv: &dyn KeyValue) -> Result<u32, UpdateError<std::convert::Infallible>> {
    update(kv, "k", None, 3, |c: Option<Count>| {
        let mut c = c.unwrap_or_default();
        c.n += 1;
        Ok(Change::Write(c.clone(), c.n))
    })
    .await
}

#[tokio::test]
async fn writes_what_the_change_makes_of_what_was_read() {
    let (_d, kv) = kv();
    assert_eq!(bump(&kv).await.unwrap(), 1);
    assert_eq!(bump(&kv).await.unwrap(), 2);
    let kept = update(&kv, "k", None, 3, |c: Option<Count>| {
        Ok::<_, std::convert::Infallible>(Change::Keep(c.map(|c| c.n)))
    })
    .await
    .unwrap();
    assert_eq!(kept, Some(2));
    assert_eq!(kv.get("k").await.unwrap().unwrap().value["n"], 2);
}

/// An item that is not the state is an error, not a reset to empty: the stored value
/// stays as it was.
#[tokio::test]
async fn state_that_cannot_be_read_is_an_error_and_is_left_alone() {
    let (_d, kv) = kv();
    kv.put(
        "k",
        serde_json::json!({"n": "many"}),
        Condition::Always,
        None,
    )
    .await
    .unwrap();
    let e = bump(&kv).await.unwrap_err();
    assert!(matches!(e, UpdateError::Unreadable { .. }), "{e}");
    assert!(!e.is_retryable());
    assert_eq!(kv.get("k").await.unwrap().unwrap().value["n"], "many");
}

/// A write in between the read and the write makes the update read again, and the
/// change is applied to what the other wrote.
#[tokio::test(flavor = "multi_thread")]
async fn a_concurrent_write_makes_it_read_again() {
    let (_d, kv) = kv();
    let mut calls = 0;
    let kv2 = &kv;
    let n = update(&kv, "k", None, 3, |c: Option<Count>| {
        calls += 1;
        if calls == 1 {
            // Someone else writes first: this attempt's conditional write must fail.
            let _ = block_on(kv2.put("k", serde_json::json!({"n": 10}), Condition::Always, None));
        }
        let mut c = c.unwrap_or_default();
        c.n += 1;
        Ok::<_, std::convert::Infallible>(Change::Write(c.clone(), c.n))
    })
    .await
    .unwrap();
    assert_eq!((n, calls), (11, 2));
}

/// Every attempt lost: a retryable contention, naming the key.
#[tokio::test(flavor = "multi_thread")]
async fn losing_every_attempt_is_contention() {
    let (_d, kv) = kv();
    let kv2 = &kv;
    let e = update(&kv, "k", None, 2, |c: Option<Count>| {
        let _ = block_on(kv2.put("k", serde_json::json!({"n": 1}), Condition::Always, None));
        let c = c.unwrap_or_default();
        Ok::<_, std::convert::Infallible>(Change::Write(c.clone(), c.n))
    })
    .await
    .unwrap_err();
    assert!(matches!(&e, UpdateError::Contended(k) if k == "k"), "{e}");
    assert!(e.is_retryable());
}

/// Runs a local adapter's future to completion inside a synchronous change (the local
/// key-value store answers without waiting on anything).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}
