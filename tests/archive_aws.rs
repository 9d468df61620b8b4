//! The archive as the `archive` function wires it in AWS (`Archiver::in_bucket`): the
//! store's facts, decisions and outcomes become Parquet objects under `analytics/` of an S3
//! bucket, its cursors items of a DynamoDB table (both a moto server); the objects, copied
//! down as `aws s3 sync` would, are the tables `helios analytics` and Athena query.

mod support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use helios_aws::{DynamoKeyValue, S3Blobs};
use helios_events::{helios_id, Event, Format};
use helios_ports::store::{NewDecision, NewFact, Outcome, RawRef};
use helios_ports::{KeyValue, SystemClock};
use helios_store::prelude::*;
use helios_store::SqliteStore;
use helios_testkit::moto::Moto;
use serde_json::json;

async fn table(kv: &DynamoKeyValue, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    kv.client()
        .create_table()
        .table_name(name)
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
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_function_writes_parquet_to_s3_and_its_cursors_to_dynamodb() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let cfg = support::moto_config(&moto).await;
    let blobs = Arc::new(S3Blobs::new(&cfg, "helios-archive-t", true));
    blobs
        .client()
        .create_bucket()
        .bucket("helios-archive-t")
        .send()
        .await
        .unwrap();
    let kv = Arc::new(DynamoKeyValue::new(
        &cfg,
        "helios-state-t",
        Arc::new(SystemClock),
    ));
    table(&kv, "helios-state-t").await;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("helios.db")).unwrap());
    store.migrate().await.unwrap();
    // Recorded two minutes ago: past the function's grace of a minute.
    let at = Utc::now() - Duration::minutes(2);
    let facts: Vec<NewFact> = (0..250)
        .map(|i| NewFact {
            hold: None,
            event: Event {
                helios_id: helios_id("ci/buildkite", &i.to_string()),
                id: i.to_string(),
                source: "ci/buildkite".into(),
                event_type: "build.finished".into(),
                subject: Some("acme/web".into()),
                time: at,
                received_at: at,
                schema_version: 1,
                format: Format::Native,
                extensions: Default::default(),
                correlation: Default::default(),
                data: json!({"i": i}),
                schema: None,
                traceparent: None,
            },
            raw: RawRef {
                key: format!("raw/{i}.json"),
                index: 0,
            },
        })
        .collect();
    store.record_facts(&facts).await.unwrap();
    for (i, f) in facts.iter().take(40).enumerate() {
        let id = format!("dec_{i:03}");
        store
            .record_decision(&NewDecision {
                id: id.clone(),
                event_id: f.event.helios_id.clone(),
                ruleset: "default@1".into(),
                ruleset_hash: "h".into(),
                subject: Some("acme/web".into()),
                severity: Some("high".into()),
                score: 50.0,
                rules: vec!["ci-failing".into()],
                decided_at: at,
                body: json!({"fired": [{"rule": "ci-failing", "severity": "high", "score": 50}], "trace": []}),
            })
            .await
            .unwrap();
        store
            .record_outcome(&Outcome {
                decision_id: id.clone(),
                execution: format!("{id}-0"),
                kind: "acknowledged".into(),
                recorded_at: at + Duration::seconds(30),
                body: json!({"acked_by": "ann"}),
            })
            .await
            .unwrap();
    }

    let archiver = helios_archive::Archiver::in_bucket(
        store,
        blobs.clone(),
        kv.clone(),
        Arc::new(SystemClock),
    );
    let report = archiver.run().await.unwrap();
    assert_eq!(
        (report.facts, report.decisions, report.outcomes),
        (250, 40, 40)
    );

    // Every object is under analytics/, as Parquet.
    let listed = blobs
        .client()
        .list_objects_v2()
        .bucket("helios-archive-t")
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(keys.len(), report.files, "{keys:#?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("analytics/") && k.ends_with(".parquet")),
        "{keys:#?}"
    );
    // The cursors are in DynamoDB.
    for (key, done) in [
        ("archive/facts", 250),
        ("archive/decisions", 40),
        ("archive/outcomes", 40),
    ] {
        let item = kv
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no {key}"));
        assert_eq!(item.value, json!({"done": done}), "{key}");
    }
    // Copied down, the objects are the archive's tables.
    let local = tempfile::tempdir().unwrap();
    for k in &keys {
        use helios_ports::BlobStore as _;
        let body = blobs.get(k).await.unwrap().unwrap();
        let path = local.path().join(k.strip_prefix("analytics/").unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let archive = helios_analytics::Archive::open(local.path()).await.unwrap();
    let rows = helios_analytics::json_rows(
        &archive
            .query(
                "SELECT (SELECT count(*) FROM facts) AS facts, (SELECT count(*) FROM decisions) AS decisions, \
                 (SELECT count(*) FROM outcomes WHERE kind = 'acknowledged') AS acked",
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        rows,
        vec![json!({"facts": 250, "decisions": 40, "acked": 40})]
    );
    let ack = helios_analytics::json_rows(
        &archive
            .query(helios_analytics::saved("time_to_acknowledge").unwrap().sql)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ack.len(), 1, "{ack:?}");
    assert_eq!(ack[0]["rule"], "ci-failing");
    assert_eq!(ack[0]["acknowledged"], 40);
    assert_eq!(ack[0]["max_seconds"].as_f64(), Some(30.0), "{ack:?}");

    // Nothing new: nothing written.
    assert_eq!(archiver.run().await.unwrap().rows(), 0);
}
