//! The relay Lambda, invoked on a schedule: drains the outbox.

use helios_runtime::lambda::{FunctionPorts, Port};
use lambda_runtime::{service_fn, Error, LambdaEvent};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows, Port::Publish];

#[tokio::main]
async fn main() -> Result<(), Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let ports = &ports;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let report =
                helios_runtime::wire::relay(ports, helios_runtime::wire::LAMBDA_RELAY_GRACE).await;
            helios_runtime::telemetry::flush().await;
            Ok::<_, Error>(serde_json::to_value(report?)?)
        },
    ))
    .await
}
