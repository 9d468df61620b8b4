//! Execution history with the event names and fields of `GetExecutionHistory`.

use serde_json::{json, Map, Value};

use crate::clock::iso;

/// One history event. Inputs, outputs and parameters are kept as JSON values and written as
/// JSON strings, as Step Functions writes them, only when the history is read.
#[derive(Debug, Clone)]
pub struct Event {
    pub timestamp_ms: i64,
    pub kind: &'static str,
    pub id: u64,
    pub previous_id: u64,
    pub details: Option<(&'static str, Map<String, Value>)>,
}

/// The fields whose values Step Functions writes as JSON text.
const JSON_TEXT: &[&str] = &["input", "output", "parameters"];

impl Event {
    /// The event as `GetExecutionHistory` returns it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("timestamp".into(), Value::String(iso(self.timestamp_ms)));
        m.insert("type".into(), Value::String(self.kind.into()));
        m.insert("id".into(), json!(self.id));
        m.insert("previousEventId".into(), json!(self.previous_id));
        if let Some((key, fields)) = &self.details {
            let mut d = Map::new();
            for (k, v) in fields {
                if JSON_TEXT.contains(&k.as_str()) {
                    d.insert(k.clone(), Value::String(crate::error::quote(v)));
                    d.insert(format!("{k}Details"), json!({"truncated": false}));
                } else if k == "assignedVariables" {
                    let vars: Map<String, Value> = v
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .map(|(n, x)| (n.clone(), Value::String(crate::error::quote(x))))
                                .collect()
                        })
                        .unwrap_or_default();
                    d.insert(k.clone(), Value::Object(vars));
                    d.insert(
                        "assignedVariablesDetails".into(),
                        json!({"truncated": false}),
                    );
                } else {
                    d.insert(k.clone(), v.clone());
                }
            }
            m.insert((*key).into(), Value::Object(d));
        }
        Value::Object(m)
    }
}

/// The whole history as `{"events": […]}`.
pub fn to_json(events: &[Event]) -> Value {
    json!({"events": events.iter().map(Event::to_json).collect::<Vec<_>>()})
}

/// `PassStateEntered` and the like, by state type.
pub fn entered(ty: &str) -> &'static str {
    match ty {
        "Task" => "TaskStateEntered",
        "Pass" => "PassStateEntered",
        "Choice" => "ChoiceStateEntered",
        "Wait" => "WaitStateEntered",
        "Succeed" => "SucceedStateEntered",
        "Fail" => "FailStateEntered",
        "Parallel" => "ParallelStateEntered",
        _ => "MapStateEntered",
    }
}

/// `PassStateExited` and the like, by state type.
pub fn exited(ty: &str) -> &'static str {
    match ty {
        "Task" => "TaskStateExited",
        "Pass" => "PassStateExited",
        "Choice" => "ChoiceStateExited",
        "Wait" => "WaitStateExited",
        "Succeed" => "SucceedStateExited",
        "Parallel" => "ParallelStateExited",
        _ => "MapStateExited",
    }
}
