//! The queries of the analytics plane (issue 18), and the embedded engine that runs them.
//!
//! The archive (`helios-archive`) writes facts, decisions, fired rules, near misses and
//! outcomes as Parquet files under one folder, Hive-partitioned by `day` (and the facts by
//! `family`). In AWS those files are in S3, and Glue tables with partition projection make
//! them Athena's; on a laptop [`Archive`] opens the same folder as the same five tables in
//! DataFusion, an SQL engine over Arrow. The saved queries ([`SAVED`], the `.sql` files beside
//! this crate, which terraform also makes Athena's named queries) are written in the SQL both
//! engines read alike, so a query tried on a laptop runs unchanged in Athena.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde_json::Value;

/// A query kept by name: the same text locally and in Athena.
#[derive(Clone, Copy, Debug)]
pub struct Saved {
    pub name: &'static str,
    /// The text of the query, whose first comment lines say what it answers.
    pub sql: &'static str,
}

impl Saved {
    /// What the query answers: its leading comment, as one line.
    pub fn description(&self) -> String {
        self.sql
            .lines()
            .map_while(|l| l.strip_prefix("--"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The saved queries, by name.
pub const SAVED: [Saved; 5] = [
    Saved {
        name: "rule_firing_rates",
        sql: include_str!("../queries/rule_firing_rates.sql"),
    },
    Saved {
        name: "noisiest_sources",
        sql: include_str!("../queries/noisiest_sources.sql"),
    },
    Saved {
        name: "time_to_acknowledge",
        sql: include_str!("../queries/time_to_acknowledge.sql"),
    },
    Saved {
        name: "advice_followed",
        sql: include_str!("../queries/advice_followed.sql"),
    },
    Saved {
        name: "near_misses_per_rule",
        sql: include_str!("../queries/near_misses_per_rule.sql"),
    },
];

/// The saved query of this name.
pub fn saved(name: &str) -> Option<Saved> {
    SAVED.iter().copied().find(|s| s.name == name)
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("the archive at {path} cannot be read: {reason}")]
    Archive { path: String, reason: String },
    /// The query is not valid SQL, names a table or column that does not exist, or failed
    /// while running; the engine's words.
    #[error("{0}")]
    Query(String),
}

fn query_error(e: impl std::fmt::Display) -> AnalyticsError {
    AnalyticsError::Query(e.to_string())
}

/// A table of the archive: its folder, its files' columns and its partition columns.
struct Table {
    name: &'static str,
    schema: SchemaRef,
    partitions: &'static [&'static str],
}

fn tables() -> [Table; 5] {
    use helios_archive as a;
    [
        Table {
            name: "facts",
            schema: a::facts_schema(),
            partitions: &["day", "family"],
        },
        Table {
            name: "decisions",
            schema: a::decisions_schema(),
            partitions: &["day"],
        },
        Table {
            name: "fired",
            schema: a::fired_schema(),
            partitions: &["day"],
        },
        Table {
            name: "near_misses",
            schema: a::near_misses_schema(),
            partitions: &["day"],
        },
        Table {
            name: "outcomes",
            schema: a::outcomes_schema(),
            partitions: &["day"],
        },
    ]
}

/// The archive's folder opened as SQL tables: `facts`, `decisions`, `fired`, `near_misses`
/// and `outcomes`, each with its partition columns (`day`, and `family` for the facts) as
/// strings, as the Glue tables declare them. A table with no file yet is empty.
pub struct Archive {
    ctx: SessionContext,
}

impl Archive {
    pub async fn open(dir: &Path) -> Result<Archive, AnalyticsError> {
        let unreadable = |reason: String| AnalyticsError::Archive {
            path: dir.display().to_string(),
            reason,
        };
        if !dir.is_dir() {
            return Err(unreadable(
                "no such folder (helios dev writes it under its data folder, as <data>/archive)"
                    .into(),
            ));
        }
        let ctx =
            SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
        for t in tables() {
            let folder = dir.join(t.name);
            if folder.is_dir() {
                let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                    .with_file_extension(".parquet")
                    .with_table_partition_cols(
                        t.partitions
                            .iter()
                            .map(|p| (p.to_string(), DataType::Utf8))
                            .collect(),
                    );
                let url = format!("{}/", folder.display());
                ctx.register_listing_table(t.name, url, options, Some(t.schema), None)
                    .await
                    .map_err(|e| unreadable(e.to_string()))?;
            } else {
                let mut fields: Vec<Field> = t
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.extend(
                    t.partitions
                        .iter()
                        .map(|p| Field::new(*p, DataType::Utf8, false)),
                );
                let empty = MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]])
                    .map_err(|e| unreadable(e.to_string()))?;
                ctx.register_table(t.name, Arc::new(empty))
                    .map_err(|e| unreadable(e.to_string()))?;
            }
        }
        Ok(Archive { ctx })
    }

    /// Runs one SQL statement that reads (a `SELECT`, `WITH`, `EXPLAIN` or `SHOW`); its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, AnalyticsError> {
        use datafusion::execution::context::SQLOptions;
        let read_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self
            .ctx
            .sql_with_options(sql, read_only)
            .await
            .map_err(query_error)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let mut batches = frame.collect().await.map_err(query_error)?;
        if batches.is_empty() {
            // No row: the columns still, for the header of a table.
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(batches)
    }
}

/// The rows as JSON objects, a column each (timestamps as RFC 3339 text).
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Value>, AnalyticsError> {
    let mut out = Vec::new();
    {
        let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
        for b in batches {
            writer.write(b).map_err(query_error)?;
        }
        writer.finish().map_err(query_error)?;
    }
    if out.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_slice(&out).map_err(query_error)? {
        Value::Array(rows) => Ok(rows),
        other => Ok(vec![other]),
    }
}

/// The rows as a text table with a header, as a terminal shows them.
pub fn text_table(batches: &[RecordBatch]) -> Result<String, AnalyticsError> {
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .map_err(query_error)
}
