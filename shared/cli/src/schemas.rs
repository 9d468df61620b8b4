//! `helios schemas` (issue 17), the schema registry from the command line.
//!
//! Against a running Helios (its API, with `--endpoint` and `--api-key`):
//! `list`, `show --source S --type T [--version N]`, `register --source S --type T FILE`,
//! `set --source S --type T [--mode M] [--policy P]`, `check --source S --type T FILE`
//! (nothing registered), `apply DIR` (every schema file of a folder, in order), and
//! `infer --source S --type T` (the schema of the `data` of the stored events).
//!
//! Offline, over files: `diff OLD NEW`, `check --against OLD… NEW`, and `lint DIR`, which
//! checks a folder of schema files as the test command does. A schema file holds one subject:
//!
//! ```json
//! {"source": "ci/buildkite", "type": "ci.build.finished", "mode": "BACKWARD",
//!  "policy": "observe", "versions": [{…}, {…}]}
//! ```
//!
//! Each prints JSON; a check that finds a breaking change, a refused registration and a
//! folder with problems exit 1.

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
    /// every change that breaks it (exit 1): the versions of files (`--against`), or those
    /// registered for a subject (`--source` and `--type`, in the subject's mode unless
    /// `--mode` says another).
    Check {
        /// BACKWARD (the default, as in Confluent's registry), BACKWARD_TRANSITIVE, FORWARD,
        /// FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE.
        #[arg(long)]
        mode: Option<String>,
        /// An earlier version; give each, oldest first. The plain modes check against the
        /// last, the transitive ones against all.
        #[arg(
            long = "against",
            required_unless_present = "source",
            conflicts_with = "source"
        )]
        against: Vec<PathBuf>,
        #[arg(long, requires = "event_type")]
        source: Option<String>,
        #[arg(long = "type", requires = "source")]
        event_type: Option<String>,
        /// The new version.
        new: PathBuf,
        #[command(flatten)]
        client: crate::ClientArgs,
    },
    /// Every subject of the registry: its newest version, mode, policy and violations.
    List {
        #[command(flatten)]
        client: crate::ClientArgs,
    },
    /// A subject (its settings and versions), or one version with its schema.
    Show {
        #[arg(long)]
        source: String,
        #[arg(long = "type")]
        event_type: String,
        /// A version number or `latest`.
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        client: crate::ClientArgs,
    },
    /// Registers FILE (a JSON Schema) as the subject's next version; refused (exit 1, every
    /// breaking change listed) when it breaks the subject's mode. Needs an admin key.
    Register {
        #[arg(long)]
        source: String,
        #[arg(long = "type")]
        event_type: String,
        file: PathBuf,
        #[command(flatten)]
        client: crate::ClientArgs,
    },
    /// Sets a subject's compatibility mode, ingest policy (enforce, quarantine, observe) or
    /// both. Needs an admin key.
    Set {
        #[arg(long)]
        source: String,
        #[arg(long = "type")]
        event_type: String,
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        policy: Option<String>,
        #[command(flatten)]
        client: crate::ClientArgs,
    },
    /// Checks a folder of schema files (each subject once, each version a usable schema,
    /// each compatible with the earlier ones under the file's mode); exit 1 on a problem.
    Lint {
        #[arg(default_value = "schemas")]
        dir: PathBuf,
    },
    /// Registers every schema file of a folder (settings, then each version in order; a
    /// version registered already is left as it is). Needs an admin key.
    Apply {
        #[arg(default_value = "schemas")]
        dir: PathBuf,
        #[command(flatten)]
        client: crate::ClientArgs,
    },
    /// The schema of the `data` of the stored events of one source and type, inferred from
    /// the newest of them (read through the API).
    Infer {
        #[arg(long)]
        source: String,
        #[arg(long = "type")]
        event_type: String,
        /// How many of the newest events to read.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1000))]
        samples: u32,
        #[command(flatten)]
        client: crate::ClientArgs,
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

pub async fn run(args: SchemasArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SchemasCommand::Infer {
            source,
            event_type,
            samples,
            client,
        } => infer(&source, &event_type, samples, &client).await,
        SchemasCommand::Diff { old, new } => {
            let changes = helios_schemas::diff(&read_schema(&old)?, &read_schema(&new)?);
            println!("{}", json!({ "changes": changes }));
            Ok(ExitCode::SUCCESS)
        }
        SchemasCommand::Check {
            mode,
            source: Some(source),
            event_type: Some(event_type),
            new,
            client,
            ..
        } => {
            let mut body = json!({"schema": read_schema(&new)?});
            if let Some(m) = mode {
                body["mode"] = json!(m.parse::<Mode>()?);
            }
            let api = Api::new(&client)?;
            let (_, v) = api
                .call(
                    reqwest::Method::POST,
                    &format!("{}/check", subject_path(&source, &event_type)),
                    Some(body),
                )
                .await?
                .ok()?;
            println!("{v}");
            Ok(if v["compatible"] == json!(true) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        SchemasCommand::List { client } => {
            let (_, v) = Api::new(&client)?
                .call(reqwest::Method::GET, "/v1/schemas", None)
                .await?
                .ok()?;
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        SchemasCommand::Show {
            source,
            event_type,
            version,
            client,
        } => {
            let mut path = subject_path(&source, &event_type);
            if let Some(v) = version {
                path = format!("{path}/versions/{}", urlencoding::encode(&v));
            }
            let (_, v) = Api::new(&client)?
                .call(reqwest::Method::GET, &path, None)
                .await?
                .ok()?;
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        SchemasCommand::Register {
            source,
            event_type,
            file,
            client,
        } => {
            let schema = read_schema(&file)?;
            let api = Api::new(&client)?;
            let answer = api
                .call(
                    reqwest::Method::POST,
                    &format!("{}/versions", subject_path(&source, &event_type)),
                    Some(json!({ "schema": schema })),
                )
                .await?;
            if answer.status == 409 {
                println!("{}", answer.body);
                eprintln!(
                    "{}",
                    answer.body["detail"].as_str().unwrap_or("incompatible")
                );
                return Ok(ExitCode::from(1));
            }
            let (_, v) = answer.ok()?;
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        SchemasCommand::Set {
            source,
            event_type,
            mode,
            policy,
            client,
        } => {
            if mode.is_none() && policy.is_none() {
                anyhow::bail!("nothing to set: give --mode, --policy or both");
            }
            let mut body = json!({});
            if let Some(m) = mode {
                body["mode"] = json!(m.parse::<Mode>()?);
            }
            if let Some(p) = policy {
                body["policy"] = json!(p);
            }
            let (_, v) = Api::new(&client)?
                .call(
                    reqwest::Method::PUT,
                    &format!("{}/settings", subject_path(&source, &event_type)),
                    Some(body),
                )
                .await?
                .ok()?;
            println!("{v}");
            Ok(ExitCode::SUCCESS)
        }
        SchemasCommand::Lint { dir } => {
            let files = read_dir(&dir)?;
            let problems: Vec<String> = lint(&files);
            println!(
                "{}",
                json!({
                    "subjects": files.iter().map(|(p, f)| json!({"file": p.display().to_string(), "source": f.source, "type": f.event_type, "versions": f.versions.len()})).collect::<Vec<_>>(),
                    "problems": problems,
                })
            );
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                ExitCode::from(1)
            })
        }
        SchemasCommand::Apply { dir, client } => {
            let files = read_dir(&dir)?;
            let problems = lint(&files);
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("{p}");
                }
                anyhow::bail!("{} has problems; nothing was registered", dir.display());
            }
            let api = Api::new(&client)?;
            let mut applied = Vec::new();
            for (path, f) in &files {
                let base = subject_path(&f.source, &f.event_type);
                api.call(
                    reqwest::Method::PUT,
                    &format!("{base}/settings"),
                    Some(json!({"mode": f.mode, "policy": f.policy})),
                )
                .await?
                .ok()
                .with_context(|| path.display().to_string())?;
                let mut versions = Vec::new();
                for schema in &f.versions {
                    let (_, v) = api
                        .call(
                            reqwest::Method::POST,
                            &format!("{base}/versions"),
                            Some(json!({ "schema": schema })),
                        )
                        .await?
                        .ok()
                        .with_context(|| path.display().to_string())?;
                    versions.push(json!({"version": v["version"], "created": v["created"]}));
                }
                applied
                    .push(json!({"source": f.source, "type": f.event_type, "versions": versions}));
            }
            println!("{}", json!({ "applied": applied }));
            Ok(ExitCode::SUCCESS)
        }
        SchemasCommand::Check {
            mode, against, new, ..
        } => {
            let mode: Mode = mode.as_deref().unwrap_or("BACKWARD").parse()?;
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

/// The API path of a subject, its source and type percent-encoded.
fn subject_path(source: &str, event_type: &str) -> String {
    format!(
        "/v1/schemas/{}/{}",
        urlencoding::encode(source),
        urlencoding::encode(event_type)
    )
}

/// A running Helios's API, with the key to call it.
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

/// An answer: its status and JSON body (`null` when it had none).
struct Answer {
    url: String,
    status: u16,
    body: Value,
}

impl Answer {
    /// The answer when it is a success, else an error with the problem's detail.
    fn ok(self) -> anyhow::Result<(u16, Value)> {
        if (200..300).contains(&self.status) {
            return Ok((self.status, self.body));
        }
        let detail = self.body["detail"].as_str().unwrap_or("the request failed");
        match self.body.get("breaking") {
            Some(b) => anyhow::bail!("{}: {}: {detail}\n{b}", self.url, self.status),
            None => anyhow::bail!("{}: {}: {detail}", self.url, self.status),
        }
    }
}

impl Api {
    fn new(client: &crate::ClientArgs) -> anyhow::Result<Api> {
        let key = crate::send::api_key(client.api_key.clone(), &client.data_dir)
            .context("no API key: pass --api-key, set HELIOS_API_KEY, or run helios dev here")?;
        Ok(Api {
            base: client.endpoint.trim_end_matches('/').to_string(),
            key,
            http: reqwest::Client::new(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .header("x-api-key", &self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok(Answer { url, status, body })
    }
}

/// One subject's schema file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectFile {
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default = "default_policy")]
    pub policy: String,
    /// Oldest first.
    pub versions: Vec<Value>,
}

fn default_mode() -> String {
    "BACKWARD".into()
}

fn default_policy() -> String {
    "observe".into()
}

/// Every `*.json` file of `dir` (in path order) as a subject file.
pub fn read_dir(dir: &Path) -> anyhow::Result<Vec<(PathBuf, SubjectFile)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let f: SubjectFile = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a schema file (source, type, mode, policy, versions)",
                    p.display()
                )
            })?;
            Ok((p, f))
        })
        .collect()
}

/// What is wrong with a folder of schema files, one line each.
pub fn lint(files: &[(PathBuf, SubjectFile)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (path, f) in files {
        let at = path.display();
        if let Some(first) = seen.insert((f.source.clone(), f.event_type.clone()), at.to_string()) {
            problems.push(format!(
                "{at}: {} {} is in {first} already",
                f.source, f.event_type
            ));
        }
        if let Err(e) = helios_app::registry::check_subject(&f.source, &f.event_type) {
            problems.push(format!("{at}: {e}"));
        }
        let mode = match f.mode.parse::<Mode>() {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("{at}: {e}"));
                continue;
            }
        };
        if helios_app::registry::Policy::parse(&f.policy).is_none() {
            problems.push(format!(
                "{at}: `{}` is not a policy (enforce, quarantine or observe)",
                f.policy
            ));
        }
        if f.versions.is_empty() {
            problems.push(format!("{at}: no versions"));
        }
        for (i, schema) in f.versions.iter().enumerate() {
            if let Err(e) = helios_schemas::Validator::compile(schema) {
                problems.push(format!("{at}: version {}: {e}", i + 1));
                continue;
            }
            if let Err(breaking) = helios_schemas::check(mode, &f.versions[..i], schema) {
                for b in breaking {
                    problems.push(format!(
                        "{at}: version {} breaks {mode} against version {} at {}: {}",
                        i + 1,
                        b.version,
                        b.change.pointer,
                        b.change.detail
                    ));
                }
            }
        }
    }
    problems
}

async fn infer(
    source: &str,
    event_type: &str,
    samples: u32,
    client: &crate::ClientArgs,
) -> anyhow::Result<ExitCode> {
    let path = format!(
        "/v1/events?source={}&type={}&order=newest&limit={samples}",
        urlencoding::encode(source),
        urlencoding::encode(event_type)
    );
    let (_, list) = Api::new(client)?
        .call(reqwest::Method::GET, &path, None)
        .await?
        .ok()?;
    let data: Vec<Value> = list["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("data").cloned())
        .collect();
    if data.is_empty() {
        eprintln!("no stored event has source {source:?} and type {event_type:?}");
        return Ok(ExitCode::from(1));
    }
    let schema = helios_schemas::infer(&data);
    println!(
        "{}",
        json!({"source": source, "type": event_type, "samples": data.len(), "schema": schema})
    );
    Ok(ExitCode::SUCCESS)
}
