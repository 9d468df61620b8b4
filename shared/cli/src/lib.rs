//! The `helios` command: `dev` runs Helios on one machine, `send` posts events to a running
//! Helios (local or deployed), `keys` manages API keys, `bench` measures ingestion and matching, `patterns` and `rules` check and try event
//! patterns and rule sets, `analytics` queries the Parquet archive.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub mod analytics;
pub mod bench;
pub mod dashboard;
pub mod demo;
pub mod dev;
pub mod executions;
pub mod explain;
pub mod keys;
pub mod lambda_warm;
pub mod patterns;
pub mod redrive;
pub mod replay;
pub mod rules;
pub mod schemas;
pub mod send;
pub mod serve;
pub mod simulate;
pub mod states;
pub mod tune;

#[derive(Parser, Debug)]
#[command(
    name = "helios",
    version,
    about = "Helios: signals in, facts recorded, decisions explained"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run all of Helios on this machine, with embedded defaults.
    Dev(dev::DevArgs),
    /// `helios dev` on a fresh data folder with simulated traffic, and the dashboard's address.
    Demo(demo::DemoArgs),
    /// Send realistic traffic in every format to a Helios, at a chosen rate.
    Simulate(simulate::SimulateArgs),
    /// Send events (a file or stdin, any supported format, or a sample of events/).
    Send(send::SendArgs),
    /// Manage API keys.
    Keys(keys::KeysArgs),
    /// Measure a running Helios.
    Bench(bench::BenchArgs),
    /// Event patterns (EventBridge semantics).
    Patterns(patterns::PatternsArgs),
    /// Rule sets: check them, decide an event with them, run their tests.
    Rules(rules::RulesArgs),
    /// State machines (Amazon States Language): validate them, run them.
    States(states::StatesArgs),
    /// Data contracts: how two versions of a JSON Schema differ, and whether one may follow
    /// others under a compatibility mode.
    Schemas(schemas::SchemasArgs),
    /// The workflow executions of `helios dev`: list them, show one, watch them.
    Executions(executions::ExecutionsArgs),
    /// Why a decision was made: its rules, near misses, actions and outcomes, in words.
    Explain(explain::ExplainArgs),
    /// Move a queue's dead letters back to it (after fixing what made them fail).
    Redrive(redrive::RedriveArgs),
    /// Publish the recorded facts of a time range again (decisions stay as they were unless
    /// `--redecide`).
    Replay(replay::ReplayArgs),
    /// SQL over the Parquet archive (`<data>/archive`), and the saved queries by name: the
    /// same queries Athena runs in AWS.
    Analytics(analytics::AnalyticsArgs),
}

/// How a command reaches a running Helios over HTTP.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Where Helios runs.
    #[arg(long, env = "HELIOS_ENDPOINT", default_value = "http://127.0.0.1:8787")]
    pub endpoint: String,
    /// The API key (default: `HELIOS_API_KEY`, then the key `helios dev` kept in the data folder).
    #[arg(long, env = "HELIOS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The data folder of `helios dev`, for its admin key (and, for `send`, its hook secrets).
    #[arg(long, default_value = ".helios", env = "HELIOS_DATA_DIR")]
    pub data_dir: PathBuf,
}

impl ClientArgs {
    /// GETs `path` (with its query) of the API with this client's key. A failure's status and
    /// detail are printed, and the answer is `None` (the command exits 1).
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Option<serde_json::Value>> {
        use anyhow::Context as _;
        let key = send::api_key(self.api_key.clone(), &self.data_dir)
            .context("no API key: pass --api-key, set HELIOS_API_KEY, or run helios dev here")?;
        let url = format!("{}{path}", self.endpoint.trim_end_matches('/'));
        let resp = reqwest::Client::new()
            .get(&url)
            .header("x-api-key", key)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            eprintln!(
                "{}: {}",
                status,
                body["detail"].as_str().unwrap_or("the request failed")
            );
            return Ok(None);
        }
        Ok(Some(body))
    }
}

/// Where the local state is: the data folder, and PostgreSQL instead of the embedded store.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The data folder of `helios dev`.
    #[arg(
        long,
        default_value = ".helios",
        env = "HELIOS_DATA_DIR",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Use PostgreSQL (`postgres://user:password@host:port/db`) instead of the embedded store.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    pub fn local_options(&self) -> helios_runtime::LocalOptions {
        helios_runtime::LocalOptions {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dev(a) => dev::run(a).await.map(|_| ExitCode::SUCCESS),
        Command::Demo(a) => demo::run(a).await,
        Command::Simulate(a) => simulate::run(a).await,
        Command::Send(a) => send::run(a).await,
        Command::Keys(a) => keys::run(a).await.map(|_| ExitCode::SUCCESS),
        Command::Bench(a) => bench::run(a).await.map(|_| ExitCode::SUCCESS),
        Command::Patterns(a) => patterns::run(a).map(|_| ExitCode::SUCCESS),
        Command::Rules(rules::RulesArgs {
            command: rules::RulesCommand::Tune(a),
        }) => tune::run(a).await,
        Command::Rules(a) => rules::run(a),
        Command::States(a) => states::run(a),
        Command::Schemas(a) => schemas::run(a).await,
        Command::Executions(a) => executions::run(a).await,
        Command::Explain(a) => explain::run(a).await,
        Command::Redrive(a) => redrive::run(a).await,
        Command::Replay(a) => replay::run(a).await,
        Command::Analytics(a) => analytics::run(a).await,
    }
}
