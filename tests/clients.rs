//! The real clients: `../shared/conformance/clients/run.py` posts 359 requests written by
//! other projects (GitHub's octokit/webhooks examples, the CloudEvents spec and SDKs, Azure
//! Event Grid, Google Pub/Sub, AWS EventBridge) to a fresh `helios dev`, the way each real
//! sender would, and reads every accepted event back. The corpus is read where it is, never
//! copied here.
//!
//! Every sample must be accepted with plausible fields, except where the sample or run.py's
//! check is at odds with a documented rule; each such difference is named below with its
//! reason, and checked against the sample itself, so that no other failure can hide among
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn clients_dir() -> PathBuf {
    let dir = std::env::var_os("HELIOS_CLIENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/clients")
        });
    assert!(
        dir.join("run.py").is_file(),
        "the client corpus is not at {}: check out the project beside `shared/`, or set \
         HELIOS_CLIENTS_DIR to the folder that holds run.py",
        dir.display()
    );
    dir
}

/// Samples that are invalid by their own format's specification: refused, with a problem
/// that names the field (sample, the field the problem must name, the clause).
const INVALID: [(&str, &str, &str); 2] = [
    (
        "pubsub/sample_message.json",
        "subscription",
        "Pub/Sub push (https://cloud.google.com/pubsub/docs/push#receive_push): the body \
         carries `message.messageId`, `message.publishTime` and `subscription`; this developer \
         sample has none of them",
    ),
    (
        "eventbridge/example-cloudwatch-alarm-composite-with-suppressor-alarm.json",
        "detail",
        "EventBridge event structure: `detail` is required; this is the payload of a CloudWatch \
         alarm's Lambda action (`alarmData`), not an EventBridge event",
    ),
];

fn sample(name: &str) -> Value {
    let bytes = std::fs::read(clients_dir().join(name)).unwrap();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    serde_json::from_slice(bytes).unwrap()
}

/// Whether `time` (as Helios wrote it) is the integer Unix time at `pointer` of the sample:
/// a timestamp run.py does not read (it looks for RFC 3339 strings only).
fn is_epoch_time_of(name: &str, pointers: &[&str], time: &str) -> bool {
    let v = sample(name);
    pointers.iter().any(|p| {
        v.pointer(p)
            .and_then(Value::as_i64)
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
            .is_some_and(|t| helios_events::format_time(&t) == time)
    })
}

/// Why a failure line of run.py is expected, or `None` when it is a real failure.
fn explained(name: &str, failure: &str) -> Option<&'static str> {
    if let Some((_, field, _)) = INVALID.iter().find(|(n, _, _)| *n == name) {
        return (failure.starts_with("HTTP 400 ") && failure.contains(&format!("`{field}`")))
            .then_some("invalid by its own specification");
    }
    let fields = failure.strip_prefix("fields: ")?;
    let parts: Vec<&str> = fields.split("; ").collect();
    if parts.len() > 1 {
        // Several fields of one sample: each must be explained, and they are counted once.
        let reasons: Option<Vec<&str>> = parts
            .iter()
            .map(|p| explained(name, &format!("fields: {p}")))
            .collect();
        return reasons.map(|_| "several of the differences below in one sample");
    }
    if let Some(rest) = fields.strip_prefix("source ") {
        // A custom topic's CloudEvents keep the publisher's own source, which the Event
        // Grid hook may not speak for as it is: it is recorded as `eventgrid:<source>`
        // (issue 13, source spoofing across trust boundaries).
        let (got, want) = rest.split_once(", expected ")?;
        let ok = name.starts_with("eventgrid/")
            && got.trim_matches('\'') == format!("eventgrid:{}", want.trim_matches('\''));
        return ok.then_some("a publisher's own source through Event Grid is namespaced");
    }
    if let Some(rest) = failure.strip_prefix("fields: time ") {
        let time = rest.split(' ').next().unwrap_or_default();
        let pointers: &[&str] = match name.split('/').nth(1)?.split('.').next()? {
            // GitHub has no push time but `repository.pushed_at`, in Unix seconds in push
            // payloads (issue 13: "the push time (repository.pushed_at) for push").
            "push" => &["/repository/pushed_at"],
            // `installation.created_at` and `updated_at` are Unix seconds there too.
            "installation" => &["/installation/created_at", "/installation/updated_at"],
            _ => return None,
        };
        let ok = rest.ends_with("is neither a timestamp of the payload nor the time of receipt")
            && is_epoch_time_of(name, pointers, time);
        return ok.then_some("a Unix-seconds timestamp of the payload, which run.py does not read");
    }
    if failure == "fields: subject None, expected ''" {
        // Issue 13: "an empty optional field is an absent one, in every format".
        let v = sample(name);
        let events = v.as_array().cloned().unwrap_or_else(|| vec![v]);
        return events
            .iter()
            .any(|e| e.get("subject").and_then(Value::as_str) == Some(""))
            .then_some("an empty subject is recorded as no subject");
    }
    None
}

#[test]
fn the_real_clients_are_accepted_with_plausible_fields() {
    let dir = clients_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(dir.join("run.py"))
        .current_dir(&root)
        .env("HELIOS_BIN", env!("CARGO_BIN_EXE_helios"))
        .env_remove("HELIOS_API_KEY")
        .env_remove("HELIOS_GITHUB_SECRET")
        .env_remove("HELIOS_PUBSUB_TOKEN")
        .env_remove("HELIOS_EVENTGRID_TOKEN")
        .output()
        .expect("python3 runs (install Python 3: sudo apt-get install -y python3)");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .find(|l| l.starts_with("clients: "))
        .unwrap_or_else(|| {
            panic!(
                "run.py printed no summary:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [accepted, total, plausible, _] = numbers[..] else {
        panic!("unexpected summary: {summary}")
    };
    assert_eq!(total, 359, "{summary}");

    let mut reasons: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut unexplained = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("FAIL ")) {
        let rest = &line["FAIL ".len()..];
        let Some((name, failure)) = rest.split_once(": ") else {
            unexplained.push(line.to_string());
            continue;
        };
        match explained(name, failure) {
            Some(why) => reasons.entry(why).or_default().push(name.to_string()),
            None => unexplained.push(line.to_string()),
        }
    }
    assert!(
        unexplained.is_empty(),
        "failures with no documented reason:\n{}\n\n{summary}",
        unexplained.join("\n")
    );
    assert_eq!(
        accepted,
        total - INVALID.len(),
        "every sample but the {} invalid ones is accepted: {summary}",
        INVALID.len()
    );
    let differences: usize = reasons
        .iter()
        .filter(|(why, _)| **why != "invalid by its own specification")
        .map(|(_, names)| names.len())
        .sum();
    assert_eq!(plausible, accepted - differences, "{summary}\n{reasons:#?}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok   eventgrid CloudEvents-schema OPTIONS")),
        "the Event Grid CloudEvents handshake is answered:\n{text}"
    );
    eprintln!("{summary}\nexplained differences: {reasons:#?}");
}
