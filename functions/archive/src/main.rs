//! The archive Lambda, invoked on a schedule: writes what the store recorded since its last
//! run (facts, decisions with their fired rules and near misses, outcomes) as Parquet files
//! under `analytics/` in the raw payloads' bucket, where the Glue tables of terraform's
//! `analytics` module make them Athena's. Its cursors are in the key-value table; a run cut
//! short (the timeout, S3 unavailable) is taken up by the next, writing the same files again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helios_archive::{ArchiveReport, Archiver};
use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::{service_fn, Error, LambdaEvent};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows, Port::ArchiveWrite, Port::KvRead, Port::KvWrite];

/// No batch is started with less than this left before the invocation's deadline: a batch
/// of 10,000 rows takes about a second; the margin is for a slow S3 or database.
const MARGIN: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let d = FunctionPorts::from_env(PORTS).await?;
    let archiver = Archiver::in_bucket(d.store.clone(), d.blobs.clone(), d.kv.clone(), d.clock);
    let archiver = &archiver;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            let done = run(archiver, deadline).await;
            if let Ok(r) = &done {
                // What /metrics counts as helios_archived_rows_total{table} on helios dev.
                use helios_runtime::metrics::{emit, Unit};
                emit(&[
                    ("ArchivedFacts", r.facts as f64, Unit::Count),
                    ("ArchivedDecisions", r.decisions as f64, Unit::Count),
                    ("ArchivedOutcomes", r.outcomes as f64, Unit::Count),
                ]);
            }
            helios_runtime::telemetry::flush().await;
            Ok::<_, Error>(serde_json::to_value(done?)?)
        },
    ))
    .await
}

/// Batches until nothing is left to archive or the deadline is near.
async fn run(archiver: &Archiver, deadline: SystemTime) -> Result<ArchiveReport, Error> {
    let time_left = || {
        deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            >= MARGIN
    };
    let report = archiver.run_while(time_left).await?;
    if !time_left() {
        tracing::info!(
            rows = report.rows(),
            "archive run stops for the deadline; the next takes up"
        );
    }
    Ok(report)
}
