//! The tables of the archive: their columns (the documented schema, which the Glue tables of
//! `terraform/analytics.tf` repeat) and how recorded rows become Arrow batches of them.
//!
//! | table         | one row per                         | partitioned by   |
//! |---------------|-------------------------------------|------------------|
//! | `facts`       | recorded fact                       | `date`, `family` |
//! | `decisions`   | decision                            | `date`           |
//! | `fired`       | rule that fired in a decision       | `date`           |
//! | `near_misses` | check that stood in a near miss's way | `date`         |
//! | `outcomes`    | outcome of a decision's workflow    | `date`           |
//!
//! Times are microseconds in UTC. JSON kept whole (`correlation`, `data`, `body`, `wanted`,
//! `found`) is JSON text, for Athena's `json_extract_scalar` and DuckDB's `->>`; what the
//! saved queries need is a column of its own, so that they run unchanged on an engine with
//! no JSON functions (the embedded one of `helios analytics`).

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use helios_ports::store::{Fact, Outcome, StoredDecision};
use serde_json::Value;

use crate::ArchiveError;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, ArchiveError> {
    RecordBatch::try_new(schema, columns).map_err(|e| ArchiveError::Parquet(e.to_string()))
}

fn trace_id_of(traceparent: Option<&str>) -> Option<String> {
    traceparent
        .and_then(helios_ports::trace::TraceContext::parse)
        .map(|t| t.trace_id_hex())
}

/// The columns of the facts' files, in order. Times are microseconds in UTC; `correlation`
/// and `data` are JSON text (Athena's `json_extract_scalar`, DuckDB's `->>`).
pub fn facts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("helios_id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("subject", DataType::Utf8, true),
        Field::new("time", ts(), false),
        Field::new("received_at", ts(), false),
        Field::new("format", DataType::Utf8, false),
        Field::new("correlation", DataType::Utf8, false),
        Field::new("data", DataType::Utf8, false),
        Field::new("schema_valid", DataType::Boolean, true),
        Field::new("trace_id", DataType::Utf8, true),
    ]))
}

/// The facts as one Arrow batch of [`facts_schema`].
pub fn facts_batch(facts: &[&Fact]) -> Result<RecordBatch, ArchiveError> {
    let n = facts.len();
    let mut seq = Int64Builder::with_capacity(n);
    let mut helios_id = StringBuilder::with_capacity(n, n * 36);
    let mut source = StringBuilder::with_capacity(n, n * 16);
    let mut id = StringBuilder::with_capacity(n, n * 16);
    let mut event_type = StringBuilder::with_capacity(n, n * 24);
    let mut subject = StringBuilder::with_capacity(n, n * 16);
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut received = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut format = StringBuilder::with_capacity(n, n * 8);
    let mut correlation = StringBuilder::with_capacity(n, n * 32);
    let mut data = StringBuilder::with_capacity(n, n * 256);
    let mut schema_valid = BooleanBuilder::with_capacity(n);
    let mut trace_id = StringBuilder::with_capacity(n, n * 32);
    let mut text = String::new();
    for f in facts {
        let e = &f.event;
        seq.append_value(f.seq);
        helios_id.append_value(&e.helios_id);
        source.append_value(&e.source);
        id.append_value(&e.id);
        event_type.append_value(&e.event_type);
        subject.append_option(e.subject.as_deref());
        time.append_value(e.time.timestamp_micros());
        received.append_value(e.received_at.timestamp_micros());
        format.append_value(e.format.to_string());
        text.clear();
        json_into(&mut text, &e.correlation)?;
        correlation.append_value(&text);
        text.clear();
        json_into(&mut text, &e.data)?;
        data.append_value(&text);
        schema_valid.append_option(e.schema.as_ref().map(|s| s.valid));
        trace_id.append_option(trace_id_of(e.traceparent.as_deref()));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(helios_id.finish()),
        Arc::new(source.finish()),
        Arc::new(id.finish()),
        Arc::new(event_type.finish()),
        Arc::new(subject.finish()),
        Arc::new(time.finish()),
        Arc::new(received.finish()),
        Arc::new(format.finish()),
        Arc::new(correlation.finish()),
        Arc::new(data.finish()),
        Arc::new(schema_valid.finish()),
        Arc::new(trace_id.finish()),
    ];
    batch(facts_schema(), columns)
}

fn json_into<T: serde::Serialize>(out: &mut String, value: &T) -> Result<(), ArchiveError> {
    // Serialising a JSON value or a map of strings cannot fail; said rather than unwrapped.
    let s = serde_json::to_string(value).map_err(|e| ArchiveError::Parquet(e.to_string()))?;
    out.push_str(&s);
    Ok(())
}

/// The columns of the decisions' files: one row per decision, whatever fired.
pub fn decisions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("helios_id", DataType::Utf8, false),
        Field::new("ruleset", DataType::Utf8, false),
        Field::new("ruleset_hash", DataType::Utf8, false),
        Field::new("subject", DataType::Utf8, true),
        Field::new("severity", DataType::Utf8, true),
        Field::new("score", DataType::Float64, false),
        Field::new("rules_fired", DataType::Int32, false),
        Field::new("near_misses", DataType::Int32, false),
        Field::new("decided_at", ts(), false),
        Field::new("trace_id", DataType::Utf8, true),
    ]))
}

/// The columns of the fired rules' files: one row per rule that fired in a decision.
pub fn fired_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("decision_seq", DataType::Int64, false),
        Field::new("decision_id", DataType::Utf8, false),
        Field::new("helios_id", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        // 0 for the rule of highest priority.
        Field::new("position", DataType::Int32, false),
        Field::new("severity", DataType::Utf8, true),
        Field::new("score", DataType::Int64, true),
        Field::new("decided_at", ts(), false),
    ]))
}

/// The columns of the near misses' files: one row per check that did not hold in a rule
/// that nearly fired (a near miss is a rule with exactly one such check, so one row each).
pub fn near_misses_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("decision_seq", DataType::Int64, false),
        Field::new("decision_id", DataType::Utf8, false),
        Field::new("helios_id", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("because", DataType::Utf8, true),
        // `match`, `arrays`, `where`, `window` or `dedupe`.
        Field::new("check_kind", DataType::Utf8, true),
        Field::new("field", DataType::Utf8, true),
        Field::new("op", DataType::Utf8, true),
        Field::new("wanted", DataType::Utf8, true),
        Field::new("found", DataType::Utf8, true),
        Field::new("decided_at", ts(), false),
    ]))
}

/// The columns of the outcomes' files: one row per outcome of a decision's workflow
/// (`awaiting_ack`, `acknowledged`, `advice`, `outcome`, …).
pub fn outcomes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("decision_id", DataType::Utf8, false),
        Field::new("execution", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("recorded_at", ts(), false),
        // Of an `outcome`: whether the workflow escalated.
        Field::new("escalated", DataType::Boolean, true),
        // Of an `acknowledged`: who.
        Field::new("acked_by", DataType::Utf8, true),
        // Of an `advice`: its confidence, 0 to 1.
        Field::new("confidence", DataType::Float64, true),
        Field::new("body", DataType::Utf8, false),
    ]))
}

fn fired_entries(body: &Value) -> &[Value] {
    body.get("fired")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn near_miss_entries(body: &Value) -> impl Iterator<Item = &Value> {
    body.get("trace")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|t| t.get("outcome").and_then(Value::as_str) == Some("near_miss"))
}

/// The decisions as one batch of [`decisions_schema`].
pub fn decisions_batch(decisions: &[&StoredDecision]) -> Result<RecordBatch, ArchiveError> {
    let n = decisions.len();
    let mut seq = Int64Builder::with_capacity(n);
    let mut id = StringBuilder::with_capacity(n, n * 36);
    let mut helios_id = StringBuilder::with_capacity(n, n * 36);
    let mut ruleset = StringBuilder::with_capacity(n, n * 16);
    let mut hash = StringBuilder::with_capacity(n, n * 64);
    let mut subject = StringBuilder::with_capacity(n, n * 16);
    let mut severity = StringBuilder::with_capacity(n, n * 8);
    let mut score = Float64Builder::with_capacity(n);
    let mut fired = Int32Builder::with_capacity(n);
    let mut near = Int32Builder::with_capacity(n);
    let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut trace_id = StringBuilder::with_capacity(n, n * 32);
    for s in decisions {
        let d = &s.decision;
        seq.append_value(s.seq);
        id.append_value(&d.id);
        helios_id.append_value(&d.event_id);
        ruleset.append_value(&d.ruleset);
        hash.append_value(&d.ruleset_hash);
        subject.append_option(d.subject.as_deref());
        severity.append_option(d.severity.as_deref());
        score.append_value(d.score);
        fired.append_value(i32::try_from(d.rules.len()).unwrap_or(i32::MAX));
        near.append_value(i32::try_from(near_miss_entries(&d.body).count()).unwrap_or(i32::MAX));
        at.append_value(d.decided_at.timestamp_micros());
        trace_id.append_option(d.body.get("trace_id").and_then(Value::as_str));
    }
    batch(
        decisions_schema(),
        vec![
            Arc::new(seq.finish()),
            Arc::new(id.finish()),
            Arc::new(helios_id.finish()),
            Arc::new(ruleset.finish()),
            Arc::new(hash.finish()),
            Arc::new(subject.finish()),
            Arc::new(severity.finish()),
            Arc::new(score.finish()),
            Arc::new(fired.finish()),
            Arc::new(near.finish()),
            Arc::new(at.finish()),
            Arc::new(trace_id.finish()),
        ],
    )
}

/// The rules that fired in the decisions, as one batch of [`fired_schema`]; `None` when
/// none fired. The rules are the decision's, in priority order; their severity and score
/// come from the `fired` entries of its body.
pub fn fired_batch(decisions: &[&StoredDecision]) -> Result<Option<RecordBatch>, ArchiveError> {
    let n: usize = decisions.iter().map(|s| s.decision.rules.len()).sum();
    if n == 0 {
        return Ok(None);
    }
    let mut seq = Int64Builder::with_capacity(n);
    let mut decision_id = StringBuilder::with_capacity(n, n * 36);
    let mut helios_id = StringBuilder::with_capacity(n, n * 36);
    let mut rule = StringBuilder::with_capacity(n, n * 16);
    let mut position = Int32Builder::with_capacity(n);
    let mut severity = StringBuilder::with_capacity(n, n * 8);
    let mut score = Int64Builder::with_capacity(n);
    let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    for s in decisions {
        let d = &s.decision;
        let entries = fired_entries(&d.body);
        for (i, r) in d.rules.iter().enumerate() {
            let entry = entries
                .iter()
                .find(|e| e.get("rule").and_then(Value::as_str) == Some(r.as_str()));
            seq.append_value(s.seq);
            decision_id.append_value(&d.id);
            helios_id.append_value(&d.event_id);
            rule.append_value(r);
            position.append_value(i32::try_from(i).unwrap_or(i32::MAX));
            severity.append_option(entry.and_then(|e| e.get("severity")?.as_str()));
            score.append_option(entry.and_then(|e| e.get("score")?.as_i64()));
            at.append_value(d.decided_at.timestamp_micros());
        }
    }
    batch(
        fired_schema(),
        vec![
            Arc::new(seq.finish()),
            Arc::new(decision_id.finish()),
            Arc::new(helios_id.finish()),
            Arc::new(rule.finish()),
            Arc::new(position.finish()),
            Arc::new(severity.finish()),
            Arc::new(score.finish()),
            Arc::new(at.finish()),
        ],
    )
    .map(Some)
}

/// The checks that stood in the way of the decisions' near misses, as one batch of
/// [`near_misses_schema`]; `None` when there were none.
pub fn near_misses_batch(
    decisions: &[&StoredDecision],
) -> Result<Option<RecordBatch>, ArchiveError> {
    let mut rows = Vec::new();
    for s in decisions {
        for t in near_miss_entries(&s.decision.body) {
            let checks = t.get("checks").and_then(Value::as_array);
            for c in checks.into_iter().flatten() {
                if c.get("held").and_then(Value::as_bool) == Some(false) {
                    rows.push((*s, t, c));
                }
            }
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let n = rows.len();
    let mut seq = Int64Builder::with_capacity(n);
    let mut decision_id = StringBuilder::with_capacity(n, n * 36);
    let mut helios_id = StringBuilder::with_capacity(n, n * 36);
    let mut rule = StringBuilder::with_capacity(n, n * 16);
    let mut because = StringBuilder::with_capacity(n, n * 64);
    let mut kind = StringBuilder::with_capacity(n, n * 8);
    let mut field = StringBuilder::with_capacity(n, n * 16);
    let mut op = StringBuilder::with_capacity(n, n * 8);
    let mut wanted = StringBuilder::with_capacity(n, n * 16);
    let mut found = StringBuilder::with_capacity(n, n * 16);
    let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let text = |v: Option<&Value>| v.map(Value::to_string);
    for (s, t, c) in rows {
        let d = &s.decision;
        seq.append_value(s.seq);
        decision_id.append_value(&d.id);
        helios_id.append_value(&d.event_id);
        rule.append_value(t.get("rule").and_then(Value::as_str).unwrap_or_default());
        because.append_option(t.get("because").and_then(Value::as_str));
        kind.append_option(c.get("kind").and_then(Value::as_str));
        field.append_option(c.get("field").and_then(Value::as_str));
        op.append_option(c.get("op").and_then(Value::as_str));
        wanted.append_option(text(c.get("wanted")));
        found.append_option(text(c.get("found")));
        at.append_value(d.decided_at.timestamp_micros());
    }
    batch(
        near_misses_schema(),
        vec![
            Arc::new(seq.finish()),
            Arc::new(decision_id.finish()),
            Arc::new(helios_id.finish()),
            Arc::new(rule.finish()),
            Arc::new(because.finish()),
            Arc::new(kind.finish()),
            Arc::new(field.finish()),
            Arc::new(op.finish()),
            Arc::new(wanted.finish()),
            Arc::new(found.finish()),
            Arc::new(at.finish()),
        ],
    )
    .map(Some)
}

/// The outcomes, each with its position in the order recorded, as one batch of
/// [`outcomes_schema`].
pub fn outcomes_batch(outcomes: &[&(i64, Outcome)]) -> Result<RecordBatch, ArchiveError> {
    let n = outcomes.len();
    let mut seq = Int64Builder::with_capacity(n);
    let mut decision_id = StringBuilder::with_capacity(n, n * 36);
    let mut execution = StringBuilder::with_capacity(n, n * 40);
    let mut kind = StringBuilder::with_capacity(n, n * 12);
    let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut escalated = BooleanBuilder::with_capacity(n);
    let mut acked_by = StringBuilder::with_capacity(n, n * 8);
    let mut confidence = Float64Builder::with_capacity(n);
    let mut body = StringBuilder::with_capacity(n, n * 128);
    let mut text = String::new();
    for (s, o) in outcomes.iter().map(|p| (&p.0, &p.1)) {
        seq.append_value(*s);
        decision_id.append_value(&o.decision_id);
        execution.append_value(&o.execution);
        kind.append_value(&o.kind);
        at.append_value(o.recorded_at.timestamp_micros());
        escalated.append_option(
            (o.kind == "outcome").then(|| o.body.get("escalated").is_some_and(|e| !e.is_null())),
        );
        acked_by.append_option(
            (o.kind == "acknowledged")
                .then(|| o.body.get("acked_by").and_then(Value::as_str))
                .flatten(),
        );
        confidence.append_option(
            (o.kind == "advice")
                .then(|| o.body.get("confidence").and_then(Value::as_f64))
                .flatten(),
        );
        text.clear();
        json_into(&mut text, &o.body)?;
        body.append_value(&text);
    }
    batch(
        outcomes_schema(),
        vec![
            Arc::new(seq.finish()),
            Arc::new(decision_id.finish()),
            Arc::new(execution.finish()),
            Arc::new(kind.finish()),
            Arc::new(at.finish()),
            Arc::new(escalated.finish()),
            Arc::new(acked_by.finish()),
            Arc::new(confidence.finish()),
            Arc::new(body.finish()),
        ],
    )
}
