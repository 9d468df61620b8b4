//! `helios bench lambda-warm`: a function's own CPU per event once warm. The real bootstrap
//! runs against a stand-in of the Lambda runtime API on 127.0.0.1, beside a local data
//! folder (its ports are the local adapters: the embedded store, files), and is handed one
//! API Gateway request per line of a JSON-lines file, one at a time as Lambda does. The CPU
//! the process spent (user + system, from /proc) over the measured invocations, divided by
//! their events, is what an event costs the function itself; the local adapters' work is
//! part of it, so it bounds from above what the function spends beside its AWS calls.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

#[derive(Args, Debug)]
pub struct LambdaWarmBench {
    /// The function's executable (`target/lambda/ingest/bootstrap`, built for this machine).
    #[arg(long)]
    pub bootstrap: PathBuf,
    /// JSON lines of native events (the workloads of `shared/bench/gen.py`).
    #[arg(long)]
    pub events: PathBuf,
    /// Events per request.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Requests before the measurement (warm-up), not counted.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Requests measured (default: what the file holds after the warm-up).
    #[arg(long)]
    pub requests: Option<usize>,
    /// The data folder the function runs beside (made, with its API key, when empty).
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// What the stand-in hands out and hears back.
struct RuntimeApi {
    next: Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    answers: mpsc::UnboundedSender<(String, Result<Value, String>)>,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> axum::response::Response {
    let Some((id, event)) = api.next.lock().await.recv().await else {
        // No more events: hold the function here until the bench ends it.
        return std::future::pending().await;
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    axum::response::Response::builder()
        .header("Lambda-Runtime-Aws-Request-Id", id)
        .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
        .header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:000000000000:function:bench",
        )
        .header(
            "Lambda-Runtime-Trace-Id",
            "Root=1-00000000-000000000000000000000000",
        )
        .header("content-type", "application/json")
        .body(axum::body::Body::from(event.to_string()))
        .unwrap_or_default()
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> &'static str {
    let answer = serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}: {body}"));
    let _ = api.answers.send((id, answer));
    "{}"
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> &'static str {
    let _ = api.answers.send((id, Err(body)));
    "{}"
}

/// An API Gateway HTTP API (payload 2.0) request for `POST /v1/events`.
fn api_request(body: &str, key: &str, n: usize) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "POST /v1/events",
        "rawPath": "/v1/events",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-api-key": key, "host": "bench.local"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "bench.local",
            "domainPrefix": "bench",
            "http": {"method": "POST", "path": "/v1/events", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "helios-bench"},
            "requestId": format!("r{n}"),
            "routeKey": "POST /v1/events",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1_795_392_000_000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// CPU seconds (user + system) of a process so far.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading /proc/<pid>/stat (this bench needs Linux)")?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("unexpected /proc/<pid>/stat")?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

async fn admin_key(data_dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(data_dir)?;
    let store = helios_runtime::Deployment::open_store(&helios_runtime::LocalOptions {
        data_dir: data_dir.to_path_buf(),
        database_url: None,
    })
    .await?;
    let issued = helios_app::keys::issue(
        store.as_ref(),
        "bench",
        helios_store::Role::Admin,
        Some(1_000_000),
        chrono::Utc::now(),
    )
    .await?;
    Ok(issued.secret)
}

pub async fn run(b: &LambdaWarmBench) -> anyhow::Result<Value> {
    anyhow::ensure!(b.batch >= 1, "--batch must be at least 1");
    let lines = crate::bench::read_lines(&b.events)?;
    let available = lines.len() / b.batch;
    anyhow::ensure!(
        available > b.warmup,
        "{} holds {} requests of {} events: fewer than --warmup {} + 1",
        b.events.display(),
        available,
        b.batch,
        b.warmup
    );
    let measured = b
        .requests
        .unwrap_or(available - b.warmup)
        .min(available - b.warmup);
    let key = admin_key(&b.data_dir).await?;
    let run = chrono::Utc::now().timestamp_millis();

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (answers_tx, mut answers_rx) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi {
        next: Mutex::new(events_rx),
        answers: answers_tx,
    });
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut child = tokio::process::Command::new(&b.bootstrap)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("HELIOS_DATA_DIR", &b.data_dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", b.bootstrap.display()))?;
    let pid = child.id().context("the function exited at once")?;

    let mut requests: VecDeque<(usize, String)> = VecDeque::new();
    for (n, chunk) in lines.chunks(b.batch).take(b.warmup + measured).enumerate() {
        let mut events = Vec::with_capacity(chunk.len());
        for (i, l) in chunk.iter().enumerate() {
            let mut e: Value = serde_json::from_str(l).with_context(|| {
                format!(
                    "{} line {}: not JSON",
                    b.events.display(),
                    n * b.batch + i + 1
                )
            })?;
            anyhow::ensure!(
                e.is_object(),
                "{} line {}: not a JSON object",
                b.events.display(),
                n * b.batch + i + 1
            );
            let id = e["id"].as_str().unwrap_or("e").to_string();
            e["id"] = Value::String(format!("{id}-{run}-{n}-{i}"));
            events.push(e);
        }
        let body = if b.batch == 1 {
            events[0].to_string()
        } else {
            json!({ "events": events }).to_string()
        };
        requests.push_back((n, body));
    }

    let mut latencies = Vec::with_capacity(measured);
    let mut cpu_at_start = None;
    let started_all = Instant::now();
    let mut measured_from = started_all;
    while let Some((n, body)) = requests.pop_front() {
        if n == b.warmup {
            cpu_at_start = Some(cpu_seconds(pid)?);
            measured_from = Instant::now();
        }
        let id = format!("inv-{n}");
        let t = Instant::now();
        events_tx
            .send((id.clone(), api_request(&body, &key, n)))
            .map_err(|_| anyhow::anyhow!("the runtime API stand-in stopped"))?;
        let answer = tokio::time::timeout(Duration::from_secs(30), answers_rx.recv())
            .await
            .map_err(|_| anyhow::anyhow!("invocation {n}: no answer within 30 s"))?
            .context("the runtime API stand-in stopped")?;
        anyhow::ensure!(answer.0 == id, "answer for {} while {id} ran", answer.0);
        let answer = answer
            .1
            .map_err(|e| anyhow::anyhow!("invocation {n} failed: {e}"))?;
        anyhow::ensure!(
            answer["statusCode"] == 202,
            "invocation {n} answered {}: {}",
            answer["statusCode"],
            answer["body"]
        );
        if n >= b.warmup {
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let elapsed = measured_from.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu_at_start.unwrap_or(0.0);
    let _ = child.kill().await;
    server.abort();

    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let events = (measured * b.batch) as f64;
    Ok(json!({
        "bootstrap": b.bootstrap.display().to_string(),
        "requests": measured,
        "events": measured * b.batch,
        "batch": b.batch,
        "cpu_ms_per_event": cpu * 1000.0 / events,
        "cpu_ms_per_request": cpu * 1000.0 / measured as f64,
        "cpu_seconds": cpu,
        "seconds": elapsed,
        "invocation_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
    }))
}
