//! The embedded store of `helios dev`: one SQLite file, WAL mode, `synchronous=NORMAL`, so a
//! committed fact survives the process being killed at any moment.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::{
    fixed_time, migrations, rules_column, rules_from_column, ApiKey, DecisionPage, DecisionQuery,
    Fact, FactPage, FactQuery, NearMissQuery, NearMissRow, NewDecision, NewFact, Outcome, RawRef,
    Recorded, Role, SloCounts, SloQuery, StatRow, StatsQuery, StoreError, StoredDecision,
    SLO_SLOT_SECONDS,
};
use crate::{
    ApiKeys, Decisions, Facts, Held, HoldStatus, Outbox, Outboxed, Outcomes, Quarantine, Schema,
    SchemaRegistry, SchemaVersion, Stats, Subject, SubjectSettings,
};

const DECISION_COLUMNS: &str =
    "seq, id, event_id, ruleset, ruleset_hash, subject, severity, score, rules, decided_at, body";

fn decision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        event_id: r.get(2)?,
        ruleset: r.get(3)?,
        ruleset_hash: r.get(4)?,
        subject: r.get(5)?,
        severity: r.get(6)?,
        score: r.get(7)?,
        rules: r.get(8)?,
        decided_at: r.get(9)?,
        body: r.get(10)?,
    })
}

struct StoredRow {
    seq: i64,
    id: String,
    event_id: String,
    ruleset: String,
    ruleset_hash: String,
    subject: Option<String>,
    severity: Option<String>,
    score: f64,
    rules: String,
    decided_at: String,
    body: String,
}

fn to_decision(r: StoredRow) -> Result<StoredDecision, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("decision {}: {e}", r.id));
    Ok(StoredDecision {
        seq: r.seq,
        decision: NewDecision {
            decided_at: DateTime::parse_from_rfc3339(&r.decided_at)
                .map_err(|e| corrupt(e.to_string()))?
                .with_timezone(&Utc),
            body: serde_json::from_str(&r.body).map_err(|e| corrupt(e.to_string()))?,
            rules: rules_from_column(&r.rules),
            id: r.id,
            event_id: r.event_id,
            ruleset: r.ruleset,
            ruleset_hash: r.ruleset_hash,
            subject: r.subject,
            severity: r.severity,
            score: r.score,
        },
    })
}

/// The store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    db: helios_local::sqlite::SqliteFile,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("{}: {e}", dir.display())))?;
        }
        let db = helios_local::sqlite::SqliteFile::open(path, |c| {
            c.execute_batch("PRAGMA foreign_keys=ON;")
        })
        .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
        Ok(SqliteStore { db })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.db.call(f).await.map_err(unavailable)?
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    helios_events::parse_time(s).map_err(StoreError::Corrupt)
}

const FACT_COLUMNS: &str = "seq, event, raw_key, raw_index";

fn fact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_fact(
    (seq, event, raw_key, raw_index): (i64, String, String, i64),
) -> Result<Fact, StoreError> {
    Ok(Fact {
        seq,
        event: serde_json::from_str(&event)
            .map_err(|e| StoreError::Corrupt(format!("fact {seq}: {e}")))?,
        raw: RawRef {
            key: raw_key,
            index: raw_index as u32,
        },
    })
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

type KeyRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
);

fn to_key(
    (id, name, role, hash, rate, created_at, revoked_at, sources): KeyRow,
) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        role: role.parse::<Role>().map_err(StoreError::Corrupt)?,
        id,
        name,
        hash,
        rate_per_second: rate.map(|r| r as u32),
        created_at: parse_time(&created_at)?,
        revoked_at: revoked_at.as_deref().map(parse_time).transpose()?,
        sources: crate::key_sources(sources.as_deref())?,
    })
}

const KEY_COLUMNS: &str = "id, name, role, hash, rate_per_second, created_at, revoked_at, sources";

#[async_trait]
impl Schema for SqliteStore {
    async fn migrate(&self) -> Result<usize, StoreError> {
        self.migrate_to(i64::MAX).await
    }
}

impl SqliteStore {
    /// Applies the migrations not yet applied, up to version `last`.
    async fn migrate_to(&self, last: i64) -> Result<usize, StoreError> {
        self.with(move |c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )
            .map_err(unavailable)?;
            let current: i64 = c
                .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
                .map_err(unavailable)?;
            let mut applied = 0;
            for m in migrations::SQLITE
                .iter()
                .filter(|m| m.version > current && m.version <= last)
            {
                c.execute_batch(m.sql).map_err(|e| StoreError::Migration {
                    version: m.version,
                    name: m.name.into(),
                    message: e.to_string(),
                })?;
                c.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    params![m.version, m.name, fixed_time(&Utc::now())],
                )
                .map_err(unavailable)?;
                tracing::info!(version = m.version, name = m.name, "applied migration");
                applied += 1;
            }
            Ok(applied)
        })
        .await
    }
}

#[async_trait]
impl Facts for SqliteStore {
    async fn record_facts(&self, facts: &[NewFact]) -> Result<Vec<Recorded>, StoreError> {
        let rows = facts
            .iter()
            .map(|f| {
                let e = &f.event;
                Ok((
                    e.helios_id.clone(),
                    e.source.clone(),
                    e.id.clone(),
                    e.event_type.clone(),
                    e.subject.clone(),
                    fixed_time(&e.time),
                    fixed_time(&e.received_at),
                    serde_json::to_string(e).map_err(|e| StoreError::Invalid(e.to_string()))?,
                    f.raw.clone(),
                    f.hold
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    e.schema.as_ref().filter(|c| !c.valid).map(|c| c.version),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.with(move |c| {
            let mut out = Vec::with_capacity(rows.len());
            {
                let mut insert = c
                    .prepare_cached(
                        "INSERT INTO facts (helios_id, source, source_id, type, subject, time, received_at, event, raw_key, raw_index)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT DO NOTHING",
                    )
                    .map_err(unavailable)?;
                let mut outbox = c
                    .prepare_cached("INSERT INTO outbox (helios_id, seq, created_at) VALUES (?1, ?2, ?3)")
                    .map_err(unavailable)?;
                for (hid, source, id, ty, subject, time, received, event, raw, hold, violated) in &rows {
                    let n = insert
                        .execute(params![hid, source, id, ty, subject, time, received, event, raw.key, raw.index])
                        .map_err(unavailable)?;
                    if n == 1 {
                        let seq = c.last_insert_rowid();
                        match hold {
                            None => outbox.execute(params![hid, seq, received]).map_err(unavailable)?,
                            Some(reason) => c
                                .prepare_cached(
                                    "INSERT INTO quarantine (helios_id, seq, source, type, held_at, reason, status)
                                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'held')",
                                )
                                .map_err(unavailable)?
                                .execute(params![hid, seq, source, ty, received, reason])
                                .map_err(unavailable)?,
                        };
                        if let Some(version) = violated {
                            c.prepare_cached(
                                "INSERT INTO schema_violations (source, type, version, count) VALUES (?1, ?2, ?3, 1)
                                 ON CONFLICT (source, type, version) DO UPDATE SET count = count + 1",
                            )
                            .map_err(unavailable)?
                            .execute(params![source, ty, version])
                            .map_err(unavailable)?;
                        }
                        out.push(Recorded::Accepted);
                    } else {
                        out.push(Recorded::Duplicate);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn get_fact(&self, helios_id: &str) -> Result<Option<Fact>, StoreError> {
        let id = helios_id.to_string();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {FACT_COLUMNS} FROM facts WHERE helios_id = ?1"
            ))
            .map_err(unavailable)?
            .query_row([id], fact_row)
            .optional()
            .map_err(unavailable)?
            .map(to_fact)
            .transpose()
        })
        .await
    }

    async fn list_facts(&self, q: &FactQuery) -> Result<FactPage, StoreError> {
        let q = q.clone();
        self.with(move |c| {
            let (past, order, after) = crate::seq_order(q.newest_first, q.after);
            let mut sql = format!("SELECT {FACT_COLUMNS} FROM facts WHERE {past} ?1");
            let mut args: Vec<rusqlite::types::Value> = vec![after.into()];
            let mut push = |clause: &str, v: rusqlite::types::Value| {
                args.push(v);
                sql.push_str(&format!(" AND {clause} ?{}", args.len()));
            };
            if let Some(s) = &q.source {
                push("source =", s.clone().into());
            }
            if let Some(t) = &q.event_type {
                push("type =", t.clone().into());
            }
            if let Some(t) = &q.subject {
                push("subject =", t.clone().into());
            }
            if let Some(t) = &q.since {
                push("time >=", fixed_time(t).into());
            }
            if let Some(t) = &q.until {
                push("time <", fixed_time(t).into());
            }
            sql.push_str(&format!(" {order} LIMIT {}", q.limit + 1));
            let mut st = c.prepare_cached(&sql).map_err(unavailable)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(args), fact_row)
                .map_err(unavailable)?;
            let mut facts = rows
                .map(|r| r.map_err(unavailable).and_then(to_fact))
                .collect::<Result<Vec<_>, _>>()?;
            let next = crate::cut_page(&mut facts, q.limit, |f| f.seq);
            Ok(FactPage { facts, next })
        })
        .await
    }
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn pending_outbox(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Outboxed>, StoreError> {
        let before = fixed_time(&before);
        self.with(move |c| {
            // The fact is found by its `seq` (the outbox row keeps it): the table's own key,
            // whose recent pages are in the cache, rather than its `helios_id`, a hash, whose
            // index leaf is anywhere in a grown store. The id is compared on the row.
            let mut st = c
                .prepare_cached(
                    "SELECT f.seq, f.event, f.raw_key, f.raw_index, o.helios_id FROM outbox o
                     JOIN facts f ON f.seq = o.seq AND f.helios_id = o.helios_id
                     WHERE o.created_at < ?1 ORDER BY o.seq LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map(params![before, limit as i64], |r| {
                    Ok((fact_row(r)?, r.get::<_, String>(4)?))
                })
                .map_err(unavailable)?;
            rows.map(|r| {
                let (row, helios_id) = r.map_err(unavailable)?;
                let seq = row.0;
                Ok(match to_fact(row) {
                    Ok(f) => Outboxed::Ready(f),
                    Err(e) => Outboxed::Unreadable {
                        helios_id,
                        seq,
                        problem: e.to_string(),
                    },
                })
            })
            .collect()
        })
        .await
    }

    async fn mark_published(&self, helios_ids: &[String]) -> Result<(), StoreError> {
        let ids = helios_ids.to_vec();
        self.with(move |c| {
            {
                let mut st = c
                    .prepare_cached("DELETE FROM outbox WHERE helios_id = ?1")
                    .map_err(unavailable)?;
                for id in &ids {
                    st.execute([id]).map_err(unavailable)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn park_outbox(
        &self,
        parked: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let parked = parked.to_vec();
        let at = fixed_time(&at);
        // Each piece of work runs in its own savepoint of the owner's transaction: the moves
        // are kept together or not at all.
        self.with(move |c| {
            for (id, reason) in &parked {
                c.execute(
                    "INSERT OR IGNORE INTO outbox_parked (helios_id, seq, parked_at, reason)
                     SELECT helios_id, seq, ?2, ?3 FROM outbox WHERE helios_id = ?1",
                    params![id, at, reason],
                )
                .map_err(unavailable)?;
                c.execute("DELETE FROM outbox WHERE helios_id = ?1", [id])
                    .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn parked_outbox(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        self.with(move |c| {
            let mut st = c
                .prepare_cached("SELECT helios_id, reason FROM outbox_parked ORDER BY seq LIMIT ?1")
                .map_err(unavailable)?;
            let rows = st
                .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            c.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(unavailable)
        })
        .await
    }
}

#[async_trait]
impl SchemaRegistry for SqliteStore {
    async fn schema_versions(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<SchemaVersion>, StoreError> {
        let (source, event_type) = (source.to_string(), event_type.to_string());
        self.with(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT version, id, schema, registered_at FROM schema_versions
                     WHERE source = ?1 AND type = ?2 ORDER BY version",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map(params![source, event_type], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(unavailable)?;
            rows.map(|r| {
                let (version, id, schema, at) = r.map_err(unavailable)?;
                Ok(SchemaVersion {
                    source: source.clone(),
                    event_type: event_type.clone(),
                    version: version as u32,
                    schema: serde_json::from_str(&schema)
                        .map_err(|e| StoreError::Corrupt(format!("schema {id}: {e}")))?,
                    id,
                    registered_at: parse_time(&at)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn add_schema_version(&self, v: &SchemaVersion) -> Result<Recorded, StoreError> {
        let schema =
            serde_json::to_string(&v.schema).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let v = v.clone();
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT INTO schema_versions (source, type, version, id, schema, registered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    params![
                        v.source,
                        v.event_type,
                        v.version,
                        v.id,
                        schema,
                        fixed_time(&v.registered_at)
                    ],
                )
                .map_err(unavailable)?;
            Ok(if n == 1 {
                Recorded::Accepted
            } else {
                Recorded::Duplicate
            })
        })
        .await
    }

    async fn subjects(&self) -> Result<Vec<Subject>, StoreError> {
        self.with(|c| {
            let mut st = c
                .prepare_cached(
                    "WITH names AS (SELECT source, type FROM schema_versions
                                    UNION SELECT source, type FROM schema_subjects)
                     SELECT n.source, n.type, l.latest, s.mode, s.policy, s.updated_at,
                            COALESCE((SELECT count FROM schema_violations x
                                       WHERE x.source = n.source AND x.type = n.type AND x.version = l.latest), 0)
                     FROM names n
                     JOIN (SELECT n2.source, n2.type,
                                  (SELECT COALESCE(MAX(version), 0) FROM schema_versions v
                                    WHERE v.source = n2.source AND v.type = n2.type) AS latest
                           FROM names n2) l ON l.source = n.source AND l.type = n.type
                     LEFT JOIN schema_subjects s ON s.source = n.source AND s.type = n.type
                     ORDER BY n.source, n.type",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                })
                .map_err(unavailable)?;
            rows.map(|r| {
                let (source, event_type, latest, mode, policy, at, violations) =
                    r.map_err(unavailable)?;
                let settings = match (mode, policy, at) {
                    (Some(mode), Some(policy), Some(at)) => Some(SubjectSettings {
                        mode,
                        policy,
                        updated_at: parse_time(&at)?,
                    }),
                    _ => None,
                };
                Ok(Subject {
                    source,
                    event_type,
                    latest: latest as u32,
                    latest_violations: violations as u64,
                    settings,
                })
            })
            .collect()
        })
        .await
    }

    async fn schema_violations(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<(u32, u64)>, StoreError> {
        let (source, event_type) = (source.to_string(), event_type.to_string());
        self.with(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT version, count FROM schema_violations WHERE source = ?1 AND type = ?2 ORDER BY version",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map(params![source, event_type], |r| {
                    Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u64))
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }

    async fn subject_settings(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Option<SubjectSettings>, StoreError> {
        let (source, event_type) = (source.to_string(), event_type.to_string());
        self.with(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT mode, policy, updated_at FROM schema_subjects WHERE source = ?1 AND type = ?2",
                )
                .map_err(unavailable)?
                .query_row(params![source, event_type], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .optional()
                .map_err(unavailable)?;
            row.map(|(mode, policy, at)| {
                Ok(SubjectSettings {
                    mode,
                    policy,
                    updated_at: parse_time(&at)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn set_subject_settings(
        &self,
        source: &str,
        event_type: &str,
        settings: &SubjectSettings,
    ) -> Result<(), StoreError> {
        let (source, event_type, s) =
            (source.to_string(), event_type.to_string(), settings.clone());
        self.with(move |c| {
            c.execute(
                "INSERT INTO schema_subjects (source, type, mode, policy, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (source, type) DO UPDATE SET mode = excluded.mode, policy = excluded.policy,
                                                         updated_at = excluded.updated_at",
                params![source, event_type, s.mode, s.policy, fixed_time(&s.updated_at)],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

const HELD_COLUMNS: &str =
    "helios_id, seq, source, type, held_at, reason, status, resolved_at, resolved_by";

type HeldRow = (
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn held_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HeldRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn to_held(
    (helios_id, seq, source, event_type, held_at, reason, status, resolved_at, resolved_by): HeldRow,
) -> Result<Held, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("held fact {helios_id}: {e}"));
    Ok(Held {
        seq,
        source,
        event_type,
        held_at: parse_time(&held_at)?,
        reason: serde_json::from_str(&reason).map_err(|e| corrupt(e.to_string()))?,
        status: HoldStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        resolved_at: resolved_at.as_deref().map(parse_time).transpose()?,
        resolved_by,
        helios_id,
    })
}

#[async_trait]
impl Quarantine for SqliteStore {
    async fn held(
        &self,
        status: Option<HoldStatus>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Held>, StoreError> {
        self.with(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {HELD_COLUMNS} FROM quarantine
                     WHERE (?1 IS NULL OR status = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3"
                ))
                .map_err(unavailable)?;
            let rows = st
                .query_map(
                    params![
                        status.map(HoldStatus::as_str),
                        after.unwrap_or(0),
                        limit as i64
                    ],
                    held_row,
                )
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable).and_then(to_held))
                .collect()
        })
        .await
    }

    async fn get_held(&self, helios_id: &str) -> Result<Option<Held>, StoreError> {
        let id = helios_id.to_string();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {HELD_COLUMNS} FROM quarantine WHERE helios_id = ?1"
            ))
            .map_err(unavailable)?
            .query_row([id], held_row)
            .optional()
            .map_err(unavailable)?
            .map(to_held)
            .transpose()
        })
        .await
    }

    async fn resolve_held(
        &self,
        helios_id: &str,
        to: HoldStatus,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Held>, StoreError> {
        if to == HoldStatus::Held {
            return Err(StoreError::Invalid(
                "a held fact is released or dropped".into(),
            ));
        }
        let (id, by, at) = (helios_id.to_string(), by.to_string(), fixed_time(&at));
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE quarantine SET status = ?2, resolved_at = ?3, resolved_by = ?4
                     WHERE helios_id = ?1 AND status = 'held'",
                    params![id, to.as_str(), at, by],
                )
                .map_err(unavailable)?;
            if n == 0 {
                return Ok(None);
            }
            if to == HoldStatus::Released {
                c.execute(
                    "INSERT INTO outbox (helios_id, seq, created_at) SELECT helios_id, seq, ?2 FROM quarantine WHERE helios_id = ?1",
                    params![id, at],
                )
                .map_err(unavailable)?;
            }
            c.query_row(
                &format!("SELECT {HELD_COLUMNS} FROM quarantine WHERE helios_id = ?1"),
                [&id],
                held_row,
            )
            .map_err(unavailable)
            .and_then(to_held)
            .map(Some)
        })
        .await
    }
}

#[async_trait]
impl ApiKeys for SqliteStore {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let k = key.clone();
        self.with(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    k.id,
                    k.name,
                    k.role.as_str(),
                    k.hash,
                    k.rate_per_second,
                    fixed_time(&k.created_at),
                    k.revoked_at.as_ref().map(fixed_time),
                    crate::key_sources_text(k.sources.as_deref())
                ],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Invalid("an API key with this id or secret already exists".into())
                }
                e => unavailable(e),
            })?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let hash = hash.to_string();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1"
            ))
            .map_err(unavailable)?
            .query_row([hash], key_row)
            .optional()
            .map_err(unavailable)?
            .map(to_key)
            .transpose()
        })
        .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.with(|c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
                ))
                .map_err(unavailable)?;
            let rows = st.query_map([], key_row).map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable).and_then(to_key))
                .collect()
        })
        .await
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, fixed_time(&at)],
                )
                .map_err(unavailable)?;
            Ok(n > 0)
        })
        .await
    }
}

#[async_trait]
impl Decisions for SqliteStore {
    async fn record_decision(&self, d: &NewDecision) -> Result<Recorded, StoreError> {
        let d = d.clone();
        let body =
            serde_json::to_string(&d.body).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.with(move |c| {
            let n = helios_local::sqlite::execute_cached(
                    c,
                    "INSERT INTO decisions (id, event_id, ruleset, ruleset_hash, subject, severity, score, rules, decided_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
                    params![
                        d.id,
                        d.event_id,
                        d.ruleset,
                        d.ruleset_hash,
                        d.subject,
                        d.severity,
                        d.score,
                        rules_column(&d.rules),
                        fixed_time(&d.decided_at),
                        body
                    ],
                )
                .map_err(unavailable)?;
            Ok(if n == 1 { Recorded::Accepted } else { Recorded::Duplicate })
        })
        .await
    }

    async fn get_decision(&self, id: &str) -> Result<Option<StoredDecision>, StoreError> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE id = ?1"),
                params![id],
                decision_row,
            )
            .optional()
            .map_err(unavailable)?
            .map(to_decision)
            .transpose()
        })
        .await
    }

    async fn list_decisions(&self, q: &DecisionQuery) -> Result<DecisionPage, StoreError> {
        let q = q.clone();
        self.with(move |c| {
            let (past, order, after) = crate::seq_order(q.newest_first, q.after);
            let mut sql = format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE {past} ?1");
            let mut args: Vec<rusqlite::types::Value> = vec![after.into()];
            let mut push = |clause: &str, v: rusqlite::types::Value| {
                args.push(v);
                sql.push_str(&format!(" AND {clause} ?{}", args.len()));
            };
            if let Some(s) = &q.subject {
                push("subject =", s.clone().into());
            }
            if let Some(e) = &q.event_id {
                push("event_id =", e.clone().into());
            }
            if let Some(r) = &q.rule {
                push("rules LIKE", format!("%,{r},%").into());
            }
            if let Some(s) = &q.severity {
                push("severity =", s.clone().into());
            }
            if let Some(t) = &q.since {
                push("decided_at >=", fixed_time(t).into());
            }
            if let Some(t) = &q.until {
                push("decided_at <", fixed_time(t).into());
            }
            sql.push_str(&format!(" {order} LIMIT {}", q.limit + 1));
            let mut st = c.prepare_cached(&sql).map_err(unavailable)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(args), decision_row)
                .map_err(unavailable)?;
            let mut decisions = rows
                .map(|r| r.map_err(unavailable).and_then(to_decision))
                .collect::<Result<Vec<_>, _>>()?;
            let next = crate::cut_page(&mut decisions, q.limit, |d| d.seq);
            Ok(DecisionPage { decisions, next })
        })
        .await
    }
}

#[async_trait]
impl Outcomes for SqliteStore {
    async fn record_outcome(&self, o: &Outcome) -> Result<Recorded, StoreError> {
        let o = o.clone();
        let body =
            serde_json::to_string(&o.body).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT INTO outcomes (decision_id, execution, kind, recorded_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![
                        o.decision_id,
                        o.execution,
                        o.kind,
                        fixed_time(&o.recorded_at),
                        body
                    ],
                )
                .map_err(unavailable)?;
            Ok(if n == 1 {
                Recorded::Accepted
            } else {
                Recorded::Duplicate
            })
        })
        .await
    }

    async fn outcomes_of(&self, decision_ids: &[String]) -> Result<Vec<Outcome>, StoreError> {
        if decision_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids =
            serde_json::to_string(decision_ids).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.with(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT decision_id, execution, kind, recorded_at, body, seq FROM outcomes
                     WHERE decision_id IN (SELECT value FROM json_each(?1)) ORDER BY seq",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map(params![ids], outcome_row)
                .map_err(unavailable)?;
            rows.map(|r| Ok(read_outcome(r.map_err(unavailable)?)?.1))
                .collect()
        })
        .await
    }

    async fn outcomes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Outcome)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT decision_id, execution, kind, recorded_at, body, seq FROM outcomes
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map(params![after, limit], outcome_row)
                .map_err(unavailable)?;
            rows.map(|r| read_outcome(r.map_err(unavailable)?))
                .collect()
        })
        .await
    }
}

type OutcomeText = (String, String, String, String, String, i64);

fn outcome_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutcomeText> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// An outcome row (`decision_id, execution, kind, recorded_at, body, seq`), read.
fn read_outcome(
    (decision_id, execution, kind, at, body, seq): OutcomeText,
) -> Result<(i64, Outcome), StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("outcome of {decision_id}: {e}"));
    Ok((
        seq,
        Outcome {
            recorded_at: DateTime::parse_from_rfc3339(&at)
                .map_err(|e| corrupt(e.to_string()))?
                .with_timezone(&Utc),
            body: serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?,
            decision_id,
            execution,
            kind,
        },
    ))
}

#[async_trait]
impl Stats for SqliteStore {
    async fn stats(&self, q: &StatsQuery) -> Result<Vec<StatRow>, StoreError> {
        let (since, until, b) = (
            fixed_time(&q.since),
            fixed_time(&q.until),
            q.bucket_seconds.max(1),
        );
        self.with(move |c| {
            // Times are RFC 3339 text with six fraction digits: the first 19 characters are
            // what strftime reads.
            let mut st = c
                .prepare_cached(
                    "SELECT CAST(strftime('%s', substr(time, 1, 19)) AS INTEGER) / ?3 * ?3 AS bucket,
                            'source', source, count(*)
                       FROM facts WHERE time >= ?1 AND time < ?2 GROUP BY 1, 3
                     UNION ALL
                     SELECT CAST(strftime('%s', substr(time, 1, 19)) AS INTEGER) / ?3 * ?3,
                            'type', type, count(*)
                       FROM facts WHERE time >= ?1 AND time < ?2 GROUP BY 1, 3
                     UNION ALL
                     SELECT CAST(strftime('%s', substr(decided_at, 1, 19)) AS INTEGER) / ?3 * ?3,
                            'severity', coalesce(severity, ''), count(*)
                       FROM decisions WHERE decided_at >= ?1 AND decided_at < ?2 GROUP BY 1, 3
                     UNION ALL
                     SELECT CAST(strftime('%s', substr(d.decided_at, 1, 19)) AS INTEGER) / ?3 * ?3,
                            'rule', j.value, count(*)
                       FROM decisions d,
                            json_each('[\"' || replace(trim(d.rules, ','), ',', '\",\"') || '\"]') j
                      WHERE d.decided_at >= ?1 AND d.decided_at < ?2 GROUP BY 1, 3
                     UNION ALL
                     SELECT CAST(strftime('%s', substr(d.decided_at, 1, 19)) AS INTEGER) / ?3 * ?3,
                            'near_miss', json_extract(t.value, '$.rule'), count(*)
                       FROM decisions d, json_each(d.body, '$.trace') t
                      WHERE d.decided_at >= ?1 AND d.decided_at < ?2
                        AND json_type(d.body, '$.trace') = 'array'
                        AND t.type = 'object' AND json_extract(t.value, '$.outcome') = 'near_miss'
                      GROUP BY 1, 3
                     UNION ALL
                     SELECT CAST(strftime('%s', substr(recorded_at, 1, 19)) AS INTEGER) / ?3 * ?3,
                            'outcome',
                            CASE WHEN kind = 'outcome' AND json_extract(body, '$.escalated') IS NOT NULL
                                 THEN 'escalated' ELSE kind END,
                            count(*)
                       FROM outcomes WHERE recorded_at >= ?1 AND recorded_at < ?2 GROUP BY 1, 3
                     ORDER BY 1, 2, 3",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map(params![since, until, b], |r| {
                    Ok(StatRow {
                        bucket: r.get(0)?,
                        series: r.get(1)?,
                        key: r.get(2)?,
                        count: r.get(3)?,
                    })
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }

    async fn near_misses(&self, q: &NearMissQuery) -> Result<Vec<NearMissRow>, StoreError> {
        let (since, until) = (fixed_time(&q.since), fixed_time(&q.until));
        let (rule, examples) = (
            q.rule.clone(),
            i64::try_from(q.examples).unwrap_or(i64::MAX),
        );
        self.with(move |c| {
            // The check of a near miss that did not hold (there is one), grouped by what it
            // asked and what it found; `->` keeps `wanted` and `found` as JSON text.
            let mut st = c
                .prepare_cached(
                    "WITH nm AS (
                       SELECT d.id AS decision, d.event_id AS event, d.decided_at AS at,
                              json_extract(t.value, '$.rule') AS rule,
                              json_extract(t.value, '$.because') AS because,
                              json_extract(k.value, '$.kind') AS kind,
                              json_extract(k.value, '$.field') AS field,
                              json_extract(k.value, '$.op') AS op,
                              k.value -> '$.wanted' AS wanted,
                              k.value -> '$.found' AS found
                         FROM decisions d, json_each(d.body, '$.trace') t,
                              json_each(t.value, '$.checks') k
                        WHERE d.decided_at >= ?1 AND d.decided_at < ?2
                          AND json_type(d.body, '$.trace') = 'array'
                          AND t.type = 'object' AND json_extract(t.value, '$.outcome') = 'near_miss'
                          AND (?3 IS NULL OR json_extract(t.value, '$.rule') = ?3)
                          AND json_type(t.value, '$.checks') = 'array'
                          AND k.type = 'object' AND json_type(k.value, '$.held') = 'false'
                     ), ranked AS (
                       SELECT *, row_number() OVER (
                                PARTITION BY rule, kind, field, op, wanted, found
                                ORDER BY at DESC, decision) AS n
                         FROM nm
                     )
                     SELECT rule, kind, field, op, wanted, found, count(*), min(because),
                            group_concat(CASE WHEN n <= ?4 THEN decision || ' ' || event END, ',')
                       FROM ranked
                      GROUP BY rule, kind, field, op, wanted, found
                      ORDER BY 1, 7 DESC, 2, 3, 5, 6",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map(params![since, until, rule, examples], |r| {
                    Ok(crate::NearMissText {
                        rule: r.get(0)?,
                        kind: r.get(1)?,
                        field: r.get(2)?,
                        op: r.get(3)?,
                        wanted: r.get(4)?,
                        found: r.get(5)?,
                        count: r.get(6)?,
                        because: r.get(7)?,
                        examples: r.get(8)?,
                    })
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)?.into_row()).collect()
        })
        .await
    }

    async fn slo_counts(&self, q: &SloQuery) -> Result<Vec<SloCounts>, StoreError> {
        let longest = q.windows.iter().copied().max().unwrap_or(0);
        let since = fixed_time(&(q.until - chrono::Duration::seconds(longest)));
        let until = fixed_time(&q.until);
        let (decide, notify, windows) = (q.decide_within, q.notify_within, q.windows.clone());
        self.with(move |c| {
            // One pass over the longest window, counted per slot of SLO_SLOT_SECONDS back from
            // `until` (?2); julianday reads RFC 3339 with its fraction (days: × 86400 s).
            let rows = |sql: &str, within: f64| -> Result<Vec<(i64, i64, i64)>, StoreError> {
                let mut st = c.prepare_cached(sql).map_err(unavailable)?;
                let rows = st
                    .query_map(params![since, until, within, SLO_SLOT_SECONDS], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(unavailable)?;
                rows.map(|r| r.map_err(unavailable)).collect()
            };
            let decided = rows(
                "SELECT CAST((julianday(?2) - julianday(d.decided_at)) * 86400.0 / ?4 AS INTEGER),
                        count(*),
                        coalesce(sum((julianday(d.decided_at) - julianday(f.received_at)) * 86400.0 <= ?3), 0)
                   FROM decisions d JOIN facts f ON f.helios_id = d.event_id
                  WHERE d.decided_at >= ?1 AND d.decided_at < ?2
                    AND NOT EXISTS (SELECT 1 FROM decisions e
                                     WHERE e.event_id = d.event_id AND e.decided_at < d.decided_at)
                  GROUP BY 1",
                decide,
            )?;
            let notified = rows(
                "SELECT CAST((julianday(?2) - julianday(at)) * 86400.0 / ?4 AS INTEGER),
                        count(*),
                        coalesce(sum(first IS NOT NULL
                                     AND (julianday(first) - julianday(at)) * 86400.0 <= ?3), 0)
                   FROM (SELECT d.decided_at AS at,
                                (SELECT min(o.recorded_at) FROM outcomes o WHERE o.decision_id = d.id) AS first
                           FROM decisions d
                          WHERE d.decided_at >= ?1 AND d.decided_at < ?2
                            AND json_valid(d.body) AND json_type(d.body, '$.actions') = 'array'
                            AND json_array_length(d.body, '$.actions') > 0)
                  WHERE first IS NOT NULL OR (julianday(?2) - julianday(at)) * 86400.0 > ?3
                  GROUP BY 1",
                notify,
            )?;
            // ?3 is unused here (every query takes the same parameters).
            let reconciled = rows(
                "SELECT CAST((julianday(?2) - julianday(time)) * 86400.0 / ?4 AS INTEGER),
                        count(*), coalesce(sum(type = 'helios.reconcile.matched'), 0)
                   FROM facts
                  WHERE time >= ?1 AND time < ?2 AND ?3 IS NOT NULL AND source = 'helios/expect'
                    AND (type IN ('helios.reconcile.matched', 'helios.reconcile.mismatched')
                         OR (type = 'helios.expectation.missed'
                             AND json_valid(event)
                             AND json_extract(event, '$.data.kind') = 'reconcile'))
                  GROUP BY 1",
                0.0,
            )?;
            Ok(crate::slo_counts_of(&windows, &decided, &notified, &reconciled))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use helios_events::{helios_id, Event, Format};

    fn fact(id: &str) -> NewFact {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        NewFact {
            hold: None,
            event: Event {
                helios_id: helios_id("ci", id),
                id: id.into(),
                source: "ci".into(),
                event_type: "build".into(),
                subject: Some("acme/web".into()),
                time: t,
                received_at: t,
                schema_version: 1,
                format: Format::Native,
                extensions: Default::default(),
                correlation: Default::default(),
                data: serde_json::json!({"n": id}),
                schema: None,
                traceparent: None,
            },
            raw: RawRef {
                key: format!("raw/{id}.json"),
                index: 0,
            },
        }
    }

    /// A store written before migration 6 (facts unique by `(source, source_id)` as well as
    /// by `helios_id`) keeps every fact, its outbox and parked rows and its sequence when the
    /// table is built again without the second index, and still stores each fact once.
    #[tokio::test]
    async fn facts_built_again_unique_by_helios_id_keep_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("helios.db")).unwrap();
        assert_eq!(s.migrate_to(5).await.unwrap(), 5);
        let written = s
            .record_facts(&(1..=4).map(|n| fact(&n.to_string())).collect::<Vec<_>>())
            .await
            .unwrap();
        assert!(written.iter().all(|r| *r == Recorded::Accepted));
        s.mark_published(&[helios_id("ci", "1")]).await.unwrap();
        let parked = (helios_id("ci", "2"), "cannot be read".to_string());
        s.park_outbox(std::slice::from_ref(&parked), Utc::now())
            .await
            .unwrap();
        // The newest fact gone (as by hand): its `seq` is still never given again.
        s.with(|c| {
            c.execute(
                "DELETE FROM outbox WHERE helios_id = ?1",
                [helios_id("ci", "4")],
            )
            .map_err(unavailable)?;
            c.execute(
                "DELETE FROM facts WHERE helios_id = ?1",
                [helios_id("ci", "4")],
            )
            .map_err(unavailable)
        })
        .await
        .unwrap();

        assert_eq!(s.migrate_to(6).await.unwrap(), 1);
        let facts = s
            .list_facts(&FactQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .facts;
        assert_eq!(
            facts
                .iter()
                .map(|f| (f.seq, f.event.id.as_str()))
                .collect::<Vec<_>>(),
            [(1, "1"), (2, "2"), (3, "3")]
        );
        assert_eq!(
            facts[2].event,
            fact("3").event,
            "the fact is kept as written"
        );
        let pending = s.pending_outbox(Utc::now(), 10).await.unwrap();
        assert_eq!(
            pending
                .iter()
                .filter_map(Outboxed::fact)
                .map(|f| f.event.id.as_str())
                .collect::<Vec<_>>(),
            ["3"]
        );
        assert_eq!(s.parked_outbox(10).await.unwrap(), [parked]);
        let again = s
            .record_facts(&[fact("5"), fact("3"), fact("5")])
            .await
            .unwrap();
        assert_eq!(
            again,
            [Recorded::Accepted, Recorded::Duplicate, Recorded::Duplicate]
        );
        let five = s.get_fact(&helios_id("ci", "5")).await.unwrap().unwrap();
        assert_eq!(five.seq, 5, "a new fact follows the highest seq ever given");
        let indexes: Vec<String> = s
            .with(|c| {
                let mut st = c
                    .prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'facts' AND type = 'index' ORDER BY name")
                    .map_err(unavailable)?;
                let names = st
                    .query_map([], |r| r.get(0))
                    .map_err(unavailable)?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(unavailable);
                names
            })
            .await
            .unwrap();
        assert_eq!(
            indexes,
            [
                "facts_by_source",
                "facts_by_time",
                "facts_by_type",
                "sqlite_autoindex_facts_1"
            ],
            "one unique index, on helios_id"
        );
    }
}
