//! What an operator does by hand: look at the dead letters of a queue and move them back
//! (redrive), and publish the recorded facts of a time range again (replay). `helios redrive`,
//! `helios replay` and the dashboard's buttons all come here.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use helios_ports::store::{FactQuery, Outbox, ReadModel, StoreError};
use helios_ports::{PortError, Publisher, Queue, Redriven};
use serde::Serialize;

/// One queue and its dead letters.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetters {
    pub queue: String,
    pub dead_letter_queue: String,
    /// Messages waiting in the dead-letter queue, and received but not yet deleted.
    pub visible: u64,
    pub in_flight: u64,
    /// A few of them, as they are (they stay where they are).
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub message_id: String,
    /// The body as JSON when it is JSON, else as text.
    pub body: serde_json::Value,
    pub attributes: std::collections::BTreeMap<String, String>,
    pub receive_count: u32,
}

/// The dead letters of a deployment's queues.
pub struct Operations {
    pub queues: Arc<dyn Queue>,
    /// Each queue with a dead-letter queue: (its name, the dead-letter queue's name).
    pub names: Vec<(String, String)>,
}

/// How long a sample is hidden while it is looked at (it is made visible again at once after).
const PEEK: Duration = Duration::from_secs(5);

impl Operations {
    /// Every queue's dead letters, with up to `samples` messages each. Looking receives
    /// them and makes them visible again at once, so a sample's `receive_count` goes up by
    /// one each time it is looked at (SQS has no other way to look).
    pub async fn dead_letters(&self, samples: usize) -> Result<Vec<DeadLetters>, PortError> {
        let mut out = Vec::with_capacity(self.names.len());
        for (queue, dlq) in &self.names {
            let (visible, in_flight) = self.queues.depth(dlq).await?;
            let mut seen = Vec::new();
            if visible > 0 && samples > 0 {
                for m in self
                    .queues
                    .receive(dlq, samples.min(10), Some(PEEK))
                    .await?
                {
                    self.queues
                        .change_visibility(dlq, &m.receipt, Duration::ZERO)
                        .await?;
                    seen.push(Sample {
                        body: serde_json::from_str(&m.body)
                            .unwrap_or(serde_json::Value::String(m.body.clone())),
                        message_id: m.message_id,
                        attributes: m.attributes,
                        receive_count: m.receive_count,
                    });
                }
            }
            out.push(DeadLetters {
                queue: queue.clone(),
                dead_letter_queue: dlq.clone(),
                visible,
                in_flight,
                samples: seen,
            });
        }
        Ok(out)
    }

    /// Moves the dead letters of `queue` back to it: with its dead-letter queue's name, how
    /// they were moved (one by one, or by the queue service's own move task). `None` when
    /// `queue` has no dead-letter queue here.
    pub async fn redrive(&self, queue: &str) -> Result<Option<(String, Redriven)>, PortError> {
        let Some((source, dlq)) = self.names.iter().find(|(q, _)| q == queue) else {
            return Ok(None);
        };
        let how = self.queues.redrive(dlq, source).await?;
        Ok(Some((dlq.clone(), how)))
    }

    /// The backlog: facts not yet published (`outbox`), and the messages of each queue and
    /// of its dead-letter queue, by name: `{"outbox": n, "queues": {name: {"visible",
    /// "in_flight"}}}`. What `GET /healthz` and `GET /v1/health` answer under `backlog`.
    pub async fn backlog(&self, outbox: &dyn Outbox) -> Result<serde_json::Value, String> {
        let outbox = outbox
            .outbox_backlog()
            .await
            .map_err(|e| format!("the outbox cannot be read: {e}"))?;
        let mut queues = serde_json::Map::new();
        for (queue, dlq) in &self.names {
            for name in [queue, dlq] {
                let (visible, in_flight) = self
                    .queues
                    .depth(name)
                    .await
                    .map_err(|e| format!("the queue `{name}` cannot be read: {e}"))?;
                queues.insert(
                    name.clone(),
                    serde_json::json!({"visible": visible, "in_flight": in_flight}),
                );
            }
        }
        Ok(serde_json::json!({"outbox": outbox, "queues": queues}))
    }
}

/// Which facts to publish again.
#[derive(Clone, Debug)]
pub struct ReplayRange {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub source: Option<String>,
    pub event_type: Option<String>,
    /// Decide them again with the current rules (otherwise a decided event keeps its decision).
    pub redecide: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PortError),
    #[error("a fact could not be written as a message: {0}")]
    Encode(String),
}

/// Publishes the recorded facts of `range` to `topic` again, as the relay first published
/// them, marked as a replay; returns how many.
pub async fn replay(
    facts: &dyn ReadModel,
    publisher: &dyn Publisher,
    topic: &str,
    range: &ReplayRange,
) -> Result<u64, ReplayError> {
    let mut after = None;
    let mut replayed = 0u64;
    loop {
        let page = facts
            .list_facts(&FactQuery {
                source: range.source.clone(),
                event_type: range.event_type.clone(),
                since: Some(range.since),
                until: Some(range.until),
                after,
                limit: 500,
                ..Default::default()
            })
            .await?;
        let mut messages = Vec::with_capacity(page.facts.len());
        for f in &page.facts {
            // A fact the quarantine holds (or dropped) is not decided by a replay either:
            // only its release publishes it.
            let held = f
                .event
                .schema
                .as_ref()
                .is_some_and(|c| !c.valid && c.policy == "quarantine");
            if held
                && facts
                    .get_held(&f.event.helios_id)
                    .await?
                    .is_some_and(|h| h.status != helios_ports::store::HoldStatus::Released)
            {
                continue;
            }
            let mut m = crate::outbox::fact_message(&f.event)
                .map_err(|e| ReplayError::Encode(e.to_string()))?;
            m.attributes.insert("replay".into(), "true".into());
            m.attributes
                .insert("redecide".into(), range.redecide.to_string());
            messages.push(m);
        }
        if !messages.is_empty() {
            publisher.publish(topic, &messages).await?;
        }
        replayed += messages.len() as u64;
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(replayed),
        }
    }
}
