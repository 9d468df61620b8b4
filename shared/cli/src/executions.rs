//! `helios executions`: the workflow executions of `helios dev`, running and ended, as the
//! Step Functions console lists them; `helios executions show NAME` prints one with its
//! history; `--watch` prints each change as it happens.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use helios_local::workflows::ExecutionFiles;
use serde_json::Value;

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
    let files = ExecutionFiles {
        data_dir: args.store.data_dir.clone(),
        index: None,
        statemachines: None,
    };
    if let Some(ExecutionsCommand::Show { name }) = &args.command {
        return match files.describe(name) {
            Some(record) => {
                println!("{}", serde_json::to_string_pretty(&record)?);
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!(
                    "no execution named `{name}` in {}",
                    args.store.data_dir.join("executions").display()
                );
                Ok(ExitCode::from(1))
            }
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
        for (name, v) in files.by_name() {
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
