//! The application core of Helios: its use cases, between the pure engines (`helios-events`,
//! `helios-rules`, `helios-states`) and the outside world.
//!
//! Each use case is a struct of the narrow ports it needs (`helios-ports`: the store's split
//! by concern, key-value, publisher, workflows, blobs, clock, mailer, text model, outbound
//! HTTP), built in one place (`helios_runtime::wire`) for a Lambda's `main` and for
//! `helios dev` alike. Nothing here speaks HTTP or knows which adapter stands behind a port
//! (tests/architecture.rs): the HTTP side (routes, authentication, problem responses) is
//! `helios-api`; the adapters are `helios-store`, `helios-local`, `helios-aws` and
//! `helios-runtime`.
//!
//! - [`intake`]: accept events (after authentication) and emit Helios's own;
//! - [`outbox`]: publish accepted facts, and relay what the inline publish left;
//! - [`decide`]: decide one fact with the rule set, record it, start its workflows;
//! - [`expect`]: observe facts for the expectations, and check them at their deadline;
//! - [`record`], [`ack`]: what workflows report, and a person's acknowledgement;
//! - [`advise`], [`notify`]: the other task functions of the workflows;
//! - [`registry`]: the schema registry, and checking accepted events against it;
//! - [`live`]: the live feed's batches, its WebSocket connections and their pusher;
//! - [`keys`], [`migrate`]: issuing API keys, and what `migrate` does on deploy;
//! - [`task_span`]: the span of a workflow's task, in its event's trace.

pub mod ack;
pub mod advise;
pub mod decide;
pub mod expect;
pub mod intake;
pub mod keys;
pub mod live;
pub mod migrate;
pub mod notify;
pub mod ops;
pub mod outbox;
pub mod record;
pub mod registry;
pub mod serial;

/// The span of one task of a workflow (`notify`, `record`, `advise`, …): a child of the
/// `workflow.start` span whose context the workflow passes in the task's payload
/// (`traceparent`), or of a new trace when the payload has none.
pub fn task_span(function: &str, payload: &serde_json::Value) -> tracing::Span {
    let parent = helios_ports::trace::continue_from(
        payload
            .get(helios_ports::trace::TRACEPARENT)
            .and_then(serde_json::Value::as_str),
    );
    let span = tracing::info_span!(
        parent: None,
        "task",
        otel.name = function,
        otel.status_code = tracing::field::Empty,
        task.kind = payload.get("kind").and_then(serde_json::Value::as_str),
        trace_id = %parent.trace_id_hex(),
    );
    helios_ports::trace::follow(&span, &parent);
    span
}
