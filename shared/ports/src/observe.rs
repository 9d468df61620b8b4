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
