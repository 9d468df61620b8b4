//! The store's ports and the domain's records: facts (canonical events, unique by
//! `(source, id)`), the transactional outbox, API keys, decisions and their outcomes, split by
//! concern; the adapters are `helios-store` (PostgreSQL, SQLite).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use helios_events::Event;
use serde::{Deserialize, Serialize};

pub use crate::keys::{ApiKey, Role};

/// Why a store operation failed.
#[derive(Clone, Debug, thiserror::Error)]
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
    /// Why the fact is held in quarantine instead of being published (its schema check,
    /// under the `quarantine` policy); `None` for a fact published as usual.
    pub hold: Option<serde_json::Value>,
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
    /// Only facts past this `seq` in the listing's order (the cursor of the previous page).
    pub after: Option<i64>,
    pub limit: usize,
    /// The newest first (a page then ends at its oldest, and `after` goes back in time).
    pub newest_first: bool,
}

/// One page of facts, in the order they were recorded (or the reverse, when asked).
#[derive(Clone, Debug)]
pub struct FactPage {
    pub facts: Vec<Fact>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<i64>,
}

// The API key types are the domain's, not the store's: they live beside the ports.

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
    /// Only decisions past this `seq` in the listing's order.
    pub after: Option<i64>,
    pub limit: usize,
    /// The newest first.
    pub newest_first: bool,
}

/// One page of decisions, in the order they were recorded (or the reverse, when asked).
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

/// The near misses of `[since, until)`, for `GET /v1/near-misses` and `helios rules tune`.
#[derive(Clone, Debug)]
pub struct NearMissQuery {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// One rule only.
    pub rule: Option<String>,
    /// Example decisions kept per row (the newest).
    pub examples: usize,
}

/// How often one rule nearly fired for want of one check, with one value found: the check
/// that failed in the traces of the near misses (a near miss has exactly one), grouped by
/// what it asked (`kind`, `field`, `op`, `wanted`) and what it found.
#[derive(Clone, Debug, PartialEq)]
pub struct NearMissRow {
    pub rule: String,
    /// `match`, `arrays`, `where` or `window`.
    pub kind: String,
    pub field: Option<String>,
    pub op: Option<String>,
    pub wanted: serde_json::Value,
    pub found: serde_json::Value,
    pub count: i64,
    /// The trace's sentence of one of them.
    pub because: String,
    /// `(decision id, event id)` of the newest, at most [`NearMissQuery::examples`], in the
    /// order of their ids.
    pub examples: Vec<(String, String)>,
}

/// What the service level objectives count over windows ending at `until`, each
/// `[until - window, until)`, in one pass over the longest.
#[derive(Clone, Debug)]
pub struct SloQuery {
    pub until: DateTime<Utc>,
    /// The windows, in seconds, each a multiple of [`SLO_SLOT_SECONDS`].
    pub windows: Vec<i64>,
    /// An event is decided in time within this many seconds of being received.
    pub decide_within: f64,
    /// A decision with actions is notified in time when its workflow's first record comes
    /// within this many seconds of it.
    pub notify_within: f64,
}

/// The stores count in slots of this many seconds back from `until`, and add slots up into
/// each window.
pub const SLO_SLOT_SECONDS: i64 = 300;

/// Adds up `(slot, total, good)` rows (slot 0 the newest) into the windows asked for.
pub fn slo_windows(windows: &[i64], rows: &[(i64, i64, i64)]) -> Vec<(i64, i64)> {
    windows
        .iter()
        .map(|w| {
            let slots = w / SLO_SLOT_SECONDS;
            rows.iter()
                .filter(|(slot, _, _)| (0..slots).contains(slot))
                .fold((0, 0), |(t, g), (_, total, good)| (t + total, g + good))
        })
        .collect()
}

/// The counts of one window of [`SloQuery`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SloCounts {
    /// Events first decided in the window (a decision again, by replay, is not counted).
    pub decided: i64,
    pub decided_in_time: i64,
    /// Decisions of the window with actions whose workflow recorded something, or that
    /// have waited longer than `notify_within` by `until` (still waiting is not yet late).
    pub notified: i64,
    pub notified_in_time: i64,
    /// Reconciliations whose verdict came in the window (the facts `helios/expect` emitted:
    /// matched, mismatched, or missed for a reconciliation), by the verdict's time.
    pub reconciled: i64,
    /// Of them, those every source reported alike (`helios.reconcile.matched`).
    pub reconciled_alike: i64,
}

/// One version of a registered JSON Schema: the schema of the events of one subject,
/// `(source, type)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchemaVersion {
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// 1 for the first version of the subject, then one more for each.
    pub version: u32,
    /// `sch_` and the first 24 hex digits of the SHA-256 of the schema's JSON: the same
    /// schema has the same id under every subject.
    pub id: String,
    pub schema: serde_json::Value,
    pub registered_at: DateTime<Utc>,
}

/// How a subject is governed: its compatibility mode (Confluent's names: `BACKWARD`, …)
/// and what ingest does with an event that does not fit (`enforce`, `quarantine`,
/// `observe`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubjectSettings {
    pub mode: String,
    pub policy: String,
    pub updated_at: DateTime<Utc>,
}

/// A subject of the registry: one with versions, or settings, or both.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Subject {
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The number of its newest version; 0 when it has none yet.
    pub latest: u32,
    /// How many recorded facts did not fit the newest version.
    pub latest_violations: u64,
    pub settings: Option<SubjectSettings>,
}

/// What became of a held fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldStatus {
    /// Waiting for an admin.
    Held,
    /// Put in the outbox: published and decided as any fact.
    Released,
    /// Never to be decided; the fact stays recorded.
    Dropped,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Held => "held",
            HoldStatus::Released => "released",
            HoldStatus::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<HoldStatus> {
        Some(match s {
            "held" => HoldStatus::Held,
            "released" => HoldStatus::Released,
            "dropped" => HoldStatus::Dropped,
            _ => return None,
        })
    }
}

/// A fact held in quarantine (or once held).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Held {
    pub helios_id: String,
    /// The fact's `seq`: the cursor of listings.
    pub seq: i64,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub held_at: DateTime<Utc>,
    /// Why: the schema it was checked against and every violation.
    pub reason: serde_json::Value,
    pub status: HoldStatus,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
}

/// The schema registry: versions per subject, and each subject's settings.
#[async_trait]
pub trait SchemaRegistry: Send + Sync {
    /// The versions of a subject, oldest first.
    async fn schema_versions(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<SchemaVersion>, StoreError>;

    /// Adds a version; [`Recorded::Duplicate`] (and nothing written) when the subject already
    /// has a version with this number (another registration came first: check again).
    async fn add_schema_version(&self, version: &SchemaVersion) -> Result<Recorded, StoreError>;

    /// Every subject, by source and type.
    async fn subjects(&self) -> Result<Vec<Subject>, StoreError>;

    /// How many recorded facts did not fit each version of a subject, `(version, count)`,
    /// for the versions with any (facts are counted as they are recorded, by the
    /// `schema` their event carries).
    async fn schema_violations(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<(u32, u64)>, StoreError>;

    async fn subject_settings(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Option<SubjectSettings>, StoreError>;

    async fn set_subject_settings(
        &self,
        source: &str,
        event_type: &str,
        settings: &SubjectSettings,
    ) -> Result<(), StoreError>;
}

/// Facts held by the `quarantine` policy: recorded, not published, until an admin releases
/// or drops each.
#[async_trait]
pub trait Quarantine: Send + Sync {
    /// Held facts (or those once held, by status), in the order they were recorded, past
    /// the cursor `after`.
    async fn held(
        &self,
        status: Option<HoldStatus>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Held>, StoreError>;

    async fn get_held(&self, helios_id: &str) -> Result<Option<Held>, StoreError>;

    /// Releases a held fact (its outbox row written in the same transaction) or drops it;
    /// `None` when no fact with this id is held (unknown, or resolved already).
    async fn resolve_held(
        &self,
        helios_id: &str,
        to: HoldStatus,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Held>, StoreError>;
}

/// The schema: its versioned migrations.
#[async_trait]
pub trait Schema: Send + Sync {
    /// Applies the migrations not yet applied; returns how many were.
    async fn migrate(&self) -> Result<usize, StoreError>;
}

/// Facts: recorded once per `(source, id)`, each with its outbox row in the same transaction.
#[async_trait]
pub trait Facts: Send + Sync {
    /// Records facts and their outbox rows in one transaction: all of them or none. A fact
    /// whose `(source, id)` is already recorded, or repeated within `facts`, is a duplicate.
    async fn record_facts(&self, facts: &[NewFact]) -> Result<Vec<Recorded>, StoreError>;

    async fn get_fact(&self, helios_id: &str) -> Result<Option<Fact>, StoreError>;

    async fn list_facts(&self, query: &FactQuery) -> Result<FactPage, StoreError>;
}

/// The transactional outbox: facts recorded but not yet published.
#[async_trait]
pub trait Outbox: Send + Sync {
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

    /// How many facts wait in the outbox to be published (parked ones not counted).
    async fn outbox_backlog(&self) -> Result<u64, StoreError>;
}

/// API keys, stored by the hash of their secret.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    /// The key with this hash, revoked or not.
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes a key; false when no live key has this id.
    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// Decisions, one per event and rule-set content.
#[async_trait]
pub trait Decisions: Send + Sync {
    /// Records a decision once: a decision of the same event by the same rule-set content (or
    /// with the same id) is a duplicate, and nothing is written.
    async fn record_decision(&self, decision: &NewDecision) -> Result<Recorded, StoreError>;

    async fn get_decision(&self, id: &str) -> Result<Option<StoredDecision>, StoreError>;

    async fn list_decisions(&self, query: &DecisionQuery) -> Result<DecisionPage, StoreError>;
}

/// What the workflows of decisions reported.
#[async_trait]
pub trait Outcomes: Send + Sync {
    /// Records an outcome once per (decision, execution, kind); a repeat is a duplicate.
    async fn record_outcome(&self, outcome: &Outcome) -> Result<Recorded, StoreError>;

    /// A decision's outcomes, in the order they were recorded.
    async fn list_outcomes(&self, decision_id: &str) -> Result<Vec<Outcome>, StoreError> {
        self.outcomes_of(&[decision_id.to_string()]).await
    }

    /// The outcomes of several decisions in one query, in the order they were recorded.
    async fn outcomes_of(&self, decision_ids: &[String]) -> Result<Vec<Outcome>, StoreError>;

    /// Outcomes in the order they were recorded, each with its position in that order, past
    /// the position `after` (the archive's cursor).
    async fn outcomes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Outcome)>, StoreError>;
}

/// Counts over time, for the read model.
#[async_trait]
pub trait Stats: Send + Sync {
    /// Counts of events, decisions and outcomes in `[since, until)`, per time bucket.
    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatRow>, StoreError>;
    /// The near misses of the decisions made in `[since, until)`, most frequent first within
    /// each rule.
    async fn near_misses(&self, query: &NearMissQuery) -> Result<Vec<NearMissRow>, StoreError>;
    /// The counts of the service level objectives, one per window of the query, in its order.
    async fn slo_counts(&self, query: &SloQuery) -> Result<Vec<SloCounts>, StoreError>;
}

/// How the functions' database role logs in ([`RowAccess::grant_dml`]).
#[derive(Clone, Debug)]
pub enum Login {
    /// With IAM authentication tokens (RDS's `rds_iam`).
    Iam,
    /// With this password (RDS Proxy logs in with it, from a secret).
    Password(String),
}

/// Granting a database role reading and writing rows, and nothing else (PostgreSQL; the
/// embedded store has no roles).
#[async_trait]
pub trait RowAccess: Send + Sync {
    /// Makes `role` (created if missing) able to log in as `login` and to read and write the
    /// rows of every table, now and after later migrations; never to change the schema.
    async fn grant_dml(&self, role: &str, login: &Login) -> Result<(), StoreError>;
}

/// The whole store, as an adapter implements it (PostgreSQL, SQLite). A use case takes the
/// narrow ports it needs ([`Facts`], [`Outbox`], [`Decisions`], …), to which an
/// `Arc<dyn Store>` coerces.
pub trait Store:
    Schema + Facts + Outbox + ApiKeys + Decisions + Outcomes + Stats + SchemaRegistry + Quarantine
{
}

impl<
        T: Schema
            + Facts
            + Outbox
            + ApiKeys
            + Decisions
            + Outcomes
            + Stats
            + SchemaRegistry
            + Quarantine
            + ?Sized,
    > Store for T
{
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
    async fn near_misses(&self, query: &NearMissQuery) -> Result<Vec<NearMissRow>, StoreError>;
    async fn slo_counts(&self, query: &SloQuery) -> Result<Vec<SloCounts>, StoreError>;
    async fn subjects(&self) -> Result<Vec<Subject>, StoreError>;
    async fn schema_versions(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<SchemaVersion>, StoreError>;
    async fn subject_settings(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Option<SubjectSettings>, StoreError>;
    async fn schema_violations(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<(u32, u64)>, StoreError>;
    async fn held(
        &self,
        status: Option<HoldStatus>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Held>, StoreError>;
    async fn get_held(&self, helios_id: &str) -> Result<Option<Held>, StoreError>;
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
    async fn near_misses(&self, query: &NearMissQuery) -> Result<Vec<NearMissRow>, StoreError> {
        self.0.near_misses(query).await
    }
    async fn slo_counts(&self, query: &SloQuery) -> Result<Vec<SloCounts>, StoreError> {
        self.0.slo_counts(query).await
    }
    async fn subjects(&self) -> Result<Vec<Subject>, StoreError> {
        self.0.subjects().await
    }
    async fn schema_versions(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<SchemaVersion>, StoreError> {
        self.0.schema_versions(source, event_type).await
    }
    async fn subject_settings(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Option<SubjectSettings>, StoreError> {
        self.0.subject_settings(source, event_type).await
    }
    async fn schema_violations(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<(u32, u64)>, StoreError> {
        self.0.schema_violations(source, event_type).await
    }
    async fn held(
        &self,
        status: Option<HoldStatus>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Held>, StoreError> {
        self.0.held(status, after, limit).await
    }
    async fn get_held(&self, helios_id: &str) -> Result<Option<Held>, StoreError> {
        self.0.get_held(helios_id).await
    }
}

/// Every store trait in scope, to call their methods on a concrete adapter
/// (`use helios_store::prelude::*;`); an `Arc<dyn Store>` needs none.
pub mod prelude {
    pub use super::{
        ApiKeys as _, Decisions as _, Facts as _, Outbox as _, Outcomes as _, Quarantine as _,
        RowAccess as _, Schema as _, SchemaRegistry as _, Stats as _,
    };
}
