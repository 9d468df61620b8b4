//! `helios redrive QUEUE`: moves the messages of `QUEUE-dlq` back to `QUEUE` (the local
//! `StartMessageMoveTask`), with their receive counts reset. Run it after fixing what made
//! them fail; a second redrive moves nothing. Prints `{"queue", "dead_letter_queue", "moved"}`.
//!
//! With `--aws`, the queues of a terraform deployment (`<name>-decide-dlq` → `<name>-decide`)
//! in the account and region of the AWS environment (`AWS_PROFILE`, `AWS_REGION`, …): SQS
//! moves the messages itself (`StartMessageMoveTask`; prints its `task_handle`), or, where
//! the service lacks it (an emulator), they are moved one by one.

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
    /// The queues of the AWS deployment instead of `helios dev`'s.
    #[arg(long)]
    pub aws: bool,
    /// With `--aws`: the deployment's name (terraform's `name`).
    #[arg(long, default_value = "helios", requires = "aws")]
    pub name: String,
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
    if args.aws {
        let queues = helios_aws::SqsQueues::new(&helios_aws::sdk_config().await);
        let source = format!("{}-{}", args.name, args.queue);
        let dlq = format!("{source}-dlq");
        let report = match helios_ports::Queue::redrive(&queues, &dlq, &source).await? {
            helios_ports::Redriven::MoveTask(handle) => {
                json!({"queue": source, "dead_letter_queue": dlq, "task_handle": handle})
            }
            helios_ports::Redriven::Moved(n) => {
                json!({"queue": source, "dead_letter_queue": dlq, "moved": n})
            }
        };
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let dir = &args.store.data_dir;
    let services = helios_local::LocalServices::open(
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
