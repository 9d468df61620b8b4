//! The behaviour every adapter of a port must show, written once and run against each
//! adapter (local here, AWS against the emulator). Each function panics with a message
//! naming the behaviour that broke, as a test would.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use crate::{BlobStore, Condition, KeyValue, Message, Queue, Written};

/// A key prefix unique to one run, so that suites can share a backend.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub async fn blob_store(store: &dyn BlobStore) {
    let key = format!("{}/payload.json", unique("suite"));
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "an absent key reads as None"
    );
    store
        .put(&key, Bytes::from_static(b"{\"a\":1}"), "application/json")
        .await
        .unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().unwrap(),
        Bytes::from_static(b"{\"a\":1}"),
        "a put is read back byte for byte"
    );
    store
        .put(&key, Bytes::from_static(b"v2"), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().unwrap(),
        Bytes::from_static(b"v2"),
        "a second put replaces the first"
    );
    assert!(
        store.locate(&key).contains("payload.json"),
        "locate names the object"
    );
}

/// `advance` moves the adapter's clock forward (or waits, for a real backend).
pub async fn key_value<F, Fut>(kv: &dyn KeyValue, advance: F)
where
    F: Fn(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let k = unique("kv");
    assert_eq!(kv.get(&k).await.unwrap(), None);
    let v1 = match kv
        .put(
            &k,
            serde_json::json!({"state": "IN_PROGRESS"}),
            Condition::NotExists,
            None,
        )
        .await
        .unwrap()
    {
        Written::Yes { version } => version,
        Written::ConditionFailed => panic!("a put if-not-exists on a new key must succeed"),
    };
    assert_eq!(
        kv.put(
            &k,
            serde_json::json!({"state": "other"}),
            Condition::NotExists,
            None
        )
        .await
        .unwrap(),
        Written::ConditionFailed,
        "a second put if-not-exists must fail"
    );
    assert_eq!(
        kv.get(&k).await.unwrap().unwrap().value["state"],
        "IN_PROGRESS",
        "a failed put changes nothing"
    );
    assert_eq!(
        kv.put(&k, serde_json::json!(1), Condition::VersionIs(v1 + 7), None)
            .await
            .unwrap(),
        Written::ConditionFailed,
        "a put at a stale version must fail"
    );
    let v2 = match kv
        .put(
            &k,
            serde_json::json!({"state": "COMPLETED"}),
            Condition::VersionIs(v1),
            None,
        )
        .await
        .unwrap()
    {
        Written::Yes { version } => version,
        Written::ConditionFailed => panic!("a put at the current version must succeed"),
    };
    assert!(v2 > v1, "versions grow");
    assert_eq!(
        kv.delete(&k, Condition::VersionIs(v1)).await.unwrap(),
        Written::ConditionFailed
    );
    assert!(matches!(
        kv.delete(&k, Condition::Always).await.unwrap(),
        Written::Yes { .. }
    ));
    assert_eq!(
        kv.get(&k).await.unwrap(),
        None,
        "a deleted key reads as None"
    );

    // The same item through the text calls, which `update` uses: what one way writes the
    // other reads, with the same versions and conditions.
    let x = unique("text");
    assert_eq!(kv.get_text(&x).await.unwrap(), None);
    let t1 = match kv
        .put_text(
            &x,
            r#"{"entries":[{"t":1,"id":"a"}]}"#.into(),
            Condition::NotExists,
            None,
        )
        .await
        .unwrap()
    {
        Written::Yes { version } => version,
        Written::ConditionFailed => panic!("a text put if-not-exists on a new key must succeed"),
    };
    assert_eq!(
        kv.get(&x).await.unwrap().unwrap().value,
        serde_json::json!({"entries": [{"t": 1, "id": "a"}]}),
        "text written is read back as its JSON"
    );
    assert_eq!(
        kv.put_text(&x, "[]".into(), Condition::VersionIs(t1 + 7), None)
            .await
            .unwrap(),
        Written::ConditionFailed,
        "a text put at a stale version must fail"
    );
    let t2 = match kv
        .put(
            &x,
            serde_json::json!({"n": [1, 2]}),
            Condition::VersionIs(t1),
            None,
        )
        .await
        .unwrap()
    {
        Written::Yes { version } => version,
        Written::ConditionFailed => panic!("a put at the text put's version must succeed"),
    };
    let read = kv.get_text(&x).await.unwrap().unwrap();
    assert_eq!(read.version, t2, "the text read carries the item's version");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&read.text).unwrap(),
        serde_json::json!({"n": [1, 2]}),
        "a value put is read back as its JSON text"
    );

    let c = unique("counter");
    assert_eq!(
        kv.increment(&c, 1, None).await.unwrap(),
        1,
        "a counter starts at zero"
    );
    assert_eq!(kv.increment(&c, 5, None).await.unwrap(), 6);
    assert_eq!(kv.increment(&c, -2, None).await.unwrap(), 4);
    assert_eq!(
        kv.get_text(&c).await.unwrap().unwrap().text,
        "4",
        "a counter reads as its number"
    );

    let t = unique("ttl");
    kv.put(
        &t,
        serde_json::json!("x"),
        Condition::NotExists,
        Some(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert!(
        kv.get(&t).await.unwrap().unwrap().expires_at.is_some(),
        "an item with a ttl has an expiry"
    );
    advance(Duration::from_secs(3)).await;
    assert_eq!(
        kv.get(&t).await.unwrap(),
        None,
        "an expired item reads as absent"
    );
    assert!(
        matches!(
            kv.put(&t, serde_json::json!("y"), Condition::NotExists, None)
                .await
                .unwrap(),
            Written::Yes { .. }
        ),
        "an expired item does not block put if-not-exists"
    );
    let tc = unique("ttl-counter");
    kv.increment(&tc, 3, Some(Duration::from_secs(2)))
        .await
        .unwrap();
    advance(Duration::from_secs(3)).await;
    assert_eq!(
        kv.increment(&tc, 1, None).await.unwrap(),
        1,
        "an expired counter restarts at zero"
    );
}

fn msg(body: &str) -> Message {
    Message {
        body: body.into(),
        attributes: BTreeMap::from([("source".to_string(), "suite".to_string())]),
    }
}

/// How a queue backend is set up for [`queue`].
pub struct QueueSetup<'a> {
    pub queue: &'a str,
    /// Its dead-letter queue, after 2 receives.
    pub dlq: &'a str,
    /// Its visibility timeout.
    pub visibility: Duration,
    /// Whether a delete with the receipt of an earlier receive can be tried: SQS keeps the
    /// message (and answers success); moto deletes it, unlike SQS, so against moto this
    /// step is left out (said in the test that runs it).
    pub stale_receipts_kept: bool,
}

pub async fn queue<F, Fut>(q: &dyn Queue, setup: QueueSetup<'_>, advance: F)
where
    F: Fn(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (queue, dlq, visibility) = (setup.queue, setup.dlq, setup.visibility);
    q.send(queue, &msg("one")).await.unwrap();
    q.send(queue, &msg("two")).await.unwrap();
    let got = q.receive(queue, 10, None).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["one", "two"],
        "messages come in order"
    );
    assert_eq!(
        got[0].attributes["source"], "suite",
        "attributes travel with the message"
    );
    assert_eq!(got[0].receive_count, 1);
    assert!(
        q.receive(queue, 10, None).await.unwrap().is_empty(),
        "received messages are hidden"
    );
    assert_eq!(q.depth(queue).await.unwrap(), (0, 2), "both are in flight");
    assert!(
        q.delete(queue, &got[0].receipt).await.unwrap(),
        "a current receipt deletes"
    );
    advance(visibility + Duration::from_secs(1)).await;
    let again = q.receive(queue, 10, None).await.unwrap();
    assert_eq!(
        again.len(),
        1,
        "an undeleted message comes back after its visibility timeout"
    );
    assert_eq!(again[0].body, "two");
    assert_eq!(again[0].receive_count, 2);
    if setup.stale_receipts_kept {
        // A receipt of an earlier receive deletes nothing (SQS answers success all the same).
        let _ = q.delete(queue, &got[1].receipt).await.unwrap();
        assert_eq!(
            q.depth(queue).await.unwrap(),
            (0, 1),
            "a receipt of an earlier receive deletes nothing"
        );
    }
    assert!(q
        .change_visibility(queue, &again[0].receipt, Duration::ZERO)
        .await
        .unwrap());
    // Received twice already: the next receive moves it to the DLQ instead.
    assert!(
        q.receive(queue, 10, None).await.unwrap().is_empty(),
        "a message over its receive limit is not returned"
    );
    assert_eq!(
        q.depth(dlq).await.unwrap(),
        (1, 0),
        "it is in the dead-letter queue"
    );
    // Redrive: back to its queue once, as a new message; a second redrive moves nothing.
    assert_eq!(crate::redrive(q, dlq, queue).await.unwrap(), 1);
    assert_eq!(crate::redrive(q, dlq, queue).await.unwrap(), 0);
    let back = q.receive(queue, 10, None).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "two");
    assert_eq!(back[0].attributes["source"], "suite");
    assert_eq!(
        back[0].receive_count, 1,
        "a redriven message starts its count again"
    );
    assert!(q.delete(queue, &back[0].receipt).await.unwrap());
    assert_eq!(q.depth(queue).await.unwrap(), (0, 0));
    assert_eq!(q.depth(dlq).await.unwrap(), (0, 0));
}
