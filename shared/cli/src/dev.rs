//! `helios dev`: the one router of the HTTP API (`helios_api::router`) served on 127.0.0.1, the same
//! routes as API Gateway, with the local adapters, and the relay on a one-second schedule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use clap::Args;
use helios_api::ack::AckApi;
use helios_api::ingest::IngestApi;
use helios_api::query::Query;
use helios_api::{ApiKeyAuth, RateLimiter};
use helios_runtime::{wire, Deployment, EVENTS_TOPIC};
use helios_store::Role;

use crate::StoreArgs;

#[derive(Args, Debug)]
pub struct DevArgs {
    /// Port to serve on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Requests per second allowed to a key without a rate of its own.
    #[arg(long, default_value_t = 1000)]
    pub rate_limit: u32,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub json_logs: bool,
    /// Seconds between runs of the archive, which writes the facts, decisions and outcomes
    /// recorded since the last one as Parquet files under `<data>/archive/<table>/day=…/`
    /// (0: no archive); `helios analytics query` reads them. Runs wait while requests are
    /// being answered or events wait to be decided, for at most 5 minutes.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub archive_every: u64,
    /// Count nothing for `GET /metrics`, which is then not served (to measure what the
    /// metrics cost).
    #[arg(long)]
    pub no_metrics: bool,
    /// The folder of the workflows (ASL files). Executions run on real time, keep a checkpoint
    /// in the data folder, and are resumed when `helios dev` starts again.
    #[arg(long, default_value = "statemachines")]
    pub statemachines: std::path::PathBuf,
    /// The rule set `decide` decides with (a folder or a file). Decisions are on when both it
    /// and the state machines are there.
    #[arg(long, default_value = "rules")]
    pub rules: std::path::PathBuf,
    /// The service level objectives of `GET /v1/slo` (a YAML file; see `helios_api::slo`);
    /// the defaults (decided within 5 s, notified within 1 min, 99 % each over 30 days)
    /// without it.
    #[arg(long, env = "HELIOS_SLO_FILE")]
    pub slo: Option<std::path::PathBuf>,
    /// Seconds a client has to send a request's headers, and that an idle connection is kept.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub header_timeout: f64,
    /// Seconds a client has to send a request's body (408 after).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub body_timeout: f64,
    /// Connections open at once; the next ones wait until one closes.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Batches of 10 messages of the decide queue handled at once, as Lambda's concurrency
    /// for the `decide` function: while one batch waits on the store, another decides.
    #[arg(long, default_value_t = DECIDE_POLLERS, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub decide_concurrency: u16,
    /// Batches of the decide queue handled at once while no request has come for a quarter
    /// of a second (health polls, metrics scrapes and the live feeds aside): the backlog is
    /// caught up with the cores that accepting events and answering reads leave. At least
    /// `--decide-concurrency`.
    #[arg(long, default_value_t = DECIDE_POLLERS_IDLE, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub decide_concurrency_idle: u16,
    /// Schema discovery: the first event of a (source, type) without a schema registers the
    /// schema inferred from its data (version 1); events that later differ from it are
    /// drift (`helios.schema.drifted`).
    #[arg(long)]
    pub discover_schemas: bool,
    /// Workflow executions running at once; a start beyond is refused and retried later (the
    /// decision or expectation message comes back), as Step Functions does at its limit.
    #[arg(long, default_value_t = 10_000)]
    pub max_executions: usize,
    /// An execution in a Wait longer than this many seconds is parked: kept as its checkpoint
    /// on disk, no task, until the Wait ends. `never` keeps every waiting execution in memory
    /// (to compare).
    #[arg(long, default_value = "2", value_name = "SECONDS|never")]
    pub park_waits_over: String,
}

impl DevArgs {
    fn serve_limits(&self) -> anyhow::Result<crate::serve::ServeLimits> {
        let seconds = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| anyhow::anyhow!("--{name} must be a positive number of seconds"))
        };
        Ok(crate::serve::ServeLimits {
            header_timeout: seconds("header-timeout", self.header_timeout)?,
            body_timeout: seconds("body-timeout", self.body_timeout)?,
            max_connections: self.max_connections,
        })
    }
}

/// How many batches of the decide queue are handled at once, by default.
const DECIDE_POLLERS: u16 = 3;
const DECIDE_POLLERS_IDLE: u16 = 12;
/// How long after the last request the server counts as busy answering.
const BUSY_FOR: Duration = Duration::from_millis(250);
/// The longest the archive waits for the server to be idle before it catches up anyway.
const ARCHIVE_MAX_WAIT: Duration = Duration::from_secs(300);

/// The file in the data folder where the mails of mail channels go (JSON lines).
pub const MAIL_FILE: &str = "mail.jsonl";

/// The file in the data folder that keeps the admin key `helios dev` made.
pub const ADMIN_KEY_FILE: &str = "dev-admin-key";

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    helios_runtime::init_tracing(args.json_logs);
    let serve_limits = args.serve_limits()?;
    // The data folder holds the store, the raw payloads, the admin key and the hook secrets:
    // its owner's alone (folders 0700, files 0600), whatever the umask.
    // SAFETY: umask only sets the process's file mode mask; no other thread runs yet.
    unsafe {
        libc::umask(0o077);
    }
    private_folder(&args.store.data_dir)?;
    let d = Deployment::open_local(&args.store.local_options()).await?;
    let admin_key = ensure_admin_key(&d).await?;
    let auth = Arc::new(ApiKeyAuth::new(d.store.clone(), Duration::from_secs(2)));
    let limiter = Arc::new(RateLimiter::new(args.rate_limit));
    let ports = d.ports();
    let mut intake = wire::intake(&ports, wire::background_publisher(&ports));
    if args.discover_schemas {
        intake.schemas = Arc::new(wire::schema_gate(&ports, true));
    }
    let intake = Arc::new(intake);
    let ingest = Arc::new(IngestApi {
        intake: intake.clone(),
        auth: auth.clone(),
        limiter: limiter.clone(),
    });
    let schemas = Arc::new(helios_api::schemas::SchemasApi {
        registry: Arc::new(wire::registry(&ports, &intake)),
        held: Arc::new(wire::held_facts(&ports)),
        auth: auth.clone(),
        limiter: limiter.clone(),
    });
    let rules = if args.rules.exists() {
        let rules = Arc::new(helios_runtime::rules::load_rule_set(&args.rules)?);
        println!(
            "rules: rule set {}@{} from {} ({} rules, {} expectations)",
            rules.name,
            rules.version,
            args.rules.display(),
            rules.rules.len(),
            rules.expectations.len()
        );
        Some(rules)
    } else {
        tracing::warn!(rules = %args.rules.display(), "no rule set there: decisions and expectations are off (see --rules)");
        None
    };
    // The expect queue gets only the facts some expectation can mean anything to.
    {
        use helios_rules::expect::Interest;
        let interest = rules
            .as_ref()
            .map_or(Interest::Nothing, |r| r.expectation_interest());
        d.services
            .subscribe(EVENTS_TOPIC, "expect", interest.filter_policy())
            .await?;
    }
    let checker = rules
        .as_ref()
        .map(|rules| wire::checker(&ports, rules.clone(), intake.clone()));
    // Built from the folder once, before serving; kept by the runner after.
    let executions = helios_local::workflows::ExecutionIndex::load(&d.data_dir);
    let (functions, notifier) = task_functions(&d, checker)?;
    let workflows = if args.statemachines.is_dir() {
        let runner = helios_local::workflows::Runner::start(
            args.statemachines.clone(),
            &d.data_dir,
            functions,
            helios_local::workflows::RunnerOptions {
                index: executions.clone(),
                max_running: args.max_executions,
                park_after_ms: match args.park_waits_over.as_str() {
                    "never" => i64::MAX,
                    s => s
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .map(|v| (v * 1000.0) as i64)
                        .ok_or_else(|| {
                            anyhow::anyhow!("--park-waits-over takes seconds or `never`, not {s:?}")
                        })?,
                },
            },
        )?;
        Some(Arc::new(runner))
    } else {
        tracing::warn!(
            folder = %args.statemachines.display(),
            "no state machines there: workflows are off (see --statemachines)"
        );
        None
    };
    let ack = workflows.as_ref().map(|runner| {
        Arc::new(AckApi {
            ack: Arc::new(wire::acknowledge(&ports, runner.clone())),
            auth: auth.clone(),
            limiter: limiter.clone(),
        })
    });
    // The read side of the store, for every route that only reads.
    let reads = helios_store::read_only(d.store.clone());
    let refusals = Arc::new(helios_api::stream::Refusals::default());
    let operations = Arc::new(helios_app::ops::Operations {
        queues: Arc::new(d.services.clone()),
        names: helios_runtime::EVENT_QUEUES
            .iter()
            .map(|q| (q.to_string(), format!("{q}-dlq")))
            .collect(),
    });
    let health = Arc::new(Health {
        executions: executions.clone(),
        notifier,
        d: d.clone(),
        operations: operations.clone(),
        refusals: refusals.clone(),
    });
    let metrics = Arc::new(helios_api::metrics::Metrics::new());
    // The store's transactions, timed where they commit.
    if !args.no_metrics {
        let timed = metrics.clone();
        helios_ports::observe::on_commit(move |store, took| timed.committed(store, took));
    }
    let live = Arc::new(helios_api::stream::Live {
        store: reads.clone(),
        auth: auth.clone(),
        limiter: limiter.clone(),
        health: Some(health.clone()),
    });
    // The live feed over WebSocket: the same use cases as API Gateway's WebSocket API and the
    // `push` function, with the sockets held here.
    let sockets = Arc::new(helios_api::socket::ChannelSockets::default());
    let gate = Arc::new(helios_api::socket::Gate {
        auth: auth.clone(),
        limiter: limiter.clone(),
        connections: Arc::new(wire::connections(&ports)),
    });
    let pusher = Arc::new(wire::pusher(&ports, sockets.clone()));
    let socket_upgrade: helios_api::router::Upgrade = {
        let pusher = pusher.clone();
        Arc::new(move |req| {
            Box::pin(helios_api::socket::serve(
                gate.clone(),
                sockets.clone(),
                pusher.clone(),
                req,
            ))
        })
    };
    let rules_api = match &rules {
        Some(set) => Some(Arc::new(helios_api::rules::RulesApi {
            set: set.clone(),
            files: helios_runtime::rules::read_rule_files(&args.rules)?,
            auth: auth.clone(),
            limiter: limiter.clone(),
            clock: d.clock.clone(),
        }) as Arc<dyn helios_api::router::Handle>),
        None => None,
    };
    let ops = Arc::new(helios_api::ops::OpsApi {
        ops: operations.clone(),
        facts: reads.clone(),
        publisher: Arc::new(d.services.clone()),
        topic: EVENTS_TOPIC.to_string(),
        health: health.clone(),
        auth: auth.clone(),
        limiter: limiter.clone(),
    });
    let session = Arc::new(helios_api::ops::SessionApi {
        auth: auth.clone(),
        limiter: limiter.clone(),
        tickets: helios_api::ops::SignInTickets::default(),
    });
    let slo = match &args.slo {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the objectives {}", path.display()))?;
            helios_api::slo::Objectives::parse(&text)
                .map_err(|e| anyhow::anyhow!("the objectives {}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    let query = Query {
        store: reads.clone(),
        auth: auth.clone(),
        limiter: limiter.clone(),
        clock: d.clock.clone(),
        executions: workflows.as_ref().map(|_| {
            Arc::new(helios_local::workflows::ExecutionFiles {
                data_dir: d.data_dir.clone(),
                index: Some(executions.clone()),
                statemachines: Some(args.statemachines.clone()),
            }) as Arc<dyn helios_ports::Executions>
        }),
        rules: rules.clone(),
        slo: Arc::new(slo),
    };
    let handlers = helios_api::router::Handlers {
        rules: rules_api,
        ops: Some(ops),
        session: Some(session),
        ingest: Some(ingest),
        schemas: Some(schemas),
        query: Some(Arc::new(query)),
        ack: ack.map(|a| a as Arc<dyn helios_api::router::Handle>),
        local: Some(health.clone()),
        metrics: (!args.no_metrics).then(|| {
            Arc::new(helios_api::metrics::MetricsApi {
                metrics: metrics.clone(),
                health: Some(health),
                store: reads.clone(),
                clock: d.clock.clone(),
                auth: auth.clone(),
                limiter: limiter.clone(),
            }) as Arc<dyn helios_api::router::Handle>
        }),
        stream: Some(live),
        socket: Some(socket_upgrade),
    };
    let mut router = helios_api::router::router(
        &handlers,
        helios_api::router::BodyLimits {
            max_bytes: helios_events::Limits::default().max_body_bytes,
            timeout: serve_limits.body_timeout,
        },
    );
    // Every answer checked against the OpenAPI description, what it does not describe
    // written to this file (the end-to-end tests set it, and fail on any line).
    if let Some(log) = std::env::var_os("HELIOS_OPENAPI_CHECK").filter(|v| !v.is_empty()) {
        tracing::warn!(log = ?log, "checking every answer against the OpenAPI description");
        router = helios_api::openapi::checked(router, log.into());
    }
    let router = if args.no_metrics {
        router
    } else {
        helios_api::metrics::counted(router, metrics.clone())
    };
    let activity = Arc::new(Activity::new());
    let router = activity.noted(router);
    let router = helios_api::stream::count_refusals(router, refusals)
        // The dashboard's files, outside the API's layers (they are not in its description).
        .merge(crate::dashboard::router());

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    let relay = tokio::spawn(relay_loop(d.clone()));
    let archive = (args.archive_every > 0).then(|| {
        tokio::spawn(archive_loop(
            d.clone(),
            Duration::from_secs(args.archive_every),
            activity.clone(),
        ))
    });
    let push = tokio::spawn(push_loop(pusher));
    let mut consumers = Vec::new();
    match (&workflows, &rules) {
        (Some(runner), Some(rules)) => {
            let decider = Arc::new(wire::decider(&ports, rules.clone(), runner.clone()));
            let counted = (!args.no_metrics).then(|| metrics.clone());
            let decide = move |m: helios_ports::Received| {
                let (decider, counted) = (decider.clone(), counted.clone());
                async move {
                    let decided = decider.handle_message(&m).await?;
                    if let Some(metrics) = &counted {
                        metrics.near_missed(&decided.near_misses);
                    }
                    Ok(())
                }
            };
            // Several pollers, as Lambda runs several batches at once: while one waits on
            // the store, another decides. The ones past --decide-concurrency poll only while
            // no request is being answered: on one machine, deciding takes the cores that
            // ingest and reads would use, and a request waits for nothing a decision does.
            let idle = args.decide_concurrency_idle.max(args.decide_concurrency);
            for n in 0..idle {
                let yields = (n >= args.decide_concurrency).then(|| activity.clone());
                consumers.push(tokio::spawn(consume(
                    d.clone(),
                    "decide",
                    decide.clone(),
                    yields,
                )));
            }
            let observer = Arc::new(wire::observer(&ports, rules.clone(), runner.clone()));
            consumers.push(tokio::spawn(consume(
                d.clone(),
                "expect",
                move |m| {
                    let observer = observer.clone();
                    async move { observer.handle_message(&m).await }
                },
                None,
            )));
        }
        _ => tracing::warn!("no rule set or no state machines: decisions and expectations are off"),
    }
    println!("helios dev listening on http://{addr}");
    match &admin_key {
        AdminKey::FromEnv => println!("admin API key: the value of HELIOS_API_KEY"),
        AdminKey::Saved(k, path) => println!("admin API key: {k}  (kept in {path})"),
    }
    println!(
        "data: {}  store: {}",
        d.data_dir.display(),
        if args.store.database_url.is_some() {
            "PostgreSQL"
        } else {
            "embedded (helios.db)"
        }
    );
    println!(
        "hook secrets: {} (or HELIOS_GITHUB_SECRET, HELIOS_PUBSUB_TOKEN, HELIOS_EVENTGRID_TOKEN)",
        d.data_dir.join("secrets.json").display()
    );
    if workflows.is_some() {
        println!(
            "workflows: {}  executions: {}",
            args.statemachines.display(),
            d.data_dir.join("executions").display()
        );
    }
    if helios_ports::trace::exporting() {
        println!("traces: exported over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT)");
    }

    crate::serve::serve(listener, router, serve_limits, shutdown()).await;
    relay.abort();
    push.abort();
    if let Some(a) = archive {
        a.abort();
    }
    for c in consumers {
        c.abort();
    }
    drop(workflows);
    // What is left of the traces goes out before the process does.
    tokio::task::spawn_blocking(helios_runtime::telemetry::shutdown).await?;
    Ok(())
}

/// The task functions the workflows call, by the names their definitions use (`notify`, or the
/// `${NotifyFunctionArn}` placeholder terraform fills in). The notify channels are read from
/// `HELIOS_CHANNELS` or `<data>/channels.json` (`{"chat": {"url": …, "secret": …}}`).
#[allow(clippy::type_complexity)]
fn task_functions(
    d: &Deployment,
    checker: Option<helios_app::expect::Checker>,
) -> anyhow::Result<(
    std::collections::HashMap<String, helios_local::workflows::Function>,
    Arc<helios_app::notify::Notifier>,
)> {
    let file = d.data_dir.join("channels.json");
    let channels = match std::env::var("HELIOS_CHANNELS") {
        Ok(text) => helios_app::notify::Notifier::channels_from_json(&text)
            .map_err(|e| anyhow::anyhow!("HELIOS_CHANNELS: {e}"))?,
        Err(_) if file.exists() => {
            helios_app::notify::Notifier::channels_from_json(&std::fs::read_to_string(&file)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        }
        Err(_) => Default::default(),
    };
    // Mail channels write to a file of the data folder: helios dev has no SNS.
    let notifier = Arc::new(
        helios_app::notify::Notifier::new(
            channels,
            Arc::new(helios_runtime::outbound::HttpClient::new()?),
            d.clock.clone(),
        )
        .with_mailer(Arc::new(helios_local::MailFile::new(
            d.data_dir.join(MAIL_FILE),
            d.clock.clone(),
        ))),
    );
    let ports = d.ports();
    let recorder = Arc::new(wire::recorder(&ports));
    let advisor = Arc::new(wire::advisor(&ports, None));
    let mut functions = std::collections::HashMap::new();
    let mut add = |name: &str, f: helios_local::workflows::Function| {
        // By the name, and by the placeholder terraform fills in (`NotifyFunctionArn`).
        let mut placeholder = name[..1].to_uppercase() + &name[1..];
        placeholder.push_str("FunctionArn");
        functions.insert(name.to_string(), f.clone());
        functions.insert(placeholder, f);
    };
    add(
        "notify",
        task("notify", notifier.clone(), |n, input| async move {
            n.handle(input).await
        }),
    );
    add(
        "record",
        task("record", recorder, |r, input| async move {
            r.handle(input).await
        }),
    );
    add(
        "advise",
        task("advise", advisor, |a, input| async move {
            a.handle(input).await
        }),
    );
    if let Some(checker) = checker {
        add(
            "expect",
            task("expect", Arc::new(checker), |c, input| async move {
                c.handle(input).await
            }),
        );
    }
    Ok((functions, notifier))
}

/// A task function of the workflows from a handler and how to call it; each call is a span
/// named `name`, in the trace its payload carries.
fn task<T, F, Fut>(
    name: &'static str,
    handler: Arc<T>,
    call: F,
) -> helios_local::workflows::Function
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>, serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<serde_json::Value, helios_ports::TaskFailure>>
        + 'static,
{
    Arc::new(move |c: helios_states::TaskCall| {
        use tracing::Instrument as _;
        let span = helios_app::task_span(name, &c.input);
        let running = call(handler.clone(), c.input);
        Box::pin(
            async move {
                running.await.map_err(|f| {
                    tracing::Span::current().record("otel.status_code", "error");
                    helios_states::Failure::new(f.error, f.cause)
                })
            }
            .instrument(span),
        )
    })
}

enum AdminKey {
    FromEnv,
    Saved(String, String),
}

/// The admin key: `HELIOS_API_KEY` when set (stored if new), otherwise the one kept in the
/// data folder, otherwise a new one, kept there for the next start.
async fn ensure_admin_key(d: &Deployment) -> anyhow::Result<AdminKey> {
    let now = d.clock.now();
    if let Some(secret) = std::env::var("HELIOS_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
    {
        if d.store
            .find_api_key(&helios_app::keys::hash(&secret))
            .await?
            .is_none()
        {
            let key = helios_app::keys::key_for(
                &secret,
                "dev-admin (HELIOS_API_KEY)",
                Role::Admin,
                None,
                now,
            )
            .map_err(anyhow::Error::msg)?;
            d.store.create_api_key(&key).await?;
        }
        return Ok(AdminKey::FromEnv);
    }
    let path = d.data_dir.join(ADMIN_KEY_FILE);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        let secret = secret.trim().to_string();
        if let Some(k) = d
            .store
            .find_api_key(&helios_app::keys::hash(&secret))
            .await?
        {
            if k.revoked_at.is_none() {
                return Ok(AdminKey::Saved(secret, path.display().to_string()));
            }
        }
    }
    let issued =
        helios_app::keys::issue(d.store.as_ref(), "dev-admin", Role::Admin, None, now).await?;
    helios_runtime::write_private(&path, &issued.secret)?;
    Ok(AdminKey::Saved(issued.secret, path.display().to_string()))
}

/// Makes `dir` (made if missing) readable by its owner only.
fn private_folder(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", dir.display()))
}

async fn relay_loop(d: Deployment) {
    let ports = d.ports();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        // On the first tick this publishes what a killed process left in the outbox.
        if let Err(e) = wire::relay(&ports, wire::DEV_RELAY_GRACE).await {
            tracing::warn!(error = %e, "relay run failed");
        }
    }
}

/// Archives the facts, decisions and outcomes recorded since the last run as Parquet files
/// in `<data>/archive`, every `every`. On one machine archiving takes the cores that accepting
/// events and deciding use (a fifth of ingest under a sustained load, docs/benchmarks.md), so
/// it runs while the server is quiet (no request being answered, nothing waiting to be
/// decided), and catches up whatever the load once it has waited [`ARCHIVE_MAX_WAIT`]. A run that fails (a full disk) is logged and done again at the
/// next tick: ingest and decisions never wait for it.
async fn archive_loop(d: Deployment, every: Duration, activity: Arc<Activity>) {
    let blobs = match helios_local::FileBlobStore::open(d.data_dir.join("archive")) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "the archive folder cannot be opened; facts are not archived");
            return;
        }
    };
    // Transactions of helios dev commit within milliseconds.
    let archiver = helios_archive::Archiver::of_store(
        d.store.clone(),
        Arc::new(blobs),
        Arc::new(d.services.clone()),
        d.clock.clone(),
        Duration::from_secs(2),
    );
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut caught_up = std::time::Instant::now();
    loop {
        tick.tick().await;
        loop {
            if caught_up.elapsed() < ARCHIVE_MAX_WAIT && !quiet(&d, &activity).await {
                tokio::time::sleep(BUSY_FOR / 2).await;
                continue;
            }
            match archiver.run_once().await {
                Ok(r) if r.rows() == 0 => {
                    caught_up = std::time::Instant::now();
                    break;
                }
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => {
                    tracing::warn!(error = %e, "archive run failed; the next one starts where it stopped");
                    break;
                }
            }
        }
    }
}

/// No request is being answered and no event waits to be decided or checked against the
/// expectations (a queue that cannot be read counts as busy).
async fn quiet(d: &Deployment, activity: &Activity) -> bool {
    use helios_ports::Queue as _;
    if activity.busy() {
        return false;
    }
    for queue in ["decide", "expect"] {
        if !matches!(d.services.depth(queue).await, Ok((0, 0))) {
            return false;
        }
    }
    true
}

/// Pushes what is recorded to the open sockets, as often as the stream polls (in AWS the
/// fan-out's `push` queue starts each push).
async fn push_loop(pusher: Arc<helios_app::live::Pusher>) {
    let mut tick = tokio::time::interval(helios_api::stream::POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = pusher.push().await {
            tracing::warn!(error = %e, "live push failed");
        }
    }
}

/// Consumes `queue`, ten messages at a time, handled together (their store and key-value
/// calls overlap; what two of them touch at once is settled by conditional writes). A handled
/// message is deleted; a failed one comes back after its visibility timeout, and lands in
/// `<queue>-dlq` after `MAX_RECEIVES` receives. A consumer given `yields` receives only
/// while no request is being answered.
async fn consume<F, Fut>(
    d: Deployment,
    queue: &'static str,
    handle: F,
    yields: Option<Arc<Activity>>,
) where
    F: Fn(helios_ports::Received) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), helios_ports::MessageFailed>> + Send + 'static,
{
    use helios_ports::Queue as _;
    loop {
        if yields.as_ref().is_some_and(|w| w.busy()) {
            tokio::time::sleep(BUSY_FOR / 2).await;
            continue;
        }
        let batch = match d
            .services
            .receive(queue, 10, Some(Duration::from_secs(30)))
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(queue, error = %e, "cannot receive");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut running = tokio::task::JoinSet::new();
        for m in batch {
            let (receipt, receives) = (m.receipt.clone(), m.receive_count);
            let work = handle(m);
            running.spawn(async move {
                match work.await {
                    Ok(()) => Some(receipt),
                    Err(helios_ports::MessageFailed { error, retryable }) => {
                        tracing::warn!(
                            queue,
                            error,
                            retryable,
                            receives,
                            "handling failed; the message comes back after its visibility timeout"
                        );
                        None
                    }
                }
            });
        }
        // What was handled is deleted together once the batch is done, as Lambda deletes a
        // batch's messages (all but those its partial batch response names).
        let mut handled = Vec::new();
        while let Some(done) = running.join_next().await {
            handled.extend(done.ok().flatten());
        }
        if let Err(e) = d.services.delete_many(queue, &handled).await {
            tracing::warn!(queue, error = %e, "cannot delete the handled messages");
        }
    }
}

/// When the last request someone waits for came (events and hooks above all, and the pages
/// of the dashboard): not the health polls, the metrics scrape or the live feeds.
struct Activity {
    start: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: std::time::Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn seen(&self) {
        // +1: a request in the first millisecond is still told from none.
        self.last_ms
            .store(self.now_ms() + 1, std::sync::atomic::Ordering::Relaxed);
    }

    fn busy(&self) -> bool {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        last > 0 && self.now_ms().saturating_sub(last - 1) < BUSY_FOR.as_millis() as u64
    }

    /// `router` with the requests someone waits for noted.
    fn noted(self: &Arc<Self>, router: axum::Router) -> axum::Router {
        let activity = self.clone();
        router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let activity = activity.clone();
                async move {
                    // What people and clients wait for; not what watches (health polls, the
                    // metrics scrape, the live feeds).
                    if !matches!(
                        req.uri().path(),
                        "/healthz" | "/metrics" | "/v1/stream" | "/v1/socket"
                    ) {
                        activity.seen();
                    }
                    next.run(req).await
                }
            },
        ))
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// `GET /healthz` of `helios dev`: up; how many executions are in which state; and the
/// backlog (facts not yet published, messages of each event queue and its dead-letter
/// queue), which is how a script knows the server has caught up.
struct Health {
    executions: helios_local::workflows::ExecutionIndex,
    notifier: Arc<helios_app::notify::Notifier>,
    d: Deployment,
    operations: Arc<helios_app::ops::Operations>,
    refusals: Arc<helios_api::stream::Refusals>,
}

#[async_trait::async_trait]
impl helios_api::stream::Health for Health {
    async fn health(&self) -> Result<serde_json::Value, String> {
        let backlog = self
            .operations
            .backlog(self.d.store.as_ref())
            .await
            .map_err(|e| format!("the backlog cannot be read: {e}"))?;
        let open = self.notifier.open_circuits();
        Ok(serde_json::json!({
            "status": "ok",
            "executions": self.executions.counts(),
            // Each open expectation is one `expectation` execution watching it.
            "expectations": {"open": self.executions.running_of(helios_app::expect::MACHINE)},
            "breakers": {"open": open.len(), "channels": open},
            "backlog": backlog,
            "refused": self.refusals.snapshot(),
        }))
    }
}

#[async_trait::async_trait]
impl helios_api::router::Handle for Health {
    async fn handle(&self, _: helios_api::Request) -> helios_api::Response {
        use helios_api::stream::Health as _;
        match self.health().await {
            Ok(health) => helios_api::json(200, &health),
            Err(e) => helios_api::problem::Problem::unavailable(e).into_response(),
        }
    }
}
