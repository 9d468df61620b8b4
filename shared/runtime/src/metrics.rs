//! Metrics in CloudWatch embedded metric format: one JSON line on stdout per invocation,
//! which CloudWatch Logs turns into metrics (namespace `Helios`, dimension `Function`)
//! without an API call. Outside Lambda the line is a log line like any other.

use std::io::Write as _;

use serde_json::{json, Map, Value};

/// The namespace of every Helios metric.
pub const NAMESPACE: &str = "Helios";

/// The unit of a metric, as CloudWatch names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The EMF document of `metrics` for `function` at `timestamp_ms`.
pub fn document(function: &str, timestamp_ms: i64, metrics: &[(&str, f64, Unit)]) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    doc.insert("Function".into(), Value::String(function.to_string()));
    for (name, value, _) in metrics {
        doc.insert((*name).to_string(), json!(value));
    }
    Value::Object(doc)
}

/// This function's name (`AWS_LAMBDA_FUNCTION_NAME`), read once.
fn function_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into())
    })
}

/// Writes the metrics of one invocation of this function.
pub fn emit(metrics: &[(&str, f64, Unit)]) {
    let line = document(
        function_name(),
        chrono::Utc::now().timestamp_millis(),
        metrics,
    );
    // One write of one line, so that lines of concurrent invocations never interleave.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// The EMF document of one refused request (`Refused`: 1) of problem type `slug`, by function
/// and problem type, and by problem type across functions: what `helios dev`'s health counts
/// under `refused`.
pub fn refused_document(function: &str, timestamp_ms: i64, slug: &str) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function", "ProblemType"], ["ProblemType"]],
                "Metrics": [{"Name": "Refused", "Unit": "Count"}],
            }],
        },
        "Function": function,
        "ProblemType": slug,
        "Refused": 1,
    })
}

/// Writes one refused request of problem type `slug` (the slug of `urn:helios:problem:<slug>`).
pub fn emit_refused(slug: &str) {
    let line = refused_document(function_name(), chrono::Utc::now().timestamp_millis(), slug);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// The decisions made in one invocation, counted as CloudWatch shows them: `Decisions` by
/// `Severity`, `RuleFired` by `Rule` and `NearMisses` by `Rule` (the rule that nearly fired),
/// one EMF document per dimension value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecisionCounts {
    by_severity: std::collections::BTreeMap<String, u64>,
    fired: std::collections::BTreeMap<String, u64>,
    near_misses: std::collections::BTreeMap<String, u64>,
}

impl DecisionCounts {
    /// Counts one decision made now (not one an earlier delivery recorded).
    pub fn add(&mut self, severity: &str, fired: &[String], near_misses: &[String]) {
        *self.by_severity.entry(severity.to_string()).or_default() += 1;
        for r in fired {
            *self.fired.entry(r.clone()).or_default() += 1;
        }
        for r in near_misses {
            *self.near_misses.entry(r.clone()).or_default() += 1;
        }
    }

    /// The EMF documents of these counts, for `function` at `timestamp_ms`.
    pub fn documents(&self, function: &str, timestamp_ms: i64) -> Vec<Value> {
        let one = |metric: &str, dimension: &str, value: &str, n: u64| {
            json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [[dimension]],
                        "Metrics": [{"Name": metric, "Unit": "Count"}],
                    }],
                },
                "Function": function,
                dimension: value,
                metric: n,
            })
        };
        let mut docs = Vec::new();
        for (severity, n) in &self.by_severity {
            docs.push(one("Decisions", "Severity", severity, *n));
        }
        for (rule, n) in &self.fired {
            docs.push(one("RuleFired", "Rule", rule, *n));
        }
        for (rule, n) in &self.near_misses {
            docs.push(one("NearMisses", "Rule", rule, *n));
        }
        docs
    }

    /// Writes them, one line each.
    pub fn emit(&self) {
        let docs = self.documents(function_name(), chrono::Utc::now().timestamp_millis());
        let mut out = std::io::stdout().lock();
        for doc in docs {
            let _ = writeln!(out, "{doc}");
        }
    }
}

/// The EMF document of one reconciliation decided with `verdict` (`matched`, `mismatched`,
/// `missed`): `Reconciliations` by `Verdict`, what the reconciliation-accuracy alarms read.
pub fn reconciliation_document(function: &str, timestamp_ms: i64, verdict: &str) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Verdict"]],
                "Metrics": [{"Name": "Reconciliations", "Unit": "Count"}],
            }],
        },
        "Function": function,
        "Verdict": verdict,
        "Reconciliations": 1,
    })
}

/// Writes one reconciliation's verdict.
pub fn emit_reconciliation(verdict: &str) {
    let line = reconciliation_document(
        function_name(),
        chrono::Utc::now().timestamp_millis(),
        verdict,
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// The store's transaction times (milliseconds) of the invocation under way, kept by
/// [`keep_commit_times`] and written by [`emit_commits`].
static COMMITS: std::sync::Mutex<Vec<f64>> = std::sync::Mutex::new(Vec::new());

/// Keeps each of the store's transaction times (`helios_ports::observe`) for
/// [`emit_commits`]. A Lambda calls it once at its start; `helios dev` exports them itself.
pub fn keep_commit_times() {
    helios_ports::observe::on_commit(|_, took| {
        if let Ok(mut c) = COMMITS.lock() {
            // Bounded: an invocation that commits more than this keeps its first ones.
            if c.len() < 10 * MAX_VALUES {
                c.push(took.as_secs_f64() * 1000.0);
            }
        }
    });
}

/// Writes the transaction times kept since the last call as `StoreCommit` samples, and
/// forgets them (at the end of each invocation).
pub fn emit_commits() {
    let samples = match COMMITS.lock() {
        Ok(mut c) => std::mem::take(&mut *c),
        Err(_) => return,
    };
    emit_values("StoreCommit", &samples, Unit::Milliseconds);
}

/// The EMF document of one `metric` counted once by one dimension (`CircuitOpened` by
/// `Channel`), and without it (what an alarm reads: it cannot search the dimension's values).
pub fn count_document(
    function: &str,
    timestamp_ms: i64,
    metric: &str,
    dimension: (&str, &str),
) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[dimension.0], []],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
        "Function": function,
        dimension.0: dimension.1,
        metric: 1,
    })
}

/// Writes one count of `metric` by one dimension.
pub fn emit_count(metric: &str, dimension: (&str, &str)) {
    let line = count_document(
        function_name(),
        chrono::Utc::now().timestamp_millis(),
        metric,
        dimension,
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// The most values one metric may carry in one EMF document.
pub const MAX_VALUES: usize = 100;

/// The EMF documents of many values of one metric (each a sample: CloudWatch computes
/// percentiles and percentile ranks over them), at most [`MAX_VALUES`] per document.
pub fn values_documents(
    function: &str,
    timestamp_ms: i64,
    name: &str,
    values: &[f64],
    unit: Unit,
) -> Vec<Value> {
    values
        .chunks(MAX_VALUES)
        .map(|chunk| {
            let mut doc = document(function, timestamp_ms, &[(name, 0.0, unit)]);
            doc[name] = json!(chunk);
            doc
        })
        .collect()
}

/// Writes the samples of one metric of this invocation (nothing when there are none).
pub fn emit_values(name: &str, values: &[f64], unit: Unit) {
    let docs = values_documents(
        function_name(),
        chrono::Utc::now().timestamp_millis(),
        name,
        values,
        unit,
    );
    let mut out = std::io::stdout().lock();
    for doc in docs {
        let _ = writeln!(out, "{doc}");
    }
}

/// [`emit`] of counts, and the milliseconds since `started` under `duration.0`.
pub fn emit_timed(counts: &[(&str, f64)], duration: (&str, std::time::Instant)) {
    emit(&timed(counts, duration.0, duration.1.elapsed()));
}

fn timed<'a>(
    counts: &[(&'a str, f64)],
    name: &'a str,
    took: std::time::Duration,
) -> Vec<(&'a str, f64, Unit)> {
    let mut metrics: Vec<(&str, f64, Unit)> =
        counts.iter().map(|(n, v)| (*n, *v, Unit::Count)).collect();
    metrics.push((name, took.as_secs_f64() * 1000.0, Unit::Milliseconds));
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_each_metric_and_carries_its_value() {
        let doc = document(
            "helios-decide",
            1_700_000_000_000,
            &[
                ("Messages", 10.0, Unit::Count),
                ("DurationMs", 12.5, Unit::Milliseconds),
            ],
        );
        assert_eq!(doc["Function"], "helios-decide");
        assert_eq!(doc["Messages"], 10.0);
        assert_eq!(doc["DurationMs"], 12.5);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], "Helios");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Messages", "Unit": "Count"}, {"Name": "DurationMs", "Unit": "Milliseconds"}])
        );
    }

    #[test]
    fn a_refusal_is_counted_by_function_and_problem_type() {
        let doc = refused_document("helios-ingest", 5, "unauthenticated");
        assert_eq!(doc["Refused"], 1);
        assert_eq!(doc["ProblemType"], "unauthenticated");
        assert_eq!(doc["Function"], "helios-ingest");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"],
            json!([["Function", "ProblemType"], ["ProblemType"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Refused", "Unit": "Count"}])
        );
    }

    #[test]
    fn decisions_are_counted_by_severity_rule_and_near_miss() {
        let mut c = DecisionCounts::default();
        c.add("high", &["a".into(), "b".into()], &["c".into()]);
        c.add("none", &[], &["c".into(), "a".into()]);
        c.add("high", &["a".into()], &[]);
        let docs = c.documents("helios-decide", 7);
        let seen: Vec<(String, String, u64)> = docs
            .iter()
            .map(|d| {
                let directive = &d["_aws"]["CloudWatchMetrics"][0];
                let metric = directive["Metrics"][0]["Name"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let dim = directive["Dimensions"][0][0].as_str().unwrap();
                (
                    metric.clone(),
                    d[dim].as_str().unwrap().to_string(),
                    d[&metric].as_u64().unwrap(),
                )
            })
            .collect();
        let want = [
            ("Decisions", "high", 2),
            ("Decisions", "none", 1),
            ("RuleFired", "a", 2),
            ("RuleFired", "b", 1),
            ("NearMisses", "a", 1),
            ("NearMisses", "c", 2),
        ]
        .map(|(m, v, n)| (m.to_string(), v.to_string(), n));
        assert_eq!(seen, want);
        assert!(DecisionCounts::default().documents("f", 1).is_empty());
    }

    #[test]
    fn a_reconciliation_is_counted_by_its_verdict() {
        let doc = reconciliation_document("helios-expect", 3, "missed");
        assert_eq!(doc["Reconciliations"], 1);
        assert_eq!(doc["Verdict"], "missed");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Verdict"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Reconciliations", "Unit": "Count"}])
        );
    }

    #[test]
    fn a_count_carries_its_dimension() {
        let doc = count_document("helios-notify", 9, "CircuitOpened", ("Channel", "chat"));
        assert_eq!(doc["CircuitOpened"], 1);
        assert_eq!(doc["Channel"], "chat");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Channel"], []])
        );
    }

    #[test]
    fn samples_go_as_arrays_of_at_most_a_hundred_values() {
        let values: Vec<f64> = (0..250).map(f64::from).collect();
        let docs = values_documents(
            "helios-decide",
            1,
            "EventToDecision",
            &values,
            Unit::Milliseconds,
        );
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["EventToDecision"].as_array().unwrap().len(), 100);
        assert_eq!(
            docs[2]["EventToDecision"],
            json!((200..250).map(f64::from).collect::<Vec<_>>())
        );
        assert_eq!(
            docs[1]["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "EventToDecision", "Unit": "Milliseconds"}])
        );
        assert!(values_documents("f", 1, "X", &[], Unit::Count).is_empty());
    }

    #[test]
    fn timed_metrics_are_counts_and_a_duration_in_milliseconds() {
        let m = timed(
            &[("Requests", 1.0), ("Status5xx", 0.0)],
            "RequestDuration",
            std::time::Duration::from_micros(2_500),
        );
        assert_eq!(
            m,
            vec![
                ("Requests", 1.0, Unit::Count),
                ("Status5xx", 0.0, Unit::Count),
                ("RequestDuration", 2.5, Unit::Milliseconds),
            ]
        );
    }
}
