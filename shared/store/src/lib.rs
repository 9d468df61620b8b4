//! The Helios store: facts (canonical events, unique by `(source, id)`), the transactional
//! outbox that guarantees every acknowledged fact is published, and API keys.
//!
//! Two implementations behind one [`Store`] trait: PostgreSQL (RDS in AWS, or
//! `helios dev --database-url postgres://…`) and an embedded SQLite file, the default of
//! `helios dev`, so that a fresh machine needs nothing installed. One conformance suite
//! runs against both. Schema changes are versioned SQL files under `migrations/`, applied
//! by [`Store::migrate`], never by hand.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use helios_events::Event;
use serde::{Deserialize, Serialize};

mod migrations;
pub mod postgres;
pub mod sqlite;

pub use postgres::{tls_url, Login, PasswordSource, PgStore, PgTls, PASSWORD_REFRESH};
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed; the caller may retry.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A migration could not be applied.
    #[error("migration {version} ({name}) failed: {message}")]
    Migration {
        version: i64,
        name: String,
        message: String,
    },
    /// What the store holds cannot be read back (a bug, or a hand-edited database).
    #[error("the store holds a row it cannot read: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

/// Where the raw payload of a fact is: the archived request body, and the position of the
/// event in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRef {
    pub key: String,
    pub index: u32,
}

/// A fact to record.
#[derive(Clone, Debug)]
pub struct NewFact {
    pub event: Event,
    pub raw: RawRef,
}

/// A recorded fact.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    /// Position in the order facts were recorded; the cursor of listings.
    pub seq: i64,
    pub event: Event,
    pub raw: RawRef,
}

/// A fact waiting in the outbox, or one whose stored event cannot be read back (the relay
/// parks it rather than stall every fact recorded after it).
#[derive(Clone, Debug, PartialEq)]
// Nearly every entry is `Ready`: boxing the fact would cost an allocation for each.
#[allow(clippy::large_enum_variant)]
pub enum Outboxed {
    Ready(Fact),
    Unreadable {
        helios_id: String,
        seq: i64,
        problem: String,
    },
}

impl Outboxed {
    /// The fact, when it could be read.
    pub fn fact(&self) -> Option<&Fact> {
        match self {
            Outboxed::Ready(f) => Some(f),
            Outboxed::Unreadable { .. } => None,
        }
    }
}

/// What recording one fact did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Recorded {
    Accepted,
    /// A fact with the same `(source, id)` was already recorded; nothing was written.
    Duplicate,
}

/// A filter over facts. `since` is inclusive and `until` exclusive, both on the event time.
#[derive(Clone, Debug, Default)]
pub struct FactQuery {
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub subject: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only facts recorded after this `seq` (the cursor of the previous page).
    pub after: Option<i64>,
    pub limit: usize,
}

/// One page of facts, in the order they were recorded.
#[derive(Clone, Debug)]
pub struct FactPage {
    pub facts: Vec<Fact>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<i64>,
}

// The API key types are the domain's, not the store's: they live beside the ports.
pub use helios_ports::keys::{ApiKey, Role};

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

/// A decision to record: its index fields and the whole decision (trace included) as JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewDecision {
    /// `dec_…`, derived from the event and the rule set's content.
    pub id: String,
    /// The `helios_id` of the decided fact.
    pub event_id: String,
    /// `name@version` of the rule set.
    pub ruleset: String,
    pub ruleset_hash: String,
    pub subject: Option<String>,
    pub severity: Option<String>,
    pub score: f64,
    /// The ids of the rules that fired, in priority order.
    pub rules: Vec<String>,
    pub decided_at: DateTime<Utc>,
    pub body: serde_json::Value,
}

/// A recorded decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredDecision {
    /// Position in the order decisions were recorded; the cursor of listings.
    pub seq: i64,
    #[serde(flatten)]
    pub decision: NewDecision,
}

/// A filter over decisions; `since` inclusive and `until` exclusive, on `decided_at`.
#[derive(Clone, Debug, Default)]
pub struct DecisionQuery {
    /// Decisions of this fact (`helios_id`).
    pub event_id: Option<String>,
    pub subject: Option<String>,
    /// Decisions in which this rule fired.
    pub rule: Option<String>,
    pub severity: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after: Option<i64>,
    pub limit: usize,
}

/// One page of decisions, in the order they were recorded.
#[derive(Clone, Debug)]
pub struct DecisionPage {
    pub decisions: Vec<StoredDecision>,
    pub next: Option<i64>,
}

/// What a decision's workflow did: written by the `record` task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub decision_id: String,
    /// The execution's name.
    pub execution: String,
    /// `outcome` (the end of the workflow), `awaiting_ack`, …
    pub kind: String,
    pub recorded_at: DateTime<Utc>,
    pub body: serde_json::Value,
}

/// Counts over time buckets, for `GET /v1/stats`.
#[derive(Clone, Debug)]
pub struct StatsQuery {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The bucket width, in seconds (> 0); buckets start at multiples of it since the epoch.
    pub bucket_seconds: i64,
}

/// One count: in the bucket starting at `bucket` (seconds since the epoch), `count` items
/// of `series` had the value `key`. Series: `source` and `type` (events, by their time),
/// `rule` and `severity` (decisions, by when they were made; a decision that fired no rule is
/// counted under rule `""`), `outcome` (outcomes by kind, `escalated` for an outcome that
/// escalated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatRow {
    pub bucket: i64,
    pub series: String,
    pub key: String,
    pub count: i64,
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

/// The store port.
#[async_trait]
pub trait Store: Send + Sync {
    /// Applies the migrations not yet applied; returns how many were.
    async fn migrate(&self) -> Result<usize, StoreError>;

    /// Records facts and their outbox rows in one transaction: all of them or none. A fact
    /// whose `(source, id)` is already recorded, or repeated within `facts`, is a duplicate.
    async fn record_facts(&self, facts: &[NewFact]) -> Result<Vec<Recorded>, StoreError>;

    /// Facts still in the outbox that were recorded before `before`, oldest first; a row
    /// whose event cannot be read back is answered as [`Outboxed::Unreadable`], never as an
    /// error of the whole call.
    async fn pending_outbox(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Outboxed>, StoreError>;

    /// Takes published facts out of the outbox.
    async fn mark_published(&self, helios_ids: &[String]) -> Result<(), StoreError>;

    /// Moves outbox rows that cannot be published, `(helios id, reason)`, to the parked
    /// outbox, in one transaction; the facts stay.
    async fn park_outbox(
        &self,
        parked: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The parked outbox rows, `(helios id, reason)`, oldest first.
    async fn parked_outbox(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError>;

    async fn get_fact(&self, helios_id: &str) -> Result<Option<Fact>, StoreError>;

    async fn list_facts(&self, query: &FactQuery) -> Result<FactPage, StoreError>;

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    /// The key with this hash, revoked or not.
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes a key; false when no live key has this id.
    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Records a decision once: a decision of the same event by the same rule-set content (or
    /// with the same id) is a duplicate, and nothing is written.
    async fn record_decision(&self, decision: &NewDecision) -> Result<Recorded, StoreError>;

    async fn get_decision(&self, id: &str) -> Result<Option<StoredDecision>, StoreError>;

    async fn list_decisions(&self, query: &DecisionQuery) -> Result<DecisionPage, StoreError>;

    /// Records an outcome once per (decision, execution, kind); a repeat is a duplicate.
    async fn record_outcome(&self, outcome: &Outcome) -> Result<Recorded, StoreError>;

    /// A decision's outcomes, in the order they were recorded.
    async fn list_outcomes(&self, decision_id: &str) -> Result<Vec<Outcome>, StoreError> {
        self.outcomes_of(&[decision_id.to_string()]).await
    }

    /// The outcomes of several decisions in one query, in the order they were recorded.
    async fn outcomes_of(&self, decision_ids: &[String]) -> Result<Vec<Outcome>, StoreError>;

    /// Counts of events, decisions and outcomes in `[since, until)`, per time bucket.
    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatRow>, StoreError>;
}

/// What the read side of Helios may do with the store, and nothing else: the query API
/// and the read routes are handed this, so a write does not compile there.
#[async_trait]
pub trait ReadModel: Send + Sync {
    async fn get_fact(&self, helios_id: &str) -> Result<Option<Fact>, StoreError>;
    async fn list_facts(&self, query: &FactQuery) -> Result<FactPage, StoreError>;
    async fn get_decision(&self, id: &str) -> Result<Option<StoredDecision>, StoreError>;
    async fn list_decisions(&self, query: &DecisionQuery) -> Result<DecisionPage, StoreError>;
    async fn list_outcomes(&self, decision_id: &str) -> Result<Vec<Outcome>, StoreError> {
        self.outcomes_of(&[decision_id.to_string()]).await
    }
    /// The outcomes of several decisions in one query, in the order they were recorded.
    async fn outcomes_of(&self, decision_ids: &[String]) -> Result<Vec<Outcome>, StoreError>;
    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatRow>, StoreError>;
}

/// A store seen through its [`ReadModel`] only.
pub fn read_only(store: std::sync::Arc<dyn Store>) -> std::sync::Arc<dyn ReadModel> {
    std::sync::Arc::new(ReadOnly(store))
}

struct ReadOnly(std::sync::Arc<dyn Store>);

#[async_trait]
impl ReadModel for ReadOnly {
    async fn get_fact(&self, helios_id: &str) -> Result<Option<Fact>, StoreError> {
        self.0.get_fact(helios_id).await
    }
    async fn list_facts(&self, query: &FactQuery) -> Result<FactPage, StoreError> {
        self.0.list_facts(query).await
    }
    async fn get_decision(&self, id: &str) -> Result<Option<StoredDecision>, StoreError> {
        self.0.get_decision(id).await
    }
    async fn list_decisions(&self, query: &DecisionQuery) -> Result<DecisionPage, StoreError> {
        self.0.list_decisions(query).await
    }
    async fn outcomes_of(&self, decision_ids: &[String]) -> Result<Vec<Outcome>, StoreError> {
        self.0.outcomes_of(decision_ids).await
    }
    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatRow>, StoreError> {
        self.0.stats(query).await
    }
}

/// Times as SQLite keeps them: fixed-width, so that text order is time order.
pub(crate) fn fixed_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
