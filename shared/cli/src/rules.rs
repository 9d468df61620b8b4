//! `helios rules check|eval|test|tune`: validate a rule set, decide one event with it, run the
//! tests kept beside it, and see where it nearly fired (`tune`, in [`crate::tune`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use helios_events::sample::{Credentials, PreparedRequest, Sample};
use helios_events::{Limits, SourceSecrets};
use helios_rules::decide::Outcome;
use helios_rules::{testing, Decision, Inputs, RuleSet};
use helios_runtime::rules::{load_rule_set, read_rule_tests, RuleSetError};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Validate a rule set (a YAML file or a folder of them).
    Check {
        /// The rule set: a file, or a folder (its `tests/` folder is not part of it).
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A folder of schema files (`helios schemas lint`): warn when a rule reads a field
        /// of `data` that the newest schema of a subject it matches cannot have, does not
        /// name, or types otherwise than the rule asks.
        #[arg(long)]
        schemas: Option<PathBuf>,
        /// With `--schemas`: a warning fails the check (exit 1). A rule set with
        /// `schemas: {strict: true}` asks for this itself, and for `--schemas`.
        #[arg(long, requires = "schemas")]
        strict: bool,
    },
    /// Print the SNS filter policy of the `expect` queue's subscription for a rule set: the
    /// event types its expectations watch (`null`: every event). terraform reads it from
    /// the file `terraform/package.sh` writes.
    FilterPolicy {
        /// The rule set.
        dir: PathBuf,
    },
    /// Decide one event with a rule set, windows starting empty, and print the decision and
    /// its trace.
    Eval {
        /// The rule set.
        #[arg(long)]
        rules: PathBuf,
        /// The event: a canonical event, a native envelope (or batch), or a request sample
        /// of `events/`.
        #[arg(long)]
        event: PathBuf,
        /// The time of the decision (RFC 3339); the event's time by default.
        #[arg(long)]
        now: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the rule tests kept beside a rule set (`DIR/tests/*.yaml`); fails if one fails.
    Test {
        /// The rule set's folder.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// For each rule of a running Helios, how often it nearly fired and which single check
    /// stood in the way, with the values found and example decisions.
    Tune(crate::tune::TuneArgs),
}

pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RulesCommand::Check {
            dir,
            json,
            schemas,
            strict,
        } => check(&dir, json, schemas.as_deref(), strict),
        RulesCommand::Eval {
            rules,
            event,
            now,
            json,
        } => eval(&rules, &event, now.as_deref(), json),
        RulesCommand::Test { dir, json } => test(&dir, json),
        RulesCommand::FilterPolicy { dir } => {
            let rules = load_rule_set(&dir)?;
            print_json(&rules.expectation_interest().filter_policy())?;
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Tune(_) => {
            anyhow::bail!("`helios rules tune` asks a running Helios: it is run by `crate::run`")
        }
    }
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn check(
    dir: &Path,
    as_json: bool,
    schemas: Option<&Path>,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    match load_rule_set(dir) {
        Ok(rs) => {
            if rs.strict_schemas && schemas.is_none() {
                bail!(
                    "the rule set `{}` requires its rules to be checked against the schemas (`schemas: {{strict: true}}`): pass --schemas DIR",
                    rs.name
                );
            }
            let strict = strict || rs.strict_schemas;
            let warnings = match schemas {
                Some(folder) => {
                    let files = crate::schemas::read_dir(folder)?;
                    let problems = crate::schemas::lint(&files);
                    anyhow::ensure!(
                        problems.is_empty(),
                        "{}: {}",
                        folder.display(),
                        problems.join("; ")
                    );
                    schema_warnings(&rs, &files)
                }
                None => Vec::new(),
            };
            let failed = strict && !warnings.is_empty();
            if as_json {
                print_json(&json!({
                    "ok": !failed,
                    "name": rs.name,
                    "version": rs.version,
                    "hash": rs.hash,
                    "rules": rs.rules.iter().map(|r| &r.id).collect::<Vec<_>>(),
                    "expectations": rs.expectations.iter().map(|e| &e.id).collect::<Vec<_>>(),
                    "warnings": warnings,
                }))?;
            } else {
                for w in &warnings {
                    eprintln!("warning: {}", w["message"].as_str().unwrap_or_default());
                }
                println!(
                    "{}: rule set `{}` version {}, {} rules, {} expectations, {}{}",
                    if failed { "failed" } else { "ok" },
                    rs.name,
                    rs.version,
                    rs.rules.len(),
                    rs.expectations.len(),
                    rs.hash,
                    if warnings.is_empty() {
                        String::new()
                    } else {
                        format!(", {} schema warning(s)", warnings.len())
                    }
                );
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(RuleSetError::Invalid { errors, .. }) => {
            if as_json {
                print_json(&json!({"ok": false, "errors": errors}))?;
            } else {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!("{} problem(s) in {}", errors.len(), dir.display());
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Each field of `data` a rule reads that the newest schema of a subject the rule matches
/// cannot have, does not name, or types otherwise than the rule asks.
fn schema_warnings(
    rs: &helios_rules::RuleSet,
    files: &[(PathBuf, crate::schemas::SubjectFile)],
) -> Vec<serde_json::Value> {
    use helios_schemas::Reach;
    let mut out = Vec::new();
    for rule in &rs.rules {
        for read in rule.reads() {
            let Some(rest) = read.path.strip_prefix("data.") else {
                continue;
            };
            let segments: Vec<&str> = rest.split('.').collect();
            // The subjects of the alternative the field is read in (every one the rule
            // matches, for what is read outside the pattern).
            let subjects = files.iter().filter(|(_, f)| {
                helios_rules::reads::may_match_subject(
                    &rule.pattern,
                    read.branch,
                    &f.source,
                    &f.event_type,
                )
            });
            for (file, f) in subjects {
                let Some(latest) = f.versions.last() else {
                    continue;
                };
                let subject = format!(
                    "{} {} ({}, version {})",
                    f.source,
                    f.event_type,
                    file.display(),
                    f.versions.len()
                );
                let (kind, detail) = match helios_schemas::reach(latest, &segments) {
                    Reach::Described { types } => {
                        // A pattern matches an array by its elements.
                        let fits = read.wants.is_empty()
                            || types.is_empty()
                            || types.iter().any(|t| t == "array")
                            || read.wants.iter().any(|w| types.iter().any(|t| t == w));
                        if fits {
                            continue;
                        }
                        (
                            "type",
                            format!(
                                "compares it as {} but the schema of {subject} types it {}",
                                read.wants.join(" or "),
                                types.join(" or ")
                            ),
                        )
                    }
                    Reach::NotNamed { at } => (
                        "not_named",
                        format!(
                            "which the schema of {subject} does not name (at `{}`): renamed, or misspelt?",
                            if at.is_empty() { "/" } else { &at }
                        ),
                    ),
                    Reach::Impossible { at, why } => (
                        "impossible",
                        format!(
                            "which no event valid under the schema of {subject} can have (at `{}`: {why})",
                            if at.is_empty() { "/" } else { &at }
                        ),
                    ),
                };
                out.push(json!({
                    "rule": rule.id,
                    "part": read.part,
                    "path": read.path,
                    "source": f.source,
                    "type": f.event_type,
                    "kind": kind,
                    "message": format!("rule `{}` reads `{}` ({}), {detail}", rule.id, read.path, read.part),
                }));
            }
        }
    }
    out
}

fn parse_time(t: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(t)
        .with_context(|| format!("`{t}` is not an RFC 3339 time"))?
        .with_timezone(&Utc))
}

/// The secrets `rules eval` signs and checks samples with: any will do, as both sides use it.
fn sample_secrets() -> SourceSecrets {
    SourceSecrets {
        github: Some("helios-rules-eval".into()),
        pubsub: Some("helios-rules-eval".into()),
        eventgrid: Some("helios-rules-eval".into()),
    }
}

/// Normalises a prepared request as `ingest` would, into canonical events as JSON.
fn normalise(req: &PreparedRequest, received_at: DateTime<Utc>) -> anyhow::Result<Vec<Value>> {
    let secrets = sample_secrets();
    let limits = Limits::default();
    let ctx = helios_events::Context {
        received_at,
        secrets: &secrets,
        limits: &limits,
    };
    match req.normalise(&ctx)? {
        helios_events::Normalised::Events(events) => events
            .iter()
            .map(|e| serde_json::to_value(e).map_err(Into::into))
            .collect(),
        helios_events::Normalised::Handshake(_) => {
            bail!("this request is a subscription handshake, not an event")
        }
    }
}

/// Canonical events from what a user has at hand: a canonical event (it has `helios_id`), a
/// request sample of `events/`, or a native envelope or batch.
pub fn canonical_events(v: &Value, received_at: DateTime<Utc>) -> anyhow::Result<Vec<Value>> {
    if v.get("helios_id").is_some() {
        return Ok(vec![v.clone()]);
    }
    if Sample::looks_like_sample(v) {
        let sample: Sample = serde_json::from_value(v.clone()).context("reading the sample")?;
        let creds = Credentials {
            api_key: Some("unused".into()),
            secrets: sample_secrets(),
        };
        let req = sample.prepare(&creds).map_err(anyhow::Error::msg)?;
        return normalise(&req, received_at);
    }
    let req = PreparedRequest {
        method: "POST".into(),
        path: "/v1/events".into(),
        query: None,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(v)?,
    };
    normalise(&req, received_at)
}

/// A test step's event: a native envelope, with `correlation` and `extensions` set as given.
fn step_event(v: &Value, at: DateTime<Utc>) -> Result<Value, String> {
    let mut envelope = v.clone();
    let (correlation, extensions) = match envelope.as_object_mut() {
        Some(m) => (m.remove("correlation"), m.remove("extensions")),
        None => return Err("an event is a map".into()),
    };
    let mut events = canonical_events(&envelope, at).map_err(|e| format!("{e:#}"))?;
    if events.len() != 1 {
        return Err(format!("a step has one event, not {}", events.len()));
    }
    let mut e = events.remove(0);
    for (name, extra) in [("correlation", correlation), ("extensions", extensions)] {
        match extra {
            None => {}
            Some(Value::Object(add)) => {
                let slot = e
                    .as_object_mut()
                    .map(|m| m.entry(name).or_insert_with(|| json!({})));
                if let Some(Value::Object(m)) = slot {
                    m.extend(add);
                }
            }
            Some(_) => return Err(format!("`{name}` is a map")),
        }
    }
    Ok(e)
}

fn eval(rules: &Path, event: &Path, now: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let rs = load_rule_set(rules)?;
    let text = std::fs::read_to_string(event)
        .with_context(|| format!("reading the event {}", event.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", event.display()))?;
    let now = now.map(parse_time).transpose()?;
    // A sample's events are received now; their time is their own.
    let received = now.unwrap_or_else(Utc::now);
    let events = canonical_events(&v, received)
        .with_context(|| format!("{} is not an event Helios accepts", event.display()))?;
    let mut decisions = Vec::new();
    for e in &events {
        let at = match now {
            Some(t) => t,
            None => parse_time(e["time"].as_str().unwrap_or_default())?,
        };
        decisions.push(rs.decide(e, at, &Inputs::default())?);
    }
    if as_json {
        if decisions.len() == 1 {
            print_json(&decisions[0])?;
        } else {
            print_json(&decisions)?;
        }
    } else {
        for d in &decisions {
            print!("{}", describe(d));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A decision for a person.
pub fn describe(d: &Decision) -> String {
    let mut s = format!(
        "decision {} for {} by {} v{}\n  severity {}, score {}\n",
        d.id,
        d.event,
        d.ruleset.name,
        d.ruleset.version,
        d.severity.as_str(),
        d.score
    );
    if d.fired.is_empty() {
        s.push_str("  no rule fired\n");
    }
    for t in &d.trace {
        let mark = match t.outcome {
            Outcome::Fired => "fired",
            Outcome::Suppressed => "suppressed",
            Outcome::NearMiss => "near miss",
        };
        s.push_str(&format!("  {mark}: {}\n", t.because));
    }
    for a in &d.actions {
        s.push_str(&format!(
            "  action: {} {} (rule {})\n",
            a.workflow, a.params, a.rule
        ));
    }
    s
}

fn test(dir: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let rs: RuleSet = load_rule_set(dir)?;
    let files = read_rule_tests(dir)?;
    if files.is_empty() {
        bail!(
            "no rule tests in {}: write them in {}/tests/*.yaml",
            dir.display(),
            dir.display()
        );
    }
    let mut results = Vec::new();
    let mut problems = Vec::new();
    for f in &files {
        match testing::parse(&f.text) {
            Ok(tf) => {
                for t in &tf.tests {
                    results.push((f.path.clone(), testing::run(&rs, t, &step_event)));
                }
            }
            Err(e) => problems.push(format!(
                "{}: {}{}",
                f.path,
                if e.at.is_empty() || e.at == "." {
                    String::new()
                } else {
                    format!("at `{}`: ", e.at)
                },
                e.message
            )),
        }
    }
    let failed = results.iter().filter(|(_, r)| !r.passed).count();
    let passed = results.len() - failed;
    let ok = failed == 0 && problems.is_empty();
    if as_json {
        print_json(&json!({
            "ok": ok,
            "ruleset": {"name": rs.name, "version": rs.version, "hash": rs.hash},
            "passed": passed,
            "failed": failed,
            "errors": problems,
            "results": results.iter().map(|(file, r)| json!({
                "file": file, "name": r.name, "passed": r.passed, "failures": r.failures,
                "decisions": r.decisions,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        for (file, r) in &results {
            println!(
                "{} {file}: {}",
                if r.passed { "PASS" } else { "FAIL" },
                r.name
            );
            for fail in &r.failures {
                println!("    {fail}");
            }
        }
        for p in &problems {
            println!("ERROR {p}");
        }
        println!(
            "{passed} passed, {failed} failed{}",
            if problems.is_empty() {
                String::new()
            } else {
                format!(", {} test file(s) unreadable", problems.len())
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
