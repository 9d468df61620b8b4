//! The wiring of a Helios deployment, built once per process: configuration, the store, the
//! adapters behind each port, and logging. Handlers never build any of this themselves; the
//! `main.rs` of each function and `helios dev` call here and hand the result in.
//!
//! [`Deployment`] wires the local deployment (a data folder, the embedded store or
//! PostgreSQL); [`lambda::FunctionPorts`] gives a Lambda main its ports, local beside a data
//! folder or AWS (S3, SNS, DynamoDB, Step Functions, PostgreSQL) from the environment
//! terraform sets.

pub mod lambda;
pub mod metrics;
#[cfg(feature = "outbound")]
pub mod outbound;
pub mod port;
pub mod rules;
pub mod telemetry;
pub mod wire;

use std::path::Path;
#[cfg(feature = "local")]
use std::path::PathBuf;
#[cfg(feature = "local")]
use std::sync::Arc;
#[cfg(feature = "local")]
use std::time::Duration;

use anyhow::Context as _;
#[cfg(feature = "local")]
use helios_events::SourceSecrets;
#[cfg(feature = "local")]
use helios_local::{FileBlobStore, LocalServices, QueueConfig};
#[cfg(feature = "local")]
use helios_ports::{BlobStore, Clock, SystemClock};
#[cfg(feature = "local")]
use helios_store::{PgStore, SqliteStore, Store};

/// The topic every accepted fact is published to.
pub const EVENTS_TOPIC: &str = "events";
/// The queues subscribed to [`EVENTS_TOPIC`], each with its dead-letter queue `<name>-dlq`.
pub const EVENT_QUEUES: [&str; 2] = ["decide", "expect"];
/// Receives before a message goes to its dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

#[cfg(feature = "local")]
/// Where a local deployment keeps its state.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    pub data_dir: PathBuf,
    /// PostgreSQL instead of the embedded store.
    pub database_url: Option<String>,
}

#[cfg(feature = "local")]
/// A deployment's store and adapters.
#[derive(Clone)]
pub struct Deployment {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub services: LocalServices,
    pub clock: Arc<dyn Clock>,
    pub secrets: SourceSecrets,
    pub data_dir: PathBuf,
}

#[cfg(feature = "local")]
impl Deployment {
    /// Opens the store alone (for `helios keys`), migrated.
    pub async fn open_store(opts: &LocalOptions) -> anyhow::Result<Arc<dyn Store>> {
        let store: Arc<dyn Store> = match &opts.database_url {
            Some(url) => Arc::new(PgStore::connect(url, 16).context("connecting to PostgreSQL")?),
            None => Arc::new(
                SqliteStore::open(&opts.data_dir.join("helios.db"))
                    .context("opening the embedded store")?,
            ),
        };
        store.migrate().await.context("migrating the store")?;
        Ok(store)
    }

    /// Opens (or creates) a local deployment in `opts.data_dir`.
    pub async fn open_local(opts: &LocalOptions) -> anyhow::Result<Deployment> {
        std::fs::create_dir_all(&opts.data_dir)
            .with_context(|| format!("creating the data folder {}", opts.data_dir.display()))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = Self::open_store(opts).await?;
        let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(opts.data_dir.join("blobs"))?);
        let services = LocalServices::open(&opts.data_dir.join("local.db"), clock.clone())?;
        for q in EVENT_QUEUES {
            let dlq = format!("{q}-dlq");
            services
                .create_queue(
                    &dlq,
                    QueueConfig {
                        visibility_timeout: Duration::from_secs(30),
                        ..Default::default()
                    },
                )
                .await?;
            services
                .create_queue(
                    q,
                    QueueConfig {
                        visibility_timeout: Duration::from_secs(30),
                        max_receives: Some(MAX_RECEIVES),
                        dead_letter_queue: Some(dlq),
                    },
                )
                .await?;
            // `helios dev` narrows a subscription to what its consumer needs; other commands
            // opening the deployment keep that filter.
            services.ensure_subscribed(EVENTS_TOPIC, q).await?;
        }
        let secrets = load_secrets(&opts.data_dir)?;
        Ok(Deployment {
            store,
            blobs,
            services,
            clock,
            secrets,
            data_dir: opts.data_dir.clone(),
        })
    }

    /// The deployment a function's `main.rs` runs with, from its environment:
    /// `HELIOS_DATA_DIR` (and `DATABASE_URL`) for a local one.
    pub async fn from_env() -> anyhow::Result<Deployment> {
        let data_dir = std::env::var("HELIOS_DATA_DIR").map_err(|_| {
            anyhow::anyhow!("HELIOS_DATA_DIR is not set: the data folder of a local deployment")
        })?;
        Self::open_local(&LocalOptions {
            data_dir: data_dir.into(),
            database_url: std::env::var("DATABASE_URL").ok(),
        })
        .await
    }
}

#[cfg(feature = "local")]
#[derive(serde::Serialize, serde::Deserialize)]
struct SecretsFile {
    github: String,
    pubsub: String,
    eventgrid: String,
}

#[cfg(feature = "local")]
/// The hook secrets: from `HELIOS_GITHUB_SECRET`, `HELIOS_PUBSUB_TOKEN` and
/// `HELIOS_EVENTGRID_TOKEN` when set, otherwise made once and kept in `secrets.json` of the
/// data folder (mode 0600), so that a restart keeps them.
pub fn load_secrets(data_dir: &Path) -> anyhow::Result<SourceSecrets> {
    let path = data_dir.join("secrets.json");
    let file: SecretsFile = match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?
        }
        Err(_) => {
            let f = SecretsFile {
                github: random_token()?,
                pubsub: random_token()?,
                eventgrid: random_token()?,
            };
            write_private(&path, &serde_json::to_string_pretty(&f)?)?;
            f
        }
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Ok(SourceSecrets {
        github: Some(env("HELIOS_GITHUB_SECRET").unwrap_or(file.github)),
        pubsub: Some(env("HELIOS_PUBSUB_TOKEN").unwrap_or(file.pubsub)),
        eventgrid: Some(env("HELIOS_EVENTGRID_TOKEN").unwrap_or(file.eventgrid)),
    })
}

/// 160 random bits, hex.
pub fn random_token() -> anyhow::Result<String> {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(hex::encode(b))
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Logging: JSON lines (Lambda, CloudWatch) or human-readable (`helios dev`), filtered by
/// `RUST_LOG` (default `info`).
pub fn init_tracing(json: bool) {
    init_tracing_or(json, "info");
}

/// [`init_tracing`] with `default` as the filter when neither `RUST_LOG` nor
/// `AWS_LAMBDA_LOG_LEVEL` names one (`helios demo` keeps its terminal to warnings).
pub fn init_tracing_or(json: bool, default: &str) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (filter, json) = log_settings(
        env("RUST_LOG").as_deref(),
        env("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        env("AWS_LAMBDA_LOG_FORMAT").as_deref(),
        json,
        default,
    );
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT asks for it (`telemetry`).
    let otel = telemetry::layer("helios");
    // `try_init` also forwards the `log` records of dependencies.
    let _ = subscriber(&filter, json, std::io::stderr, otel).try_init();
}

/// A layer of the subscriber, with its own filter.
type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

/// The subscriber of [`init_tracing`], writing to `writer` what `filter` lets through, and
/// exporting spans through `otel` when given (under its own filter: `RUST_LOG=warn` quiets
/// the logs, not the traces). In JSON each line carries the spans it was logged in, so
/// inside a Lambda invocation the `Lambda runtime invoke` span of `lambda_runtime` puts its
/// `requestId` and `xrayTraceId` on every line, and Helios's own spans their `trace_id`.
fn subscriber<W>(
    filter: &str,
    json: bool,
    writer: W,
    otel: Option<BoxedLayer>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let fmt: BoxedLayer = if json {
        fmt.json().flatten_event(true).with_filter(filter).boxed()
    } else {
        fmt.compact().with_filter(filter).boxed()
    };
    let mut layers = vec![fmt];
    layers.extend(otel);
    Box::new(tracing_subscriber::registry().with(layers))
}

/// The log filter and whether logs are JSON: `RUST_LOG` when set; otherwise the
/// application log level of Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`:
/// TRACE, DEBUG, INFO, WARN, ERROR or FATAL); otherwise `info`. JSON as asked, unless
/// Lambda's log format (`AWS_LAMBDA_LOG_FORMAT`: JSON or Text) says otherwise.
/// <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html>
fn log_settings(
    rust_log: Option<&str>,
    lambda_level: Option<&str>,
    lambda_format: Option<&str>,
    json: bool,
    default: &str,
) -> (String, bool) {
    let filter = match (rust_log, lambda_level) {
        (Some(f), _) => f.to_string(),
        (None, Some(level)) => match level.to_ascii_uppercase().as_str() {
            "TRACE" => "trace",
            "DEBUG" => "debug",
            "WARN" => "warn",
            "ERROR" | "FATAL" => "error",
            _ => "info",
        }
        .to_string(),
        (None, None) => default.to_string(),
    };
    let json = match lambda_format {
        Some(f) if f.eq_ignore_ascii_case("json") => true,
        Some(f) if f.eq_ignore_ascii_case("text") => false,
        _ => json,
    };
    (filter, json)
}

#[cfg(test)]
mod log_tests {
    use super::{log_settings, subscriber};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A JSON line logged while an event is handled names the event's trace: Helios's spans
    /// (here a workflow task's, continuing the trace its payload carries) hold `trace_id`.
    #[test]
    fn json_lines_inside_helios_spans_carry_the_events_trace_id() {
        let lines = Lines::default();
        let out = lines.clone();
        let sub = subscriber("info", true, move || out.clone(), None);
        tracing::subscriber::with_default(sub, || {
            let payload = serde_json::json!({
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            });
            let span = helios_app::task_span("notify", &payload);
            span.in_scope(|| tracing::info!(channel = "chat", "notified"));
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["message"], "notified");
        assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(line["span"]["otel.name"], "notify");
    }

    /// A JSON line logged inside a Lambda invocation names its request and its trace, from
    /// the span `lambda_runtime` opens around each invocation (its fields, as it names them).
    #[test]
    fn json_lines_carry_the_request_id_and_the_trace_id() {
        let lines = Lines::default();
        let out = lines.clone();
        let sub = subscriber("info", true, move || out.clone(), None);
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                xrayTraceId =
                    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
            );
            let _in = span.enter();
            tracing::info!(decision = "dec_1", "decided");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["message"], "decided");
        assert_eq!(line["decision"], "dec_1");
        assert_eq!(line["level"], "INFO");
        assert_eq!(
            line["span"]["requestId"],
            "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
        );
        assert!(line["span"]["xrayTraceId"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-5bef4de7"));
    }

    #[test]
    fn lambda_advanced_logging_controls_set_the_level_and_the_format() {
        assert_eq!(
            log_settings(None, None, None, true, "info"),
            ("info".into(), true)
        );
        assert_eq!(
            log_settings(None, None, None, false, "warn"),
            ("warn".into(), false),
            "the default applies when nothing names a level"
        );
        assert_eq!(
            log_settings(None, Some("DEBUG"), Some("JSON"), false, "info"),
            ("debug".into(), true)
        );
        assert_eq!(
            log_settings(None, Some("FATAL"), Some("Text"), true, "info"),
            ("error".into(), false)
        );
        assert_eq!(
            log_settings(None, Some("WARN"), None, true, "info"),
            ("warn".into(), true)
        );
        // RUST_LOG, when set, wins over Lambda's level.
        assert_eq!(
            log_settings(Some("helios=trace"), Some("ERROR"), None, true, "info"),
            ("helios=trace".into(), true)
        );
    }
}
