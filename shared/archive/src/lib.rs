//! The offline archive of the analytics plane (issue 18): facts, decisions and outcomes as
//! Parquet files, partitioned by day (and the facts by the family of their source), written
//! in batches behind the store, for Athena in AWS (Glue tables with partition projection) and
//! for the embedded engine of `helios analytics` or any Parquet reader locally.
//!
//! Layout, under the archive's blob store (the `archive/` folder of `helios dev`'s data
//! folder; an S3 prefix in AWS):
//!
//! ```text
//! facts/day=2026-12-03/family=github/part-00000000000000000001-00000000000000010000.parquet
//! decisions/day=2026-12-03/part-00000000000000000001-00000000000000004000.parquet
//! fired/day=2026-12-03/part-…   near_misses/day=2026-12-03/part-…   outcomes/day=…/part-…
//! ```
//!
//! Each stream (facts, decisions, outcomes) is read by the store's sequence of it, with a
//! cursor of its own. One file per partition per run, named after the run's range of that
//! sequence, so that a run done again (after a crash between writing and remembering) writes
//! the same files again rather than new ones: no row is archived twice. The tables and
//! their columns are in [`tables`]; `day` and `family` are the Hive partition columns of the
//! path.
//!
//! Archiving is never in the path of a decision: it reads what the store has recorded, on
//! its own schedule, and a failed run (a full disk, S3 unavailable) is retried by the next.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use helios_ports::store::{
    DecisionQuery, Decisions, Fact, FactQuery, Facts, Outcome, Outcomes, StoreError, StoredDecision,
};
use helios_ports::{BlobStore, Clock, Condition, KeyValue, PortError, Written};
use serde_json::json;

pub mod tables;
pub use tables::*;

/// The folder of the facts' files.
pub const FACTS: &str = "facts";

/// Where the archive remembers how far it got in the facts (the key-value store); the
/// decisions' and outcomes' cursors are [`Stream::cursor_key`].
pub const CURSOR_KEY: &str = "archive/facts";

/// The tables, each a folder of the archive.
pub const TABLES: [&str; 5] = ["facts", "decisions", "fired", "near_misses", "outcomes"];

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
    #[error("the archive's cursor cannot be read ({0}); fix or delete the item to go on")]
    Cursor(String),
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

/// The key of the facts' file of partition `(day, family)` for the run over the sequence
/// range `first..=last`.
pub fn file_key(day: &str, family: &str, first: i64, last: i64) -> String {
    format!("{FACTS}/day={day}/family={family}/part-{first:020}-{last:020}.parquet")
}

/// The key of a file of a table partitioned by day only, for the run over `first..=last`.
pub fn dated_key(table: &str, day: &str, first: i64, last: i64) -> String {
    format!("{table}/day={day}/part-{first:020}-{last:020}.parquet")
}

fn day(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

async fn put(blobs: &dyn BlobStore, key: String, b: &RecordBatch) -> Result<String, ArchiveError> {
    let bytes = to_parquet(b)?;
    blobs
        .put(&key, Bytes::from(bytes), "application/vnd.apache.parquet")
        .await?;
    Ok(key)
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
        let key = file_key(&date, family, first, last);
        keys.push(put(blobs, key, &facts_batch(&rows)?).await?);
    }
    Ok(keys)
}

/// Writes `decisions` (the run over `first..=last`) as the files of `decisions`, `fired` and
/// `near_misses`, one per day each (none for a table with no row that day); the keys written.
pub async fn write_decisions(
    blobs: &dyn BlobStore,
    decisions: &[StoredDecision],
    first: i64,
    last: i64,
) -> Result<Vec<String>, ArchiveError> {
    let mut days: BTreeMap<String, Vec<&StoredDecision>> = BTreeMap::new();
    for d in decisions {
        days.entry(day(&d.decision.decided_at)).or_default().push(d);
    }
    let mut keys = Vec::new();
    for (date, rows) in days {
        let key = dated_key("decisions", &date, first, last);
        keys.push(put(blobs, key, &decisions_batch(&rows)?).await?);
        if let Some(b) = fired_batch(&rows)? {
            keys.push(put(blobs, dated_key("fired", &date, first, last), &b).await?);
        }
        if let Some(b) = near_misses_batch(&rows)? {
            keys.push(put(blobs, dated_key("near_misses", &date, first, last), &b).await?);
        }
    }
    Ok(keys)
}

/// Writes `outcomes` (the run over `first..=last`) as one file per day; the keys written.
pub async fn write_outcomes(
    blobs: &dyn BlobStore,
    outcomes: &[(i64, Outcome)],
    first: i64,
    last: i64,
) -> Result<Vec<String>, ArchiveError> {
    let mut days: BTreeMap<String, Vec<&(i64, Outcome)>> = BTreeMap::new();
    for o in outcomes {
        days.entry(day(&o.1.recorded_at)).or_default().push(o);
    }
    let mut keys = Vec::new();
    for (date, rows) in days {
        let key = dated_key("outcomes", &date, first, last);
        keys.push(put(blobs, key, &outcomes_batch(&rows)?).await?);
    }
    Ok(keys)
}

/// Where the archive's files go in AWS: under this prefix of the bucket that keeps the raw
/// payloads (the Glue tables' locations are `s3://<bucket>/analytics/<table>/`).
pub const S3_PREFIX: &str = "analytics/";

/// A blob store seen under a prefix of another: the archive's files beside the raw payloads.
pub struct Prefixed {
    pub inner: Arc<dyn BlobStore>,
    pub prefix: String,
}

#[async_trait::async_trait]
impl BlobStore for Prefixed {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), PortError> {
        self.inner
            .put(&format!("{}{key}", self.prefix), body, content_type)
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, PortError> {
        self.inner.get(&format!("{}{key}", self.prefix)).await
    }

    fn locate(&self, key: &str) -> String {
        self.inner.locate(&format!("{}{key}", self.prefix))
    }
}

/// What the archive follows, each by the store's sequence of it, with a cursor of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Facts,
    Decisions,
    Outcomes,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::Facts, Stream::Decisions, Stream::Outcomes];

    /// The stream's name, as `/metrics` labels it (`facts`, `decisions`, `outcomes`).
    pub fn table(self) -> &'static str {
        match self {
            Stream::Facts => "facts",
            Stream::Decisions => "decisions",
            Stream::Outcomes => "outcomes",
        }
    }

    /// Where the archive remembers how far it got in this stream (the key-value store).
    pub fn cursor_key(self) -> &'static str {
        match self {
            Stream::Facts => CURSOR_KEY,
            Stream::Decisions => "archive/decisions",
            Stream::Outcomes => "archive/outcomes",
        }
    }
}

/// One page of a stream, in the order of its sequence.
enum Page {
    Facts(Vec<Fact>),
    Decisions(Vec<StoredDecision>),
    Outcomes(Vec<(i64, Outcome)>),
}

impl Page {
    /// Each row's position and time (received, decided, recorded).
    fn stamps(&self) -> Vec<(i64, DateTime<Utc>)> {
        match self {
            Page::Facts(v) => v.iter().map(|f| (f.seq, f.event.received_at)).collect(),
            Page::Decisions(v) => v.iter().map(|d| (d.seq, d.decision.decided_at)).collect(),
            Page::Outcomes(v) => v.iter().map(|(s, o)| (*s, o.recorded_at)).collect(),
        }
    }

    /// The rows through position `last`.
    fn through(self, last: i64) -> Page {
        match self {
            Page::Facts(v) => Page::Facts(v.into_iter().take_while(|f| f.seq <= last).collect()),
            Page::Decisions(v) => {
                Page::Decisions(v.into_iter().take_while(|d| d.seq <= last).collect())
            }
            Page::Outcomes(v) => {
                Page::Outcomes(v.into_iter().take_while(|o| o.0 <= last).collect())
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Page::Facts(v) => v.len(),
            Page::Decisions(v) => v.len(),
            Page::Outcomes(v) => v.len(),
        }
    }

    async fn write(
        &self,
        blobs: &dyn BlobStore,
        first: i64,
        last: i64,
    ) -> Result<Vec<String>, ArchiveError> {
        match self {
            Page::Facts(v) => write_facts(blobs, v, first, last).await,
            Page::Decisions(v) => write_decisions(blobs, v, first, last).await,
            Page::Outcomes(v) => write_outcomes(blobs, v, first, last).await,
        }
    }
}

/// What one run archived.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveReport {
    pub facts: usize,
    pub decisions: usize,
    pub outcomes: usize,
    pub files: usize,
    /// The last sequence number of the facts archived, after the run.
    pub through: i64,
}

impl ArchiveReport {
    /// Facts, decisions and outcomes archived.
    pub fn rows(&self) -> usize {
        self.facts + self.decisions + self.outcomes
    }
}

/// Archives what the store recorded since the last run (facts, decisions, outcomes), each in
/// the order of its sequence.
pub struct Archiver {
    pub facts: Arc<dyn Facts>,
    pub decisions: Arc<dyn Decisions>,
    pub outcomes: Arc<dyn Outcomes>,
    pub blobs: Arc<dyn BlobStore>,
    pub kv: Arc<dyn KeyValue>,
    pub clock: Arc<dyn Clock>,
    /// Rows less than this long old (received, decided, recorded) wait for the next run: a
    /// transaction that took a sequence number earlier may still be committing.
    pub grace: Duration,
    /// The most rows of one stream one file set holds.
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
    /// The archiver of a whole store (facts, decisions, outcomes) into `blobs`, its cursors
    /// in `kv`, in batches of 10,000 rows (about a second of one core each); rows younger
    /// than `grace` wait for the next run.
    pub fn of_store(
        store: Arc<dyn helios_ports::store::Store>,
        blobs: Arc<dyn BlobStore>,
        kv: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
        grace: Duration,
    ) -> Archiver {
        Archiver {
            facts: store.clone(),
            decisions: store.clone(),
            outcomes: store,
            blobs,
            kv,
            clock,
            grace,
            batch: 10_000,
        }
    }

    /// The archiver of the `archive` function in AWS: the store's rows, as Parquet under
    /// [`S3_PREFIX`] of the archive bucket (`bucket`), its cursors in the key-value table.
    /// A transaction of PostgreSQL commits within seconds of taking its sequence number: a
    /// minute's grace.
    pub fn in_bucket(
        store: Arc<dyn helios_ports::store::Store>,
        bucket: Arc<dyn BlobStore>,
        kv: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
    ) -> Archiver {
        let blobs = Arc::new(Prefixed {
            inner: bucket,
            prefix: S3_PREFIX.into(),
        });
        Archiver::of_store(store, blobs, kv, clock, Duration::from_secs(60))
    }

    /// Archives everything old enough, a batch at a time, until nothing is left.
    pub async fn run(&self) -> Result<ArchiveReport, ArchiveError> {
        self.run_while(|| true).await
    }

    /// Archives a batch at a time until nothing is left, or until `go_on` says no before a
    /// batch (a Lambda's deadline near): what it did, all batches together.
    pub async fn run_while(&self, go_on: impl Fn() -> bool) -> Result<ArchiveReport, ArchiveError> {
        let mut report = ArchiveReport::default();
        while go_on() {
            let one = self.run_once().await?;
            report.through = one.through.max(report.through);
            if one.rows() == 0 {
                break;
            }
            report.facts += one.facts;
            report.decisions += one.decisions;
            report.outcomes += one.outcomes;
            report.files += one.files;
        }
        Ok(report)
    }

    /// Archives one batch of each stream: the rows after its cursor that are older than the
    /// grace, at most [`Archiver::batch`] of them. What it did is told to
    /// `helios_ports::observe` (rows archived, or a failed run), which `/metrics` reads.
    pub async fn run_once(&self) -> Result<ArchiveReport, ArchiveError> {
        let mut report = ArchiveReport::default();
        for stream in Stream::ALL {
            let done = self.archive_once(stream).await;
            match &done {
                Ok((n, _, _)) => helios_ports::observe::archived(stream.table(), *n as u64, true),
                Err(_) => helios_ports::observe::archived(stream.table(), 0, false),
            }
            let (n, files, through) = done?;
            report.files += files;
            match stream {
                Stream::Facts => {
                    report.facts = n;
                    report.through = through;
                }
                Stream::Decisions => report.decisions = n,
                Stream::Outcomes => report.outcomes = n,
            }
        }
        Ok(report)
    }

    async fn page(&self, stream: Stream, after: i64) -> Result<Page, ArchiveError> {
        Ok(match stream {
            Stream::Facts => Page::Facts(
                self.facts
                    .list_facts(&FactQuery {
                        after: Some(after),
                        limit: self.batch,
                        ..Default::default()
                    })
                    .await?
                    .facts,
            ),
            Stream::Decisions => Page::Decisions(
                self.decisions
                    .list_decisions(&DecisionQuery {
                        after: Some(after),
                        limit: self.batch,
                        ..Default::default()
                    })
                    .await?
                    .decisions,
            ),
            Stream::Outcomes => {
                Page::Outcomes(self.outcomes.outcomes_after(after, self.batch).await?)
            }
        })
    }

    /// One batch of one stream: rows archived, files written, and the cursor after.
    async fn archive_once(&self, stream: Stream) -> Result<(usize, usize, i64), ArchiveError> {
        let key = stream.cursor_key();
        let (mut cursor, mut version) = match self.kv.get(key).await? {
            // A cursor that cannot be read is an error, never a reset to the start (which
            // would archive everything again).
            Some(item) => (
                serde_json::from_value::<Cursor>(item.value.clone())
                    .map_err(|e| ArchiveError::Cursor(format!("{key} is {}: {e}", item.value)))?,
                Some(item.version),
            ),
            None => (Cursor::default(), None),
        };
        let page = self.page(stream, cursor.done).await?;
        let through = match cursor.pending {
            // A run that did not finish: the same range again, so the same files.
            Some(p) => p,
            None => {
                let old_enough =
                    self.clock.now() - chrono::Duration::from_std(self.grace).unwrap_or_default();
                let Some((last, _)) = page
                    .stamps()
                    .into_iter()
                    .take_while(|(_, at)| *at <= old_enough)
                    .last()
                else {
                    return Ok((0, 0, cursor.done));
                };
                cursor.pending = Some(last);
                version = Some(self.save(key, &cursor, version).await?);
                last
            }
        };
        let rows = page.through(through);
        let keys = rows
            .write(self.blobs.as_ref(), cursor.done + 1, through)
            .await?;
        self.save(
            key,
            &Cursor {
                done: through,
                pending: None,
            },
            version,
        )
        .await?;
        tracing::info!(
            stream = ?stream,
            rows = rows.len(),
            files = keys.len(),
            through,
            "archived"
        );
        Ok((rows.len(), keys.len(), through))
    }

    /// Writes the cursor over the version read; its new version.
    async fn save(
        &self,
        key: &str,
        cursor: &Cursor,
        read: Option<u64>,
    ) -> Result<u64, ArchiveError> {
        let condition = match read {
            Some(v) => Condition::VersionIs(v),
            None => Condition::NotExists,
        };
        match self.kv.put(key, json!(cursor), condition, None).await? {
            Written::Yes { version } => Ok(version),
            Written::ConditionFailed => Err(ArchiveError::Raced),
        }
    }
}
