//! `helios redrive QUEUE`: moves the messages of `QUEUE-dlq` back to `QUEUE` (the local
//! `StartMessageMoveTask`), with their receive counts reset. Run it after fixing what made
//! them fail; a second redrive moves nothing. Prints `{"queue", "dead_letter_queue", "moved"}`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde_json::json;

use crate::StoreArgs;

#[derive(Args, Debug)]
pub struct RedriveArgs {
    /// The queue whose dead letters go back to it: `decide` or `expect`.
    pub queue: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn run(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    if !helios_runtime::EVENT_QUEUES.contains(&args.queue.as_str()) {
        eprintln!(
            "`{}` is not a queue with a dead-letter queue (queues: {})",
            args.queue,
            helios_runtime::EVENT_QUEUES.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    let dir = &args.store.data_dir;
    let services = helios_ports::local::LocalServices::open(
        &dir.join("local.db"),
        Arc::new(helios_ports::SystemClock),
    )?;
    let dlq = format!("{}-dlq", args.queue);
    let moved = services.redrive(&dlq, Some(&args.queue)).await?;
    println!(
        "{}",
        json!({"queue": args.queue, "dead_letter_queue": dlq, "moved": moved})
    );
    Ok(ExitCode::SUCCESS)
}
