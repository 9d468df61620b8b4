//! `helios states validate FILE…`: checks Amazon States Language definitions as Step
//! Functions would before accepting them, and prints JSON, one object per file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct StatesArgs {
    #[command(subcommand)]
    pub command: StatesCommand,
}

#[derive(Subcommand, Debug)]
pub enum StatesCommand {
    /// Validate state machine definitions (JSON); exits non-zero if one is not valid.
    Validate {
        /// Definition files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The verdict on one file.
pub fn validate_file(path: &std::path::Path) -> Value {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return json!({"file": file, "valid": false, "errors": [{"message": format!("cannot read the file: {e}")}]})
        }
    };
    let def: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return json!({"file": file, "valid": false, "errors": [{"message": format!("not JSON: {e}")}]})
        }
    };
    match helios_states::validate(&def) {
        Ok(()) => json!({"file": file, "valid": true}),
        Err(errors) => json!({
            "file": file,
            "valid": false,
            "errors": errors.iter().map(|e| json!({
                "state": e.state, "path": e.path, "message": e.message,
            })).collect::<Vec<_>>(),
        }),
    }
}

pub fn run(args: StatesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StatesCommand::Validate { files } => {
            let mut ok = true;
            for f in &files {
                let verdict = validate_file(f);
                ok &= verdict["valid"] == true;
                println!("{verdict}");
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
