//! How Helios uses its SQLite files: one thread owns each connection and runs the work sent
//! to it, committing what is queued together, WAL with `synchronous=NORMAL`, and the fsyncs
//! of checkpoints moved off the request path.
//!
//! One owner thread per file, fed through a channel, rather than a shared connection behind
//! a mutex taken from `spawn_blocking`: under load the blocking pool would park a thread per
//! waiting request and keep creating new ones, which costs far more than the SQL.
//!
//! **Group commit.** Every piece of work runs in a savepoint of its own (rolled back if it
//! fails), inside one transaction with the work queued behind it, and is answered after that
//! transaction commits. A commit writes each page it changed to the WAL once, so ten writers
//! that touch the same index pages cost one commit's worth of WAL instead of ten.
//!
//! **Checkpoints.** In WAL mode with `synchronous=NORMAL` a commit is a write to the WAL
//! without fsync and survives the process being killed; the fsyncs happen at checkpoints.
//! SQLite checkpoints on the committing connection by default, so one request in every few
//! dozen would pay for them. Here a second connection on a thread of its own checkpoints
//! (`PASSIVE`: never blocks the writer; it does the copying and the fsyncs) every 20 ms while
//! there are writes, every 250 ms otherwise. Small, frequent checkpoints keep each fsync
//! short: on the project's VM, where the WAL writes of a commit stall while a large fsync is
//! under way, the p99 of single-event ingest fell from ~22 ms with a checkpoint a second to
//! ~8 ms (docs/benchmarks.md).
//! Under steady writes a passive checkpoint never catches up to the end of the WAL (frames
//! keep arriving while it runs), and SQLite only starts the WAL over from its beginning once
//! everything in it is checkpointed, so the file would grow forever. When the WAL holds more
//! than a limit, the owner itself runs a `RESTART` checkpoint right after a passive one: it
//! only has the frames written since to copy, and with no other writer it never waits on a
//! lock. The next commit then writes the WAL from its start again; the file keeps its size
//! (truncating it costs more than reusing it). <https://www.sqlite.org/wal.html#ckpt>

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

use rusqlite::Connection;

/// When the checkpointer runs, and how large the WAL may grow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// The pause between checkpoints while the WAL keeps growing.
    pub checkpoint_every: Duration,
    /// The pause after a checkpoint that found nothing new.
    pub checkpoint_idle: Duration,
    /// Past this many bytes of WAL frames the WAL is started over (see the module docs).
    pub wal_limit_bytes: u64,
    /// The most pieces of work committed together.
    pub max_group: usize,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            checkpoint_every: Duration::from_millis(20),
            checkpoint_idle: Duration::from_millis(250),
            wal_limit_bytes: 64 * 1024 * 1024,
            max_group: 64,
        }
    }
}

/// What the owner thread is sent: work for the current group, or work that must run outside
/// any transaction (a checkpoint).
enum Work {
    Grouped(Grouped),
    Alone(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// Given the connection, runs in its savepoint and returns how to answer once the group's fate
/// is known (`None` when it committed, or why it did not); given why it cannot run, answers
/// that at once.
type Grouped = Box<dyn FnOnce(Result<&mut Connection, &str>) -> Option<Answer> + Send>;
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// A SQLite file, served by the thread that owns its connection.
#[derive(Clone, Debug)]
pub struct SqliteFile {
    jobs: Arc<mpsc::Sender<Work>>,
    /// Shared: every call keeps a handle on it, for its error.
    path: Arc<Path>,
}

/// Why work sent to a SQLite file has no answer of its own.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    /// The owner thread is gone (it panicked, or the process is shutting down).
    #[error("the SQLite thread of {0} has stopped")]
    Stopped(String),
    /// The work ran, but the transaction it was part of did not commit: none of it was kept.
    #[error("the transaction of {path} did not commit, nothing of it was kept: {reason}")]
    NotCommitted { path: String, reason: String },
}

impl SqliteFile {
    /// Opens `path` (creating it), runs `init` on the connection (schema, migrations), then
    /// starts its owner and checkpointer.
    pub fn open<E: From<rusqlite::Error>>(
        path: &Path,
        init: impl FnOnce(&mut Connection) -> Result<(), E>,
    ) -> Result<SqliteFile, E> {
        Self::open_tuned(path, Tuning::default(), init)
    }

    pub(crate) fn open_tuned<E: From<rusqlite::Error>>(
        path: &Path,
        tuning: Tuning,
        init: impl FnOnce(&mut Connection) -> Result<(), E>,
    ) -> Result<SqliteFile, E> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            // Another process writing the same file (`helios keys` while `helios dev` runs) is
            // waited for rather than failing the work with "database is locked".
            // `temp_store=MEMORY` keeps the savepoints' journals in memory: each piece of work
            // runs in a savepoint, and a page that the group had already changed is copied to
            // that journal before the piece changes it again. On disk (the default past
            // 64 KiB) that was a `pwrite` to a temporary file per such page, 11 % of the owner
            // thread's time when ingesting into a grown store (docs/benchmarks.md).
            // `cache_spill=16384`: a group's changed pages stay in memory until it commits, up
            // to 64 MiB (a full group of 64 batches of 100 events into a grown store) instead of
            // 2 MiB, SQLite's page cache. Past the cache SQLite writes changed pages to the WAL
            // one by one in the middle of the transaction (and reads them back from it): in a
            // store of 1,095,000 events that cost the owner about a fifth more time per batch.
            // Only changed pages are kept past the cache, and only until the commit.
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=60000; PRAGMA wal_autocheckpoint=0; PRAGMA temp_store=MEMORY; PRAGMA cache_spill=16384;",
        )?;
        init(&mut conn)?;
        let (jobs, rx) = mpsc::channel::<Work>();
        let name = format!(
            "sqlite:{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("db")
        );
        let max_group = tuning.max_group.max(1);
        let written = Arc::new(AtomicU64::new(0));
        let changes = written.clone();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("db")
            .to_string();
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || own(conn, rx, max_group, &changes, &file));
        if let Err(e) = spawned {
            return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(e)).into());
        }
        let jobs = Arc::new(jobs);
        spawn_checkpointer(path.to_path_buf(), tuning, Arc::downgrade(&jobs), written);
        Ok(SqliteFile {
            jobs,
            path: Arc::from(path),
        })
    }

    /// Runs `f` on the owner thread, in a savepoint of the transaction of the current group:
    /// all of its changes are kept or none (an `Err` rolls them back), and the answer comes
    /// once they are committed. `f` must not begin or commit transactions of its own.
    pub async fn call<T: Send + 'static, E: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, Failed> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let path = self.path.clone();
        let job: Grouped = Box::new(move |c| {
            let c = match c {
                Ok(c) => c,
                Err(reason) => {
                    let _ = tx.send(Err(Failed::NotCommitted {
                        path: path.display().to_string(),
                        reason: reason.to_string(),
                    }));
                    return None;
                }
            };
            let out = in_savepoint(c, f);
            Some(Box::new(move |not_committed: Option<&str>| {
                let not_kept = |reason: String| Failed::NotCommitted {
                    path: path.display().to_string(),
                    reason,
                };
                let answer = match (out, not_committed) {
                    // Failed by itself: nothing of it was kept, whatever became of the group.
                    (Ok(Err(e)), _) => Ok(Err(e)),
                    (Ok(Ok(v)), None) => Ok(Ok(v)),
                    (Ok(Ok(_)), Some(reason)) => Err(not_kept(reason.to_string())),
                    (Err(savepoint), _) => Err(not_kept(savepoint)),
                };
                let _ = tx.send(answer);
            }))
        });
        self.jobs
            .send(Work::Grouped(job))
            .map_err(|_| self.stopped())?;
        rx.await.map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> Failed {
        Failed::Stopped(self.path.display().to_string())
    }
}

/// Runs `f` in a savepoint: released when `f` succeeds, rolled back when it fails. `Err` when
/// the savepoint itself could not be taken or released. The savepoint's statements are
/// prepared once per connection: parsing them for every piece of work cost more than the
/// work's own statements.
fn in_savepoint<T, E>(
    c: &mut Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<Result<T, E>, String> {
    run_cached(c, "SAVEPOINT piece").map_err(|e| e.to_string())?;
    let out = f(c);
    if out.is_err() {
        run_cached(c, "ROLLBACK TO piece").map_err(|e| e.to_string())?;
    }
    run_cached(c, "RELEASE piece").map_err(|e| e.to_string())?;
    Ok(out)
}

/// Runs a statement without parameters, prepared once per connection.
fn run_cached(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `sql` with `params`, the statement prepared once per connection and kept
/// (`Connection::execute` parses it again on every call).
pub fn execute_cached(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// The owner thread: takes the work queued, up to `max_group` pieces, runs it in one
/// transaction and answers each piece after the commit. Ends when every sender is dropped.
/// `written` counts the rows this connection has changed, for the checkpointer. Each group's
/// transaction is timed for the metrics (`helios_ports::observe`), by the file's name.
fn own(
    mut conn: Connection,
    rx: mpsc::Receiver<Work>,
    max_group: usize,
    written: &AtomicU64,
    file: &str,
) {
    let mut group: Vec<Grouped> = Vec::with_capacity(max_group);
    while let Ok(first) = rx.recv() {
        let mut alone = None;
        match first {
            Work::Alone(job) => alone = Some(job),
            Work::Grouped(job) => {
                group.push(job);
                while group.len() < max_group {
                    match rx.try_recv() {
                        Ok(Work::Grouped(job)) => group.push(job),
                        Ok(Work::Alone(job)) => {
                            alone = Some(job);
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        if !group.is_empty() {
            let started = std::time::Instant::now();
            commit_group(&mut conn, group.drain(..));
            helios_ports::observe::committed(file, started.elapsed());
            written.store(conn.total_changes(), Ordering::Relaxed);
        }
        if let Some(job) = alone {
            job(&mut conn);
        }
    }
}

fn commit_group(conn: &mut Connection, jobs: impl Iterator<Item = Grouped>) {
    // Answers of the work in the open transaction, given once it commits or fails.
    let mut ran: Vec<Answer> = Vec::new();
    for job in jobs {
        if conn.is_autocommit() {
            if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
                job(Err(&format!("cannot begin a transaction: {e}")));
                continue;
            }
        }
        let Some(answer) = job(Ok(conn)) else {
            continue;
        };
        ran.push(answer);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error): nothing of
            // this group so far was kept. The work behind it starts a new transaction.
            for answer in ran.drain(..) {
                answer(Some("SQLite rolled the transaction back after an error"));
            }
        }
    }
    if ran.is_empty() {
        return;
    }
    match run_cached(conn, "COMMIT") {
        Ok(()) => {
            for answer in ran {
                answer(None);
            }
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let reason = format!("commit failed: {e}");
            for answer in ran {
                answer(Some(&reason));
            }
        }
    }
}

/// Checkpoints `path` on a connection of its own. Only a process that writes the file starts
/// its WAL over (`written` moves): a second process reading the same file (`helios explain`
/// while `helios dev` runs) must not hold the writer of the first with a `RESTART`.
fn spawn_checkpointer(
    path: PathBuf,
    tuning: Tuning,
    owner: Weak<mpsc::Sender<Work>>,
    written: Arc<AtomicU64>,
) {
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let Ok(c) = Connection::open(&path) else {
                return;
            };
            if c.execute_batch("PRAGMA busy_timeout=5000;").is_err() {
                return;
            }
            let frame_bytes = 24 + c
                .query_row("PRAGMA page_size", [], |r| r.get::<_, u64>(0))
                .unwrap_or(4096);
            // Rows this process had changed at the last checkpoint.
            let mut last_written = 0;
            let mut pause = tuning.checkpoint_idle;
            loop {
                std::thread::sleep(pause);
                let Some(owner) = owner.upgrade() else {
                    return;
                };
                // (blocked, frames in the WAL, frames checkpointed)
                let frames = match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    r.get::<_, i64>(1)
                }) {
                    Ok(frames) => frames.max(0) as u64,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "checkpoint failed");
                        continue;
                    }
                };
                let now_written = written.load(Ordering::Relaxed);
                let idle = now_written == last_written;
                last_written = now_written;
                pause = if idle {
                    tuning.checkpoint_idle
                } else {
                    tuning.checkpoint_every
                };
                if idle || frames * frame_bytes <= tuning.wal_limit_bytes {
                    continue;
                }
                let (tx, rx) = mpsc::channel();
                let restart = Work::Alone(Box::new(move |c: &mut Connection| {
                    let _ = tx.send(c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())));
                }));
                if owner.send(restart).is_err() {
                    return;
                }
                drop(owner);
                match rx.recv() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(path = %path.display(), error = %e, "starting the WAL over failed")
                    }
                    Err(_) => return,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no checkpoint thread: the WAL of this file will grow until restart");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, tuning: Tuning) -> SqliteFile {
        SqliteFile::open_tuned(&dir.join("t.db"), tuning, |c| {
            c.execute_batch("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        })
        .unwrap()
    }

    async fn count(db: &SqliteFile) -> i64 {
        db.call(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_queued_together_commits_together_and_a_failure_rolls_back_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), Tuning::default());
        // The first piece holds the owner while the others queue behind it, so that they
        // are run as one group.
        let first = db.clone();
        let slow = tokio::spawn(async move {
            first
                .call(|c| {
                    std::thread::sleep(Duration::from_millis(200));
                    c.execute("INSERT INTO t VALUES (0, 'first')", [])
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut others = Vec::new();
        for k in 1..=20i64 {
            let db = db.clone();
            others.push(tokio::spawn(async move {
                db.call(move |c| {
                    c.execute("INSERT INTO t VALUES (?1, 'x')", [k])?;
                    if k == 7 {
                        // Fails after writing (row 0 is the first piece's): its row must not
                        // be kept.
                        return c.execute("INSERT INTO t VALUES (0, 'duplicate key')", []);
                    }
                    Ok(1)
                })
                .await
            }));
        }
        assert_eq!(slow.await.unwrap().unwrap().unwrap(), 1);
        for (i, h) in others.into_iter().enumerate() {
            let answer = h.await.unwrap().unwrap();
            if i + 1 == 7 {
                let err = answer.unwrap_err().to_string();
                assert!(err.contains("UNIQUE"), "{err}");
            } else {
                assert_eq!(answer.unwrap(), 1);
            }
        }
        // One commit for the first piece and one for the twenty behind it, each writing the
        // table's page once: a commit each would have written twenty-one frames or more.
        let frames = (std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len()
            - 32)
            / (4096 + 24);
        assert!(frames <= 6, "{frames} WAL frames for two groups");
        drop(db);
        // What was answered is committed: a new connection sees it, without row 7.
        let db = open(dir.path(), Tuning::default());
        assert_eq!(count(&db).await, 20);
        let seven: Option<String> = db
            .call(|c| {
                use rusqlite::OptionalExtension;
                c.query_row("SELECT v FROM t WHERE k = 7", [], |r| r.get(0))
                    .optional()
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seven, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_steady_writes_the_wal_is_started_over_instead_of_growing() {
        let dir = tempfile::tempdir().unwrap();
        let tuning = Tuning {
            checkpoint_every: Duration::from_millis(20),
            checkpoint_idle: Duration::from_millis(20),
            wal_limit_bytes: 256 * 1024,
            ..Tuning::default()
        };
        let db = open(dir.path(), tuning);
        let wal = dir.path().join("t.db-wal");
        let value = "v".repeat(3000);
        let mut largest = 0;
        // 8,000 commits of about three frames each (~100 MB of WAL if it were never started
        // over), at a steady rate: a commit after another, with a pause every ten, and never a
        // moment for a passive checkpoint to reach the end of the WAL.
        for k in 0..8000i64 {
            let v = value.clone();
            db.call(move |c| c.execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![k, v]))
                .await
                .unwrap()
                .unwrap();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            if k % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert_eq!(count(&db).await, 8000);
        // The WAL header's checkpoint sequence number counts the times it was started over.
        let header = std::fs::read(&wal).unwrap();
        let restarts = u32::from_be_bytes([header[12], header[13], header[14], header[15]]);
        assert!(restarts >= 3, "the WAL was started over {restarts} times");
        // Never started over, it reaches ~100 MB; started over, it stays near the limit plus
        // what is written while a checkpoint runs (more on a slow disk, so the bound is loose).
        assert!(
            largest < 50 * 1024 * 1024,
            "the WAL grew to {largest} bytes with a limit of 256 KiB"
        );
    }

    /// SQLite's temporary files (`etilqs_…`, unlinked as soon as they are made) that this
    /// process holds open.
    #[cfg(target_os = "linux")]
    fn open_temp_files() -> Vec<String> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|p| p.display().to_string())
            .filter(|p| p.contains("etilqs_"))
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_savepoint_journals_the_pages_the_group_had_changed_in_memory_not_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), Tuning::default());
        let files = db
            .call(|c| {
                // 300 rows of 1 KB: about 80 pages changed before the inner savepoint, each
                // journalled again when it changes them: 320 KB, past the 64 KiB that SQLite
                // keeps in memory when temporary files go to disk.
                for k in 0..300i64 {
                    c.execute(
                        "INSERT INTO t VALUES (?1, ?2)",
                        rusqlite::params![k, "a".repeat(1000)],
                    )?;
                }
                c.execute_batch("SAVEPOINT inner")?;
                c.execute("UPDATE t SET v = ?1", [&"b".repeat(1000)])?;
                let files = open_temp_files();
                c.execute_batch("RELEASE inner")?;
                Ok::<_, rusqlite::Error>(files)
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            files,
            Vec::<String>::new(),
            "a savepoint journal went to a file"
        );
        assert_eq!(count(&db).await, 300);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_larger_than_the_page_cache_reaches_the_wal_at_its_commit_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), Tuning::default());
        let wal = dir.path().join("t.db-wal");
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let in_call = wal.clone();
        let before_commit = db
            .call(move |c| {
                // 1,500 rows of 3 KB: 6 MB of changed pages, three times SQLite's 2 MiB page
                // cache, which would have spilled them to the WAL as they were written.
                for k in 0..1_500i64 {
                    c.execute(
                        "INSERT INTO t VALUES (?1, ?2)",
                        rusqlite::params![k, "x".repeat(3000)],
                    )?;
                }
                Ok::<_, rusqlite::Error>(size(&in_call))
            })
            .await
            .unwrap()
            .unwrap();
        assert!(
            before_commit < 1 << 20,
            "{before_commit} bytes of WAL before the commit"
        );
        assert_eq!(count(&db).await, 1_500);
        // A page a row: 1,500 frames of 4,120 bytes.
        let after = size(&wal);
        assert!(
            after > 1_500 * 4_096,
            "{after} bytes of WAL after the commit"
        );
    }
}
