//! The adapters of the store's ports (`helios_ports::store`, re-exported here): facts
//! (canonical events, unique by `(source, id)`), the transactional outbox that guarantees
//! every acknowledged fact is published, API keys, decisions and outcomes.
//!
//! Two implementations of every port: PostgreSQL (RDS in AWS, or
//! `helios dev --database-url postgres://…`) and, with the `sqlite` feature, an embedded
//! SQLite file, the default of `helios dev`, so that a fresh machine needs nothing
//! installed. One conformance suite runs against both. Schema changes are versioned SQL
//! files under `migrations/`, applied by [`Schema::migrate`], never by hand.

#[cfg(feature = "sqlite")]
use chrono::{DateTime, Utc};

mod migrations;
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use postgres::{tls_url, PasswordSource, PgStore, PgTls, PASSWORD_REFRESH};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

pub use helios_ports::store::*;

/// A row of [`Stats::near_misses`] as both stores read it: JSON and lists as text.
pub(crate) struct NearMissText {
    pub rule: Option<String>,
    pub kind: Option<String>,
    pub field: Option<String>,
    pub op: Option<String>,
    pub wanted: Option<String>,
    pub found: Option<String>,
    pub count: i64,
    pub because: Option<String>,
    /// `decision event` pairs, separated by commas.
    pub examples: Option<String>,
}

impl NearMissText {
    pub(crate) fn into_row(self) -> Result<NearMissRow, StoreError> {
        let json = |what: &str, t: Option<String>| match t {
            None => Ok(serde_json::Value::Null),
            Some(t) => serde_json::from_str(&t).map_err(|e| {
                StoreError::Corrupt(format!("a near miss's `{what}` is not JSON: {e}"))
            }),
        };
        let mut examples: Vec<(String, String)> = self
            .examples
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split_once(' '))
            .map(|(d, e)| (d.to_string(), e.to_string()))
            .collect();
        examples.sort();
        Ok(NearMissRow {
            rule: self.rule.unwrap_or_default(),
            kind: self.kind.unwrap_or_default(),
            field: self.field,
            op: self.op,
            wanted: json("wanted", self.wanted)?,
            found: json("found", self.found)?,
            count: self.count,
            because: self.because.unwrap_or_default(),
            examples,
        })
    }
}

/// The counts of each window from the per-slot rows of the three objectives.
pub(crate) fn slo_counts_of(
    windows: &[i64],
    decided: &[(i64, i64, i64)],
    notified: &[(i64, i64, i64)],
    reconciled: &[(i64, i64, i64)],
) -> Vec<SloCounts> {
    let d = slo_windows(windows, decided);
    let n = slo_windows(windows, notified);
    let r = slo_windows(windows, reconciled);
    (0..windows.len())
        .map(|i| SloCounts {
            decided: d[i].0,
            decided_in_time: d[i].1,
            notified: n[i].0,
            notified_in_time: n[i].1,
            reconciled: r[i].0,
            reconciled_alike: r[i].1,
        })
        .collect()
}

/// A key's sources as stored: a JSON array, or NULL.
pub(crate) fn key_sources_text(sources: Option<&[String]>) -> Option<String> {
    sources.map(|s| serde_json::Value::from(s.to_vec()).to_string())
}

/// A key's sources read back.
pub(crate) fn key_sources(text: Option<&str>) -> Result<Option<Vec<String>>, StoreError> {
    text.map(|t| {
        serde_json::from_str(t)
            .map_err(|e| StoreError::Corrupt(format!("an API key's sources: {e}")))
    })
    .transpose()
}

/// Cuts a listing read with one row too many (`limit + 1`) to `limit`; the cursor of the next
/// page is the `seq` of the last row kept, when there was more.
pub(crate) fn cut_page<T>(rows: &mut Vec<T>, limit: usize, seq: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(seq)
    } else {
        None
    }
}

/// The `WHERE` on `seq` and the `ORDER BY` of a listing, oldest or newest first, and the
/// cursor's value when there is none (every seq is past it).
pub(crate) fn seq_order(
    newest_first: bool,
    after: Option<i64>,
) -> (&'static str, &'static str, i64) {
    if newest_first {
        ("seq <", "ORDER BY seq DESC", after.unwrap_or(i64::MAX))
    } else {
        ("seq >", "ORDER BY seq", after.unwrap_or(0))
    }
}

/// The fired rules as one column: `,a,b,`.
pub(crate) fn rules_column(rules: &[String]) -> String {
    format!(",{},", rules.join(","))
}

/// The fired rules from their column.
pub(crate) fn rules_from_column(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect()
}

/// Times as SQLite keeps them: fixed-width, so that text order is time order.
#[cfg(feature = "sqlite")]
pub(crate) fn fixed_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
