//! `expect`: keeps the expectations the rule set declares (`rules/…: expectations`).
//!
//! Two handlers:
//! - [`Observer`] consumes the `expect` queue (every published fact): for each expectation the
//!   event means something to, it updates the instance's state in the key-value store (a
//!   conditional write on the version read, retried on conflict) and starts the
//!   `expectation` workflow, named after the watched event, so a redelivery never starts it
//!   twice;
//! - [`Checker`] is the workflow's task function: at the deadline it checks the instance
//!   (`action: check`) and, when what was expected did not come, emits the missed event
//!   through the ingress path (`action: emit_missed`), whose (source, id) keeps it once.
//!
//! The judgement itself is pure and lives in the rules crate (`helios_rules::expect`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use helios_ports::update::{update, Change, UpdateError};
use helios_ports::{Clock, KeyValue, PortError, TaskFailure, Workflows};
use helios_rules::expect::{
    check, instance_of, state_key, Applied, CheckError, ExpectState, Watcher,
};
use helios_rules::RuleSet;
use serde_json::{json, Value};

/// The state machine (`statemachines/expectation.asl.json`) each instance runs.
pub const MACHINE: &str = "expectation";
/// How long an instance's state is kept after its last write.
pub const STATE_TTL: Duration = Duration::from_secs(14 * 86_400);
const RETRIES: usize = 16;

/// Where missed events go: the ingress path.
#[async_trait]
pub trait Emit: Send + Sync {
    /// Records and publishes one native envelope; answers `accepted` or `duplicate`.
    async fn emit(&self, event: &Value) -> Result<&'static str, TaskFailure>;
}

/// The verdict a reconciliation's event carries, as the reconciliation-accuracy objective
/// counts it: `matched`, `mismatched`, or `missed` (a source did not report in time); `None`
/// for any other event.
pub fn reconciliation_verdict(event: &Value) -> Option<&'static str> {
    match event.get("type").and_then(Value::as_str)? {
        helios_rules::expect::MATCHED => Some("matched"),
        helios_rules::expect::MISMATCHED => Some("mismatched"),
        helios_rules::expect::MISSED
            if event.pointer("/data/kind").and_then(Value::as_str) == Some("reconcile") =>
        {
            Some("missed")
        }
        _ => None,
    }
}

/// An [`Emit`] that tells `counted` the verdict of each reconciliation it records for the
/// first time (a duplicate was counted when it was first recorded).
pub struct CountVerdicts<F> {
    pub inner: Arc<dyn Emit>,
    pub counted: F,
}

#[async_trait]
impl<F: Fn(&'static str) + Send + Sync> Emit for CountVerdicts<F> {
    async fn emit(&self, event: &Value) -> Result<&'static str, TaskFailure> {
        let status = self.inner.emit(event).await?;
        if status == "accepted" {
            if let Some(verdict) = reconciliation_verdict(event) {
                (self.counted)(verdict);
            }
        }
        Ok(status)
    }
}

#[async_trait]
impl Emit for crate::intake::Intake {
    async fn emit(&self, event: &Value) -> Result<&'static str, TaskFailure> {
        let recorded = crate::intake::Intake::emit(self, std::slice::from_ref(event))
            .await
            .map_err(|e| {
                let error = if e.is_retryable() {
                    helios_ports::TaskError::Retryable
                } else {
                    helios_ports::TaskError::BadRequest
                };
                TaskFailure::of(error, e.to_string())
            })?;
        Ok(match recorded.first() {
            Some((_, helios_ports::store::Recorded::Accepted)) => "accepted",
            _ => "duplicate",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExpectFailure {
    /// The message is not a canonical event: retrying cannot help (it goes to the DLQ).
    #[error("not a canonical event: {0}")]
    NotAnEvent(String),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("the state at `{0}` kept changing under concurrent writes")]
    Contended(String),
    /// An expectation's stored state is not one: starting again from empty would forget
    /// what it counted and who watches it.
    #[error("the expectation state at `{0}` cannot be read: {1}")]
    Unreadable(String, String),
}

impl ExpectFailure {
    pub fn is_retryable(&self) -> bool {
        match self {
            ExpectFailure::NotAnEvent(_) | ExpectFailure::Unreadable(..) => false,
            ExpectFailure::Port(e) => e.is_retryable(),
            ExpectFailure::Contended(_) => true,
        }
    }
}

/// What observing one event did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Observed {
    /// `(expectation, key)` of each instance the event meant something to.
    pub instances: Vec<(String, String)>,
    /// Workflow executions started now (not those started by an earlier delivery).
    pub started: usize,
}

pub struct Observer {
    pub rules: Arc<RuleSet>,
    pub kv: Arc<dyn KeyValue>,
    pub workflows: Arc<dyn Workflows>,
}

impl Observer {
    /// Observes one message of the `expect` queue, for a queue consumer (SQS in Lambda, the
    /// local queue in `helios dev`).
    pub async fn handle_message(
        &self,
        m: &helios_ports::Received,
    ) -> Result<(), helios_ports::MessageFailed> {
        let done =
            self.observe_message(&m.body)
                .await
                .map_err(|e| helios_ports::MessageFailed {
                    error: e.to_string(),
                    retryable: e.is_retryable(),
                })?;
        if !done.instances.is_empty() {
            tracing::debug!(instances = ?done.instances, started = done.started, "observed");
        }
        Ok(())
    }

    pub async fn observe_message(&self, body: &str) -> Result<Observed, ExpectFailure> {
        let event: Value =
            serde_json::from_str(body).map_err(|e| ExpectFailure::NotAnEvent(e.to_string()))?;
        if !event.is_object() {
            return Err(ExpectFailure::NotAnEvent("not a JSON object".into()));
        }
        self.observe(&event).await
    }

    pub async fn observe(&self, event: &Value) -> Result<Observed, ExpectFailure> {
        let mut done = Observed::default();
        for o in self.rules.observe(event) {
            let applied = self.update(&o).await?;
            done.instances.push((o.expectation.clone(), o.key.clone()));
            if applied.start
                && self
                    .workflows
                    .start(MACHINE, &o.execution_name(), &o.workflow_input())
                    .await?
            {
                done.started += 1;
            }
        }
        Ok(done)
    }

    async fn update(
        &self,
        o: &helios_rules::expect::Observation,
    ) -> Result<Applied, ExpectFailure> {
        update(
            self.kv.as_ref(),
            &o.state_key,
            Some(STATE_TTL),
            RETRIES,
            |state: Option<ExpectState>| {
                let mut state = state.unwrap_or_default();
                let applied = state.apply(o);
                Ok::<_, std::convert::Infallible>(if applied.changed {
                    Change::Write(state, applied)
                } else {
                    Change::Keep(applied)
                })
            },
        )
        .await
        .map_err(|e| match e {
            UpdateError::Port(e) => ExpectFailure::Port(e),
            UpdateError::Contended(key) => ExpectFailure::Contended(key),
            UpdateError::Unreadable { key, error } => ExpectFailure::Unreadable(key, error),
            UpdateError::Change(never) => match never {},
        })
    }
}

impl Checker {
    /// Checks an instance, and keeps its watcher in step in the same conditional write: the
    /// watcher follows the check's `next`, or, when the watch ends, the instance has none, so
    /// that its next event starts one. A write lost to a concurrent event checks again.
    async fn check_and_keep_watcher(
        &self,
        input: &Value,
        id: &str,
        key: &str,
    ) -> Result<helios_rules::expect::Check, TaskFailure> {
        let retryable = |e: String| TaskFailure::of(helios_ports::TaskError::Retryable, e);
        let bad = |e: String| TaskFailure::of(helios_ports::TaskError::BadRequest, e);
        let skey = state_key(id, key);
        let watcher = input.get("watcher").and_then(Value::as_str);
        let now = self.clock.now().timestamp_millis();
        let outcome = update(
            self.kv.as_ref(),
            &skey,
            Some(STATE_TTL),
            RETRIES,
            |state: Option<ExpectState>| {
                let c = check(&self.rules, input, state.as_ref(), now)?;
                // Only the instance's own watcher moves it (an execution started before
                // watchers existed, or one presumed lost and replaced, leaves it alone).
                let Some(mut st) = state else {
                    return Ok(Change::Keep(c));
                };
                if st.watching.as_ref().map(|w| w.execution.as_str()) != watcher
                    || watcher.is_none()
                {
                    return Ok(Change::Keep(c));
                }
                st.watching = match c.next.as_ref().and_then(|n| n.get("deadline")) {
                    Some(Value::String(d)) => {
                        let until_ms = chrono::DateTime::parse_from_rfc3339(d)
                            .map_err(|e| {
                                CheckError::BadInput(format!("the next deadline {d}: {e}"))
                            })?
                            .timestamp_millis();
                        st.watching.take().map(|w| Watcher {
                            execution: w.execution,
                            until_ms,
                        })
                    }
                    _ => None,
                };
                Ok(Change::Write(st, c))
            },
        )
        .await;
        outcome.map_err(|e| match e {
            UpdateError::Change(e @ CheckError::Early { .. }) => retryable(e.to_string()),
            UpdateError::Change(e) => bad(e.to_string()),
            e if e.is_retryable() => retryable(e.to_string()),
            e => bad(e.to_string()),
        })
    }
}

/// The `expectation` workflow's task function.
pub struct Checker {
    pub rules: Arc<RuleSet>,
    pub kv: Arc<dyn KeyValue>,
    pub clock: Arc<dyn Clock>,
    pub emitter: Arc<dyn Emit>,
}

impl Checker {
    /// `{"action": "check", "expectation": <workflow input>}` answers the check
    /// (`{met, reason, event?, next?}`), and emits the event of a met check (a matched
    /// reconciliation); `{"action": "emit_missed", "check": <a check>}`
    /// emits its event and answers `{"emitted": id, "status": "accepted" | "duplicate"}`.
    pub async fn handle(&self, payload: Value) -> Result<Value, TaskFailure> {
        let bad = |cause: String| TaskFailure::of(helios_ports::TaskError::BadRequest, cause);
        match payload.get("action").and_then(Value::as_str) {
            Some("check") => {
                let input = payload
                    .get("expectation")
                    .ok_or_else(|| bad("a check needs `expectation`, the workflow input".into()))?;
                let (id, key) = instance_of(input).map_err(|e| bad(e.to_string()))?;
                let c = self.check_and_keep_watcher(input, id, key).await?;
                tracing::info!(expectation = id, key, met = c.met, reason = %c.reason, "expectation checked");
                // A met check with an event (a reconciliation every source agreed on) is
                // recorded here: the workflow ends on `met`. Emitting again after a retry is
                // a duplicate the ingress path drops (the event's id is the check's).
                if let (true, Some(event)) = (c.met, c.event.as_ref()) {
                    let status = self.emitter.emit(event).await?;
                    tracing::info!(id = %event["id"], status, "reconciliation emitted");
                }
                serde_json::to_value(&c).map_err(|e| bad(e.to_string()))
            }
            Some("emit_missed") => {
                let event = payload
                    .pointer("/check/event")
                    .filter(|e| e.is_object())
                    .ok_or_else(|| bad("emit_missed needs `check.event`, an event".into()))?;
                let status = self.emitter.emit(event).await?;
                tracing::info!(id = %event["id"], status, "missed expectation emitted");
                Ok(json!({"emitted": event["id"], "status": status}))
            }
            other => Err(bad(format!(
                "`action` is `check` or `emit_missed`, not {}",
                other.map_or("missing".to_string(), |a| format!("`{a}`"))
            ))),
        }
    }
}
