//! `helios schemas diff|check` over schema files (issue 17): how two versions of a JSON Schema
//! differ, and whether a new version may follow the earlier ones under a compatibility mode,
//! checked without registering anything. Each prints JSON; `check` exits 1 when the new
//! version breaks the mode, listing every breaking change with its JSON pointer.
//!
//! `helios schemas infer --source S --type T`: the schema of the `data` of the events of that
//! source and type already stored, read through the API (`GET /v1/events`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use helios_schemas::Mode;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct SchemasArgs {
    #[command(subcommand)]
    pub command: SchemasCommand,
}

#[derive(Subcommand, Debug)]
pub enum SchemasCommand {
    /// Every difference between two versions, each narrowed, widened or changed, with its
    /// JSON pointer.
    Diff {
        /// The earlier version (a JSON Schema file).
        old: PathBuf,
        /// The later version.
        new: PathBuf,
    },
    /// Whether NEW may follow the earlier versions under a compatibility mode (exit 0), or
    /// every change that breaks it (exit 1).
    Check {
        /// BACKWARD (the default, as in Confluent's registry), BACKWARD_TRANSITIVE, FORWARD,
        /// FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE.
        #[arg(long, default_value = "BACKWARD")]
        mode: String,
        /// An earlier version; give each, oldest first. The plain modes check against the
        /// last, the transitive ones against all.
        #[arg(long = "against", required = true)]
        against: Vec<PathBuf>,
        /// The new version.
        new: PathBuf,
    },
    /// The schema of the `data` of the stored events of one source and type, inferred from
    /// the newest of them (read through the API).
    Infer {
        #[arg(long)]
        source: String,
        #[arg(long = "type")]
        event_type: String,
        /// How many of the newest events to read.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1000))]
        samples: u32,
        #[command(flatten)]
        client: crate::ClientArgs,
    },
}

fn read_schema(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if !(v.is_object() || v.is_boolean()) {
        anyhow::bail!(
            "{} is not a JSON Schema: a schema is an object or a boolean",
            path.display()
        );
    }
    Ok(v)
}

pub async fn run(args: SchemasArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SchemasCommand::Infer {
            source,
            event_type,
            samples,
            client,
        } => infer(&source, &event_type, samples, &client).await,
        SchemasCommand::Diff { old, new } => {
            let changes = helios_schemas::diff(&read_schema(&old)?, &read_schema(&new)?);
            println!("{}", json!({ "changes": changes }));
            Ok(ExitCode::SUCCESS)
        }
        SchemasCommand::Check { mode, against, new } => {
            let mode: Mode = mode.parse()?;
            let versions = against
                .iter()
                .map(|p| read_schema(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let new = read_schema(&new)?;
            match helios_schemas::check(mode, &versions, &new) {
                Ok(()) => {
                    println!("{}", json!({"compatible": true, "mode": mode}));
                    Ok(ExitCode::SUCCESS)
                }
                Err(breaking) => {
                    println!(
                        "{}",
                        json!({"compatible": false, "mode": mode, "breaking": breaking})
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

async fn infer(
    source: &str,
    event_type: &str,
    samples: u32,
    client: &crate::ClientArgs,
) -> anyhow::Result<ExitCode> {
    let key = crate::send::api_key(client.api_key.clone(), &client.data_dir)
        .context("no API key: pass --api-key, set HELIOS_API_KEY, or run helios dev here")?;
    let base = client.endpoint.trim_end_matches('/');
    let url = format!(
        "{base}/v1/events?source={}&type={}&order=newest&limit={samples}",
        urlencoding::encode(source),
        urlencoding::encode(event_type)
    );
    let resp = reqwest::Client::new()
        .get(&url)
        .header("x-api-key", &key)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let list: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!(
            "{url}: {status}: {}",
            list["detail"].as_str().unwrap_or("the request failed")
        );
    }
    let data: Vec<Value> = list["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("data").cloned())
        .collect();
    if data.is_empty() {
        eprintln!("no stored event has source {source:?} and type {event_type:?}");
        return Ok(ExitCode::from(1));
    }
    let schema = helios_schemas::infer(&data);
    println!(
        "{}",
        json!({"source": source, "type": event_type, "samples": data.len(), "schema": schema})
    );
    Ok(ExitCode::SUCCESS)
}
