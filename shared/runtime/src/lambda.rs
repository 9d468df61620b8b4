//! What the Lambda mains share: the SQS batch handler with partial batch failures, and the
//! ports of a function built from the environment terraform sets.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use helios_events::SourceSecrets;
use helios_ports::{BlobStore, Clock, KeyValue, Publisher, Received, SystemClock};
use helios_store::{PgStore, Store};

pub use crate::port::Port;
use crate::port::{HandedBlobs, HandedKv, HandedPublisher};
use tracing::Instrument as _;

/// Handles the records of an SQS batch together and reports the ones that failed
/// (`ReportBatchItemFailures`): only those come back, after their visibility timeout, and
/// land in the dead-letter queue after the queue's `maxReceiveCount`.
pub async fn sqs_batch<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(Received) -> Fut,
    Fut: Future<Output = Result<(), helios_ports::MessageFailed>>,
{
    let work = event.records.into_iter().map(|r| {
        let id = r.message_id.clone().unwrap_or_default();
        let received = Received {
            message_id: id.clone(),
            receipt: r.receipt_handle.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
            attributes: r
                .message_attributes
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.string_value?)))
                .collect::<BTreeMap<_, _>>(),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        };
        let span =
            tracing::info_span!("message", message_id = %id, receives = received.receive_count);
        let running = handle(received).instrument(span);
        async move {
            match running.await {
                Ok(()) => None,
                Err(helios_ports::MessageFailed { error, retryable }) => {
                    tracing::warn!(error, retryable, "message failed; SQS delivers it again");
                    Some(id)
                }
            }
        }
    });
    let started = std::time::Instant::now();
    let messages = work.len();
    let failed: Vec<String> = futures_util::future::join_all(work)
        .await
        .into_iter()
        .flatten()
        .collect();
    crate::metrics::emit_timed(
        &[
            ("Messages", messages as f64),
            ("MessagesFailed", failed.len() as f64),
        ],
        ("BatchDuration", started),
    );
    crate::metrics::emit_commits();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// Serves a workflow task function: each invocation's payload goes to `handle`; a failure
/// is a Lambda error whose type is its name (`Helios.Retryable`, …), which Step Functions
/// reports as the task's error for `Retry` and `Catch`.
///
/// Each invocation is a span named `name` (`notify`, …), in the trace the payload carries
/// (`traceparent`), exported before the invocation ends when traces are.
pub async fn serve_task<F, Fut>(name: &'static str, handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: Future<Output = Result<serde_json::Value, helios_ports::TaskFailure>>,
{
    let handle = &handle;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let started = std::time::Instant::now();
            let span = helios_app::task_span(name, &event.payload);
            let result = handle(event.payload).instrument(span.clone()).await;
            if result.is_err() {
                span.record("otel.status_code", "error");
            }
            drop(span);
            crate::metrics::emit_timed(
                &[
                    ("Tasks", 1.0),
                    ("TasksFailed", f64::from(u8::from(result.is_err()))),
                ],
                ("TaskDuration", started),
            );
            crate::metrics::emit_commits();
            crate::telemetry::flush().await;
            result.map_err(task_error)
        },
    ))
    .await
}

/// A task failure as the Lambda error Step Functions matches on.
pub fn task_error(f: helios_ports::TaskFailure) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: f.error.to_string(),
        error_message: f.cause,
    }
}

/// The ports a function uses, from its environment: a local deployment when
/// `HELIOS_DATA_DIR` is set (for running a function beside `helios dev`), AWS otherwise.
#[derive(Clone)]
pub struct FunctionPorts {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: Arc<dyn Publisher>,
    pub kv: Arc<dyn KeyValue>,
    pub clock: Arc<dyn Clock>,
    pub secrets: SourceSecrets,
    /// Step Functions in AWS; `None` locally, where workflows run inside `helios dev`.
    #[cfg(feature = "sfn")]
    pub workflows: Option<Arc<helios_aws::StepFunctions>>,
    #[cfg(not(feature = "sfn"))]
    pub workflows: Option<std::convert::Infallible>,
    /// The live feed's WebSocket connections, when declared ([`Port::Sockets`]): API
    /// Gateway's at `HELIOS_SOCKET_ENDPOINT` in AWS; `None` locally, where `helios dev`
    /// holds its own.
    pub sockets: Option<Arc<dyn helios_ports::Sockets>>,
    /// The event queues and their dead-letter queues, when declared ([`Port::DeadLetters`]):
    /// SQS in AWS, `helios dev`'s queues locally.
    pub queues: Option<Arc<dyn helios_ports::Queue>>,
}

/// Why a declared port has no adapter: this build left its SDK out.
#[allow(dead_code)]
fn not_built(port: &str, feature: &str) -> String {
    format!("{port} is declared, but this build has no adapter for it: build with the `{feature}` feature of helios-runtime")
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| format!("{name} is not set (terraform sets it on every function)"))
}

/// How a function reaches PostgreSQL in AWS.
enum Database {
    /// A URL with its password: `DATABASE_URL`.
    Url(String),
    /// The master user, whose password is read from the secret RDS keeps and rotates
    /// (`HELIOS_DB_SECRET_ARN`), again whenever the database rejects it: `migrate` alone
    /// connects so.
    Secret {
        url: String,
        password: SecretPassword,
    },
    /// As `HELIOS_DB_IAM_USER`, with IAM authentication tokens for passwords: the role
    /// `migrate` grants reading and writing rows and nothing else.
    Iam {
        url: String,
        auth: Box<helios_aws::RdsAuth>,
    },
}

fn db_port() -> anyhow::Result<u16> {
    match std::env::var("HELIOS_DB_PORT") {
        Ok(p) => p
            .parse()
            .with_context(|| format!("HELIOS_DB_PORT is a port number, not `{p}`")),
        Err(_) => Ok(5432),
    }
}

/// The database as the environment says: `DATABASE_URL` when set; otherwise
/// `HELIOS_DB_HOST`, `HELIOS_DB_PORT` (5432), `HELIOS_DB_NAME` (`helios`), always with
/// `sslmode=require`, and the user `HELIOS_DB_IAM_USER` with IAM authentication when that is
/// set, else the master user of the secret `HELIOS_DB_SECRET_ARN`.
async fn database(
    config: &aws_config::SdkConfig,
    secrets: &helios_aws::Secrets,
) -> anyhow::Result<Database> {
    if let Ok(url) = env("DATABASE_URL") {
        return Ok(Database::Url(url));
    }
    let host = env("HELIOS_DB_HOST")
        .context("set DATABASE_URL, or HELIOS_DB_HOST with HELIOS_DB_IAM_USER or HELIOS_DB_SECRET_ARN (terraform does)")?;
    let port = db_port()?;
    let name = std::env::var("HELIOS_DB_NAME").unwrap_or_else(|_| "helios".into());
    if let Ok(user) = env("HELIOS_DB_IAM_USER") {
        return Ok(Database::Iam {
            url: helios_store::tls_url(&user, &host, port, &name),
            auth: Box::new(helios_aws::RdsAuth::new(config, &host, port, &user)),
        });
    }
    let arn = env("HELIOS_DB_SECRET_ARN")
        .context("set HELIOS_DB_IAM_USER (IAM authentication) or HELIOS_DB_SECRET_ARN (the master user's secret)")?;
    let secret = secrets
        .json(&arn)
        .await
        .context("reading the database secret")?;
    let user = secret
        .get("username")
        .and_then(|u| u.as_str())
        .filter(|u| !u.is_empty())
        .context("the database secret has no `username` (an RDS-managed secret has it)")?;
    Ok(Database::Secret {
        url: helios_store::tls_url(user, &host, port, &name),
        password: SecretPassword {
            secrets: secrets.clone(),
            arn,
        },
    })
}

/// The password of a secret's `password` field, read when a connection needs it.
struct SecretPassword {
    secrets: helios_aws::Secrets,
    arn: String,
}

#[async_trait::async_trait]
impl helios_store::PasswordSource for SecretPassword {
    async fn password(&self) -> Result<String, String> {
        secret_password(&self.secrets, &self.arn).await
    }
}

/// The `password` field of a database secret (RDS's for its master user, or the one RDS
/// Proxy logs in with).
pub async fn secret_password(secrets: &helios_aws::Secrets, arn: &str) -> Result<String, String> {
    let secret = secrets
        .json(arn)
        .await
        .map_err(|e| format!("reading the database secret {arn}: {e}"))?;
    secret
        .get("password")
        .and_then(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| format!("the database secret {arn} has no `password`"))
}

/// IAM authentication tokens as the store's password source.
struct IamPassword(helios_aws::RdsAuth);

#[async_trait::async_trait]
impl helios_store::PasswordSource for IamPassword {
    async fn password(&self) -> Result<String, String> {
        self.0.token().await
    }
}

/// The hook secrets: `HELIOS_GITHUB_SECRET`, `HELIOS_PUBSUB_TOKEN`, `HELIOS_EVENTGRID_TOKEN`
/// when set, otherwise the fields `github`, `pubsub`, `eventgrid` of the secret named by
/// `HELIOS_SOURCE_SECRETS_ARN` (terraform makes it). A source without one rejects its hooks.
async fn source_secrets(secrets: &helios_aws::Secrets) -> anyhow::Result<SourceSecrets> {
    let stored = match env("HELIOS_SOURCE_SECRETS_ARN") {
        Ok(arn) => secrets
            .json(&arn)
            .await
            .context("reading the hook secrets")?,
        Err(_) => serde_json::Map::new(),
    };
    let pick = |var: &str, field: &str| {
        std::env::var(var)
            .ok()
            .or_else(|| stored.get(field).and_then(|v| v.as_str()).map(String::from))
            .filter(|v| !v.is_empty())
    };
    Ok(SourceSecrets {
        github: pick("HELIOS_GITHUB_SECRET", "github"),
        pubsub: pick("HELIOS_PUBSUB_TOKEN", "pubsub"),
        eventgrid: pick("HELIOS_EVENTGRID_TOKEN", "eventgrid"),
    })
}

/// A JSON setting that may hold secrets (the notify channels): the secret named by
/// `{var}_SECRET_ARN` when set (terraform's way), else the variable `{var}` itself, else
/// `default`. The AWS configuration is loaded into `config` only when a secret is to be read:
/// loading it costs a function 2.5 ms of its cold start (docs/benchmarks.md).
pub async fn secret_setting(
    config: &tokio::sync::OnceCell<aws_config::SdkConfig>,
    var: &str,
    default: &str,
) -> anyhow::Result<String> {
    if let Ok(arn) = env(&format!("{var}_SECRET_ARN")) {
        let secrets = helios_aws::Secrets::new(config.get_or_init(helios_aws::sdk_config).await);
        return secrets
            .text(&arn)
            .await
            .with_context(|| format!("reading the secret of {var}"));
    }
    Ok(std::env::var(var).unwrap_or_else(|_| default.to_string()))
}

/// The store alone, for a function that needs nothing else (`migrate`): the local one beside
/// `HELIOS_DATA_DIR`, PostgreSQL from the environment otherwise. Not migrated: that is
/// `migrate`'s work.
pub async fn store_from_env() -> anyhow::Result<Arc<dyn Store>> {
    #[cfg(feature = "local")]
    if let Ok(dir) = std::env::var("HELIOS_DATA_DIR") {
        return crate::Deployment::open_store(&crate::LocalOptions {
            data_dir: dir.into(),
            database_url: std::env::var("DATABASE_URL").ok(),
        })
        .await;
    }
    let config = helios_aws::sdk_config().await;
    let secrets = helios_aws::Secrets::new(&config);
    Ok(Arc::new(pg_store(&config, &secrets, 1).await?))
}

/// PostgreSQL as a Lambda uses it ([`database`]), with a pool of `size`: IAM tokens made as
/// connections need them, or a secret's password, read again when it is rejected.
async fn pg_store(
    config: &aws_config::SdkConfig,
    secrets: &helios_aws::Secrets,
    size: usize,
) -> anyhow::Result<PgStore> {
    Ok(match database(config, secrets).await? {
        Database::Url(url) => PgStore::connect(&url, size).context("connecting to PostgreSQL")?,
        Database::Secret { url, password } => {
            PgStore::connect_with_password(&url, size, Arc::new(password))
                .context("connecting to PostgreSQL")?
        }
        Database::Iam { url, auth } => {
            PgStore::connect_with_password(&url, size, Arc::new(IamPassword(*auth)))
                .context("connecting to PostgreSQL")?
        }
    })
}

/// The store for `migrate`, which may also grant: PostgreSQL from the environment as
/// [`store_from_env`] connects to it, or `None` for the local store (no roles there).
pub async fn pg_store_from_env() -> anyhow::Result<Option<PgStore>> {
    if std::env::var_os("HELIOS_DATA_DIR").is_some() {
        return Ok(None);
    }
    let config = helios_aws::sdk_config().await;
    let secrets = helios_aws::Secrets::new(&config);
    Ok(Some(pg_store(&config, &secrets, 1).await?))
}

/// The most connections one function instance keeps: `HELIOS_DB_POOL` (terraform sizes it
/// with the functions' concurrency so that the sum stays under the database's
/// `max_connections`, docs/deploy.md), 4 when unset. A Lambda instance serves one
/// invocation at a time, so more than one or two is only for parallel queries within one.
fn db_pool_size() -> anyhow::Result<usize> {
    match std::env::var("HELIOS_DB_POOL") {
        Ok(n) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => anyhow::bail!("HELIOS_DB_POOL is a number of connections, 1 or more, not `{n}`"),
        },
        Err(_) => Ok(4),
    }
}

/// The ports a function declared, each adapter limited to them ([`crate::port`]).
fn handed(
    ports: &[Port],
    blobs: Option<Arc<dyn BlobStore>>,
    publisher: Option<Arc<dyn Publisher>>,
    kv: Option<Arc<dyn KeyValue>>,
) -> (Arc<dyn BlobStore>, Arc<dyn Publisher>, Arc<dyn KeyValue>) {
    let has = |p: Port| ports.contains(&p);
    (
        Arc::new(HandedBlobs {
            inner: blobs,
            write: has(Port::ArchiveWrite),
            read: has(Port::ArchiveRead),
        }),
        Arc::new(HandedPublisher {
            inner: publisher.filter(|_| has(Port::Publish)),
        }),
        Arc::new(HandedKv {
            inner: kv,
            read: has(Port::KvRead),
            write: has(Port::KvWrite),
        }),
    )
}

impl FunctionPorts {
    /// The ports of a function that declared `ports` ([`Port`]): the store's rows, and of
    /// the archive, the events topic, the key-value table, the hook secrets and Step
    /// Functions only what it declared (the rest refuse with a message naming the port).
    pub async fn from_env(ports: &[Port]) -> anyhow::Result<FunctionPorts> {
        let has = |p: Port| ports.contains(&p);
        anyhow::ensure!(
            has(Port::Rows),
            "a function with FunctionPorts reads the store: declare Port::Rows"
        );
        #[cfg(feature = "local")]
        if std::env::var_os("HELIOS_DATA_DIR").is_some() {
            let d = crate::Deployment::from_env().await?;
            let queues = has(Port::DeadLetters)
                .then(|| Arc::new(d.services.clone()) as Arc<dyn helios_ports::Queue>);
            let (blobs, publisher, kv) = handed(
                ports,
                Some(d.blobs),
                Some(Arc::new(d.services.clone())),
                Some(Arc::new(d.services)),
            );
            return Ok(FunctionPorts {
                store: d.store,
                blobs,
                publisher,
                kv,
                clock: d.clock,
                secrets: if has(Port::HookSecrets) {
                    d.secrets
                } else {
                    SourceSecrets::default()
                },
                workflows: None,
                sockets: None,
                queues,
            });
        }
        // In AWS each invocation writes its store transactions' times (`StoreCommit`).
        crate::metrics::keep_commit_times();
        let config = helios_aws::sdk_config().await;
        let secrets = helios_aws::Secrets::new(&config);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store: Arc<dyn Store> = Arc::new(pg_store(&config, &secrets, db_pool_size()?).await?);
        let path_style = std::env::var("HELIOS_S3_PATH_STYLE").is_ok_and(|v| v == "true");
        let machines: HashMap<String, String> = match std::env::var("HELIOS_STATE_MACHINES") {
            Ok(text) => serde_json::from_str(&text)
                .context("HELIOS_STATE_MACHINES is JSON: {\"decision\": \"arn:…\", …}")?,
            Err(_) => HashMap::new(),
        };
        let hook_secrets = if has(Port::HookSecrets) {
            source_secrets(&secrets).await?
        } else {
            SourceSecrets::default()
        };
        let blobs: Option<Arc<dyn BlobStore>> = if has(Port::ArchiveWrite) || has(Port::ArchiveRead)
        {
            #[cfg(feature = "s3")]
            {
                Some(Arc::new(helios_aws::S3Blobs::new(
                    &config,
                    &env("HELIOS_BUCKET")?,
                    path_style,
                )))
            }
            #[cfg(not(feature = "s3"))]
            {
                let _ = path_style;
                anyhow::bail!(not_built("the archive", "s3"))
            }
        } else {
            None
        };
        let publisher: Option<Arc<dyn Publisher>> = if has(Port::Publish) {
            #[cfg(feature = "sns")]
            {
                Some(Arc::new(helios_aws::SnsPublisher::new(
                    &config,
                    HashMap::from([(
                        crate::EVENTS_TOPIC.to_string(),
                        env("HELIOS_EVENTS_TOPIC_ARN")?,
                    )]),
                )))
            }
            #[cfg(not(feature = "sns"))]
            anyhow::bail!(not_built("the events topic", "sns"))
        } else {
            None
        };
        let kv: Option<Arc<dyn KeyValue>> = if has(Port::KvRead) || has(Port::KvWrite) {
            #[cfg(feature = "dynamodb")]
            {
                Some(Arc::new(helios_aws::DynamoKeyValue::new(
                    &config,
                    &env("HELIOS_TABLE")?,
                    clock.clone(),
                )))
            }
            #[cfg(not(feature = "dynamodb"))]
            anyhow::bail!(not_built("the key-value table", "dynamodb"))
        } else {
            None
        };
        let sockets: Option<Arc<dyn helios_ports::Sockets>> = if has(Port::Sockets) {
            #[cfg(feature = "sockets")]
            {
                Some(Arc::new(helios_aws::ApiGatewaySockets::new(
                    &config,
                    &env("HELIOS_SOCKET_ENDPOINT")?,
                )))
            }
            #[cfg(not(feature = "sockets"))]
            anyhow::bail!(not_built("the live sockets", "sockets"))
        } else {
            None
        };
        let queues: Option<Arc<dyn helios_ports::Queue>> = if has(Port::DeadLetters) {
            #[cfg(feature = "sqs")]
            {
                Some(Arc::new(helios_aws::SqsQueues::new(&config)))
            }
            #[cfg(not(feature = "sqs"))]
            anyhow::bail!(not_built("the queues", "sqs"))
        } else {
            None
        };
        let (blobs, publisher, kv) = handed(ports, blobs, publisher, kv);
        let steps =
            has(Port::StartExecutions) || has(Port::ReadExecutions) || has(Port::AnswerTasks);
        #[cfg(feature = "sfn")]
        let workflows = (steps && !machines.is_empty())
            .then(|| Arc::new(helios_aws::StepFunctions::new(&config, machines)));
        #[cfg(not(feature = "sfn"))]
        let workflows = {
            anyhow::ensure!(!steps, not_built("Step Functions", "sfn"));
            let _ = machines;
            None
        };
        Ok(FunctionPorts {
            store,
            blobs,
            publisher,
            kv,
            clock,
            secrets: hook_secrets,
            workflows,
            sockets,
            queues,
        })
    }

    /// Step Functions, for the functions that start or answer workflows.
    #[cfg(feature = "sfn")]
    pub fn workflows(&self) -> anyhow::Result<Arc<dyn helios_ports::Workflows>> {
        match &self.workflows {
            Some(w) => Ok(w.clone()),
            None => anyhow::bail!(
                "no state machines: set HELIOS_STATE_MACHINES (terraform does), or run workflows with `helios dev`"
            ),
        }
    }
}
