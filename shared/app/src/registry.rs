//! The schema registry (issue 17): JSON Schema versions per subject `(source, type)`, each
//! new version checked against the subject's compatibility mode ([`helios_schemas::check`])
//! before it is kept, and each subject's ingest policy; and [`SchemaGate`], which checks
//! accepted events against their subject's latest version, compiling each version once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helios_events::{Event, SchemaCheck};
use helios_ports::store::{
    Facts, Held, HoldStatus, Outbox, Quarantine, Recorded, SchemaRegistry, SchemaVersion,
    StoreError, Subject, SubjectSettings,
};
use helios_ports::{Clock, Publisher};
use helios_schemas::{Breaking, Change, Drift, Mode, Validator, Violation};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What ingest does with an event that does not fit its subject's latest schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Refused with 422 and every violation; nothing of the request is stored.
    Enforce,
    /// Stored and flagged, not decided until an admin releases it.
    Quarantine,
    /// Stored and decided; the violations are counted.
    #[default]
    Observe,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Enforce => "enforce",
            Policy::Quarantine => "quarantine",
            Policy::Observe => "observe",
        }
    }

    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "enforce" => Policy::Enforce,
            "quarantine" => Policy::Quarantine,
            "observe" => Policy::Observe,
            _ => return None,
        })
    }
}

/// A subject's mode and policy, the defaults when none were set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    pub mode: Mode,
    pub policy: Policy,
    /// Whether they were set (`false`: the defaults, BACKWARD and observe).
    pub set: bool,
}

/// Why the registry refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    /// The new version breaks the subject's mode: every breaking change.
    #[error("the schema is not {mode}-compatible with version(s) of {subject}: {} breaking change(s)", breaking.len())]
    Incompatible {
        subject: String,
        mode: Mode,
        breaking: Vec<Breaking>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A version kept (or found already kept).
#[derive(Clone, Debug, Serialize)]
pub struct Registered {
    #[serde(flatten)]
    pub version: SchemaVersion,
    /// `false` when the same schema was already a version of the subject (nothing written).
    pub created: bool,
}

/// What checking a candidate found.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    pub mode: Mode,
    pub compatible: bool,
    /// The versions it was compared with (the latest, or every one in a transitive mode).
    pub against: Vec<u32>,
    pub breaking: Vec<Breaking>,
}

/// Which version of a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Latest,
    Number(u32),
}

impl Which {
    /// This version among a subject's versions (oldest first).
    pub fn pick(self, versions: &[SchemaVersion]) -> Option<&SchemaVersion> {
        match self {
            Which::Latest => versions.last(),
            Which::Number(n) => versions.iter().find(|v| v.version == n),
        }
    }

    /// `latest` or a version number (1, 2, …).
    pub fn parse(s: &str) -> Option<Which> {
        if s == "latest" {
            return Some(Which::Latest);
        }
        s.parse::<u32>().ok().filter(|n| *n > 0).map(Which::Number)
    }
}

/// The largest schema the registry keeps, in bytes of JSON.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;

/// The id of a schema: `sch_` and 24 hex digits of the SHA-256 of its canonical JSON (keys
/// sorted), so that key order does not make two ids of one schema.
pub fn schema_id(schema: &Value) -> String {
    let mut canonical = Vec::new();
    write_canonical(schema, &mut canonical);
    let digest = hex::encode(Sha256::digest(&canonical));
    format!("sch_{}", &digest[..24])
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(Value::String((*k).clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(&m[k.as_str()], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend(other.to_string().as_bytes()),
    }
}

/// Checks a subject's name: a source and a type as events carry them.
pub fn check_subject(source: &str, event_type: &str) -> Result<(), RegistryError> {
    for (what, v) in [("source", source), ("type", event_type)] {
        if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
            return Err(RegistryError::Invalid(format!(
                "the {what} of a subject is 1 to 256 characters, none of them control characters"
            )));
        }
    }
    Ok(())
}

/// The registry's use cases.
pub struct Registry {
    pub store: Arc<dyn SchemaRegistry>,
    pub clock: Arc<dyn Clock>,
    /// This process's gate, told of each change so that it takes effect here at once (other
    /// processes see it within their gate's time to live).
    pub gate: Option<Arc<SchemaGate>>,
}

impl Registry {
    fn changed(&self, source: &str, event_type: &str) {
        if let Some(g) = &self.gate {
            g.forget(source, event_type);
        }
    }

    pub async fn subjects(&self) -> Result<Vec<Subject>, RegistryError> {
        Ok(self.store.subjects().await?)
    }

    pub async fn settings(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Settings, RegistryError> {
        check_subject(source, event_type)?;
        Ok(settings_or_default(
            self.store.subject_settings(source, event_type).await?,
        )?)
    }

    /// Sets a subject's mode, policy or both (the other stays as it was).
    pub async fn configure(
        &self,
        source: &str,
        event_type: &str,
        mode: Option<Mode>,
        policy: Option<Policy>,
    ) -> Result<Settings, RegistryError> {
        let now = self.settings(source, event_type).await?;
        let stored = SubjectSettings {
            mode: mode.unwrap_or(now.mode).as_str().to_string(),
            policy: policy.unwrap_or(now.policy).as_str().to_string(),
            updated_at: self.clock.now(),
        };
        self.store
            .set_subject_settings(source, event_type, &stored)
            .await?;
        self.changed(source, event_type);
        Ok(settings_or_default(Some(stored))?)
    }

    pub async fn versions(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<SchemaVersion>, RegistryError> {
        check_subject(source, event_type)?;
        Ok(self.store.schema_versions(source, event_type).await?)
    }

    pub async fn version(
        &self,
        source: &str,
        event_type: &str,
        which: Which,
    ) -> Result<SchemaVersion, RegistryError> {
        let versions = self.versions(source, event_type).await?;
        which.pick(&versions).cloned().ok_or_else(|| {
            RegistryError::NotFound(match which {
                Which::Latest => format!("{source} {event_type} has no schema"),
                Which::Number(n) => format!("{source} {event_type} has no version {n}"),
            })
        })
    }

    /// How version `b` differs from version `a`.
    pub async fn diff(
        &self,
        source: &str,
        event_type: &str,
        a: Which,
        b: Which,
    ) -> Result<(SchemaVersion, SchemaVersion, Vec<Change>), RegistryError> {
        let versions = self.versions(source, event_type).await?;
        let get = |w: Which| {
            w.pick(&versions).cloned().ok_or_else(|| {
                RegistryError::NotFound(format!("{source} {event_type} has no such version"))
            })
        };
        let (a, b) = (get(a)?, get(b)?);
        let changes = helios_schemas::diff(&a.schema, &b.schema);
        Ok((a, b, changes))
    }

    /// Whether `schema` could be registered under the subject (in `mode`, or the subject's
    /// own); nothing is written.
    pub async fn check(
        &self,
        source: &str,
        event_type: &str,
        schema: &Value,
        mode: Option<Mode>,
    ) -> Result<Checked, RegistryError> {
        usable(schema)?;
        let mode = match mode {
            Some(m) => m,
            None => self.settings(source, event_type).await?.mode,
        };
        let versions = self.versions(source, event_type).await?;
        Ok(checked(mode, &versions, schema))
    }

    /// Registers `schema` as the subject's next version when it is compatible under the
    /// subject's mode; the same schema registered again is answered with its version.
    pub async fn register(
        &self,
        source: &str,
        event_type: &str,
        schema: Value,
    ) -> Result<Registered, RegistryError> {
        usable(&schema)?;
        let id = schema_id(&schema);
        let mode = self.settings(source, event_type).await?.mode;
        // Another registration may take the next number first: check again against it.
        for _ in 0..5 {
            let versions = self.versions(source, event_type).await?;
            if let Some(same) = versions.iter().rev().find(|v| v.id == id) {
                return Ok(Registered {
                    version: same.clone(),
                    created: false,
                });
            }
            let c = checked(mode, &versions, &schema);
            if !c.compatible {
                return Err(RegistryError::Incompatible {
                    subject: format!("{source} {event_type}"),
                    mode,
                    breaking: c.breaking,
                });
            }
            let version = SchemaVersion {
                source: source.to_string(),
                event_type: event_type.to_string(),
                version: versions.last().map_or(1, |v| v.version + 1),
                id: id.clone(),
                schema: schema.clone(),
                registered_at: self.clock.now(),
            };
            if self.store.add_schema_version(&version).await? == Recorded::Accepted {
                self.changed(source, event_type);
                tracing::info!(source, event_type, version = version.version, id = %id, "schema registered");
                return Ok(Registered {
                    version,
                    created: true,
                });
            }
        }
        Err(RegistryError::Store(StoreError::Unavailable(
            "other registrations kept taking the next version; try again".into(),
        )))
    }
}

/// A subject's stored settings, or the defaults (BACKWARD, observe) when none were set.
pub fn settings_or_default(stored: Option<SubjectSettings>) -> Result<Settings, StoreError> {
    let Some(s) = stored else {
        return Ok(Settings {
            mode: Mode::default(),
            policy: Policy::default(),
            set: false,
        });
    };
    Ok(Settings {
        mode: s
            .mode
            .parse()
            .map_err(|e: helios_schemas::UnknownMode| StoreError::Corrupt(e.to_string()))?,
        policy: Policy::parse(&s.policy)
            .ok_or_else(|| StoreError::Corrupt(format!("the policy `{}`", s.policy)))?,
        set: true,
    })
}

fn usable(schema: &Value) -> Result<(), RegistryError> {
    let size = serde_json::to_vec(schema).map_or(usize::MAX, |b| b.len());
    if size > MAX_SCHEMA_BYTES {
        return Err(RegistryError::Invalid(format!(
            "the schema is {size} bytes; the registry keeps schemas of at most {MAX_SCHEMA_BYTES}"
        )));
    }
    Validator::compile(schema)
        .map(|_| ())
        .map_err(|e| RegistryError::Invalid(e.to_string()))
}

fn checked(mode: Mode, versions: &[SchemaVersion], schema: &Value) -> Checked {
    let schemas: Vec<Value> = versions.iter().map(|v| v.schema.clone()).collect();
    let against: Vec<u32> = match (mode, versions.last()) {
        (Mode::None, _) | (_, None) => Vec::new(),
        (m, Some(last)) if !m.is_transitive() => vec![last.version],
        _ => versions.iter().map(|v| v.version).collect(),
    };
    // `check` numbers versions by position from 1, as the registry does: a version is the
    // one after the last, and none is ever removed.
    let breaking = helios_schemas::check(mode, &schemas, schema)
        .err()
        .unwrap_or_default();
    Checked {
        mode,
        compatible: breaking.is_empty(),
        against,
        breaking,
    }
}

// ---- the quarantine ----------------------------------------------------------------------

/// Why a held fact could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no fact {0} was held")]
    NotHeld(String),
    #[error("the fact {id} was {status} already")]
    Resolved { id: String, status: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An admin's release or drop of a held fact.
pub struct HeldFacts {
    pub quarantine: Arc<dyn Quarantine>,
    pub facts: Arc<dyn Facts>,
    pub outbox: Arc<dyn Outbox>,
    pub publisher: Arc<dyn Publisher>,
    pub topic: String,
    pub clock: Arc<dyn Clock>,
}

impl HeldFacts {
    /// Releases (the fact is published now, and decided as any other) or drops a held
    /// fact, once; `by` is who did it.
    pub async fn resolve(
        &self,
        helios_id: &str,
        to: HoldStatus,
        by: &str,
    ) -> Result<Held, ResolveError> {
        let now = self.clock.now();
        let Some(held) = self.quarantine.resolve_held(helios_id, to, by, now).await? else {
            return Err(match self.quarantine.get_held(helios_id).await? {
                Some(h) => ResolveError::Resolved {
                    id: helios_id.to_string(),
                    status: h.status.as_str(),
                },
                None => ResolveError::NotHeld(helios_id.to_string()),
            });
        };
        tracing::info!(
            event_id = helios_id,
            status = to.as_str(),
            by,
            "held fact resolved"
        );
        if to == HoldStatus::Released {
            // In the outbox since the release: published here, or by the relay if this fails.
            match self.facts.get_fact(helios_id).await {
                Ok(Some(fact)) => {
                    crate::outbox::publish_and_clear(
                        self.outbox.as_ref(),
                        self.publisher.as_ref(),
                        &self.topic,
                        &[&fact.event],
                    )
                    .await
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a released fact was not read back; the relay publishes it")
                }
            }
        }
        Ok(held)
    }
}

// ---- enforcement at ingest -----------------------------------------------------------------

/// The most violations kept per event.
pub const MAX_VIOLATIONS: usize = 50;

/// A subject: its source and type.
type SubjectKey = (String, String);

/// A subject's latest version, compiled, and its policy, as ingest sees them.
struct Rule {
    policy: Policy,
    latest: Option<(String, u32, Arc<Validator>)>,
}

/// Checks accepted events against their subject's latest schema. Each subject is read from
/// the store at most once per `ttl` (a new version or policy takes effect within it); each
/// schema version is compiled once per process.
pub struct SchemaGate {
    store: Arc<dyn SchemaRegistry>,
    ttl: Duration,
    subjects: Mutex<HashMap<SubjectKey, (Arc<Rule>, Instant)>>,
    compiled: Mutex<HashMap<String, Arc<Validator>>>,
    /// The drift events this process emitted (their ids), so that a subject that keeps
    /// drifting the same way costs nothing more.
    drifts: Mutex<std::collections::HashSet<String>>,
    /// Discovery: the first event of a subject without a schema registers one inferred
    /// from it (its version 1), with this clock's time.
    discover: Option<Arc<dyn Clock>>,
}

/// What the gate found for one event.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The index of the event in its request.
    pub index: usize,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_id: String,
    pub schema_version: u32,
    pub policy: Policy,
    pub violations: Vec<Violation>,
    /// What drifted: the violations and the properties the schema does not name.
    #[serde(skip)]
    pub drift: Vec<Drift>,
}

impl SchemaGate {
    pub fn new(store: Arc<dyn SchemaRegistry>, ttl: Duration) -> SchemaGate {
        SchemaGate {
            store,
            ttl,
            subjects: Mutex::new(HashMap::new()),
            compiled: Mutex::new(HashMap::new()),
            drifts: Mutex::new(Default::default()),
            discover: None,
        }
    }

    /// With discovery on: the first event of a subject that has no schema registers the
    /// schema inferred from its data as version 1; what later events of it do not share
    /// (a property they lack, one more) is drift, and a new version a person registers.
    pub fn discovering(mut self, clock: Arc<dyn Clock>) -> SchemaGate {
        self.discover = Some(clock);
        self
    }

    /// Registers the schema inferred from `data` as the subject's first version; `None`
    /// when another process registered a first version already.
    async fn discover(
        &self,
        clock: &dyn Clock,
        source: &str,
        event_type: &str,
        data: &Value,
    ) -> Result<Option<SchemaCheck>, StoreError> {
        let schema = helios_schemas::infer(std::slice::from_ref(data));
        let version = SchemaVersion {
            source: source.to_string(),
            event_type: event_type.to_string(),
            version: 1,
            id: schema_id(&schema),
            schema,
            registered_at: clock.now(),
        };
        let added = self.store.add_schema_version(&version).await?;
        self.forget(source, event_type);
        if added == Recorded::Duplicate {
            return Ok(None);
        }
        tracing::info!(source, event_type, id = %version.id, "schema discovered from a first event");
        Ok(Some(SchemaCheck {
            id: version.id,
            version: 1,
            valid: true,
            policy: Policy::default().as_str().to_string(),
        }))
    }

    /// Whether the drift event `id` is to be emitted (not emitted by this process yet); it
    /// is then taken as emitted until [`SchemaGate::forget_drift`].
    pub fn first_drift(&self, id: &str) -> bool {
        let mut d = self.drifts.lock().unwrap_or_else(|p| p.into_inner());
        if d.len() > 100_000 {
            d.clear();
        }
        d.insert(id.to_string())
    }

    /// Reads the subject from the store again at its next event.
    pub fn forget(&self, source: &str, event_type: &str) {
        self.subjects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(source.to_string(), event_type.to_string()));
    }

    pub fn forget_drift(&self, id: &str) {
        self.drifts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    async fn rule(&self, source: &str, event_type: &str) -> Result<Arc<Rule>, StoreError> {
        let key = (source.to_string(), event_type.to_string());
        if let Some((r, at)) = self
            .subjects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if at.elapsed() < self.ttl {
                return Ok(r.clone());
            }
        }
        let versions = self.store.schema_versions(source, event_type).await?;
        let settings = self.store.subject_settings(source, event_type).await?;
        let policy = settings
            .and_then(|s| Policy::parse(&s.policy))
            .unwrap_or_default();
        let latest = match versions.last() {
            None => None,
            Some(v) => {
                let cached = self
                    .compiled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&v.id)
                    .cloned();
                let validator = match cached {
                    Some(c) => c,
                    None => {
                        let c = Arc::new(Validator::compile(&v.schema).map_err(|e| {
                            StoreError::Corrupt(format!(
                                "schema {} version {}: {e}",
                                v.id, v.version
                            ))
                        })?);
                        self.compiled
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(v.id.clone(), c.clone());
                        c
                    }
                };
                Some((v.id.clone(), v.version, validator))
            }
        };
        let rule = Arc::new(Rule { policy, latest });
        let mut subjects = self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        if subjects.len() > 10_000 {
            subjects.clear();
        }
        subjects.insert(key, (rule.clone(), Instant::now()));
        Ok(rule)
    }

    /// Checks each event whose subject has a schema, writes what was found into the event
    /// (`schema`), and answers the verdict of each checked event that did not fit or drifted.
    pub async fn check(&self, events: &mut [Event]) -> Result<Vec<Verdict>, StoreError> {
        let mut out = Vec::new();
        // Each subject of the request looked up once (a batch is mostly of one or two).
        let mut seen: Vec<(String, String, Arc<Rule>)> = Vec::new();
        for (index, event) in events.iter_mut().enumerate() {
            let known = seen
                .iter()
                .find(|(s, t, _)| *s == event.source && *t == event.event_type)
                .map(|(_, _, r)| r.clone());
            let rule = match known {
                Some(r) => r,
                None => {
                    let r = self.rule(&event.source, &event.event_type).await?;
                    seen.push((event.source.clone(), event.event_type.clone(), r.clone()));
                    r
                }
            };
            let Some((id, version, validator)) = &rule.latest else {
                if let Some(clock) = &self.discover {
                    event.schema = self
                        .discover(
                            clock.as_ref(),
                            &event.source,
                            &event.event_type,
                            &event.data,
                        )
                        .await?;
                    // The next event of the subject reads the version just registered.
                    seen.retain(|(s, t, _)| *s != event.source || *t != event.event_type);
                }
                continue;
            };
            let helios_schemas::validate::Checked {
                valid,
                violations,
                drift,
            } = validator.check(&event.data, MAX_VIOLATIONS);
            event.schema = Some(SchemaCheck {
                id: id.clone(),
                version: *version,
                valid,
                policy: rule.policy.as_str().to_string(),
            });
            if !violations.is_empty() || !drift.is_empty() {
                out.push(Verdict {
                    index,
                    source: event.source.clone(),
                    event_type: event.event_type.clone(),
                    schema_id: id.clone(),
                    schema_version: *version,
                    policy: rule.policy,
                    violations,
                    drift,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_has_one_id_whatever_its_key_order() {
        let a = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {}}});
        let b: Value = serde_json::from_str(
            r#"{"properties": {"b": {}, "a": {"type": "string"}}, "type": "object"}"#,
        )
        .unwrap();
        assert_eq!(schema_id(&a), schema_id(&b));
        assert!(schema_id(&a).starts_with("sch_") && schema_id(&a).len() == 28);
        assert_ne!(schema_id(&a), schema_id(&json!({"type": "object"})));
    }

    #[test]
    fn policies_and_versions_are_read_from_their_names() {
        assert_eq!(Policy::parse("Quarantine"), Some(Policy::Quarantine));
        assert_eq!(Policy::parse("block"), None);
        assert_eq!(Which::parse("latest"), Some(Which::Latest));
        assert_eq!(Which::parse("3"), Some(Which::Number(3)));
        assert_eq!(Which::parse("0"), None);
        assert_eq!(Which::parse("x"), None);
    }
}
