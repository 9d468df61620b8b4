//! `helios states validate FILE…`: checks Amazon States Language definitions as Step
//! Functions would before accepting them, and prints JSON, one object per file.
//!
//! `helios states run --definition FILE --input FILE [--history]`: runs a definition in
//! virtual time (a Wait of a day takes no time) and prints how it ended.

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
    /// Run a definition in virtual time and print `{"status": …, "output": …}`, or the error
    /// and cause of a failed execution. Exits 0 whenever the execution ran, whatever its end.
    Run {
        /// The definition (JSON).
        #[arg(long)]
        definition: PathBuf,
        /// The execution input (JSON); `-` reads standard input. Default: `{}`.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Also print the execution history, as `GetExecutionHistory` returns it.
        #[arg(long)]
        history: bool,
        /// Task results from a mock file in the Step Functions Local format.
        #[arg(long, requires = "test_case")]
        mocks: Option<PathBuf>,
        /// The test case of the mock file to use.
        #[arg(long, requires = "mocks")]
        test_case: Option<String>,
        /// The state machine's name (the mock file's `StateMachines` key). Default: the
        /// definition's file name without its extension.
        #[arg(long)]
        name: Option<String>,
        /// When the execution starts (RFC 3339). Default: 2026-01-01T00:00:00Z, so that runs
        /// repeat exactly.
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        /// Seed of the execution's random numbers (UUIDs, task tokens, jitter).
        #[arg(long, default_value_t = 1)]
        seed: u64,
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

fn read_json(path: &std::path::Path, what: &str) -> anyhow::Result<Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| anyhow::anyhow!("cannot read the {what} from standard input: {e}"))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the {what} {}: {e}", path.display()))?
    };
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the {what} {} is not JSON: {e}", path.display()))
}

/// Runs a definition in virtual time; the JSON to print, and whether the definition was valid.
pub fn run_definition(
    definition: &Value,
    input: Value,
    opts: &helios_states::Options,
    start_ms: i64,
    seed: u64,
    mocks: Option<helios_states::local::Mocks>,
) -> (Value, bool) {
    let def = match helios_states::Definition::new(definition) {
        Ok(d) => d,
        Err(errors) => {
            return (
                json!({
                    "status": "INVALID",
                    "errors": errors.iter().map(|e| json!({
                        "state": e.state, "path": e.path, "message": e.message,
                    })).collect::<Vec<_>>(),
                }),
                false,
            )
        }
    };
    let mut host = helios_states::local::LocalHost::new(start_ms, seed);
    if let Some(m) = mocks {
        host = host.with_mocks(m);
    }
    let outcome = host.run(&def.machine, input, opts);
    let mut out = outcome.to_json();
    if opts.history {
        out["history"] = outcome.history_json();
    }
    (out, true)
}

pub fn run(args: StatesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StatesCommand::Run {
            definition,
            input,
            history,
            mocks,
            test_case,
            name,
            start,
            seed,
        } => {
            let def = read_json(&definition, "definition")?;
            let input = match input {
                Some(p) => read_json(&p, "input")?,
                None => json!({}),
            };
            let start_ms = chrono::DateTime::parse_from_rfc3339(&start)
                .map_err(|e| anyhow::anyhow!("--start {start} is not an RFC 3339 time: {e}"))?
                .timestamp_millis();
            let machine_name = name.unwrap_or_else(|| {
                definition
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "helios".into())
            });
            let mocks = match (mocks, test_case) {
                (Some(f), Some(case)) => Some(
                    helios_states::local::Mocks::from_config(
                        &read_json(&f, "mock file")?,
                        &machine_name,
                        &case,
                    )
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
                ),
                _ => None,
            };
            let opts = helios_states::Options {
                machine_name,
                history,
                ..Default::default()
            };
            let (out, valid) = run_definition(&def, input, &opts, start_ms, seed, mocks);
            println!("{out}");
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
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
