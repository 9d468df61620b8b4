//! `helios explain DECISION_ID`: why Helios decided what it did, in words: the sentence of
//! each rule that fired, every rule that was suppressed or nearly fired and why, the actions,
//! and what the workflows recorded. Reads `GET /v1/decisions/{id}`; `--json` prints it as is.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The decision (`dec_…`).
    pub decision: String,
    #[command(flatten)]
    pub client: crate::ClientArgs,
    /// Print the decision as the API gives it.
    #[arg(long)]
    pub json: bool,
}

/// The decision in words, one line per fact.
pub fn render(v: &Value) -> String {
    let d = &v["decision"];
    let s = |x: &Value| x.as_str().unwrap_or("-").to_string();
    let mut out = format!(
        "{}  severity {}, score {}, rule set {}@{}\n",
        s(&d["id"]),
        s(&d["severity"]),
        d["score"],
        s(&d["ruleset"]["name"]),
        s(&d["ruleset"]["version"])
    );
    let why = v["explanation"].as_str().unwrap_or_default();
    out.push_str(if why.is_empty() { "no rule fired" } else { why });
    out.push('\n');
    for t in d["trace"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{:<11} {:<28} {}",
            s(&t["outcome"]).replace('_', " "),
            s(&t["rule"]),
            s(&t["because"])
        ));
    }
    for a in d["actions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\naction      {:<28} {}",
            s(&a["workflow"]),
            a["params"]
        ));
    }
    for o in v["outcomes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{:<11} {:<28} {}",
            s(&o["kind"]).replace('_', " "),
            s(&o["execution"]),
            s(&o["recorded_at"])
        ));
    }
    out.push('\n');
    out
}

pub async fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/decisions/{}", urlencoding::encode(&args.decision));
    let Some(body) = args.client.get_json(&path).await? else {
        return Ok(ExitCode::from(1));
    };
    if args.json {
        println!("{body}");
    } else {
        print!("{}", render(&body));
    }
    Ok(ExitCode::SUCCESS)
}
