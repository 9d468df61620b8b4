//! What the stores tell the analytics plane, without depending on it: each transaction's
//! time, by store. A process that exports metrics (`helios dev`'s `/metrics`) installs one
//! observer at start; without one, telling costs a read of an unset cell. An observer must
//! not block: it runs on the thread that committed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

type CommitObserver = Arc<dyn Fn(&str, Duration) + Send + Sync>;

static ON_COMMIT: OnceLock<CommitObserver> = OnceLock::new();

/// Installs the observer of commits: `f(store, took)` for each transaction committed
/// (`store`: `helios.db`, `local.db`, `postgres`). The first call wins; a later one is
/// ignored and answers `false`.
pub fn on_commit(f: impl Fn(&str, Duration) + Send + Sync + 'static) -> bool {
    ON_COMMIT.set(Arc::new(f)).is_ok()
}

/// Tells the observer, if any, that a transaction of `store` took `took`, its work and its
/// commit.
pub fn committed(store: &str, took: Duration) {
    if let Some(f) = ON_COMMIT.get() {
        f(store, took);
    }
}

/// The streams the archive follows, in the order [`archive_counts`] answers them.
pub const ARCHIVE_STREAMS: [&str; 3] = ["facts", "decisions", "outcomes"];

static ARCHIVED: [std::sync::atomic::AtomicU64; 3] = [
    std::sync::atomic::AtomicU64::new(0),
    std::sync::atomic::AtomicU64::new(0),
    std::sync::atomic::AtomicU64::new(0),
];
static ARCHIVE_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Tells that an archive run wrote `rows` rows of `stream` (one of [`ARCHIVE_STREAMS`]), or
/// failed (`ok` false: a full disk, an unavailable bucket): the archive tells, `/metrics`
/// reads.
pub fn archived(stream: &str, rows: u64, ok: bool) {
    use std::sync::atomic::Ordering;
    if !ok {
        ARCHIVE_FAILURES.fetch_add(1, Ordering::Relaxed);
    } else if let Some(i) = ARCHIVE_STREAMS.iter().position(|s| *s == stream) {
        ARCHIVED[i].fetch_add(rows, Ordering::Relaxed);
    }
}

/// Rows archived by stream (in the order of [`ARCHIVE_STREAMS`]), and archive runs that
/// failed, since the process started.
pub fn archive_counts() -> ([u64; 3], u64) {
    use std::sync::atomic::Ordering;
    (
        [0, 1, 2].map(|i| ARCHIVED[i].load(Ordering::Relaxed)),
        ARCHIVE_FAILURES.load(Ordering::Relaxed),
    )
}
