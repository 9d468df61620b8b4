//! The AWS adapters against moto (an AWS API emulator started on 127.0.0.1 for this test):
//! the same behaviour suites as the local adapters, and the fan-out and workflow calls
//! Helios relies on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use helios_aws::{DynamoKeyValue, S3Blobs, SnsPublisher, SqsQueues, StepFunctions};
use helios_ports::{
    suite, BlobStore, Executions, Message, Publisher, Queue, SystemClock, Workflows,
};
use helios_testkit::moto::Moto;
use serde_json::json;

async fn config(moto: &Moto) -> aws_config::SdkConfig {
    helios_aws::config_loader()
        .endpoint_url(moto.url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// The ARN of the queue at `url`.
async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

fn moto() -> Moto {
    Moto::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A queue with a visibility timeout and a dead-letter queue after `max_receives`, as
/// terraform makes them; returns the queue's URL.
async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility: u64,
    max_receives: u32,
) -> String {
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(dlq.queue_url().unwrap())
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    sqs.create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn s3_blobs_pass_the_suite() {
    let moto = moto();
    let cfg = config(&moto).await;
    let blobs = S3Blobs::new(&cfg, "helios-raw", true);
    blobs
        .client()
        .create_bucket()
        .bucket("helios-raw")
        .send()
        .await
        .unwrap();
    suite::blob_store(&blobs).await;
    assert_eq!(blobs.locate("raw/a.json"), "s3://helios-raw/raw/a.json");
}

#[tokio::test]
async fn dynamodb_key_value_passes_the_suite() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let moto = moto();
    let cfg = config(&moto).await;
    let kv = DynamoKeyValue::new(&cfg, "helios-kv", Arc::new(SystemClock));
    kv.client()
        .create_table()
        .table_name("helios-kv")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // A real backend: time passes by waiting.
    suite::key_value(&kv, tokio::time::sleep).await;
}

#[tokio::test]
async fn sqs_queues_pass_the_suite() {
    let moto = moto();
    let cfg = config(&moto).await;
    let q = SqsQueues::new(&cfg);
    queue_with_dlq(q.client(), "work", 2, 2).await;
    let setup = suite::QueueSetup {
        queue: "work",
        dlq: "work-dlq",
        visibility: Duration::from_secs(2),
        // moto deletes a message given the receipt of an earlier receive; SQS keeps it
        // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html),
        // so that step of the suite runs against the local adapter only.
        stale_receipts_kept: false,
    };
    suite::queue(&q, setup, tokio::time::sleep).await;

    // helios redrive: moto has no StartMessageMoveTask, so the portable move runs; a message
    // in the DLQ goes back to its queue once.
    queue_with_dlq(q.client(), "jobs", 2, 1).await;
    q.send(
        "jobs",
        &Message {
            body: "poison".into(),
            attributes: Default::default(),
        },
    )
    .await
    .unwrap();
    let first = q.receive("jobs", 10, None).await.unwrap();
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        q.receive("jobs", 10, None).await.unwrap().is_empty(),
        "moved to the DLQ"
    );
    assert_eq!(q.depth("jobs-dlq").await.unwrap().0, 1);
    assert_eq!(
        q.redrive("jobs-dlq", "jobs").await.unwrap(),
        helios_ports::Redriven::Moved(1)
    );
    assert_eq!(
        q.redrive("jobs-dlq", "jobs").await.unwrap(),
        helios_ports::Redriven::Moved(0)
    );
    let back = q.receive("jobs", 10, None).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "poison");

    let unknown = q.depth("nope").await.unwrap_err();
    assert!(!unknown.is_retryable(), "{unknown}");
    assert!(unknown.to_string().contains("no SQS queue is named `nope`"));
}

/// The fan-out of the `events` topic: raw delivery to each subscribed queue, attributes
/// kept, a filter policy on an attribute honoured.
#[tokio::test]
async fn sns_fans_out_to_sqs_with_attributes_and_filter_policies() {
    let moto = moto();
    let cfg = config(&moto).await;
    let sns = aws_sdk_sns::Client::new(&cfg);
    let topic = sns
        .create_topic()
        .name("helios-events")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queues = SqsQueues::new(&cfg);
    for (name, filter) in [
        ("decide", None),
        ("expect", Some(json!({"type": ["heartbeat"]}))),
    ] {
        let url = queue_with_dlq(queues.client(), name, 30, 5).await;
        let arn = queue_arn(queues.client(), &url).await;
        let mut sub = sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true");
        if let Some(f) = filter {
            sub = sub.attributes("FilterPolicy", f.to_string());
        }
        sub.send().await.unwrap();
    }
    let publisher = SnsPublisher::new(&cfg, HashMap::from([("events".to_string(), topic)]));
    let messages: Vec<Message> = (0..12)
        .map(|i| Message {
            body: json!({"n": i}).to_string(),
            attributes: [
                (
                    "type".to_string(),
                    if i % 4 == 0 { "heartbeat" } else { "build" }.to_string(),
                ),
                ("source".to_string(), "ci".to_string()),
            ]
            .into(),
        })
        .collect();
    publisher.publish("events", &messages).await.unwrap();

    let drain = |queue: &'static str| {
        let queues = &queues;
        async move {
            let mut got = Vec::new();
            for _ in 0..20 {
                let batch = queues.receive(queue, 10, None).await.unwrap();
                if batch.is_empty() && !got.is_empty() {
                    break;
                }
                got.extend(batch);
            }
            got
        }
    };
    let decide = drain("decide").await;
    assert_eq!(
        decide.len(),
        12,
        "every message reaches an unfiltered subscription"
    );
    let m = decide.iter().find(|m| m.body == r#"{"n":0}"#).unwrap();
    assert_eq!(
        m.attributes["type"], "heartbeat",
        "raw delivery keeps attributes"
    );
    assert_eq!(m.attributes["source"], "ci");
    let expect = drain("expect").await;
    assert_eq!(
        expect.len(),
        3,
        "the filter policy lets the heartbeats through only"
    );
    let unknown = publisher.publish("nope", &messages).await.unwrap_err();
    assert!(unknown.to_string().contains("no SNS topic"), "{unknown}");
}

/// Starting executions by name once, and reading them back.
#[tokio::test]
async fn step_functions_start_once_by_name_and_read_executions_back() {
    let moto = moto();
    let cfg = config(&moto).await;
    let definition = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../statemachines/expectation.asl.json"),
    )
    .unwrap()
    .replace(
        "${ExpectFunctionArn}",
        "arn:aws:lambda:us-east-1:123456789012:function:helios-expect",
    );
    let client = aws_sdk_sfn::Client::new(&cfg);
    let arn = client
        .create_state_machine()
        .name("helios-expectation")
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/helios-states")
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let sfn = StepFunctions::new(&cfg, HashMap::from([("expectation".to_string(), arn)]));
    let input =
        json!({"expectation": "heartbeat", "key": "api", "deadline": "2026-11-23T09:01:30Z"});
    assert!(sfn
        .start("expectation", "exp-heartbeat-1", &input)
        .await
        .unwrap());
    assert!(
        !sfn.start("expectation", "exp-heartbeat-1", &json!({"other": true}))
            .await
            .unwrap(),
        "a name starts one execution"
    );
    let unknown = sfn.start("nope", "x", &input).await.unwrap_err();
    assert!(!unknown.is_retryable());

    let listed = sfn.list_executions().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "exp-heartbeat-1");
    assert_eq!(listed[0]["machine"], "expectation");
    let one = sfn
        .describe_execution("exp-heartbeat-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one["input"], input);
    assert!(one["history"]["events"].is_array(), "{one}");
    assert!(sfn.describe_execution("exp-none").await.unwrap().is_none());
}

/// The database password and the hook secrets come from Secrets Manager at init: an
/// RDS-managed secret gives the database URL; a missing or non-JSON secret is a clear error
/// that never shows the value.
#[tokio::test]
async fn secrets_manager_gives_the_database_secret_and_clear_errors() {
    let moto = moto();
    let config = config(&moto).await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = sm
        .create_secret()
        .name("rds!db-helios")
        .secret_string(r#"{"username": "helios", "password": "p@ss:w/rd"}"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    sm.create_secret()
        .name("not-json")
        .secret_string("hunter2")
        .send()
        .await
        .unwrap();
    let secrets = helios_aws::Secrets::new(&config);

    let secret = secrets.json(&arn).await.unwrap();
    assert_eq!(secret["username"], "helios");
    assert_eq!(secret["password"], "p@ss:w/rd");

    let not_json = secrets.json("not-json").await.unwrap_err().to_string();
    assert!(not_json.contains("not a JSON object"), "{not_json}");
    assert!(
        !not_json.contains("hunter2"),
        "the value leaked: {not_json}"
    );
    let missing = secrets
        .json("no-such-secret")
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("Secrets Manager"), "{missing}");
}

/// A mail channel publishes to its SNS topic with a subject: an SQS subscription (standing in
/// for the email ones moto cannot deliver) gets the subject and the text.
#[tokio::test]
async fn sns_mailer_publishes_a_subject_and_a_text() {
    use helios_ports::Mailer;
    let moto = moto();
    let config = config(&moto).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = sns
        .create_topic()
        .name("helios-notifications")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let inbox = sqs
        .create_queue()
        .queue_name("inbox")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let inbox_arn = queue_arn(&sqs, &inbox).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(inbox_arn)
        .send()
        .await
        .unwrap();

    let mailer = helios_aws::SnsMailer::new(&config);
    mailer
        .mail(
            &topic,
            "[high] déploiement raté",
            "deploy failed\n\ndecision: dec_1",
        )
        .await
        .unwrap();
    let got = sqs
        .receive_message()
        .queue_url(&inbox)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let envelope: serde_json::Value =
        serde_json::from_str(got.messages()[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], "[high] d?ploiement rat?");
    assert_eq!(envelope["Message"], "deploy failed\n\ndecision: dec_1");

    let missing = mailer
        .mail("arn:aws:sns:us-east-1:123456789012:nope", "s", "b")
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("SNS"), "{missing}");
}

#[tokio::test]
async fn api_gateway_sockets_post_to_a_connection() {
    use helios_ports::{Delivery, Sockets as _};
    let moto = moto();
    let cfg = config(&moto).await;
    // The stage's callback URL; moto answers the Management API at its own address.
    let sockets = helios_aws::ApiGatewaySockets::new(&cfg, &moto.url());
    assert_eq!(
        sockets.send("conn-1", r#"{"type":"batch"}"#).await.unwrap(),
        Delivery::Sent
    );
    // moto answers any connection id, so `Gone` (410) is not tried here: the adapter maps
    // the SDK's GoneException to it.
}
