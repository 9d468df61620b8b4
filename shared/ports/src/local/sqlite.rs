//! How Helios uses its SQLite files: one thread owns each connection and runs the work sent
//! to it, WAL with `synchronous=NORMAL`, and checkpoints moved off the request path.
//!
//! One owner thread per file, fed through a channel, rather than a shared connection behind
//! a mutex taken from `spawn_blocking`: under load the blocking pool would park a thread per
//! waiting request and keep creating new ones, which costs far more than the SQL.
//!
//! In WAL mode with `synchronous=NORMAL` a commit is a write to the WAL without fsync and
//! survives the process being killed; the fsyncs happen at checkpoints. SQLite checkpoints
//! on the committing connection by default, so one request in every few dozen would pay for
//! them (tens of milliseconds on a slow disk). Here the owner never checkpoints; a second
//! connection on a thread of its own does, every second (`PASSIVE`: it never blocks the
//! writer), and truncates the WAL when it grows past 64 MiB (`TRUNCATE`: the writer waits
//! for that one). <https://www.sqlite.org/wal.html#ckpt>

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// Often enough to keep the WAL small, rarely enough that its fsyncs stay out of the way.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Past this size the WAL is checkpointed to the end and truncated, writers waiting: under
/// sustained writes a passive checkpoint never catches up and the WAL would grow forever.
const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A SQLite file, served by the thread that owns its connection.
#[derive(Clone, Debug)]
pub struct SqliteFile {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
}

/// The owner thread is gone (it panicked, or the process is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the SQLite thread of {0} has stopped")]
pub struct Stopped(pub String);

impl SqliteFile {
    /// Opens `path` (creating it), runs `init` on the connection (schema, migrations), then
    /// starts its owner and checkpointer.
    pub fn open<E: From<rusqlite::Error>>(
        path: &Path,
        init: impl FnOnce(&mut Connection) -> Result<(), E>,
    ) -> Result<SqliteFile, E> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            // The owner waits out a truncating checkpoint (seconds on a slow disk under a
            // burst) rather than failing the work with "database is locked".
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=60000; PRAGMA wal_autocheckpoint=0;",
        )?;
        init(&mut conn)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let name = format!(
            "sqlite:{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("db")
        );
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let mut conn = conn;
            // Ends when every sender is dropped.
            while let Ok(job) = rx.recv() {
                job(&mut conn);
            }
        });
        if let Err(e) = spawned {
            return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(e)).into());
        }
        spawn_checkpointer(path.to_path_buf());
        Ok(SqliteFile {
            jobs,
            path: path.to_path_buf(),
        })
    }

    /// Runs `f` on the owner thread and waits for its answer without blocking the runtime.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> Result<T, Stopped> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |c| {
            let _ = tx.send(f(c));
        });
        self.jobs
            .send(job)
            .map_err(|_| Stopped(self.path.display().to_string()))?;
        rx.await
            .map_err(|_| Stopped(self.path.display().to_string()))
    }
}

fn spawn_checkpointer(path: PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let Ok(c) = Connection::open(&path) else {
                return;
            };
            if c.execute_batch("PRAGMA busy_timeout=5000;").is_err() {
                return;
            }
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                if !path.exists() {
                    return;
                }
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                let big = std::fs::metadata(&wal)
                    .map(|m| m.len() > WAL_LIMIT_BYTES)
                    .unwrap_or(false);
                let sql = if big {
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                } else {
                    "PRAGMA wal_checkpoint(PASSIVE)"
                };
                if let Err(e) = c.query_row(sql, [], |_| Ok(())) {
                    tracing::warn!(path = %path.display(), error = %e, "checkpoint failed");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no checkpoint thread: the WAL of this file will grow until restart");
    }
}
