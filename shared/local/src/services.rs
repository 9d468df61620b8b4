use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use helios_ports::{
    Clock, Condition, FilterPolicy, KeyValue, Message, PortError, Publisher, Queue, Received,
    TextItem, Written,
};

/// The version of the local schema below, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kv (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    expires_at  INTEGER
);
CREATE TABLE IF NOT EXISTS queues (
    name          TEXT PRIMARY KEY,
    visibility_ms INTEGER NOT NULL,
    max_receives  INTEGER,
    dlq           TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    body          TEXT NOT NULL,
    attributes    TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    source_queue  TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS subscriptions (
    topic   TEXT NOT NULL,
    queue   TEXT NOT NULL,
    filter  TEXT,
    PRIMARY KEY (topic, queue)
);
"#;

/// How a local queue behaves, as its SQS attributes would say.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub visibility_timeout: Duration,
    /// `maxReceiveCount` of the redrive policy; `None` keeps messages forever.
    pub max_receives: Option<u32>,
    /// The dead-letter queue (it must exist).
    pub dead_letter_queue: Option<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            visibility_timeout: Duration::from_secs(30),
            max_receives: None,
            dead_letter_queue: None,
        }
    }
}

/// The key-value store, topics and queues of `helios dev`, in one SQLite file.
#[derive(Clone)]
pub struct LocalServices {
    db: super::sqlite::SqliteFile,
    clock: Arc<dyn Clock>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn db_err(e: impl std::fmt::Display) -> PortError {
    PortError::unavailable("local services", e)
}

/// Why the file could not be opened: SQLite's error, or a schema this build does not know.
struct OpenError(PortError);

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> OpenError {
        OpenError(db_err(e))
    }
}

impl From<PortError> for OpenError {
    fn from(e: PortError) -> OpenError {
        OpenError(e)
    }
}

impl LocalServices {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<LocalServices, PortError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(db_err)?;
        }
        let shown = path.display().to_string();
        let db = super::sqlite::SqliteFile::open(path, |conn| -> Result<(), OpenError> {
            let version: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(db_err)?;
            if version > SCHEMA_VERSION {
                return Err(OpenError(PortError::Invalid(format!(
                    "{shown} was written by a newer Helios (local schema {version}, this build knows {SCHEMA_VERSION})"
                ))));
            }
            conn.execute_batch(SCHEMA).map_err(db_err)?;
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                .map_err(db_err)?;
            Ok(())
        })
        .map_err(|e| e.0)?;
        Ok(LocalServices { db, clock })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, i64) -> Result<T, PortError> + Send + 'static,
    ) -> Result<T, PortError> {
        let now = ms(self.clock.now());
        self.db.call(move |c| f(c, now)).await.map_err(db_err)?
    }

    /// Creates a queue, or updates its configuration.
    pub async fn create_queue(&self, name: &str, config: QueueConfig) -> Result<(), PortError> {
        let name = name.to_string();
        self.with(move |c, _| {
            if let Some(dlq) = &config.dead_letter_queue {
                let exists: bool = c
                    .query_row("SELECT 1 FROM queues WHERE name = ?1", [dlq], |_| Ok(true))
                    .optional()
                    .map_err(db_err)?
                    .unwrap_or(false);
                if !exists {
                    return Err(PortError::Invalid(format!("dead-letter queue `{dlq}` does not exist")));
                }
            }
            crate::sqlite::execute_cached(
c,
"INSERT INTO queues (name, visibility_ms, max_receives, dlq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET visibility_ms = ?2, max_receives = ?3, dlq = ?4",
                params![name, dur_ms(config.visibility_timeout), config.max_receives, config.dead_letter_queue],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    /// Subscribes `queue` to `topic`, optionally through an SNS filter policy.
    pub async fn subscribe(
        &self,
        topic: &str,
        queue: &str,
        filter: Option<serde_json::Value>,
    ) -> Result<(), PortError> {
        if let Some(f) = &filter {
            FilterPolicy::parse(f).map_err(|e| PortError::Invalid(e.to_string()))?;
        }
        let (topic, queue) = (topic.to_string(), queue.to_string());
        let filter = filter.map(|f| f.to_string());
        self.with(move |c, _| {
            crate::sqlite::execute_cached(
                c,
                "INSERT INTO subscriptions (topic, queue, filter) VALUES (?1, ?2, ?3)
                 ON CONFLICT (topic, queue) DO UPDATE SET filter = ?3",
                params![topic, queue, filter],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    /// Subscribes `queue` to `topic` unfiltered unless it is subscribed already, in which
    /// case its filter is kept.
    pub async fn ensure_subscribed(&self, topic: &str, queue: &str) -> Result<(), PortError> {
        let (topic, queue) = (topic.to_string(), queue.to_string());
        self.with(move |c, _| {
            crate::sqlite::execute_cached(
                c,
                "INSERT INTO subscriptions (topic, queue, filter) VALUES (?1, ?2, NULL)
                 ON CONFLICT (topic, queue) DO NOTHING",
                params![topic, queue],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    /// Deletes the messages of `queue` that `receipts` name, in one piece of work (SQS's
    /// `DeleteMessageBatch`): a consumer deletes what a batch handled at the end of the batch,
    /// one round trip to the store's thread instead of one a message. Returns how many were
    /// deleted; a receipt that is malformed or no longer current deletes nothing.
    pub async fn delete_many(&self, queue: &str, receipts: &[String]) -> Result<u64, PortError> {
        let ids: Vec<(i64, i64)> = receipts
            .iter()
            .filter_map(|r| parse_receipt(r).ok())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let queue = queue.to_string();
        self.with(move |c, _| {
            let mut st = c
                .prepare_cached(
                    "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receive_count = ?3",
                )
                .map_err(db_err)?;
            let mut n = 0;
            for (id, count) in &ids {
                n += st.execute(params![id, queue, count]).map_err(db_err)? as u64;
            }
            Ok(n)
        })
        .await
    }

    /// Moves every message of a dead-letter queue back to the queue it came from (or to
    /// `to`), with its receive count reset: the local `StartMessageMoveTask`. Returns how
    /// many moved.
    pub async fn redrive(&self, dlq: &str, to: Option<&str>) -> Result<u64, PortError> {
        let (dlq, to) = (dlq.to_string(), to.map(str::to_string));
        self.with(move |c, now| {
            let n = crate::sqlite::execute_cached(
                c,
                "UPDATE messages SET queue = COALESCE(?2, source_queue), source_queue = NULL,
                            receive_count = 0, visible_at = ?3
                     WHERE queue = ?1 AND COALESCE(?2, source_queue) IS NOT NULL",
                params![dlq, to, now],
            )
            .map_err(db_err)?;
            Ok(n as u64)
        })
        .await
    }
}

/// Message ids are the row's sequence number: unique for the life of the database file.
fn insert_message(
    c: &Connection,
    queue: &str,
    body: &str,
    attributes: &str,
    now: i64,
) -> Result<String, PortError> {
    c.prepare_cached(
        "INSERT INTO messages (queue, body, attributes, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?4)",
    )
    .map_err(db_err)?
    .execute(params![queue, body, attributes, now])
    .map_err(db_err)?;
    Ok(c.last_insert_rowid().to_string())
}

fn attributes_json(m: &Message) -> Result<String, PortError> {
    serde_json::to_string(&m.attributes).map_err(db_err)
}

/// The live item at `key`, its value the JSON text stored.
fn live_text(c: &Connection, key: &str, now: i64) -> Result<Option<TextItem>, PortError> {
    Ok(
        c.prepare_cached("SELECT value, version, expires_at FROM kv WHERE key = ?1")
            .map_err(db_err)?
            .query_row([key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .optional()
            .map_err(db_err)?
            .filter(|(_, _, exp)| exp.is_none_or(|e| e > now))
            .map(|(text, version, exp)| TextItem {
                text,
                version: version as u64,
                expires_at: exp.map(from_ms),
            }),
    )
}

/// The version of the live item at `key`: what a conditional write checks, without reading
/// the value.
fn live_version(c: &Connection, key: &str, now: i64) -> Result<Option<u64>, PortError> {
    Ok(
        c.prepare_cached("SELECT version, expires_at FROM kv WHERE key = ?1")
            .map_err(db_err)?
            .query_row([key], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
            })
            .optional()
            .map_err(db_err)?
            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
            .map(|(version, _)| version as u64),
    )
}

/// Whether a write on `condition` may happen, given the version of the live item.
fn condition_holds(current: Option<u64>, cond: Condition) -> bool {
    match cond {
        Condition::Always => true,
        Condition::NotExists => current.is_none(),
        Condition::VersionIs(v) => current == Some(v),
    }
}

#[async_trait]
impl KeyValue for LocalServices {
    async fn get_text(&self, key: &str) -> Result<Option<TextItem>, PortError> {
        let key = key.to_string();
        self.with(move |c, now| live_text(c, &key, now)).await
    }

    async fn put_text(
        &self,
        key: &str,
        value: String,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<Written, PortError> {
        let key = key.to_string();
        self.with(move |c, now| {
            let current = live_version(c, &key, now)?;
            if !condition_holds(current, condition) {
                return Ok(Written::ConditionFailed);
            }
            let version = current.map_or(1, |v| v + 1);
            crate::sqlite::execute_cached(
                c,
                "INSERT INTO kv (key, value, version, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET value = ?2, version = ?3, expires_at = ?4",
                params![key, value, version as i64, ttl.map(|t| now + dur_ms(t))],
            )
            .map_err(db_err)?;
            Ok(Written::Yes { version })
        })
        .await
    }

    async fn delete(&self, key: &str, condition: Condition) -> Result<Written, PortError> {
        let key = key.to_string();
        self.with(move |c, now| {
            let current = live_version(c, &key, now)?;
            if !condition_holds(current, condition) {
                return Ok(Written::ConditionFailed);
            }
            let version = current.unwrap_or(0);
            crate::sqlite::execute_cached(c, "DELETE FROM kv WHERE key = ?1", [&key])
                .map_err(db_err)?;
            Ok(Written::Yes { version })
        })
        .await
    }

    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, PortError> {
        let key = key.to_string();
        self.with(move |c, now| {
            let current = live_text(c, &key, now)?;
            let (old, version, old_exp) = match &current {
                // A counter is stored as the text of its number.
                Some(i) => (
                    i.text.parse::<i64>().map_err(|_| {
                        PortError::Invalid(format!("`{key}` does not hold a counter"))
                    })?,
                    i.version,
                    i.expires_at.map(ms),
                ),
                None => (0, 0, None),
            };
            let new = old
                .checked_add(delta)
                .ok_or_else(|| PortError::Invalid(format!("counter `{key}` would overflow")))?;
            let exp = ttl.map(|t| now + dur_ms(t)).or(old_exp);
            crate::sqlite::execute_cached(
                c,
                "INSERT INTO kv (key, value, version, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET value = ?2, version = ?3, expires_at = ?4",
                params![key, new.to_string(), (version + 1) as i64, exp],
            )
            .map_err(db_err)?;
            Ok(new)
        })
        .await
    }
}

#[async_trait]
impl Publisher for LocalServices {
    async fn publish(&self, topic: &str, messages: &[Message]) -> Result<(), PortError> {
        let topic = topic.to_string();
        let messages = messages.to_vec();
        self.with(move |c, now| {
            let subs: Vec<(String, Option<String>)> = {
                let mut st = c
                    .prepare_cached(
                        "SELECT queue, filter FROM subscriptions WHERE topic = ?1 ORDER BY queue",
                    )
                    .map_err(db_err)?;
                let rows = st
                    .query_map([&topic], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db_err)?;
                rows.collect::<Result<_, _>>().map_err(db_err)?
            };
            let attrs = messages
                .iter()
                .map(attributes_json)
                .collect::<Result<Vec<_>, _>>()?;
            for (queue, filter) in subs {
                let policy = match filter {
                    Some(f) => Some(serde_json::from_str(&f).map_err(db_err).and_then(|v| {
                        FilterPolicy::parse(&v).map_err(|e| PortError::Invalid(e.to_string()))
                    })?),
                    None => None,
                };
                for (m, a) in messages.iter().zip(&attrs) {
                    if policy.as_ref().is_none_or(|p| p.matches(&m.attributes)) {
                        insert_message(c, &queue, &m.body, a, now)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }
}

fn receipt_of(id: &str, count: u32) -> String {
    format!("{id}#{count}")
}

fn parse_receipt(receipt: &str) -> Result<(i64, i64), PortError> {
    receipt
        .rsplit_once('#')
        .and_then(|(id, n)| Some((id.parse().ok()?, n.parse().ok()?)))
        .ok_or_else(|| PortError::Invalid(format!("`{receipt}` is not a receipt handle")))
}

fn queue_config(
    c: &Connection,
    queue: &str,
) -> Result<(i64, Option<i64>, Option<String>), PortError> {
    c.prepare_cached("SELECT visibility_ms, max_receives, dlq FROM queues WHERE name = ?1")
        .map_err(db_err)?
        .query_row([queue], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(db_err)?
        .ok_or_else(|| PortError::Invalid(format!("queue `{queue}` does not exist")))
}

#[async_trait]
impl Queue for LocalServices {
    async fn send(&self, queue: &str, message: &Message) -> Result<String, PortError> {
        let (queue, message) = (queue.to_string(), message.clone());
        self.with(move |c, now| {
            queue_config(c, &queue)?;
            insert_message(c, &queue, &message.body, &attributes_json(&message)?, now)
        })
        .await
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, PortError> {
        let queue = queue.to_string();
        self.with(move |c, now| {
            let (default_vis, max_receives, dlq) = queue_config(c, &queue)?;
            let vis = visibility.map(dur_ms).unwrap_or(default_vis);
            let mut out = Vec::new();
            let mut seen = std::collections::HashSet::new();
            loop {
                let candidates: Vec<(i64, String, String, i64)> = {
                    let mut st = c
                        .prepare_cached(
                            "SELECT seq, body, attributes, receive_count FROM messages
                             WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
                        )
                        .map_err(db_err)?;
                    let rows = st
                        .query_map(params![queue, now, (max - out.len()) as i64], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                        .map_err(db_err)?;
                    rows.collect::<Result<_, _>>().map_err(db_err)?
                };
                if candidates.is_empty() {
                    break;
                }
                let mut moved = false;
                for (seq, body, attrs, count) in candidates {
                    let id = seq.to_string();
                    if !seen.insert(seq) {
                        continue;
                    }
                    if let (Some(limit), Some(dlq)) = (max_receives, &dlq) {
                        if count >= limit {
                            crate::sqlite::execute_cached(
c,
"UPDATE messages SET queue = ?2, source_queue = ?3, receive_count = 0, visible_at = ?4 WHERE seq = ?1",
                                params![seq, dlq, queue, now],
                            )
                            .map_err(db_err)?;
                            tracing::warn!(queue = %queue, message_id = %id, receives = count, dlq = %dlq, "moved to the dead-letter queue");
                            moved = true;
                            continue;
                        }
                    }
                    let count = count + 1;
                    crate::sqlite::execute_cached(
c,
"UPDATE messages SET receive_count = ?2, visible_at = ?3 WHERE seq = ?1",
                        params![seq, count, now + vis],
                    )
                    .map_err(db_err)?;
                    out.push(Received {
                        receipt: receipt_of(&id, count as u32),
                        message_id: id,
                        body,
                        attributes: serde_json::from_str::<BTreeMap<String, String>>(&attrs).map_err(db_err)?,
                        receive_count: count as u32,
                    });
                }
                // Another pass only to fill the places of messages moved to the DLQ; a
                // message received in this pass is never seen twice (a zero visibility
                // would otherwise hand it out again at once).
                if out.len() >= max || !moved {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<bool, PortError> {
        let (id, count) = parse_receipt(receipt)?;
        let queue = queue.to_string();
        self.with(move |c, _| {
            let n = c
                .prepare_cached(
                    "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receive_count = ?3",
                )
                .map_err(db_err)?
                .execute(params![id, queue, count])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility: Duration,
    ) -> Result<bool, PortError> {
        let (id, count) = parse_receipt(receipt)?;
        let queue = queue.to_string();
        self.with(move |c, now| {
            let n = crate::sqlite::execute_cached(
                    c,
                    "UPDATE messages SET visible_at = ?4 WHERE seq = ?1 AND queue = ?2 AND receive_count = ?3",
                    params![id, queue, count, now + dur_ms(visibility)],
                )
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn depth(&self, queue: &str) -> Result<(u64, u64), PortError> {
        let queue = queue.to_string();
        self.with(move |c, now| {
            queue_config(c, &queue)?;
            c.query_row(
                "SELECT COALESCE(SUM(visible_at <= ?2), 0), COALESCE(SUM(visible_at > ?2), 0) FROM messages WHERE queue = ?1",
                params![queue, now],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(db_err)
        })
        .await
    }
}
