//! The relay Lambda, invoked on a schedule: drains the outbox.

use std::time::Duration;

use helios_runtime::lambda::{FunctionPorts, Port};
use helios_runtime::EVENTS_TOPIC;
use lambda_runtime::{service_fn, Error, LambdaEvent};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows, Port::Publish];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let d = FunctionPorts::from_env(PORTS).await?;
    let d = &d;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let report = helios_relay::relay_once(
                d.store.as_ref(),
                d.publisher.as_ref(),
                d.clock.as_ref(),
                EVENTS_TOPIC,
                Duration::from_secs(30),
                100,
            )
            .await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}
