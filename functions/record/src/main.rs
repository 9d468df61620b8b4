//! The record Lambda, a task of the `decision` workflow: writes its outcome and the task
//! token of an awaited acknowledgement. Failures are Lambda errors named for the workflow's
//! `Retry` (`Helios.Retryable`, `Helios.BadRequest`).

use helios_runtime::lambda::{FunctionPorts, Port};

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs).
const PORTS: &[Port] = &[Port::Rows];

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env(PORTS).await?;
    let recorder = helios_runtime::wire::recorder(&ports);
    let recorder = &recorder;
    helios_runtime::lambda::serve_task(|payload| recorder.handle(payload)).await
}
