//! `helios patterns check`: JSON lines `{"pattern": …, "event": …}` on stdin, one answer per
//! line on stdout, in order: `{"match": true|false}`, or `{"error": "…"}` for an invalid
//! pattern or line.

use std::io::{BufRead, Write};

use clap::{Args, Subcommand};
use helios_rules::{reference, Pattern};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct PatternsArgs {
    #[command(subcommand)]
    pub command: PatternsCommand,
}

#[derive(Subcommand, Debug)]
pub enum PatternsCommand {
    /// Check patterns against events, one JSON line each, from stdin.
    Check,
}

/// The answer for one input line.
pub fn check_line(line: &str) -> Value {
    let input: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"error": format!("the line is not JSON: {e}")}),
    };
    let (Some(pattern), Some(event)) = (input.get("pattern"), input.get("event")) else {
        return json!({"error": "each line needs `pattern` and `event`"});
    };
    match Pattern::parse(pattern) {
        Ok(p) => json!({"match": reference::matches(&p, event)}),
        Err(e) => json!({"error": e.to_string()}),
    }
}

pub fn run(args: PatternsArgs) -> anyhow::Result<()> {
    match args.command {
        PatternsCommand::Check => {
            let stdin = std::io::stdin();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for line in stdin.lock().lines() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                writeln!(out, "{}", check_line(&line))?;
            }
            out.flush()?;
            Ok(())
        }
    }
}
