//! `helios analytics query|saved`: SQL over the Parquet archive that `helios dev` writes
//! (`<data>/archive`), with the engine embedded in this binary (DataFusion), and the saved
//! queries by name: the same text terraform makes Athena's named queries.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use helios_analytics::{json_rows, saved, text_table, Archive, SAVED};

#[derive(Args, Debug)]
pub struct AnalyticsArgs {
    #[command(subcommand)]
    pub command: AnalyticsCommand,
}

#[derive(Subcommand, Debug)]
pub enum AnalyticsCommand {
    /// Run SQL over the archive's tables (facts, decisions, fired, near_misses, outcomes), or
    /// a saved query by name (`--saved`).
    Query(QueryArgs),
    /// List the saved queries, or print one's SQL (`helios analytics saved NAME`).
    Saved(SavedArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    /// A text table with a header.
    Table,
    /// One JSON object per row, a line each.
    Json,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The SQL (a SELECT or WITH; nothing that writes).
    #[arg(required_unless_present = "saved", conflicts_with = "saved")]
    pub sql: Option<String>,
    /// Run the saved query of this name instead (see `helios analytics saved`).
    #[arg(long, value_name = "NAME")]
    pub saved: Option<String>,
    /// The archive's folder (default: `<data>/archive`).
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// The data folder of `helios dev`.
    #[arg(long, default_value = ".helios", env = "HELIOS_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Args, Debug)]
pub struct SavedArgs {
    /// Print this query's SQL.
    pub name: Option<String>,
}

fn unknown(name: &str) -> ExitCode {
    let names: Vec<&str> = SAVED.iter().map(|s| s.name).collect();
    eprintln!(
        "no saved query is named `{name}`; the saved queries are: {}",
        names.join(", ")
    );
    ExitCode::from(2)
}

pub async fn run(args: AnalyticsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AnalyticsCommand::Saved(SavedArgs { name: Some(name) }) => match saved(&name) {
            Some(q) => {
                print!("{}", q.sql);
                Ok(ExitCode::SUCCESS)
            }
            None => Ok(unknown(&name)),
        },
        AnalyticsCommand::Saved(SavedArgs { name: None }) => {
            for q in SAVED {
                println!("{:<22} {}", q.name, q.description());
            }
            Ok(ExitCode::SUCCESS)
        }
        AnalyticsCommand::Query(q) => query(q).await,
    }
}

async fn query(q: QueryArgs) -> anyhow::Result<ExitCode> {
    let sql = match (&q.saved, &q.sql) {
        (Some(name), _) => match saved(name) {
            Some(s) => s.sql.to_string(),
            None => return Ok(unknown(name)),
        },
        (None, Some(sql)) => sql.clone(),
        (None, None) => {
            eprintln!("give the SQL, or --saved NAME");
            return Ok(ExitCode::from(2));
        }
    };
    let dir = q.archive.unwrap_or_else(|| q.data_dir.join("archive"));
    let archive = match Archive::open(&dir).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let batches = match archive.query(&sql).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("the query failed: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match q.format {
        OutputFormat::Table => {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            println!("{}", text_table(&batches)?);
            println!("({rows} row{})", if rows == 1 { "" } else { "s" });
        }
        OutputFormat::Json => {
            for row in json_rows(&batches)? {
                println!("{row}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
