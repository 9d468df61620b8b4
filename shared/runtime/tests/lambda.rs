//! The SQS batch handler of the Lambda mains: every record handled, the failed ones (and
//! only they) reported back as partial batch failures, attributes and receive counts read.

use std::sync::Mutex;

use aws_lambda_events::sqs::SqsEvent;
use helios_runtime::lambda::sqs_batch;
use serde_json::json;

fn record(id: &str, body: &str, receives: u32) -> serde_json::Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("rh-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": receives.to_string(), "SentTimestamp": "1"},
        "messageAttributes": {
            "type": {"stringValue": "ci.build.finished", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
        },
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:helios-decide",
        "awsRegion": "us-east-1"
    })
}

#[tokio::test]
async fn failed_records_and_only_they_are_reported() {
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        record("m-1", "ok", 1),
        record("m-2", "fail", 3),
        record("m-3", "ok", 1),
        record("m-4", "poison", 5),
    ]}))
    .unwrap();
    let seen = Mutex::new(Vec::new());
    let response = sqs_batch(event, |m| {
        seen.lock().unwrap().push((
            m.message_id.clone(),
            m.receipt.clone(),
            m.receive_count,
            m.attributes.get("type").cloned(),
        ));
        async move {
            match m.body.as_str() {
                "ok" => Ok(()),
                "fail" => Err(helios_ports::MessageFailed {
                    error: "the store is unavailable".into(),
                    retryable: true,
                }),
                _ => Err(helios_ports::MessageFailed {
                    error: "not a canonical event".into(),
                    retryable: false,
                }),
            }
        }
    })
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["m-2", "m-4"],
        "retryable or not, a failure comes back (and dead-letters after maxReceiveCount)"
    );
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 4, "every record is handled");
    assert_eq!(
        seen[1],
        (
            "m-2".to_string(),
            "rh-m-2".to_string(),
            3,
            Some("ci.build.finished".to_string())
        )
    );
    let empty = sqs_batch(SqsEvent::default(), |_| async { Ok(()) }).await;
    assert!(empty.batch_item_failures.is_empty());
}
