//! `helios replay --since T --until T [--source S] [--type T] [--redecide]`: publishes the
//! recorded facts of a time range again, as `relay` first published them, marked as a
//! replay. Decisions stay idempotent: an event that was decided keeps its decision, even
//! under changed rules, unless `--redecide` asks to decide again. Prints `{"replayed": n}`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::StoreArgs;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// From this event time (RFC 3339), inclusive.
    #[arg(long)]
    pub since: String,
    /// Until this event time (RFC 3339), exclusive.
    #[arg(long)]
    pub until: String,
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Decide the replayed events again with the current rules.
    #[arg(long)]
    pub redecide: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let time = |name: &str, s: &str| {
        helios_events::parse_time(s).map_err(|e| anyhow::anyhow!("--{name} {e}"))
    };
    let since = time("since", &args.since)?;
    let until = time("until", &args.until)?;
    let d = helios_runtime::Deployment::open_local(&args.store.local_options()).await?;
    let range = helios_app::ops::ReplayRange {
        since,
        until,
        source: args.source.clone(),
        event_type: args.event_type.clone(),
        redecide: args.redecide,
    };
    let replayed = helios_app::ops::replay(
        helios_store::read_only(d.store.clone()).as_ref(),
        &d.services,
        helios_runtime::EVENTS_TOPIC,
        &range,
    )
    .await?;
    println!(
        "{}",
        json!({"replayed": replayed, "redecide": args.redecide})
    );
    Ok(ExitCode::SUCCESS)
}
