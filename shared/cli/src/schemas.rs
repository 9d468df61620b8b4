//! `helios schemas diff|check` over schema files (issue 17): how two versions of a JSON Schema
//! differ, and whether a new version may follow the earlier ones under a compatibility mode,
//! checked without registering anything. Each prints JSON; `check` exits 1 when the new
//! version breaks the mode, listing every breaking change with its JSON pointer.

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

pub fn run(args: SchemasArgs) -> anyhow::Result<ExitCode> {
    match args.command {
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
