//! The notify Lambda, a task of the `decision` workflow. Its channels come from
//! `HELIOS_CHANNELS` (JSON: `{"chat": {"url": …, "secret": …}}`). A failure is returned as a
//! Lambda error whose type is its name (`Helios.Retryable`, …), which Step Functions reports
//! as the task's error for `Retry` and `Catch`.

use helios_notify::Notifier;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let channels = Notifier::channels_from_json(
        &std::env::var("HELIOS_CHANNELS").unwrap_or_else(|_| "{}".into()),
    )?;
    let notifier = Notifier::new(channels)?;
    let notifier = &notifier;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            notifier
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
