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

static ARCHIVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static ARCHIVE_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Tells that an archive run wrote `facts` facts (`ok`), or failed (a full disk, an
/// unavailable bucket): the archive tells, `/metrics` reads.
pub fn archived(facts: u64, ok: bool) {
    use std::sync::atomic::Ordering;
    if ok {
        ARCHIVED.fetch_add(facts, Ordering::Relaxed);
    } else {
        ARCHIVE_FAILURES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Facts archived, and archive runs that failed, since the process started.
pub fn archive_counts() -> (u64, u64) {
    use std::sync::atomic::Ordering;
    (
        ARCHIVED.load(Ordering::Relaxed),
        ARCHIVE_FAILURES.load(Ordering::Relaxed),
    )
}
