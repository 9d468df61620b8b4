//! `helios executions`: the workflow executions of `helios dev`, running and ended, as the
//! Step Functions console lists them; `helios executions show NAME` prints one with its
//! history; `--watch` prints each change as it happens.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct ExecutionsArgs {
    #[command(subcommand)]
    pub command: Option<ExecutionsCommand>,
    #[command(flatten)]
    pub store: crate::StoreArgs,
    /// One JSON object per line instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Keep going, and print each execution again when its status changes.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Subcommand, Debug)]
pub enum ExecutionsCommand {
    /// One execution: its status, input, output or error, and history.
    Show {
        /// The execution's name (`dec_…-0`).
        name: String,
    },
}

/// One line of the listing.
fn summary(name: &str, record: &Value) -> Value {
    json!({
        "name": name,
        "machine": record["machine"],
        "status": record["status"],
        "start": record["start"],
        "stop": record["stop"],
        "error": record.get("error"),
        "state": record.get("state"),
    })
}

/// Every execution the folder knows, by name: ended ones from `done/`, running ones from
/// `running/` with the state they were last in.
pub fn list(data_dir: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let dir = data_dir.join("executions");
    for entry in std::fs::read_dir(dir.join("done"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(String::from) else {
            continue;
        };
        if let Some(record) = read(&path) {
            out.insert(name.clone(), summary(&name, &record));
        }
    }
    for entry in std::fs::read_dir(dir.join("running"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        let Some(file) = path.file_name().and_then(|s| s.to_str()) else {
            continue;
        };
        let Some(name) = file.strip_suffix(".started.json") else {
            continue;
        };
        if out.contains_key(name) {
            continue;
        }
        let started = read(&path).unwrap_or_default();
        let checkpoint = read(&dir.join("running").join(format!("{name}.json")));
        let record = json!({
            "machine": started["machine"],
            "status": "RUNNING",
            "start": checkpoint.as_ref().map(|c| helios_states::clock::iso(c["start_ms"].as_i64().unwrap_or_default())),
            "state": checkpoint.as_ref().map(|c| c["state"].clone()),
        });
        out.insert(name.to_string(), summary(name, &record));
    }
    out
}

fn read(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn print_line(v: &Value, as_json: bool) {
    if as_json {
        println!("{v}");
        return;
    }
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    let detail = match (v["error"].as_str(), v["state"].as_str()) {
        (Some(e), _) => e.to_string(),
        (None, Some(state)) => format!("in {state}"),
        _ => String::new(),
    };
    println!(
        "{:<44} {:<12} {:<10} {:<24} {:<24} {}",
        s("name"),
        s("machine"),
        s("status"),
        s("start"),
        s("stop"),
        detail
    );
}

pub async fn run(args: ExecutionsArgs) -> anyhow::Result<ExitCode> {
    if let Some(ExecutionsCommand::Show { name }) = &args.command {
        let done = args
            .store
            .data_dir
            .join("executions/done")
            .join(format!("{name}.json"));
        return match read(&done) {
            Some(record) => {
                println!("{}", serde_json::to_string_pretty(&record)?);
                Ok(ExitCode::SUCCESS)
            }
            None => match list(&args.store.data_dir).get(name) {
                Some(running) => {
                    println!("{}", serde_json::to_string_pretty(running)?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!(
                        "no execution named `{name}` in {}",
                        args.store.data_dir.join("executions").display()
                    );
                    Ok(ExitCode::from(1))
                }
            },
        };
    }
    if !args.json {
        println!(
            "{:<44} {:<12} {:<10} {:<24} {:<24} DETAIL",
            "NAME", "MACHINE", "STATUS", "START", "STOP"
        );
    }
    let mut shown: BTreeMap<String, Value> = BTreeMap::new();
    loop {
        for (name, v) in list(&args.store.data_dir) {
            if shown.get(&name) != Some(&v) {
                print_line(&v, args.json);
                shown.insert(name, v);
            }
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
