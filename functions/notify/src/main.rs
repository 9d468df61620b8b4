//! The notify Lambda, a task of the `decision` workflow. Its channels come from
//! `HELIOS_CHANNELS` (JSON: `{"chat": {"url": …, "secret": …}}`), or in AWS from the Secrets
//! Manager secret named by `HELIOS_CHANNELS_SECRET_ARN`. A failure is returned as a
//! Lambda error whose type is its name (`Helios.Retryable`, …), which Step Functions reports
//! as the task's error for `Retry` and `Catch`.

use helios_app::notify::Notifier;

/// What this function is handed; its IAM policy is derived from these (tests/deployment.rs)
/// (it builds its adapters itself: the channels secret and, for the `email` channel, the notifications topic).
#[allow(dead_code)]
const PORTS: &[helios_runtime::lambda::Port] = &[
    helios_runtime::lambda::Port::ChannelSecrets,
    helios_runtime::lambda::Port::Mail,
];

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helios_runtime::init_tracing(true);
    // Loaded only when a secret or SNS is used (`secret_setting`).
    let config = tokio::sync::OnceCell::new();
    let channels = Notifier::channels_from_json(
        &helios_runtime::lambda::secret_setting(&config, "HELIOS_CHANNELS", "{}").await?,
    )?;
    let mut notifier = Notifier::new(
        channels,
        std::sync::Arc::new(helios_runtime::outbound::HttpClient::new()?),
        std::sync::Arc::new(helios_ports::SystemClock),
    )
    // Each circuit that opens is counted by channel (`CircuitOpened`).
    .with_circuit_observer(|channel| {
        helios_runtime::metrics::emit_count("CircuitOpened", ("Channel", channel))
    });
    if notifier.has_mail_channels() {
        let config = config.get_or_init(helios_aws::sdk_config).await;
        notifier = notifier.with_mailer(std::sync::Arc::new(helios_aws::SnsMailer::new(config)));
    }
    let notifier = &notifier;
    helios_runtime::lambda::serve_task("notify", |payload| notifier.handle(payload)).await
}
