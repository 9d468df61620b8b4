//! The relay: the second half of the transactional outbox. Ingest publishes right after its
//! transaction commits; when that publish fails (or the process dies in between), the fact
//! stays in the outbox and the relay, on a schedule, publishes it. Delivery is at least
//! once: a fact may be published twice, and every consumer is idempotent by its id.

use std::time::Duration;

use helios_ports::{Clock, Publisher};
use helios_store::{Outboxed, Store};

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
    store: &dyn Store,
    publisher: &dyn Publisher,
    clock: &dyn Clock,
    topic: &str,
    grace: Duration,
    batch: usize,
) -> Result<RelayReport, helios_store::StoreError> {
    let before = clock.now() - chrono::Duration::from_std(grace).unwrap_or_default();
    let mut report = RelayReport::default();
    loop {
        let pending = store.pending_outbox(before, batch).await?;
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
            store.park_outbox(&unreadable, clock.now()).await?;
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
        match helios_ingest::publish_facts(publisher, topic, &events).await {
            Ok(()) => {
                let ids: Vec<String> = events.iter().map(|e| e.helios_id.clone()).collect();
                store.mark_published(&ids).await?;
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
