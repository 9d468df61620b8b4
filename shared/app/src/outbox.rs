//! Publishing the outbox. Accepted facts are published right after their transaction
//! commits ([`PublishMode`]); when that publish fails (or the process dies in between), the
//! fact stays in the outbox and the relay ([`relay_once`]), on a schedule, publishes it.
//! Delivery is at least once: a fact may be published twice, and every consumer is
//! idempotent by its id.

use std::sync::Arc;
use std::time::Duration;

use helios_events::Event;
use helios_ports::store::{Outbox, Outboxed};
use helios_ports::{Clock, Message, Publisher};

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    pub published: usize,
    pub failed: usize,
    /// Rows whose event could not be read back, moved to the parked outbox.
    pub parked: usize,
}

/// Publishes the facts that have waited in the outbox longer than `grace` (younger ones are
/// still being published inline by ingest), `batch` at a time, until none is left.
pub async fn relay_once(
    outbox: &dyn Outbox,
    publisher: &dyn Publisher,
    clock: &dyn Clock,
    topic: &str,
    grace: Duration,
    batch: usize,
) -> Result<RelayReport, helios_ports::store::StoreError> {
    let before = clock.now() - chrono::Duration::from_std(grace).unwrap_or_default();
    let mut report = RelayReport::default();
    loop {
        let pending = outbox.pending_outbox(before, batch).await?;
        if pending.is_empty() {
            break;
        }
        // A row that cannot be read back would fail every run and hold back every fact
        // after it: it is parked, with the reason, and the others go on.
        let unreadable: Vec<(String, String)> = pending
            .iter()
            .filter_map(|o| match o {
                Outboxed::Unreadable {
                    helios_id,
                    seq,
                    problem,
                } => {
                    tracing::error!(%helios_id, seq, %problem, "an outbox row cannot be read back; parked");
                    Some((helios_id.clone(), problem.clone()))
                }
                Outboxed::Ready(_) => None,
            })
            .collect();
        if !unreadable.is_empty() {
            outbox.park_outbox(&unreadable, clock.now()).await?;
            report.parked += unreadable.len();
        }
        let events: Vec<_> = pending
            .iter()
            .filter_map(Outboxed::fact)
            .map(|f| &f.event)
            .collect();
        if events.is_empty() {
            if pending.len() < batch {
                break;
            }
            continue;
        }
        match publish_facts(publisher, topic, &events).await {
            Ok(()) => {
                let ids: Vec<String> = events.iter().map(|e| e.helios_id.clone()).collect();
                outbox.mark_published(&ids).await?;
                report.published += ids.len();
                tracing::info!(count = ids.len(), "relayed facts from the outbox");
            }
            Err(e) => {
                report.failed += events.len();
                tracing::warn!(error = %e, count = events.len(), "relay publish failed; will retry on the next run");
                break;
            }
        }
        if pending.len() < batch {
            break;
        }
    }
    Ok(report)
}

/// When accepted facts are published. Either way the outbox row is written first, so a
/// publish that never happens loses nothing: `relay` does it.
#[derive(Clone, Debug)]
pub enum PublishMode {
    /// Before answering: in Lambda, work left after the answer may be frozen with the
    /// execution environment.
    Inline,
    /// After answering, by a task that publishes the facts of many requests together: a
    /// long-running server (`helios dev`) answers sooner and commits less.
    Background(BackgroundPublisher),
}

/// A task that publishes accepted facts in batches and clears them from the outbox.
#[derive(Clone, Debug)]
pub struct BackgroundPublisher {
    tx: tokio::sync::mpsc::UnboundedSender<Event>,
}

impl BackgroundPublisher {
    /// The most facts published in one batch.
    pub const MAX_BATCH: usize = 500;

    /// Starts the task on the current runtime; it ends when every handle is dropped.
    pub fn spawn(
        outbox: Arc<dyn Outbox>,
        publisher: Arc<dyn Publisher>,
        topic: String,
    ) -> BackgroundPublisher {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(Self::MAX_BATCH);
            while rx.recv_many(&mut batch, Self::MAX_BATCH).await > 0 {
                let refs: Vec<&Event> = batch.iter().collect();
                publish_and_clear(outbox.as_ref(), publisher.as_ref(), &topic, &refs).await;
                batch.clear();
            }
        });
        BackgroundPublisher { tx }
    }

    pub(crate) fn send(&self, events: Vec<Event>) {
        for e in events {
            if self.tx.send(e).is_err() {
                tracing::warn!(
                    "the background publisher has stopped; relay will publish from the outbox"
                );
                return;
            }
        }
    }
}

/// The message published for a fact: the canonical event, with the attributes that
/// subscription filter policies select on.
pub fn fact_message(e: &Event) -> Result<Message, serde_json::Error> {
    Ok(Message {
        body: serde_json::to_string(e)?,
        attributes: [
            ("helios_id".to_string(), e.helios_id.clone()),
            ("source".to_string(), e.source.clone()),
            ("type".to_string(), e.event_type.clone()),
            ("format".to_string(), e.format.to_string()),
        ]
        .into(),
    })
}

/// Publishes facts to `topic`; shared by the inline publish and `relay`.
///
/// Each trace among the facts (a batch holds the facts of many requests) gets a `publish`
/// span, a child of the span that recorded them, and each message carries its trace's
/// `publish` span as its `traceparent` attribute, for the consumer to continue.
pub async fn publish_facts(
    publisher: &dyn Publisher,
    topic: &str,
    events: &[&Event],
) -> Result<(), String> {
    use helios_ports::trace::{follow, TraceContext, TRACEPARENT};
    // By the facts' `traceparent`: its `publish` span and that span's context, parsed once
    // per trace (`None` for a value that is not a trace context).
    let mut spans: std::collections::HashMap<&str, Option<(tracing::Span, String)>> =
        Default::default();
    let mut messages = Vec::with_capacity(events.len());
    for e in events {
        let mut m = fact_message(e).map_err(|e| e.to_string())?;
        if let Some(tp) = e.traceparent.as_deref() {
            let publish = spans.entry(tp).or_insert_with(|| {
                let parent = TraceContext::parse(tp)?;
                let span = tracing::info_span!(
                    parent: None,
                    "publish",
                    otel.kind = "producer",
                    messaging.destination.name = topic,
                    otel.status_code = tracing::field::Empty,
                    trace_id = %parent.trace_id_hex(),
                );
                let child = follow(&span, &parent).to_string();
                Some((span, child))
            });
            if let Some((_, child)) = publish {
                m.attributes.insert(TRACEPARENT.to_string(), child.clone());
            }
        }
        messages.push(m);
    }
    let published = publisher
        .publish(topic, &messages)
        .await
        .map_err(|e| e.to_string());
    if published.is_err() {
        for (span, _) in spans.values().flatten() {
            span.record("otel.status_code", "error");
        }
    }
    published
}

/// Publishes accepted facts and takes them out of the outbox. A failure here loses nothing:
/// the facts stay in the outbox and `relay` publishes them.
pub(crate) async fn publish_and_clear(
    outbox: &dyn Outbox,
    publisher: &dyn Publisher,
    topic: &str,
    events: &[&Event],
) {
    match publish_facts(publisher, topic, events).await {
        Ok(()) => {
            let ids: Vec<String> = events.iter().map(|e| e.helios_id.clone()).collect();
            if let Err(e) = outbox.mark_published(&ids).await {
                tracing::warn!(error = %e, "published, but the outbox was not cleared; relay will publish again");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, count = events.len(), "publish failed; the facts stay in the outbox for relay")
        }
    }
}
