//! `decide`: for each fact published on the `events` topic (a message of the `decide`
//! queue), updates the windows of the rules it touches, checks the dedupe keys they take,
//! decides with the rule set, records the decision with its trace, and starts the workflow
//! of each action.
//!
//! Every step is safe to repeat, so a redelivered message changes nothing:
//! - a window counts an event once (`WindowState::record` by event id), and is written with a
//!   conditional put on the version read, retried on conflict;
//! - a dedupe key held by this very event does not suppress it;
//! - the decision id is derived from the event and the rule set's content, and the store keeps
//!   one decision per pair;
//! - workflows start from the *stored* decision, with execution names derived from its id, and
//!   a name starts once.

use std::sync::Arc;
use std::time::Duration;

use helios_ports::store::{Decisions, NewDecision, Recorded, StoreError};
use helios_ports::update::{update, Change, UpdateError};
use helios_ports::{Clock, Condition, KeyValue, PortError, Workflows};
use helios_rules::decide::{DecideError, Inputs};
use helios_rules::window::{Touch, WindowState};
use helios_rules::RuleSet;
use serde_json::{json, Value};

pub struct Decider {
    pub rules: Arc<RuleSet>,
    pub kv: Arc<dyn KeyValue>,
    pub decisions: Arc<dyn Decisions>,
    pub workflows: Arc<dyn Workflows>,
    pub clock: Arc<dyn Clock>,
    /// The windows this process updates: the updates of one window that come while another
    /// is under way go together, in one read and one write.
    pub windows: crate::serial::Combine<Touch, Result<WindowState, DecideFailure>>,
}

/// What deciding one event did.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decision_id: String,
    pub recorded: Recorded,
    pub fired: Vec<String>,
    /// The decision's severity (`none` when no rule fired).
    pub severity: String,
    /// The rules that nearly fired, when the decision was made now (empty for one recorded
    /// by an earlier delivery): what the metrics count, once per decision.
    pub near_misses: Vec<String>,
    /// Workflow executions started now (not those started by an earlier delivery).
    pub started: usize,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DecideFailure {
    /// The message is not a canonical event: retrying cannot help (it goes to the DLQ).
    #[error("not a canonical event: {0}")]
    NotAnEvent(String),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a window at `{0}` kept changing under concurrent writes")]
    Contended(String),
    /// A window's stored state is not one: counting again from zero would forget it.
    #[error("the window at `{0}` cannot be read: {1}")]
    Unreadable(String, String),
}

impl DecideFailure {
    /// Whether a later delivery may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            DecideFailure::NotAnEvent(_) | DecideFailure::Unreadable(..) => false,
            DecideFailure::Port(e) => e.is_retryable(),
            DecideFailure::Store(_) | DecideFailure::Contended(_) => true,
        }
    }
}

impl From<DecideError> for DecideFailure {
    fn from(e: DecideError) -> DecideFailure {
        DecideFailure::NotAnEvent(e.to_string())
    }
}

const WINDOW_RETRIES: usize = 16;

fn dedupe_key(key: &str) -> String {
    format!("dedupe/{key}")
}

impl Decider {
    /// Decides a delivered message. A replayed one (attribute `replay=true`) whose event was
    /// already decided, by whatever rules, is not decided again unless `redecide=true`: a
    /// replay re-publishes facts without changing what was decided, except where asked.
    /// Decides one message of the `decide` queue, for a queue consumer (SQS in Lambda, the
    /// local queue in `helios dev`).
    ///
    /// Each message is a span, `decide`, of the trace its `traceparent` attribute names (the
    /// `publish` span of its fact), or of a new one.
    pub async fn handle_message(
        &self,
        m: &helios_ports::Received,
    ) -> Result<Decided, helios_ports::MessageFailed> {
        use tracing::Instrument as _;
        let parent = helios_ports::trace::continue_from(
            m.attributes
                .get(helios_ports::trace::TRACEPARENT)
                .map(String::as_str),
        );
        let span = tracing::info_span!(
            parent: None,
            "decide",
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            trace_id = %parent.trace_id_hex(),
        );
        let trace = helios_ports::trace::follow(&span, &parent);
        let done = self
            .decide_delivery_traced(&m.body, &m.attributes, Some(&trace))
            .instrument(span.clone())
            .await
            .map_err(|e| {
                span.record("otel.status_code", "error");
                helios_ports::MessageFailed {
                    error: e.to_string(),
                    retryable: e.is_retryable(),
                }
            })?;
        span.in_scope(|| {
            tracing::info!(decision = %done.decision_id, fired = ?done.fired, started = done.started, "decided")
        });
        Ok(done)
    }

    pub async fn decide_delivery(
        &self,
        body: &str,
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> Result<Decided, DecideFailure> {
        self.decide_delivery_traced(body, attributes, None).await
    }

    /// [`Decider::decide_delivery`] as part of the trace `trace` (the `decide` span's).
    async fn decide_delivery_traced(
        &self,
        body: &str,
        attributes: &std::collections::BTreeMap<String, String>,
        trace: Option<&helios_ports::trace::TraceContext>,
    ) -> Result<Decided, DecideFailure> {
        let replayed = attributes.get("replay").map(String::as_str) == Some("true");
        let redecide = attributes.get("redecide").map(String::as_str) == Some("true");
        if replayed && !redecide {
            let event: Value =
                serde_json::from_str(body).map_err(|e| DecideFailure::NotAnEvent(e.to_string()))?;
            let id = event
                .get("helios_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let earlier = self
                .decisions
                .list_decisions(&helios_ports::store::DecisionQuery {
                    event_id: Some(id.to_string()),
                    limit: 1,
                    ..Default::default()
                })
                .await?;
            if let Some(d) = earlier.decisions.into_iter().next() {
                return Ok(Decided {
                    decision_id: d.decision.id,
                    recorded: Recorded::Duplicate,
                    fired: d.decision.rules,
                    severity: d.decision.severity.unwrap_or_default(),
                    near_misses: Vec::new(),
                    started: 0,
                });
            }
        }
        let event: Value =
            serde_json::from_str(body).map_err(|e| DecideFailure::NotAnEvent(e.to_string()))?;
        self.decide_traced(event, trace).await
    }

    /// Decides the event in a message body.
    pub async fn decide_message(&self, body: &str) -> Result<Decided, DecideFailure> {
        let event: Value =
            serde_json::from_str(body).map_err(|e| DecideFailure::NotAnEvent(e.to_string()))?;
        self.decide(&event).await
    }

    pub async fn decide(&self, event: &Value) -> Result<Decided, DecideFailure> {
        self.decide_traced(event.clone(), None).await
    }

    /// Decides `event`, as part of the trace `trace` when given: the decision keeps its
    /// trace id and span id, and each workflow starts in a `workflow.start` span whose
    /// context its input carries (`traceparent`). The event's own `traceparent` is taken
    /// off first: no rule may read it.
    async fn decide_traced(
        &self,
        mut event: Value,
        trace: Option<&helios_ports::trace::TraceContext>,
    ) -> Result<Decided, DecideFailure> {
        let carried = match &mut event {
            Value::Object(o) => o.remove(helios_ports::trace::TRACEPARENT),
            _ => None,
        };
        // Every decision has a trace: its workflows' inputs always carry one.
        let trace = trace
            .copied()
            .or_else(|| {
                carried
                    .as_ref()
                    .and_then(Value::as_str)
                    .and_then(helios_ports::trace::TraceContext::parse)
            })
            .unwrap_or_else(helios_ports::trace::TraceContext::root);
        let event = &event;
        let now = self.clock.now();
        let own_id = event
            .get("helios_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut inputs = Inputs::default();
        for touch in self.rules.window_touches(event)? {
            let state = self.record_window(&touch).await?;
            inputs.windows.insert(touch.key.clone(), state);
        }
        for claim in self.rules.dedupe_keys(event)? {
            if let Some(item) = self.kv.get(&dedupe_key(&claim.key)).await? {
                let holder = item
                    .value
                    .get("holder")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if holder != own_id {
                    inputs.held.insert(claim.key.clone(), holder.to_string());
                }
            }
        }
        let decision = self.rules.decide(event, now, &inputs)?;
        for claim in &decision.claims {
            // The first event to take a key holds it; losing this race changes nothing.
            self.kv
                .put(
                    &dedupe_key(&claim.key),
                    json!({"holder": own_id, "rule": claim.rule}),
                    Condition::NotExists,
                    Some(Duration::from_secs(claim.ttl_seconds)),
                )
                .await?;
        }
        let mut body = serde_json::to_value(&decision)
            .map_err(|e| DecideFailure::NotAnEvent(format!("the decision is not JSON: {e}")))?;
        // The schema the event was checked against at ingest, beside what was decided of it.
        if let (Some(check), Value::Object(b)) = (event.get("schema"), &mut body) {
            b.insert("schema".into(), check.clone());
        }
        // The trace it was decided in, to find its spans by, and to continue from (an
        // acknowledgement).
        if let Value::Object(b) = &mut body {
            b.insert("trace_id".into(), json!(trace.trace_id_hex()));
            b.insert("span_id".into(), json!(trace.span_id_hex()));
        }
        let new = NewDecision {
            id: decision.id.clone(),
            event_id: decision.event.clone(),
            ruleset: format!("{}@{}", decision.ruleset.name, decision.ruleset.version),
            ruleset_hash: decision.ruleset.hash.clone(),
            subject: event
                .get("subject")
                .and_then(Value::as_str)
                .map(String::from),
            severity: Some(decision.severity.as_str().to_string()),
            score: decision.score as f64,
            rules: decision.fired.iter().map(|f| f.rule.clone()).collect(),
            decided_at: now,
            body,
        };
        let recorded = self.decisions.record_decision(&new).await?;
        let near_misses = match recorded {
            Recorded::Accepted => decision
                .trace
                .iter()
                .filter(|t| t.outcome == helios_rules::decide::Outcome::NearMiss)
                .map(|t| t.rule.clone())
                .collect(),
            Recorded::Duplicate => Vec::new(),
        };
        // Start from what is stored: after a redelivery, the first delivery's decision (read
        // back only then; a new decision is the one just written).
        let stored = match recorded {
            Recorded::Accepted => new,
            Recorded::Duplicate => match self.decisions.get_decision(&decision.id).await? {
                Some(s) => s.decision,
                None => new,
            },
        };
        let mut started = 0;
        let actions = stored
            .body
            .get("actions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, action) in actions.iter().enumerate() {
            let Some(machine) = action.get("workflow").and_then(Value::as_str) else {
                continue;
            };
            let mut input = workflow_input(&stored, action);
            let name = format!("{}-{i}", stored.id);
            let span = tracing::info_span!(
                "workflow.start",
                workflow.machine = machine,
                workflow.execution = %name,
            );
            if let Value::Object(o) = &mut input {
                let own = helios_ports::trace::follow(&span, &trace);
                o.insert(
                    helios_ports::trace::TRACEPARENT.into(),
                    json!(own.to_string()),
                );
            }
            {
                use tracing::Instrument as _;
                if self
                    .workflows
                    .start(machine, &name, &input)
                    .instrument(span)
                    .await?
                {
                    started += 1;
                }
            }
        }
        Ok(Decided {
            decision_id: stored.id,
            recorded,
            fired: stored.rules,
            severity: stored.severity.unwrap_or_default(),
            near_misses,
            started,
        })
    }

    /// Adds the event to a window with a conditional write on the version read, together with
    /// the events of the same window that come meanwhile. Each gets the state as it was right
    /// after its own entry went in, as if they had been recorded one after the other.
    async fn record_window(&self, touch: &Touch) -> Result<WindowState, DecideFailure> {
        let ttl = Some(Duration::from_secs(touch.ttl_seconds));
        let kv = self.kv.as_ref();
        let key = touch.key.as_str();
        self.windows
            .run(key, touch.clone(), |touches| async move {
                let recorded = update(
                    kv,
                    key,
                    ttl,
                    WINDOW_RETRIES,
                    |state: Option<WindowState>| {
                        let mut state = state.unwrap_or_default();
                        let mut changed = false;
                        let mut seen = Vec::with_capacity(touches.len());
                        for t in &touches {
                            // False when this event is already counted (a redelivery).
                            changed |= state.record(t);
                            seen.push(state.clone());
                        }
                        Ok::<_, std::convert::Infallible>(if changed {
                            Change::Write(state, seen)
                        } else {
                            Change::Keep(seen)
                        })
                    },
                )
                .await;
                match recorded {
                    Ok(seen) => seen.into_iter().map(Ok).collect(),
                    Err(e) => {
                        let e = match e {
                            UpdateError::Port(e) => DecideFailure::Port(e),
                            UpdateError::Contended(key) => DecideFailure::Contended(key),
                            UpdateError::Unreadable { key, error } => {
                                DecideFailure::Unreadable(key, error)
                            }
                            UpdateError::Change(never) => match never {},
                        };
                        vec![Err(e); touches.len()]
                    }
                }
            })
            .await
            .map_err(|abandoned| {
                DecideFailure::Port(PortError::unavailable("windows", abandoned))
            })?
    }
}

/// The input of an action's workflow: its parameters, and the decision's id and severity
/// (the `decision` workflow's input shape). A duration parameter `ack_within` (`10m`) is also
/// given in seconds, `ack_within_seconds`, which the workflow's timeout reads.
pub fn workflow_input(d: &NewDecision, action: &Value) -> Value {
    let mut input = match action.get("params") {
        Some(Value::Object(m)) => m.clone(),
        _ => Default::default(),
    };
    if let Some(span) = input
        .get("ack_within")
        .and_then(Value::as_str)
        .and_then(|s| helios_rules::duration::Span::parse(s).ok())
    {
        input.insert("ack_within_seconds".into(), json!(span.0));
    }
    input.insert("decision_id".into(), json!(d.id));
    input.entry("severity").or_insert_with(|| json!(d.severity));
    input
        .entry("rule")
        .or_insert_with(|| action.get("rule").cloned().unwrap_or(Value::Null));
    Value::Object(input)
}
