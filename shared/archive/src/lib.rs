//! The offline archive of the analytics plane (issue 18): the facts as Parquet files,
//! partitioned by the day they were received and the family of their source, written in
//! batches behind the store, for Athena in AWS (Glue tables with partition projection) and
//! for any Parquet reader locally.
//!
//! Layout, under the archive's blob store (the `archive/` folder of `helios dev`'s data
//! folder; an S3 prefix in AWS):
//!
//! ```text
//! facts/date=2026-12-03/family=github/part-00000000000000000001-00000000000000010000.parquet
//! ```
//!
//! One file per partition per run, named after the run's range of the store's sequence, so
//! that a run done again (after a crash between writing and remembering) writes the same
//! files again rather than new ones: no fact is archived twice. The schema of the files is
//! [`facts_schema`]; `date` and `family` are the Hive partition columns of the path.
//!
//! Archiving is never in the path of a decision: it reads what the store has recorded, on
//! its own schedule, and a failed run (a full disk, S3 unavailable) is retried by the next.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use helios_ports::store::{Fact, FactQuery, Facts, StoreError};
use helios_ports::{BlobStore, Clock, Condition, KeyValue, PortError, Written};
use serde_json::json;

/// The folder of the facts' files.
pub const FACTS: &str = "facts";

/// Where the archive remembers how far it got (the key-value store).
pub const CURSOR_KEY: &str = "archive/facts";

/// Why archiving failed; the next run starts again from where the last one ended.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("the Parquet file could not be written: {0}")]
    Parquet(String),
    #[error("another archiver moved the cursor meanwhile; this run's files are its files too")]
    Raced,
}

/// The columns of the facts' files, in order. Times are microseconds in UTC; `correlation`
/// and `data` are JSON text (Athena's `json_extract_scalar`, DuckDB's `->>`).
pub fn facts_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("helios_id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("subject", DataType::Utf8, true),
        Field::new("time", ts(), false),
        Field::new("received_at", ts(), false),
        Field::new("format", DataType::Utf8, false),
        Field::new("correlation", DataType::Utf8, false),
        Field::new("data", DataType::Utf8, false),
        Field::new("schema_valid", DataType::Boolean, true),
        Field::new("trace_id", DataType::Utf8, true),
    ]))
}

/// The facts as one Arrow batch of [`facts_schema`].
pub fn facts_batch(facts: &[&Fact]) -> Result<RecordBatch, ArchiveError> {
    let n = facts.len();
    let mut seq = Int64Builder::with_capacity(n);
    let mut helios_id = StringBuilder::with_capacity(n, n * 36);
    let mut source = StringBuilder::with_capacity(n, n * 16);
    let mut id = StringBuilder::with_capacity(n, n * 16);
    let mut event_type = StringBuilder::with_capacity(n, n * 24);
    let mut subject = StringBuilder::with_capacity(n, n * 16);
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut received = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut format = StringBuilder::with_capacity(n, n * 8);
    let mut correlation = StringBuilder::with_capacity(n, n * 32);
    let mut data = StringBuilder::with_capacity(n, n * 256);
    let mut schema_valid = BooleanBuilder::with_capacity(n);
    let mut trace_id = StringBuilder::with_capacity(n, n * 32);
    let mut text = String::new();
    for f in facts {
        let e = &f.event;
        seq.append_value(f.seq);
        helios_id.append_value(&e.helios_id);
        source.append_value(&e.source);
        id.append_value(&e.id);
        event_type.append_value(&e.event_type);
        subject.append_option(e.subject.as_deref());
        time.append_value(e.time.timestamp_micros());
        received.append_value(e.received_at.timestamp_micros());
        format.append_value(e.format.to_string());
        text.clear();
        json_into(&mut text, &e.correlation)?;
        correlation.append_value(&text);
        text.clear();
        json_into(&mut text, &e.data)?;
        data.append_value(&text);
        schema_valid.append_option(e.schema.as_ref().map(|s| s.valid));
        trace_id.append_option(
            e.traceparent
                .as_deref()
                .and_then(helios_ports::trace::TraceContext::parse)
                .map(|t| t.trace_id_hex()),
        );
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(helios_id.finish()),
        Arc::new(source.finish()),
        Arc::new(id.finish()),
        Arc::new(event_type.finish()),
        Arc::new(subject.finish()),
        Arc::new(time.finish()),
        Arc::new(received.finish()),
        Arc::new(format.finish()),
        Arc::new(correlation.finish()),
        Arc::new(data.finish()),
        Arc::new(schema_valid.finish()),
        Arc::new(trace_id.finish()),
    ];
    RecordBatch::try_new(facts_schema(), columns).map_err(|e| ArchiveError::Parquet(e.to_string()))
}

fn json_into<T: serde::Serialize>(out: &mut String, value: &T) -> Result<(), ArchiveError> {
    // Serialising a JSON value or a map of strings cannot fail; said rather than unwrapped.
    let s = serde_json::to_string(value).map_err(|e| ArchiveError::Parquet(e.to_string()))?;
    out.push_str(&s);
    Ok(())
}

/// A batch as the bytes of a Parquet file (Snappy pages, statistics on every column).
pub fn to_parquet(batch: &RecordBatch) -> Result<Vec<u8>, ArchiveError> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("helios".into())
        .build();
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 3);
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))
        .map_err(|e| ArchiveError::Parquet(e.to_string()))?;
    writer
        .write(batch)
        .map_err(|e| ArchiveError::Parquet(e.to_string()))?;
    writer
        .close()
        .map_err(|e| ArchiveError::Parquet(e.to_string()))?;
    Ok(out)
}

/// The partition a fact is archived in: the UTC day it was received (`2026-12-03`) and its
/// source's family (`github`, `ci`, `aws`, `gcp`, `azure`, `cloudevents`, `native`).
pub fn partition(f: &Fact) -> (String, &'static str) {
    (
        f.event.received_at.format("%Y-%m-%d").to_string(),
        f.event.family(),
    )
}

/// The key of the file of partition `(date, family)` for the run over the sequence range
/// `first..=last`.
pub fn file_key(date: &str, family: &str, first: i64, last: i64) -> String {
    format!("{FACTS}/date={date}/family={family}/part-{first:020}-{last:020}.parquet")
}

/// Writes `facts` (the run over `first..=last`) as one file per partition; the keys written.
pub async fn write_facts(
    blobs: &dyn BlobStore,
    facts: &[Fact],
    first: i64,
    last: i64,
) -> Result<Vec<String>, ArchiveError> {
    let mut groups: BTreeMap<(String, &'static str), Vec<&Fact>> = BTreeMap::new();
    for f in facts {
        groups.entry(partition(f)).or_default().push(f);
    }
    let mut keys = Vec::with_capacity(groups.len());
    for ((date, family), rows) in groups {
        let bytes = to_parquet(&facts_batch(&rows)?)?;
        let key = file_key(&date, family, first, last);
        blobs
            .put(&key, Bytes::from(bytes), "application/vnd.apache.parquet")
            .await?;
        keys.push(key);
    }
    Ok(keys)
}

/// What one run archived.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveReport {
    pub facts: usize,
    pub files: usize,
    /// The last sequence number archived, after the run.
    pub through: i64,
}

/// Archives the facts the store recorded since the last run, in order of its sequence.
pub struct Archiver {
    pub facts: Arc<dyn Facts>,
    pub blobs: Arc<dyn BlobStore>,
    pub kv: Arc<dyn KeyValue>,
    pub clock: Arc<dyn Clock>,
    /// Facts received less than this long ago wait for the next run: a transaction that
    /// took a sequence number earlier may still be committing.
    pub grace: Duration,
    /// The most facts one file set holds.
    pub batch: usize,
}

/// How far the archive got: everything through `done`; `pending` is a range whose files are
/// being written (done again, the same files, after a crash).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    done: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<i64>,
}

impl Archiver {
    /// Archives everything old enough, a batch at a time, until nothing is left.
    pub async fn run(&self) -> Result<ArchiveReport, ArchiveError> {
        let mut report = ArchiveReport::default();
        loop {
            let one = self.run_once().await?;
            report.through = one.through.max(report.through);
            if one.facts == 0 {
                return Ok(report);
            }
            report.facts += one.facts;
            report.files += one.files;
        }
    }

    /// Archives one batch: the facts after the cursor that are older than the grace, at most
    /// [`Archiver::batch`] of them. What it did is told to `helios_ports::observe` (facts
    /// archived, or a failed run), which `/metrics` reads.
    pub async fn run_once(&self) -> Result<ArchiveReport, ArchiveError> {
        let done = self.archive_once().await;
        match &done {
            Ok(r) => helios_ports::observe::archived(r.facts as u64, true),
            Err(_) => helios_ports::observe::archived(0, false),
        }
        done
    }

    async fn archive_once(&self) -> Result<ArchiveReport, ArchiveError> {
        let (mut cursor, mut version) = match self.kv.get(CURSOR_KEY).await? {
            Some(item) => (
                serde_json::from_value::<Cursor>(item.value).unwrap_or_default(),
                Some(item.version),
            ),
            None => (Cursor::default(), None),
        };
        let page = self
            .facts
            .list_facts(&FactQuery {
                after: Some(cursor.done),
                limit: self.batch,
                ..Default::default()
            })
            .await?;
        let through = match cursor.pending {
            // A run that did not finish: the same range again, so the same files.
            Some(p) => p,
            None => {
                let old_enough =
                    self.clock.now() - chrono::Duration::from_std(self.grace).unwrap_or_default();
                let Some(last) = page
                    .facts
                    .iter()
                    .take_while(|f| f.event.received_at <= old_enough)
                    .last()
                else {
                    return Ok(ArchiveReport {
                        through: cursor.done,
                        ..Default::default()
                    });
                };
                cursor.pending = Some(last.seq);
                version = Some(self.save(&cursor, version).await?);
                last.seq
            }
        };
        let facts: Vec<Fact> = page
            .facts
            .into_iter()
            .take_while(|f| f.seq <= through)
            .collect();
        let keys = write_facts(self.blobs.as_ref(), &facts, cursor.done + 1, through).await?;
        let report = ArchiveReport {
            facts: facts.len(),
            files: keys.len(),
            through,
        };
        self.save(
            &Cursor {
                done: through,
                pending: None,
            },
            version,
        )
        .await?;
        tracing::info!(
            facts = report.facts,
            files = report.files,
            through,
            "facts archived"
        );
        Ok(report)
    }

    /// Writes the cursor over the version read; its new version.
    async fn save(&self, cursor: &Cursor, read: Option<u64>) -> Result<u64, ArchiveError> {
        let condition = match read {
            Some(v) => Condition::VersionIs(v),
            None => Condition::NotExists,
        };
        match self
            .kv
            .put(CURSOR_KEY, json!(cursor), condition, None)
            .await?
        {
            Written::Yes { version } => Ok(version),
            Written::ConditionFailed => Err(ArchiveError::Raced),
        }
    }
}
