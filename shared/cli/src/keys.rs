//! `helios keys create|list|revoke`: API keys, managed directly in the store.

use clap::{Args, Subcommand};
use helios_runtime::Deployment;
use helios_store::Role;

use crate::StoreArgs;

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a key; its secret is printed once and never stored.
    Create {
        #[arg(long)]
        name: String,
        /// ingest (send events), read (query API) or admin (everything).
        #[arg(long, value_parser = |s: &str| s.parse::<Role>())]
        role: Role,
        /// Requests per second (default: the server's).
        #[arg(long)]
        rate: Option<u32>,
        /// The sources it may send events of, comma-separated (`ci/buildkite`, `deploy/*` for
        /// a prefix). Default: every source that no hook and not Helios owns.
        #[arg(long, value_delimiter = ',')]
        sources: Option<Vec<String>>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let store = Deployment::open_store(&args.store.local_options()).await?;
    match args.command {
        KeysCommand::Create {
            name,
            role,
            rate,
            sources,
        } => {
            let mut issued = helios_app::keys::generate(&name, role, rate, chrono::Utc::now())
                .map_err(anyhow::Error::msg)?;
            let sources: Option<Vec<String>> = sources.map(|s| {
                s.into_iter()
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            });
            anyhow::ensure!(
                sources.as_ref().is_none_or(|s| !s.is_empty()),
                "--sources names at least one source"
            );
            issued.key.sources = sources;
            store.create_api_key(&issued.key).await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"id": issued.key.id, "name": name, "role": role, "sources": issued.key.sources, "key": issued.secret})
                );
            } else {
                println!(
                    "created {} ({}, role {})",
                    issued.key.id,
                    name,
                    role.as_str()
                );
                println!("key: {}", issued.secret);
                println!("keep it now: only its hash is stored.");
            }
        }
        KeysCommand::List => {
            let keys = store.list_api_keys().await?;
            if args.json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                println!(
                    "{:<18} {:<8} {:<8} {:<22} name",
                    "id", "role", "rate/s", "created"
                );
                for k in keys {
                    let state = if k.revoked_at.is_some() {
                        " (revoked)"
                    } else {
                        ""
                    };
                    let rate = k
                        .rate_per_second
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into());
                    println!(
                        "{:<18} {:<8} {:<8} {:<22} {}{}",
                        k.id,
                        k.role.as_str(),
                        rate,
                        k.created_at.format("%Y-%m-%d %H:%M:%S"),
                        k.name,
                        state
                    );
                }
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_api_key(&id, chrono::Utc::now()).await? {
                anyhow::bail!("no live key has the id {id}");
            }
            if args.json {
                println!("{}", serde_json::json!({"id": id, "revoked": true}));
            } else {
                println!("revoked {id}");
            }
        }
    }
    Ok(())
}
