//! The decide Lambda: SQS batches from the `decide` queue (the fan-out of the `events`
//! topic), each message decided by [`helios_app::decide::Decider`]; failed messages are
//! reported as partial batch failures, so only they come back. The rule set is read once at
//! init from `HELIOS_RULES` (a folder, shipped as a layer by terraform; default `rules`).
//!
//! Each event decided for the first time (not a replay) is a sample of `EventToDecision`:
//! the milliseconds from its receipt at ingest to its decision, the service level objective
//! that terraform's burn-rate alarms watch. Each decision made now is counted by severity,
//! by the rules that fired and by those that nearly fired (`Decisions`, `RuleFired`,
//! `NearMisses`).

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use helios_runtime::lambda::{sqs_batch, FunctionPorts, Port};
use lambda_runtime::{service_fn, Error, LambdaEvent};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[
    Port::Rows,
    Port::KvRead,
    Port::KvWrite,
    Port::StartExecutions,
    Port::ConsumeQueue,
];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let rules = Arc::new(helios_runtime::rules::load_from_env()?);
    let decider = helios_runtime::wire::decider(&ports, rules, ports.workflows()?);
    let decider = &decider;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let latencies = std::sync::Mutex::new(Vec::new());
        let latencies = &latencies;
        let counts = std::sync::Mutex::new(helios_runtime::metrics::DecisionCounts::default());
        let counts = &counts;
        let response = sqs_batch(event.payload, |m| async move {
            let received = received_at(&m);
            let decided = decider.handle_message(&m).await?;
            if decided.recorded == helios_ports::store::Recorded::Accepted {
                if let Ok(mut c) = counts.lock() {
                    c.add(&decided.severity, &decided.fired, &decided.near_misses);
                }
            }
            if let Some(at) = received {
                let ms = (chrono::Utc::now() - at)
                    .num_microseconds()
                    .unwrap_or(i64::MAX) as f64
                    / 1000.0;
                if let Ok(mut l) = latencies.lock() {
                    l.push(ms);
                }
            }
            Ok(())
        })
        .await;
        if let Ok(c) = counts.lock() {
            c.emit();
        }
        let samples = latencies.lock().map(|l| l.clone()).unwrap_or_default();
        helios_runtime::metrics::emit_values(
            "EventToDecision",
            &samples,
            helios_runtime::metrics::Unit::Milliseconds,
        );
        helios_runtime::telemetry::flush().await;
        Ok::<SqsBatchResponse, Error>(response)
    }))
    .await
}

/// When the event of a message was received at ingest; none for a replay (decided again,
/// long after), nor for a body that is not an event.
fn received_at(m: &helios_ports::Received) -> Option<chrono::DateTime<chrono::Utc>> {
    if m.attributes.get("replay").map(String::as_str) == Some("true") {
        return None;
    }
    // Only the one field is read: the decider parses the event itself.
    #[derive(serde::Deserialize)]
    struct Receipt<'a> {
        #[serde(borrow)]
        received_at: Option<std::borrow::Cow<'a, str>>,
    }
    let receipt: Receipt = serde_json::from_str(&m.body).ok()?;
    chrono::DateTime::parse_from_rfc3339(&receipt.received_at?)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str, replay: bool) -> helios_ports::Received {
        helios_ports::Received {
            message_id: "m".into(),
            receipt: "r".into(),
            body: body.into(),
            attributes: if replay {
                [("replay".to_string(), "true".to_string())].into()
            } else {
                Default::default()
            },
            receive_count: 1,
        }
    }

    #[test]
    fn a_first_decision_is_timed_from_the_receipt_and_a_replay_is_not() {
        let body = r#"{"helios_id": "h", "received_at": "2026-12-03T12:00:00.250000Z"}"#;
        assert_eq!(
            received_at(&message(body, false)).map(|t| t.timestamp_millis()),
            chrono::DateTime::parse_from_rfc3339("2026-12-03T12:00:00.250Z")
                .ok()
                .map(|t| t.timestamp_millis())
        );
        assert_eq!(received_at(&message(body, true)), None);
        assert_eq!(received_at(&message("not json", false)), None);
        assert_eq!(received_at(&message(r#"{"received_at": 5}"#, false)), None);
    }
}
