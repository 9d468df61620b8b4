//! `helios rules tune`: for each rule, how often it nearly fired in a time range and which
//! single check stood in the way, with the values the events had and example decisions.
//! Reads `GET /v1/near-misses`; `--json` prints it as is.
//!
//! A rule that nearly fires often for the same value (`data.branch was "master"`) is a rule
//! whose pattern misses what its author meant; one that nearly fires on its window (`was 2,
//! wanted at least 3`) is a threshold to look at. The report says so with counts, and
//! `helios explain` tells any of the example decisions in full.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// The start of the range: a time (RFC 3339) or a span before its end (`24h`, `7d`).
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// The end of the range (RFC 3339; default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// One rule only.
    #[arg(long)]
    pub rule: Option<String>,
    /// Example decisions per value found (0 to 20).
    #[arg(long, default_value_t = 3)]
    pub examples: usize,
    #[command(flatten)]
    pub client: crate::ClientArgs,
    /// Print the report as the API gives it.
    #[arg(long)]
    pub json: bool,
}

/// The range asked for, as RFC 3339 times; without `until`, the range ends now, and the end is
/// left to the server (whose decisions of the last second are then in it).
fn range(since: &str, until: Option<&str>) -> anyhow::Result<(String, Option<String>)> {
    let time = |t: &str, what: &str| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| anyhow::anyhow!("--{what} {t:?} is not an RFC 3339 time: {e}"))
    };
    let end = match until {
        Some(t) => time(t, "until")?,
        None => Utc::now(),
    };
    let since = match helios_rules::duration::Span::parse(since) {
        Ok(span) => {
            end - chrono::Duration::seconds(i64::try_from(span.seconds()).unwrap_or(i64::MAX))
        }
        Err(_) => time(since, "since").context("--since takes a time or a span such as 7d")?,
    };
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    Ok((format(since), until.map(|_| format(end))))
}

/// The report in words: per rule, its checks in the way and the values they found.
pub fn render(v: &Value) -> String {
    let s = |x: &Value| x.as_str().unwrap_or("-").to_string();
    let mut out = String::new();
    let rules = v["rules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        return format!(
            "No rule nearly fired from {} to {} ({} decisions).\n",
            s(&v["since"]),
            s(&v["until"]),
            v["decisions"]
        );
    }
    out.push_str(&format!(
        "Near misses from {} to {} ({} decisions)\n",
        s(&v["since"]),
        s(&v["until"]),
        v["decisions"]
    ));
    let n = |x: &Value| x.as_i64().unwrap_or_default();
    let times = |k: i64| match k {
        1 => "once".to_string(),
        k => format!("{k} times"),
    };
    for r in &rules {
        let rule = s(&r["rule"]);
        out.push_str(&format!(
            "\n{rule}: nearly fired {}, fired {}\n",
            times(n(&r["near_misses"])),
            times(n(&r["fired"]))
        ));
        for c in r["checks"].as_array().into_iter().flatten() {
            let what = match (c["field"].as_str(), c["op"].as_str()) {
                (Some(f), Some(op)) => format!(" {f} {op}"),
                (Some(f), None) => format!(" {f}"),
                (None, Some(op)) => format!(" ({op})"),
                (None, None) => String::new(),
            };
            let wanted = match &c["wanted"] {
                Value::Null => String::new(),
                w => format!(", wanted {w}"),
            };
            out.push_str(&format!(
                "{:>8}  {}{what}{wanted}\n",
                n(&c["near_misses"]),
                s(&c["kind"]),
            ));
            let prefix = format!("`{rule}` did not fire: ");
            for f in c["found"].as_array().into_iter().flatten() {
                let because = s(&f["because"]);
                let example = f["examples"]
                    .as_array()
                    .and_then(|e| e.first())
                    .map(|e| format!("  (e.g. {})", s(&e["decision"])))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{:>12}  {}{example}\n",
                    n(&f["count"]),
                    because.strip_prefix(&prefix).unwrap_or(&because)
                ));
            }
            if n(&c["found_omitted"]) > 0 {
                out.push_str(&format!(
                    "{:>12}  with other values\n",
                    n(&c["found_omitted"])
                ));
            }
        }
    }
    out.push_str("\n`helios explain DECISION` tells an example in full.\n");
    out
}

pub async fn run(args: TuneArgs) -> anyhow::Result<ExitCode> {
    let (since, until) = range(&args.since, args.until.as_deref())?;
    let mut path = format!(
        "/v1/near-misses?since={}&examples={}",
        urlencoding::encode(&since),
        args.examples
    );
    if let Some(until) = &until {
        path.push_str(&format!("&until={}", urlencoding::encode(until)));
    }
    if let Some(rule) = &args.rule {
        path.push_str(&format!("&rule={}", urlencoding::encode(rule)));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_span_counts_back_from_the_end_and_times_are_read_as_given() {
        assert_eq!(
            range("1d", Some("2026-12-03T12:00:00Z")).unwrap(),
            (
                "2026-12-02T12:00:00Z".into(),
                Some("2026-12-03T12:00:00Z".into())
            )
        );
        assert_eq!(
            range("2026-12-01T00:00:00+01:00", Some("2026-12-03T12:00:00Z")).unwrap(),
            (
                "2026-11-30T23:00:00Z".into(),
                Some("2026-12-03T12:00:00Z".into())
            )
        );
        let e = range("yesterday", None).unwrap_err();
        assert!(format!("{e:#}").contains("a span such as 7d"), "{e:#}");
        assert!(range("1d", Some("noon")).is_err());
        let (since, until) = range("1h", None).unwrap();
        assert_eq!(until, None, "the server's now ends the range");
        let since = DateTime::parse_from_rfc3339(&since).unwrap();
        let back = Utc::now() - since.with_timezone(&Utc);
        assert!((3599..=3601).contains(&back.num_seconds()), "{back}");
    }

    #[test]
    fn the_report_names_each_check_and_the_values_it_found() {
        let v = json!({"since": "a", "until": "b", "decisions": 50, "rules": [{
            "rule": "ci-failing-on-main", "fired": 4, "near_misses": 7, "checks": [{
                "kind": "match", "field": "data.branch", "op": null, "wanted": ["main"],
                "near_misses": 7, "found_omitted": 1, "found": [{
                    "value": "master", "count": 6,
                    "because": "`ci-failing-on-main` did not fire: data.branch was \"master\", wanted \"main\"",
                    "examples": [{"decision": "dec_1", "event": "e1"}]}]}]}]});
        let text = render(&v);
        assert!(
            text.contains("ci-failing-on-main: nearly fired 7 times, fired 4 times\n"),
            "{text}"
        );
        assert!(
            text.contains("\n       7  match data.branch, wanted [\"main\"]\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n           6  data.branch was \"master\", wanted \"main\"  (e.g. dec_1)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n           1  with other values\n"),
            "{text}"
        );
        let none = render(&json!({"since": "a", "until": "b", "decisions": 3, "rules": []}));
        assert_eq!(none, "No rule nearly fired from a to b (3 decisions).\n");
    }
}
