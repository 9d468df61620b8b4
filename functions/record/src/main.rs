//! The record Lambda, a task of the `decision` workflow: writes its outcome and the task
//! token of an awaited acknowledgement. Failures are Lambda errors named for the workflow's
//! `Retry` (`Helios.Retryable`, `Helios.BadRequest`).

use helios_record::Recorder;
use helios_runtime::lambda::FunctionPorts;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    let ports = FunctionPorts::from_env().await?;
    let recorder = Recorder {
        store: ports.store,
        clock: ports.clock,
    };
    let recorder = &recorder;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            recorder
                .handle(event.payload)
                .await
                .map_err(|f| Diagnostic {
                    error_type: f.error.to_string(),
                    error_message: f.cause,
                })
        },
    ))
    .await
}
