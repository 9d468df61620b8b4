//! `helios bench ingest`: posts events read from a JSON-lines file (the workloads of
//! `shared/bench/gen.py`, or any) to a running Helios and reports throughput and latency.
//!
//! Closed loop (`--concurrency`, each worker sends its next request when the last one is
//! answered) measures throughput; open loop (`--rate`, requests start on a fixed schedule
//! whatever the answers) measures latency at a given load, counted from when each request
//! was due, so a slow server cannot hide its queueing (no coordinated omission).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// POST events to /v1/events.
    Ingest(IngestBench),
    /// Match events against compiled patterns, in this process, on one thread.
    Patterns(PatternsBench),
    /// Decide events with a rule set (evaluation with its trace), on one thread.
    Rules(RulesBench),
    /// Run a state machine on inputs in virtual time, on one thread.
    States(StatesBench),
    /// Check events' data against one schema per source and type, as ingest does (every
    /// violation and what drifted), on one thread.
    Schemas(SchemasBench),
    /// Write events as the archive's Parquet files (grouped by partition, Arrow arrays,
    /// Snappy pages), in memory, on one thread.
    Archive(ArchiveBench),
    /// Archive events (and a decision and outcomes for each) into a folder, then time each
    /// saved query of `helios analytics` over it with the embedded engine.
    Analytics(AnalyticsBench),
    /// Time a Lambda bootstrap from process start to its first request for an event, against
    /// a stand-in of the Lambda runtime API on 127.0.0.1.
    LambdaInit(LambdaInitBench),
    /// A function's own CPU per event once warm: its bootstrap, beside a local data folder,
    /// handed one API Gateway request per line against a stand-in of the runtime API.
    LambdaWarm(crate::lambda_warm::LambdaWarmBench),
}

#[derive(Args, Debug)]
pub struct ArchiveBench {
    /// JSON lines of native events (`{"id", "source", "type", "time", "data", …}`), turned
    /// into facts before timing.
    #[arg(long)]
    pub events: PathBuf,
    /// Facts per run of the archiver (each run writes one file per partition).
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// Times through the events.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

#[derive(Args, Debug)]
pub struct AnalyticsBench {
    /// JSON lines of native events, archived as facts (`--copies` times).
    #[arg(long)]
    pub events: PathBuf,
    /// Times the events are archived (1,000,000 facts from 20,000 events: 50).
    #[arg(long, default_value_t = 1)]
    pub copies: usize,
    /// Runs of each saved query (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// The folder to archive into (default: a temporary one, removed after).
    #[arg(long)]
    pub archive: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LambdaInitBench {
    /// The function's executable (`target/lambda/<fn>/bootstrap`).
    #[arg(long)]
    pub bootstrap: PathBuf,
    /// Environment of the function, `NAME=VALUE`, repeatable (what terraform sets).
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// Starts to time.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
}

#[derive(Args, Debug)]
pub struct SchemasBench {
    /// JSON lines of canonical events (parsed before timing: ingest has parsed them).
    #[arg(long)]
    pub events: PathBuf,
    /// A folder of schema files (`helios schemas lint`); the newest version of each subject
    /// is checked against. Without it, a schema is inferred per source and type from the
    /// events themselves (so every event fits, and every one is checked all the way).
    #[arg(long)]
    pub schemas: Option<PathBuf>,
    /// Write the schema files used (inferred or read) to this folder, with this policy, for
    /// `helios schemas apply` (the ingest benchmark with enforcement).
    #[arg(long)]
    pub write: Option<PathBuf>,
    #[arg(long, default_value = "enforce")]
    pub policy: String,
    /// Pass over the events at least this many seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
}

#[derive(Args, Debug)]
pub struct StatesBench {
    /// The definition (JSON).
    #[arg(long)]
    pub definition: PathBuf,
    /// JSON lines: one execution per line (each line is parsed as part of the measurement).
    #[arg(long)]
    pub inputs: PathBuf,
    /// One execution whose input is the array of the first `--items` lines instead (for a Map).
    #[arg(long)]
    pub as_array: bool,
    /// With `--as-array`: how many lines make the array (default: all).
    #[arg(long)]
    pub items: Option<usize>,
    /// Keep each execution's history, as `helios states run --history` does.
    #[arg(long)]
    pub history: bool,
    /// Run executions at least this many seconds.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
}

#[derive(Args, Debug)]
pub struct RulesBench {
    /// JSON lines of events (canonical; a missing `helios_id` is filled in before timing).
    /// Each line is parsed as part of the measurement.
    #[arg(long)]
    pub events: PathBuf,
    /// A rule set to decide with.
    #[arg(long, conflicts_with = "patterns")]
    pub rules: Option<PathBuf>,
    /// Or JSON lines of patterns: the first `--count` become rules with a condition, a score
    /// addition, a templated action and explanation; one in ten has a window, one in five a
    /// dedupe key.
    #[arg(long, required_unless_present = "rules")]
    pub patterns: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// Pass over the events at least this many seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
}

#[derive(Args, Debug)]
pub struct PatternsBench {
    /// JSON lines of events (each line is parsed as part of the measurement).
    #[arg(long)]
    pub events: PathBuf,
    /// JSON lines of EventBridge patterns.
    #[arg(long)]
    pub patterns: PathBuf,
    /// How many of the patterns to compile (the first N); repeat for several sizes.
    #[arg(long = "count", default_values_t = [10usize, 1000, 10000])]
    pub counts: Vec<usize>,
    /// Pass over the events at least this many seconds per size.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
}

#[derive(Args, Debug)]
pub struct IngestBench {
    /// JSON lines of native events.
    #[arg(long)]
    pub events: PathBuf,
    /// Events per request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Requests to send (default: enough for every event of the file once).
    #[arg(long)]
    pub requests: Option<usize>,
    /// Closed loop with this many workers.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Open loop at this many requests per second instead.
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long, env = "HELIOS_ENDPOINT", default_value = "http://127.0.0.1:8787")]
    pub endpoint: String,
    #[arg(long, env = "HELIOS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    #[arg(long, default_value = ".helios", env = "HELIOS_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Then wait until every accepted event has a stored decision (read from the store of
    /// `--data-dir`, or `--database-url`), and report decisions/s from the first POST and the
    /// time from each event's 202 to its stored decision.
    #[arg(long)]
    pub decided: bool,
    /// With `--decided`: give up waiting after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub decided_timeout: u64,
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Ingest(b) => {
            let report = ingest(&b).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::Patterns(b) => {
            let report = patterns(&b)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::Rules(b) => {
            let report = rules(&b)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::Schemas(b) => {
            let report = schemas(&b)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::States(b) => {
            let report = states(&b)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::Archive(b) => {
            let report = archive(&b)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::Analytics(b) => {
            let report = analytics(&b).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::LambdaInit(b) => {
            let report = lambda_init(&b).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        BenchCommand::LambdaWarm(b) => {
            let report = crate::lambda_warm::run(&b).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}

fn schemas(b: &SchemasBench) -> anyhow::Result<Value> {
    use std::collections::BTreeMap;
    let lines = read_lines(&b.events)?;
    anyhow::ensure!(!lines.is_empty(), "{} holds no event", b.events.display());
    let events: Vec<(String, String, Value)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut e: Value = serde_json::from_str(l)
                .with_context(|| format!("{} line {}: not JSON", b.events.display(), i + 1))?;
            let field = |name: &str| {
                e[name]
                    .as_str()
                    .map(str::to_string)
                    .with_context(|| format!("{} line {}: no `{name}`", b.events.display(), i + 1))
            };
            Ok((field("source")?, field("type")?, e["data"].take()))
        })
        .collect::<anyhow::Result<_>>()?;
    let schemas: BTreeMap<(String, String), Value> = match &b.schemas {
        Some(dir) => {
            let files = crate::schemas::read_dir(dir)?;
            let problems = crate::schemas::lint(&files);
            anyhow::ensure!(
                problems.is_empty(),
                "{}: {}",
                dir.display(),
                problems.join("; ")
            );
            files
                .into_iter()
                .filter_map(|(_, f)| {
                    let latest = f.versions.last()?.clone();
                    Some(((f.source, f.event_type), latest))
                })
                .collect()
        }
        None => {
            let mut by_subject: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
            for (source, ty, data) in &events {
                by_subject
                    .entry((source.clone(), ty.clone()))
                    .or_default()
                    .push(data.clone());
            }
            by_subject
                .into_iter()
                .map(|(k, samples)| (k, helios_schemas::infer(&samples)))
                .collect()
        }
    };
    if let Some(dir) = &b.write {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (i, ((source, ty), schema)) in schemas.iter().enumerate() {
            let file = json!({"source": source, "type": ty, "mode": "BACKWARD", "policy": b.policy, "versions": [schema]});
            let path = dir.join(format!("{:03}.json", i + 1));
            std::fs::write(&path, serde_json::to_vec_pretty(&file)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    // Compiled once per version, as ingest does.
    let t = Instant::now();
    let compiled: BTreeMap<&(String, String), helios_schemas::Validator> = schemas
        .iter()
        .map(|(k, s)| Ok((k, helios_schemas::Validator::compile(s)?)))
        .collect::<Result<_, helios_schemas::InvalidSchema>>()?;
    let compile_s = t.elapsed().as_secs_f64();
    let subjects: Vec<Option<&helios_schemas::Validator>> = events
        .iter()
        .map(|(source, ty, _)| compiled.get(&(source.clone(), ty.clone())))
        .collect();
    let (mut checked, mut invalid, mut drifted, mut unchecked) = (0u64, 0u64, 0u64, 0u64);
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < b.seconds {
        for ((_, _, data), v) in events.iter().zip(&subjects) {
            let Some(v) = v else {
                unchecked += 1;
                continue;
            };
            let found = v.check(data, helios_app::registry::MAX_VIOLATIONS);
            checked += 1;
            invalid += u64::from(!found.valid);
            drifted += u64::from(!found.drift.is_empty());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(json!({
        "events": b.events.display().to_string(),
        "subjects": schemas.len(),
        "schemas": b.schemas.as_ref().map_or("inferred from the events".to_string(), |d| d.display().to_string()),
        "compile_ms_per_schema": (compile_s * 1e3 / schemas.len().max(1) as f64 * 1e3).round() / 1e3,
        "checked": checked,
        "invalid": invalid,
        "drifted": drifted,
        "without_schema": unchecked,
        "seconds": secs,
        "events_per_s": ((checked + unchecked) as f64 / secs).round(),
    }))
}

fn states(b: &StatesBench) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(&b.definition)
        .with_context(|| format!("reading {}", b.definition.display()))?;
    let def = helios_states::Definition::from_text(&text).map_err(|e| {
        anyhow::anyhow!("{} is not a valid definition: {e}", b.definition.display())
    })?;
    let mut lines = read_lines(&b.inputs)?;
    anyhow::ensure!(!lines.is_empty(), "{} has no lines", b.inputs.display());
    if b.as_array {
        let n = b.items.unwrap_or(lines.len()).min(lines.len());
        lines = vec![format!("[{}]", lines[..n].join(","))];
    }
    let opts = helios_states::Options {
        history: b.history,
        ..Default::default()
    };
    let (mut executions, mut transitions, mut failed) = (0u64, 0u64, 0u64);
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    'outer: loop {
        for (i, line) in lines.iter().enumerate() {
            let t = Instant::now();
            let input: Value = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not JSON", b.inputs.display(), i + 1))?;
            let host = helios_states::local::LocalHost::new(1_767_225_600_000, i as u64);
            let outcome = host.run(&def.machine, input, &opts);
            slowest = slowest.max(t.elapsed());
            executions += 1;
            transitions += outcome.transitions;
            failed += u64::from(outcome.status != helios_states::Status::Succeeded);
            if started.elapsed().as_secs_f64() >= b.seconds {
                break 'outer;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "definition": b.definition.display().to_string(),
        "executions": executions,
        "failed": failed,
        "transitions": transitions,
        "seconds": secs,
        "transitions_per_s": (transitions as f64 / secs).round(),
        "executions_per_s": (executions as f64 / secs * 10.0).round() / 10.0,
        "mean_execution_ms": secs * 1000.0 / executions as f64,
        "slowest_execution_ms": slowest.as_secs_f64() * 1000.0,
    }))
}

async fn ingest(b: &IngestBench) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(&b.events)
        .with_context(|| format!("reading {}", b.events.display()))?;
    let events: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}", i + 1)))
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(!events.is_empty(), "{} holds no event", b.events.display());
    anyhow::ensure!(b.batch >= 1, "--batch must be at least 1");
    let key = b
        .api_key
        .clone()
        .or_else(|| {
            std::fs::read_to_string(b.data_dir.join(crate::dev::ADMIN_KEY_FILE))
                .ok()
                .map(|s| s.trim().to_string())
        })
        .context("no API key: pass --api-key or set HELIOS_API_KEY")?;
    let n_requests = b.requests.unwrap_or(events.len().div_ceil(b.batch));
    // Each run gets ids of its own, so that every event is new to the server.
    let run = format!("{:x}", chrono::Utc::now().timestamp_micros());
    let bodies: Vec<Vec<u8>> = (0..n_requests)
        .map(|r| {
            let batch: Vec<Value> = (0..b.batch)
                .map(|j| {
                    let i = r * b.batch + j;
                    let mut e = events[i % events.len()].clone();
                    let id = e["id"].as_str().unwrap_or("e").to_string();
                    e["id"] = Value::String(format!("{id}-{run}-{i}"));
                    e
                })
                .collect();
            if b.batch == 1 {
                serde_json::to_vec(&batch[0])
            } else {
                serde_json::to_vec(&json!({ "events": batch }))
            }
        })
        .collect::<Result<_, _>>()?;
    let bodies = Arc::new(bodies);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!("{}/v1/events", b.endpoint.trim_end_matches('/'));

    let started = Instant::now();
    let first_post = chrono::Utc::now();
    let mut handles = Vec::new();
    match b.rate {
        Some(rate) => {
            anyhow::ensure!(rate > 0.0, "--rate must be positive");
            for i in 0..n_requests {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let (client, url, key, bodies) =
                    (client.clone(), url.clone(), key.clone(), bodies.clone());
                handles.push(tokio::spawn(async move {
                    let (status, ids) = post(&client, &url, &key, bodies[i].clone()).await;
                    vec![(status, due.elapsed(), ids, chrono::Utc::now())]
                }));
            }
        }
        None => {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for _ in 0..b.concurrency.max(1) {
                let (client, url, key, bodies, next) = (
                    client.clone(),
                    url.clone(),
                    key.clone(),
                    bodies.clone(),
                    next.clone(),
                );
                handles.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= bodies.len() {
                            break;
                        }
                        let t = Instant::now();
                        let (status, ids) = post(&client, &url, &key, bodies[i].clone()).await;
                        out.push((status, t.elapsed(), ids, chrono::Utc::now()));
                    }
                    out
                }));
            }
        }
    }
    let mut results = Vec::new();
    for h in handles {
        results.extend(h.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for (s, ..) in &results {
        *statuses.entry(s.to_string()).or_default() += 1;
    }
    let mut lat: Vec<f64> = results
        .iter()
        .map(|(_, d, ..)| d.as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(f64::total_cmp);
    let accepted = results.iter().filter(|(s, ..)| *s == 202).count() * b.batch;
    let decided = if b.decided {
        let acked: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> = results
            .iter()
            .filter(|(s, ..)| *s == 202)
            .flat_map(|(_, _, ids, at)| ids.iter().map(move |id| (id.clone(), *at)))
            .collect();
        Some(decided(b, acked, first_post, elapsed).await?)
    } else {
        None
    };
    Ok(json!({
        "decided": decided,
        "mode": if b.rate.is_some() { "open loop" } else { "closed loop" },
        "requests": results.len(),
        "batch": b.batch,
        "concurrency": if b.rate.is_some() { Value::Null } else { json!(b.concurrency) },
        "rate_target": b.rate,
        "statuses": statuses,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "requests_per_s": (results.len() as f64 / elapsed).round(),
        "events_accepted_per_s": (accepted as f64 / elapsed).round(),
        "latency_ms": percentiles(&lat),
    }))
}

/// p50, p90, p99 and max of sorted milliseconds.
fn percentiles(sorted: &[f64]) -> Value {
    let pct = |p: f64| {
        let i = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
        sorted
            .get(i.min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    json!({"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)})
}

/// Waits until every acknowledged event has a decision in the store; reports the rate from
/// the first POST and, per event, the time from its 202 to its stored decision.
async fn decided(
    b: &IngestBench,
    acked: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>,
    first_post: chrono::DateTime<chrono::Utc>,
    post_s: f64,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        !acked.is_empty(),
        "no event was accepted, so none can be decided"
    );
    let store = helios_runtime::Deployment::open_store(&helios_runtime::LocalOptions {
        data_dir: b.data_dir.clone(),
        database_url: b.database_url.clone(),
    })
    .await?;
    let mut waits: Vec<f64> = Vec::with_capacity(acked.len());
    let mut seen = std::collections::HashSet::new();
    let mut last = first_post;
    let give_up = Instant::now() + Duration::from_secs(b.decided_timeout);
    // Each round reads on from where the round before the last began, not from the last
    // decision seen: on PostgreSQL, concurrent transactions commit out of `seq` order, so a
    // decision can appear below a cursor that has already gone past it (a second is far
    // longer than such an insert stays uncommitted). Every tenth round reads everything since
    // the first POST again, so that none is missed for good; reading it all every round would
    // take the cores (and, on the embedded store, hold its checkpoints back) from the server.
    let mut cursors: [Option<i64>; 2] = [None, None];
    for round in 0usize.. {
        let mut after = if round % 10 == 9 { None } else { cursors[0] };
        cursors[0] = cursors[1];
        loop {
            let page = store
                .list_decisions(&helios_store::DecisionQuery {
                    since: Some(first_post - chrono::Duration::seconds(1)),
                    after,
                    limit: 1000,
                    ..Default::default()
                })
                .await?;
            for d in &page.decisions {
                if let Some(at) = acked.get(&d.decision.event_id) {
                    if seen.insert(d.decision.event_id.clone()) {
                        waits.push(
                            (d.decision.decided_at - *at)
                                .num_microseconds()
                                .unwrap_or(0) as f64
                                / 1000.0,
                        );
                        last = last.max(d.decision.decided_at);
                    }
                }
            }
            if let Some(d) = page.decisions.last() {
                cursors[1] = cursors[1].max(Some(d.seq));
            }
            match (page.next, page.decisions.last()) {
                (Some(_), Some(d)) => after = Some(d.seq),
                _ => break,
            }
        }
        if seen.len() >= acked.len() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < give_up,
            "{} of {} events decided after {} s",
            seen.len(),
            acked.len(),
            b.decided_timeout
        );
        // The times come from the store, so polling seldom costs no accuracy and leaves
        // the cores to the server.
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    waits.sort_by(f64::total_cmp);
    let span = (last - first_post).num_milliseconds() as f64 / 1000.0;
    Ok(json!({
        "events": acked.len(),
        "seconds_to_last_decision": span,
        "posting_s": post_s,
        "decisions_per_s": (acked.len() as f64 / span).round(),
        "ack_to_decision_ms": percentiles(&waits),
    }))
}

/// POSTs one request; its status and the Helios ids it answered with.
async fn post(client: &reqwest::Client, url: &str, key: &str, body: Vec<u8>) -> (u16, Vec<String>) {
    match client
        .post(url)
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let s = r.status().as_u16();
            let ids = r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| {
                    v["events"].as_array().map(|a| {
                        a.iter()
                            .filter(|e| e["status"] == "accepted")
                            .filter_map(|e| e["id"].as_str().map(String::from))
                            .collect()
                    })
                })
                .unwrap_or_default();
            (s, ids)
        }
        Err(_) => (0, Vec::new()),
    }
}

/// Starts the bootstrap `runs` times; each time, the time from spawning it to its first
/// `GET …/runtime/invocation/next` on the stand-in runtime API, which is its init.
async fn lambda_init(b: &LambdaInitBench) -> anyhow::Result<Value> {
    use tokio::io::AsyncReadExt as _;
    anyhow::ensure!(b.runs >= 1, "--runs must be at least 1");
    let mut env = Vec::new();
    for e in &b.env {
        let (k, v) = e
            .split_once('=')
            .with_context(|| format!("--env {e}: write NAME=VALUE"))?;
        env.push((k.to_string(), v.to_string()));
    }
    let mut times = Vec::with_capacity(b.runs);
    for _ in 0..b.runs {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&b.bootstrap)
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_REGION", "us-east-1")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", b.bootstrap.display()))?;
        let first = tokio::time::timeout(Duration::from_secs(10), async {
            let (mut conn, _) = listener.accept().await?;
            let mut buf = vec![0u8; 1024];
            let n = conn.read(&mut buf).await?;
            Ok::<_, std::io::Error>((
                started.elapsed(),
                String::from_utf8_lossy(&buf[..n]).to_string(),
            ))
        })
        .await;
        let _ = child.kill().await;
        let (elapsed, request) = match first {
            Ok(Ok(x)) => x,
            _ => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err).await;
                }
                anyhow::bail!(
                    "{} did not ask for an event within 10 s: {}",
                    b.bootstrap.display(),
                    err.trim()
                );
            }
        };
        anyhow::ensure!(
            request.starts_with("GET /2018-06-01/runtime/invocation/next"),
            "the first request was not for an event: {}",
            request.lines().next().unwrap_or_default()
        );
        times.push(elapsed.as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(json!({
        "bootstrap": b.bootstrap.display().to_string(),
        "size_bytes": std::fs::metadata(&b.bootstrap).map(|m| m.len()).ok(),
        "runs": times.len(),
        "init_ms": {"min": times[0], "median": times[times.len() / 2], "max": times[times.len() - 1]},
    }))
}

fn archive(b: &ArchiveBench) -> anyhow::Result<Value> {
    use helios_ports::store::Fact;
    anyhow::ensure!(b.batch > 0, "--batch must be at least 1");
    let facts = facts_of(&b.events, chrono::Utc::now())?;
    let mut bytes = 0usize;
    let mut files = 0usize;
    let started = std::time::Instant::now();
    for _ in 0..b.repeat {
        for run in facts.chunks(b.batch) {
            let mut groups: std::collections::BTreeMap<_, Vec<&Fact>> = Default::default();
            for f in run {
                groups
                    .entry(helios_archive::partition(f))
                    .or_default()
                    .push(f);
            }
            for rows in groups.values() {
                let file = helios_archive::to_parquet(&helios_archive::facts_batch(rows)?)?;
                bytes += file.len();
                files += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = facts.len() * b.repeat;
    Ok(json!({
        "facts": n,
        "files": files,
        "parquet_bytes": bytes,
        "bytes_per_fact": bytes as f64 / n as f64,
        "seconds": elapsed,
        "facts_per_s": (n as f64 / elapsed).round(),
    }))
}

/// The events of a JSON-lines file of native events as facts received at `at`, numbered
/// from 1.
fn facts_of(
    path: &PathBuf,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<helios_ports::store::Fact>> {
    use helios_ports::store::{Fact, RawRef};
    let lines = read_lines(path)?;
    anyhow::ensure!(!lines.is_empty(), "{} holds no event", path.display());
    let secrets = helios_events::SourceSecrets::default();
    let limits = helios_events::Limits::default();
    let ctx = helios_events::Context {
        received_at: at,
        secrets: &secrets,
        limits: &limits,
    };
    let mut facts = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("line {} is not JSON", i + 1))?;
        let event = helios_events::native_event(&value, &ctx)
            .map_err(|e| anyhow::anyhow!("line {} is not a native event: {e}", i + 1))?;
        facts.push(Fact {
            seq: i as i64 + 1,
            event,
            raw: RawRef {
                key: String::new(),
                index: 0,
            },
        });
    }
    Ok(facts)
}

/// A decision of fact `f` (the `n`th): rule `rule-{n % 7}` fires in two of three, the others
/// are a near miss of it; and the outcomes of one that fired (advice, then an acknowledgement
/// or an escalation), numbered from `outcome_seq + 1`.
fn bench_decision(
    f: &helios_ports::store::Fact,
    n: i64,
    outcome_seq: i64,
) -> (
    helios_ports::store::StoredDecision,
    Vec<(i64, helios_ports::store::Outcome)>,
) {
    use helios_ports::store::{NewDecision, Outcome, StoredDecision};
    let fires = n % 3 != 0;
    let rule = format!("rule-{}", n % 7);
    let decided_at = f.event.received_at + chrono::Duration::milliseconds(n % 500);
    let id = format!("dec_{n:012}");
    let near = json!([{"rule": rule, "outcome": "near_miss", "because": "one check",
        "checks": [{"kind": "where", "field": "data.state", "op": "==", "wanted": "failed",
                    "found": "passed", "held": false}]}]);
    let decision = StoredDecision {
        seq: n,
        decision: NewDecision {
            id: id.clone(),
            event_id: f.event.helios_id.clone(),
            ruleset: "bench@1".into(),
            ruleset_hash: "bench".into(),
            subject: f.event.subject.clone(),
            severity: fires.then(|| "high".into()),
            score: if fires { 60.0 } else { 0.0 },
            rules: if fires { vec![rule.clone()] } else { vec![] },
            decided_at,
            body: if fires {
                json!({"fired": [{"rule": rule, "severity": "high", "score": 60}], "trace": []})
            } else {
                json!({"fired": [], "trace": near})
            },
        },
    };
    let mut outcomes = Vec::new();
    if fires {
        let end = if n % 2 == 0 {
            (
                "acknowledged",
                60_000 + n % 600_000,
                json!({"acked_by": "bench"}),
            )
        } else {
            ("outcome", 900_000, json!({"escalated": {"to": "lead"}}))
        };
        for (i, (kind, after, body)) in [
            ("advice", 1_000, json!({"confidence": 0.5})),
            ("awaiting_ack", 200, json!({"task_token": "t"})),
            end,
        ]
        .into_iter()
        .enumerate()
        {
            outcomes.push((
                outcome_seq + 1 + i as i64,
                Outcome {
                    decision_id: id.clone(),
                    execution: format!("{id}-0"),
                    kind: kind.into(),
                    recorded_at: decided_at + chrono::Duration::milliseconds(after),
                    body,
                },
            ));
        }
    }
    (decision, outcomes)
}

/// Archives `--copies` times the events (a day per copy, up to a week), with one decision
/// per fact and the outcomes of those in which a rule fired ([`bench_decision`]), then times
/// each saved query over the folder.
async fn analytics(b: &AnalyticsBench) -> anyhow::Result<Value> {
    anyhow::ensure!(
        b.copies > 0 && b.runs > 0,
        "--copies and --runs must be at least 1"
    );
    let temp;
    let root = match &b.archive {
        Some(p) => p.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let blobs = helios_local::FileBlobStore::open(&root)?;
    let start = chrono::Utc::now() - chrono::Duration::days(8);
    let (mut facts_n, mut outcomes_n) = (0i64, 0i64);
    let built = std::time::Instant::now();
    for copy in 0..b.copies {
        let at = start + chrono::Duration::days((copy % 7) as i64);
        let mut facts = facts_of(&b.events, at)?;
        let mut decisions = Vec::with_capacity(facts.len());
        let mut outcomes = Vec::new();
        for f in &mut facts {
            facts_n += 1;
            f.seq = facts_n;
            f.event.helios_id = format!("{}-{copy}", f.event.helios_id);
            let (d, o) = bench_decision(f, facts_n, outcomes_n);
            outcomes_n += o.len() as i64;
            decisions.push(d);
            outcomes.extend(o);
        }
        for run in facts.chunks(100_000) {
            let (first, last) = (run[0].seq, run[run.len() - 1].seq);
            helios_archive::write_facts(&blobs, run, first, last).await?;
        }
        for run in decisions.chunks(100_000) {
            let (first, last) = (run[0].seq, run[run.len() - 1].seq);
            helios_archive::write_decisions(&blobs, run, first, last).await?;
        }
        for run in outcomes.chunks(100_000) {
            let (first, last) = (run[0].0, run[run.len() - 1].0);
            helios_archive::write_outcomes(&blobs, run, first, last).await?;
        }
    }
    let build_s = built.elapsed().as_secs_f64();
    let archive = helios_analytics::Archive::open(&root).await?;
    let mut queries = serde_json::Map::new();
    for q in helios_analytics::SAVED {
        let mut times = Vec::with_capacity(b.runs);
        let mut rows = 0;
        for _ in 0..b.runs {
            let t = std::time::Instant::now();
            let batches = archive.query(q.sql).await?;
            times.push(t.elapsed().as_secs_f64());
            rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        times.sort_by(f64::total_cmp);
        queries.insert(
            q.name.into(),
            json!({"seconds": times, "median_s": times[times.len() / 2], "rows": rows}),
        );
    }
    Ok(json!({
        "facts": facts_n,
        "decisions": facts_n,
        "outcomes": outcomes_n,
        "archive_seconds": build_s,
        "queries": queries,
        "load_average": std::fs::read_to_string("/proc/loadavg").ok().map(|l| l.trim().to_string()),
    }))
}

/// The non-empty lines of a JSON-lines file.
pub(crate) fn read_lines(p: &PathBuf) -> anyhow::Result<Vec<String>> {
    Ok(std::fs::read_to_string(p)
        .with_context(|| format!("reading {}", p.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// A rule set of `count` rules around the first `count` patterns of `lines`.
fn synthetic_rules(lines: &[String], count: usize) -> anyhow::Result<helios_rules::RuleSet> {
    anyhow::ensure!(
        count <= lines.len(),
        "--count {count}: the file holds only {} patterns",
        lines.len()
    );
    let mut rules = Vec::with_capacity(count);
    for (i, l) in lines[..count].iter().enumerate() {
        let pattern: Value =
            serde_json::from_str(l).with_context(|| format!("pattern on line {}", i + 1))?;
        let mut rule = json!({
            "id": format!("p{i}"),
            "priority": i % 10,
            "match": pattern,
            "where": [{"field": "time", "gte": "2000-01-01T00:00:00Z"}],
            "score": {"base": 40, "add": [{"when": {"field": "subject", "exists": true}, "points": 20}], "cap": 100},
            "actions": [{"workflow": "decision", "params": {"title": "{{source}} {{type}} on {{subject}}", "channels": ["chat"]}}],
            "explain": "{{type}} from {{source}} matched {{rule.id}}",
        });
        if i % 10 == 0 {
            rule["window"] =
                json!({"aggregate": "count", "over": "1h", "group_by": ["subject"], "at_least": 2});
        }
        if i % 5 == 0 {
            rule["dedupe"] = json!({"key": "{{subject}}", "for": "10m"});
        }
        rules.push(rule);
    }
    let doc = json!({"name": "bench", "version": 1, "rules": rules});
    helios_rules::RuleSet::load(&[helios_rules::SourceFile {
        path: "bench.yaml".into(),
        text: doc.to_string(),
    }])
    .map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn rules(b: &RulesBench) -> anyhow::Result<Value> {
    let t = Instant::now();
    let rs = match (&b.rules, &b.patterns) {
        (Some(dir), _) => helios_runtime::rules::load_rule_set(dir)?,
        (None, Some(p)) => synthetic_rules(&read_lines(p)?, b.count)?,
        (None, None) => anyhow::bail!("give --rules DIR or --patterns FILE"),
    };
    let load_s = t.elapsed().as_secs_f64();
    let mut events = Vec::new();
    for (i, l) in read_lines(&b.events)?.iter().enumerate() {
        let mut v: Value =
            serde_json::from_str(l).with_context(|| format!("event on line {}", i + 1))?;
        if v.get("helios_id").is_none() {
            v["helios_id"] = json!(format!("evt_bench_{i}"));
        }
        events.push(v.to_string());
    }
    anyhow::ensure!(!events.is_empty(), "{} holds no event", b.events.display());
    let inputs = helios_rules::Inputs::default();
    let decide = |line: &str| -> anyhow::Result<helios_rules::Decision> {
        let e: Value = serde_json::from_str(line)?;
        let now = e["time"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .context("an event without an RFC 3339 `time`")?;
        Ok(rs.decide(&e, now, &inputs)?)
    };
    // Two passes: evaluation alone (parse the event, decide with the trace), then the same
    // with the decision written as JSON, as the decide function stores it.
    let mut rates = Vec::new();
    let (mut fired, mut traced, mut bytes, mut written) = (0usize, 0usize, 0usize, 0usize);
    for write in [false, true] {
        let mut done = 0usize;
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < b.seconds {
            for line in &events {
                let d = decide(line)?;
                if write {
                    fired += d.fired.len();
                    traced += d.trace.len();
                    bytes += serde_json::to_vec(&d)?.len();
                    written += 1;
                }
                done += 1;
            }
        }
        rates.push((done as f64 / t.elapsed().as_secs_f64()).round());
    }
    let per = |x: usize| (x as f64 / written.max(1) as f64 * 1000.0).round() / 1000.0;
    Ok(json!({
        "events": events.len(),
        "rules": rs.rules.len(),
        "load_s": (load_s * 1e4).round() / 1e4,
        "threads": 1,
        "decisions_per_s": rates[0],
        "decisions_written_per_s": rates[1],
        "fired_per_decision": per(fired),
        "traced_rules_per_decision": per(traced),
        "decision_bytes": bytes / written.max(1),
        "included": "decisions_per_s: parsing the event's JSON and deciding with the trace; decisions_written_per_s: the same and writing the decision as JSON",
    }))
}

fn patterns(b: &PatternsBench) -> anyhow::Result<Value> {
    use helios_rules::{CompiledPatterns, Pattern, Scratch};
    let events = read_lines(&b.events)?;
    let pattern_lines = read_lines(&b.patterns)?;
    anyhow::ensure!(!events.is_empty(), "{} holds no event", b.events.display());
    let parse = |lines: &[String]| -> anyhow::Result<Vec<Pattern>> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Pattern::from_json(l).map_err(|e| anyhow::anyhow!("pattern on line {}: {e}", i + 1))
            })
            .collect()
    };
    let mut results = Vec::new();
    for &n in &b.counts {
        anyhow::ensure!(
            n <= pattern_lines.len(),
            "--count {n}: the file holds only {} patterns",
            pattern_lines.len()
        );
        // Compiling includes reading the patterns from their JSON text.
        let t = Instant::now();
        let patterns = parse(&pattern_lines[..n])?;
        let compiled = CompiledPatterns::compile(&patterns);
        let compile_s = t.elapsed().as_secs_f64();
        // Every event once, untimed: the number of (event, pattern) matches, to check a run
        // against another engine on the same files.
        let mut scratch = Scratch::default();
        let mut total = 0usize;
        for line in &events {
            total += compiled.matches_json(line, &mut scratch)?.len();
        }
        let mut scratch = Scratch::default();
        let (mut matched, mut done, mut candidates) = (0usize, 0usize, 0usize);
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < b.seconds {
            for line in &events {
                matched += compiled.matches_json(line, &mut scratch)?.len();
                candidates += scratch.candidates();
                done += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        results.push(json!({
            "patterns": n,
            "compile_s": (compile_s * 1e4).round() / 1e4,
            "matches_total": total,
            "events_per_s": (done as f64 / secs).round(),
            "matches_per_event": (matched as f64 / done as f64 * 1000.0).round() / 1000.0,
            "sub_rules_checked_per_event": (candidates as f64 / done as f64 * 10.0).round() / 10.0,
        }));
    }
    Ok(
        json!({"events": events.len(), "threads": 1, "json_reading_included": "each event is read from its JSON text by the matcher, which decodes only the fields patterns mention; compile_s includes reading the patterns from JSON", "matches_total": "matches of the first `patterns` patterns over every event of the file once", "results": results}),
    )
}
