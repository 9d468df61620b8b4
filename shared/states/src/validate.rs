//! Validation of a state machine definition, as Step Functions validates one before it
//! accepts it: every fault is reported at once, each naming the state and the JSON path of
//! the fault inside the definition.
//!
//! Checked: the shape of the definition and of every state type (unknown fields, fields of
//! the wrong query language), `Next`/`End`, transitions to states that do not exist (or out
//! of a Parallel branch or Map processor), unreachable states, Choice rules (every
//! comparison operator, its `…Path` form, `And`/`Or`/`Not`, `Next` only at the top), Wait
//! (exactly one of its four fields), a terminal state in every machine, Fail (`Error`/`ErrorPath`, `Cause`/`CausePath`),
//! `Retry` and `Catch` (`States.ALL` alone and last), timeouts, JSONPath and reference path
//! syntax, payload templates (`.$` keys) and intrinsic function names.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

/// A fault in a definition: the state it is in (if any), where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{path}: {message}", state.as_ref().map(|s| format!("state `{s}`: ")).unwrap_or_default())]
pub struct AslError {
    pub state: Option<String>,
    /// A JSONPath into the definition, such as `$.States.Notify.Retry[0].BackoffRate`.
    pub path: String,
    pub message: String,
}

/// Validates a definition; every fault found, in document order.
pub fn validate(definition: &Value) -> Result<(), Vec<AslError>> {
    let mut v = Validator { errors: Vec::new() };
    v.machine(definition, "$", QueryLanguage::JsonPath, true);
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QueryLanguage {
    JsonPath,
    Jsonata,
}

struct Validator {
    errors: Vec<AslError>,
}

const INTRINSICS: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

/// The comparison operators of a Choice rule and the type of value each takes.
const COMPARISONS: &[(&str, Kind)] = &[
    ("StringEquals", Kind::Str),
    ("StringLessThan", Kind::Str),
    ("StringGreaterThan", Kind::Str),
    ("StringLessThanEquals", Kind::Str),
    ("StringGreaterThanEquals", Kind::Str),
    ("StringMatches", Kind::Str),
    ("NumericEquals", Kind::Num),
    ("NumericLessThan", Kind::Num),
    ("NumericGreaterThan", Kind::Num),
    ("NumericLessThanEquals", Kind::Num),
    ("NumericGreaterThanEquals", Kind::Num),
    ("BooleanEquals", Kind::Bool),
    ("TimestampEquals", Kind::Str),
    ("TimestampLessThan", Kind::Str),
    ("TimestampGreaterThan", Kind::Str),
    ("TimestampLessThanEquals", Kind::Str),
    ("TimestampGreaterThanEquals", Kind::Str),
    ("IsNull", Kind::Bool),
    ("IsPresent", Kind::Bool),
    ("IsNumeric", Kind::Bool),
    ("IsString", Kind::Bool),
    ("IsBoolean", Kind::Bool),
    ("IsTimestamp", Kind::Bool),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    Num,
    Bool,
}

fn key_path(base: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !key.is_empty() {
        format!("{base}.{key}")
    } else {
        format!("{base}['{}']", key.replace('\'', "\\'"))
    }
}

impl Validator {
    fn err(&mut self, state: Option<&str>, path: &str, message: impl Into<String>) {
        self.errors.push(AslError {
            state: state.map(str::to_string),
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// A state machine: the definition itself, a Parallel branch or a Map processor.
    fn machine(&mut self, v: &Value, path: &str, inherited: QueryLanguage, top: bool) {
        let Some(m) = v.as_object() else {
            self.err(
                None,
                path,
                "a state machine is a JSON object with `StartAt` and `States`",
            );
            return;
        };
        let allowed: &[&str] = if top {
            &[
                "Comment",
                "StartAt",
                "States",
                "Version",
                "TimeoutSeconds",
                "QueryLanguage",
            ]
        } else {
            &[
                "Comment",
                "StartAt",
                "States",
                "ProcessorConfig",
                "QueryLanguage",
            ]
        };
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    None,
                    &key_path(path, k),
                    format!("`{k}` is not a field of a state machine"),
                );
            }
        }
        let ql = self.query_language(m, path, None, inherited);
        if top {
            if let Some(t) = m.get("TimeoutSeconds") {
                self.positive_int(None, &key_path(path, "TimeoutSeconds"), t);
            }
        }
        let states_path = key_path(path, "States");
        let states = match m.get("States") {
            Some(Value::Object(s)) if !s.is_empty() => Some(s),
            Some(Value::Object(_)) => {
                self.err(None, &states_path, "`States` has no state");
                None
            }
            Some(_) => {
                self.err(
                    None,
                    &states_path,
                    "`States` is an object of states by name",
                );
                None
            }
            None => {
                self.err(None, path, "a state machine needs `States`");
                None
            }
        };
        let start = match m.get("StartAt") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.err(
                    None,
                    &key_path(path, "StartAt"),
                    "`StartAt` is the name of a state",
                );
                None
            }
            None => {
                self.err(None, path, "a state machine needs `StartAt`");
                None
            }
        };
        let Some(states) = states else { return };
        if let Some(s) = start {
            if !states.contains_key(s) {
                self.err(
                    None,
                    &key_path(path, "StartAt"),
                    format!("`StartAt` names `{s}`, which is not a state of this machine"),
                );
            }
        }
        let mut edges: HashMap<&str, Vec<String>> = HashMap::new();
        for (name, sv) in states {
            let sp = key_path(&states_path, name);
            if name.chars().count() > 80 {
                self.err(Some(name), &sp, "a state name has at most 80 characters");
            }
            let next = self.state(name, sv, &sp, ql);
            for (target, at) in &next {
                if !states.contains_key(target) {
                    self.err(
                        Some(name),
                        at,
                        format!(
                            "transition to `{target}`, which is not a state of this machine{}",
                            if top {
                                ""
                            } else {
                                " (a branch or processor cannot leave itself)"
                            }
                        ),
                    );
                }
            }
            edges.insert(name.as_str(), next.into_iter().map(|(t, _)| t).collect());
        }
        let terminal = states.values().any(|st| {
            matches!(
                st.get("Type").and_then(Value::as_str),
                Some("Succeed" | "Fail")
            ) || st.get("End") == Some(&Value::Bool(true))
        });
        if !terminal {
            self.err(
                None,
                &states_path,
                "the state machine has no terminal state (`Succeed`, `Fail` or `\"End\": true`)",
            );
        }
        // Every state must be reachable from StartAt.
        if let Some(s) = start.filter(|s| states.contains_key(*s)) {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut todo = vec![s];
            while let Some(n) = todo.pop() {
                if !seen.insert(n) {
                    continue;
                }
                for t in edges.get(n).into_iter().flatten() {
                    if let Some((k, _)) = states.get_key_value(t.as_str()) {
                        todo.push(k.as_str());
                    }
                }
            }
            for name in states.keys() {
                if !seen.contains(name.as_str()) {
                    self.err(
                        Some(name),
                        &key_path(&states_path, name),
                        "the state is unreachable from `StartAt`",
                    );
                }
            }
        }
    }

    fn query_language(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        state: Option<&str>,
        inherited: QueryLanguage,
    ) -> QueryLanguage {
        match m.get("QueryLanguage") {
            None => inherited,
            Some(Value::String(s)) if s == "JSONPath" => {
                if inherited == QueryLanguage::Jsonata {
                    self.err(
                        state,
                        &key_path(path, "QueryLanguage"),
                        "a state cannot use JSONPath inside a JSONata state machine",
                    );
                }
                QueryLanguage::JsonPath
            }
            Some(Value::String(s)) if s == "JSONata" => QueryLanguage::Jsonata,
            Some(_) => {
                self.err(
                    state,
                    &key_path(path, "QueryLanguage"),
                    "`QueryLanguage` is `JSONPath` or `JSONata`",
                );
                inherited
            }
        }
    }

    /// Checks one state; returns its transitions (target, path of the field).
    fn state(
        &mut self,
        name: &str,
        v: &Value,
        path: &str,
        inherited: QueryLanguage,
    ) -> Vec<(String, String)> {
        let s = Some(name);
        let Some(m) = v.as_object() else {
            self.err(s, path, "a state is a JSON object with a `Type`");
            return Vec::new();
        };
        let ql = self.query_language(m, path, s, inherited);
        let ty = match m.get("Type").and_then(Value::as_str) {
            Some(t) => t,
            None => {
                self.err(s, path, "a state needs a `Type`");
                return Vec::new();
            }
        };
        const JSONPATH_IO: &[&str] = &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "ResultSelector",
        ];
        let (fields, jsonpath_only, jsonata_only): (&[&str], &[&str], &[&str]) = match ty {
            "Pass" => (
                &["Next", "End", "Result", "Assign"],
                &[
                    "InputPath",
                    "OutputPath",
                    "Parameters",
                    "ResultPath",
                    "Result",
                ],
                &["Output"],
            ),
            "Task" => (
                &[
                    "Resource",
                    "Next",
                    "End",
                    "Retry",
                    "Catch",
                    "TimeoutSeconds",
                    "HeartbeatSeconds",
                    "Credentials",
                    "Assign",
                ],
                &[
                    "InputPath",
                    "OutputPath",
                    "Parameters",
                    "ResultPath",
                    "ResultSelector",
                    "TimeoutSecondsPath",
                    "HeartbeatSecondsPath",
                ],
                &["Arguments", "Output"],
            ),
            "Choice" => (
                &["Choices", "Default", "Assign"],
                &["InputPath", "OutputPath"],
                &["Output"],
            ),
            "Wait" => (
                &["Next", "End", "Seconds", "Timestamp", "Assign"],
                &["InputPath", "OutputPath", "SecondsPath", "TimestampPath"],
                &["Output"],
            ),
            "Succeed" => (&[], &["InputPath", "OutputPath"], &["Output"]),
            "Fail" => (&["Error", "Cause"], &["ErrorPath", "CausePath"], &[]),
            "Parallel" => (
                &["Branches", "Next", "End", "Retry", "Catch", "Assign"],
                JSONPATH_IO,
                &["Arguments", "Output"],
            ),
            "Map" => (
                &[
                    "ItemProcessor",
                    "Iterator",
                    "ItemSelector",
                    "MaxConcurrency",
                    "ToleratedFailurePercentage",
                    "ToleratedFailureCount",
                    "ItemReader",
                    "ItemBatcher",
                    "ResultWriter",
                    "Label",
                    "Next",
                    "End",
                    "Retry",
                    "Catch",
                    "Assign",
                ],
                &[
                    "InputPath",
                    "OutputPath",
                    "ResultPath",
                    "ResultSelector",
                    "Parameters",
                    "ItemsPath",
                    "MaxConcurrencyPath",
                    "ToleratedFailurePercentagePath",
                    "ToleratedFailureCountPath",
                ],
                &["Items", "Output"],
            ),
            other => {
                self.err(s, &key_path(path, "Type"), format!("`{other}` is not a state type (Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map)"));
                return Vec::new();
            }
        };
        for k in m.keys() {
            let k = k.as_str();
            if matches!(k, "Type" | "Comment" | "QueryLanguage") || fields.contains(&k) {
                continue;
            }
            let at = key_path(path, k);
            match ql {
                QueryLanguage::JsonPath if jsonpath_only.contains(&k) => {}
                QueryLanguage::Jsonata if jsonata_only.contains(&k) => {}
                QueryLanguage::JsonPath if jsonata_only.contains(&k) => self.err(
                    s,
                    &at,
                    format!("`{k}` belongs to JSONata; this state uses JSONPath"),
                ),
                QueryLanguage::Jsonata if jsonpath_only.contains(&k) => self.err(
                    s,
                    &at,
                    format!("`{k}` belongs to JSONPath; this state uses JSONata"),
                ),
                _ => self.err(s, &at, format!("`{k}` is not a field of a {ty} state")),
            }
        }

        let mut next = Vec::new();
        // Next or End, for the states that go on.
        if matches!(ty, "Task" | "Pass" | "Wait" | "Parallel" | "Map") {
            match (m.get("Next"), m.get("End")) {
                (Some(Value::String(t)), None) => next.push((t.clone(), key_path(path, "Next"))),
                (None, Some(Value::Bool(true))) => {}
                (Some(_), Some(_)) => self.err(s, path, "a state has `Next` or `End`, not both"),
                (None, None) => self.err(s, path, "the state needs `Next` or `\"End\": true`"),
                (Some(_), None) => {
                    self.err(s, &key_path(path, "Next"), "`Next` is the name of a state")
                }
                (None, Some(_)) => self.err(s, &key_path(path, "End"), "`End` is `true`"),
            }
        }
        if ql == QueryLanguage::JsonPath {
            for f in ["InputPath", "OutputPath"] {
                if let Some(x) = m.get(f) {
                    self.path_field(s, &key_path(path, f), x, false, true);
                }
            }
            if let Some(x) = m.get("ResultPath") {
                self.path_field(s, &key_path(path, "ResultPath"), x, true, true);
            }
            for f in ["Parameters", "ResultSelector", "ItemSelector"] {
                if let Some(x) = m.get(f) {
                    self.template(s, &key_path(path, f), x);
                }
            }
        } else {
            for (k, x) in m {
                if matches!(k.as_str(), "Arguments" | "Output" | "Items" | "Condition") {
                    self.jsonata_value(s, &key_path(path, k), x);
                }
            }
        }
        if let Some(a) = m.get("Assign") {
            if !a.is_object() {
                self.err(
                    s,
                    &key_path(path, "Assign"),
                    "`Assign` is an object of variable names",
                );
            }
        }

        match ty {
            "Task" => {
                match m.get("Resource") {
                    Some(Value::String(r)) if !r.is_empty() => {}
                    Some(_) => self.err(
                        s,
                        &key_path(path, "Resource"),
                        "`Resource` is an ARN, as a string",
                    ),
                    None => self.err(s, path, "a Task state needs `Resource`"),
                }
                let t =
                    self.exclusive_number(s, path, m, "TimeoutSeconds", "TimeoutSecondsPath", ql);
                let h = self.exclusive_number(
                    s,
                    path,
                    m,
                    "HeartbeatSeconds",
                    "HeartbeatSecondsPath",
                    ql,
                );
                if let (Some(t), Some(h)) = (t, h) {
                    if h >= t {
                        self.err(
                            s,
                            &key_path(path, "HeartbeatSeconds"),
                            "`HeartbeatSeconds` must be smaller than `TimeoutSeconds`",
                        );
                    }
                }
                self.retry_catch(s, path, m, ql, &mut next);
            }
            "Choice" => {
                match m.get("Choices") {
                    Some(Value::Array(rules)) if !rules.is_empty() => {
                        for (i, r) in rules.iter().enumerate() {
                            let rp = format!("{}[{i}]", key_path(path, "Choices"));
                            self.choice_rule(s, &rp, r, true, ql, &mut next);
                        }
                    }
                    _ => self.err(s, path, "a Choice state needs a non-empty `Choices` array"),
                }
                match m.get("Default") {
                    Some(Value::String(t)) => next.push((t.clone(), key_path(path, "Default"))),
                    Some(_) => self.err(
                        s,
                        &key_path(path, "Default"),
                        "`Default` is the name of a state",
                    ),
                    None => {}
                }
            }
            "Wait" => {
                let present: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
                    .into_iter()
                    .filter(|f| m.contains_key(*f))
                    .collect();
                if present.len() != 1 {
                    self.err(s, path, format!("a Wait state has exactly one of `Seconds`, `Timestamp`, `SecondsPath`, `TimestampPath`; this one has {}", if present.is_empty() { "none".to_string() } else { present.join(", ") }));
                }
                if let Some(x) = m.get("Seconds") {
                    match (x, ql) {
                        (Value::Number(n), _) if n.as_u64().is_some() => {}
                        (Value::String(_), QueryLanguage::Jsonata) => {
                            self.jsonata_value(s, &key_path(path, "Seconds"), x)
                        }
                        _ => self.err(
                            s,
                            &key_path(path, "Seconds"),
                            "`Seconds` is a whole number of seconds, 0 or more",
                        ),
                    }
                }
                if let Some(x) = m.get("Timestamp") {
                    if !x.is_string() {
                        self.err(
                            s,
                            &key_path(path, "Timestamp"),
                            "`Timestamp` is an RFC 3339 time, as a string",
                        );
                    }
                }
                for f in ["SecondsPath", "TimestampPath"] {
                    if let Some(x) = m.get(f) {
                        self.path_field(s, &key_path(path, f), x, true, false);
                    }
                }
            }
            "Fail" => {
                for (a, b) in [("Error", "ErrorPath"), ("Cause", "CausePath")] {
                    if m.contains_key(a) && m.contains_key(b) {
                        self.err(
                            s,
                            path,
                            format!("a Fail state has `{a}` or `{b}`, not both"),
                        );
                    }
                    if let Some(x) = m.get(a) {
                        if !x.is_string() {
                            self.err(s, &key_path(path, a), format!("`{a}` is a string"));
                        }
                    }
                    if let Some(x) = m.get(b) {
                        self.path_or_intrinsic(s, &key_path(path, b), x);
                    }
                }
            }
            "Parallel" => {
                match m.get("Branches") {
                    Some(Value::Array(bs)) if !bs.is_empty() => {
                        for (i, b) in bs.iter().enumerate() {
                            self.machine(
                                b,
                                &format!("{}[{i}]", key_path(path, "Branches")),
                                ql,
                                false,
                            );
                        }
                    }
                    _ => self.err(
                        s,
                        path,
                        "a Parallel state needs a non-empty `Branches` array",
                    ),
                }
                self.retry_catch(s, path, m, ql, &mut next);
            }
            "Map" => {
                match (m.get("ItemProcessor"), m.get("Iterator")) {
                    (Some(p), None) => self.machine(p, &key_path(path, "ItemProcessor"), ql, false),
                    (None, Some(p)) => self.machine(p, &key_path(path, "Iterator"), ql, false),
                    (Some(_), Some(_)) => self.err(
                        s,
                        path,
                        "a Map state has `ItemProcessor` or the older `Iterator`, not both",
                    ),
                    (None, None) => self.err(
                        s,
                        path,
                        "a Map state needs `ItemProcessor` (or the older `Iterator`)",
                    ),
                }
                if m.contains_key("ItemSelector") && m.contains_key("Parameters") {
                    self.err(
                        s,
                        path,
                        "a Map state has `ItemSelector` or the older `Parameters`, not both",
                    );
                }
                if let Some(x) = m.get("ItemsPath") {
                    self.path_field(s, &key_path(path, "ItemsPath"), x, true, false);
                }
                if let Some(x) = m.get("MaxConcurrency") {
                    if !(x.as_u64().is_some() || jsonata_expression(ql, x)) {
                        self.err(
                            s,
                            &key_path(path, "MaxConcurrency"),
                            "`MaxConcurrency` is a whole number, 0 or more (0: no limit)",
                        );
                    }
                }
                if let Some(x) = m.get("ToleratedFailurePercentage") {
                    let percent = x.as_f64().is_some_and(|p| (0.0..=100.0).contains(&p));
                    if !(percent || jsonata_expression(ql, x)) {
                        self.err(
                            s,
                            &key_path(path, "ToleratedFailurePercentage"),
                            "`ToleratedFailurePercentage` is a number from 0 to 100",
                        );
                    }
                }
                if let Some(x) = m.get("ToleratedFailureCount") {
                    if !(x.as_u64().is_some() || jsonata_expression(ql, x)) {
                        self.err(
                            s,
                            &key_path(path, "ToleratedFailureCount"),
                            "`ToleratedFailureCount` is a whole number, 0 or more",
                        );
                    }
                }
                for f in [
                    "MaxConcurrencyPath",
                    "ToleratedFailurePercentagePath",
                    "ToleratedFailureCountPath",
                ] {
                    if let Some(x) = m.get(f) {
                        self.path_field(s, &key_path(path, f), x, true, false);
                    }
                }
                self.retry_catch(s, path, m, ql, &mut next);
            }
            _ => {}
        }
        next
    }

    /// `…Seconds` and `…SecondsPath`: at most one, a positive whole number or a path.
    fn exclusive_number(
        &mut self,
        s: Option<&str>,
        path: &str,
        m: &Map<String, Value>,
        plain: &str,
        by_path: &str,
        ql: QueryLanguage,
    ) -> Option<u64> {
        if m.contains_key(plain) && m.contains_key(by_path) {
            self.err(
                s,
                path,
                format!("a state has `{plain}` or `{by_path}`, not both"),
            );
        }
        if let Some(x) = m.get(by_path) {
            self.path_field(s, &key_path(path, by_path), x, true, false);
        }
        match m.get(plain) {
            Some(Value::String(_)) if ql == QueryLanguage::Jsonata => {
                self.jsonata_value(s, &key_path(path, plain), &m[plain]);
                None
            }
            Some(x) => self.positive_int(s, &key_path(path, plain), x),
            None => None,
        }
    }

    fn positive_int(&mut self, s: Option<&str>, path: &str, x: &Value) -> Option<u64> {
        match x.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.err(s, path, "a positive whole number of seconds");
                None
            }
        }
    }

    fn retry_catch(
        &mut self,
        s: Option<&str>,
        path: &str,
        m: &Map<String, Value>,
        ql: QueryLanguage,
        next: &mut Vec<(String, String)>,
    ) {
        for (field, is_catch) in [("Retry", false), ("Catch", true)] {
            let Some(x) = m.get(field) else { continue };
            let fp = key_path(path, field);
            let Some(list) = x.as_array() else {
                self.err(s, &fp, format!("`{field}` is an array"));
                continue;
            };
            for (i, r) in list.iter().enumerate() {
                let rp = format!("{fp}[{i}]");
                let Some(o) = r.as_object() else {
                    self.err(
                        s,
                        &rp,
                        format!(
                            "a {} is an object",
                            if is_catch { "catcher" } else { "retrier" }
                        ),
                    );
                    continue;
                };
                let allowed: &[&str] = if is_catch {
                    match ql {
                        QueryLanguage::JsonPath => {
                            &["ErrorEquals", "Next", "ResultPath", "Comment", "Assign"]
                        }
                        QueryLanguage::Jsonata => {
                            &["ErrorEquals", "Next", "Output", "Comment", "Assign"]
                        }
                    }
                } else {
                    &[
                        "ErrorEquals",
                        "IntervalSeconds",
                        "MaxAttempts",
                        "BackoffRate",
                        "MaxDelaySeconds",
                        "JitterStrategy",
                        "Comment",
                    ]
                };
                for k in o.keys() {
                    if !allowed.contains(&k.as_str()) {
                        self.err(
                            s,
                            &key_path(&rp, k),
                            format!(
                                "`{k}` is not a field of a {}",
                                if is_catch { "catcher" } else { "retrier" }
                            ),
                        );
                    }
                }
                match o.get("ErrorEquals") {
                    Some(Value::Array(names))
                        if !names.is_empty() && names.iter().all(Value::is_string) =>
                    {
                        let has_all = names.iter().any(|n| n == "States.ALL");
                        if has_all && names.len() > 1 {
                            self.err(
                                s,
                                &key_path(&rp, "ErrorEquals"),
                                "`States.ALL` must be alone in its `ErrorEquals`",
                            );
                        }
                        if has_all && i + 1 != list.len() {
                            self.err(
                                s,
                                &key_path(&rp, "ErrorEquals"),
                                format!(
                                    "`States.ALL` must be in the last {}",
                                    if is_catch { "catcher" } else { "retrier" }
                                ),
                            );
                        }
                    }
                    _ => self.err(s, &rp, "`ErrorEquals` is a non-empty array of error names"),
                }
                if is_catch {
                    match o.get("Next") {
                        Some(Value::String(t)) => next.push((t.clone(), key_path(&rp, "Next"))),
                        _ => self.err(s, &rp, "a catcher needs `Next`, the name of a state"),
                    }
                    if let Some(x) = o.get("ResultPath") {
                        self.path_field(s, &key_path(&rp, "ResultPath"), x, true, true);
                    }
                } else {
                    if let Some(x) = o.get("IntervalSeconds") {
                        self.positive_int(s, &key_path(&rp, "IntervalSeconds"), x);
                    }
                    if let Some(x) = o.get("MaxDelaySeconds") {
                        self.positive_int(s, &key_path(&rp, "MaxDelaySeconds"), x);
                    }
                    if let Some(x) = o.get("MaxAttempts") {
                        if x.as_u64().is_none() {
                            self.err(
                                s,
                                &key_path(&rp, "MaxAttempts"),
                                "`MaxAttempts` is a whole number, 0 or more",
                            );
                        }
                    }
                    if let Some(x) = o.get("BackoffRate") {
                        if !x.as_f64().is_some_and(|b| b >= 1.0) {
                            self.err(
                                s,
                                &key_path(&rp, "BackoffRate"),
                                "`BackoffRate` is a number of at least 1.0",
                            );
                        }
                    }
                    if let Some(x) = o.get("JitterStrategy") {
                        if x != "FULL" && x != "NONE" {
                            self.err(
                                s,
                                &key_path(&rp, "JitterStrategy"),
                                "`JitterStrategy` is `FULL` or `NONE`",
                            );
                        }
                    }
                }
            }
        }
    }

    fn choice_rule(
        &mut self,
        s: Option<&str>,
        path: &str,
        r: &Value,
        top: bool,
        ql: QueryLanguage,
        next: &mut Vec<(String, String)>,
    ) {
        let Some(o) = r.as_object() else {
            self.err(s, path, "a choice rule is an object");
            return;
        };
        match (top, o.get("Next")) {
            (true, Some(Value::String(t))) => next.push((t.clone(), key_path(path, "Next"))),
            (true, _) => self.err(
                s,
                path,
                "a top-level choice rule needs `Next`, the name of a state",
            ),
            (false, Some(_)) => self.err(
                s,
                &key_path(path, "Next"),
                "only a top-level choice rule has `Next`",
            ),
            (false, None) => {}
        }
        if ql == QueryLanguage::Jsonata {
            for k in o.keys() {
                if !matches!(
                    k.as_str(),
                    "Condition" | "Next" | "Comment" | "Assign" | "Output"
                ) {
                    self.err(s, &key_path(path, k), format!("`{k}` is not a field of a JSONata choice rule (`Condition`, `Next`, `Assign`, `Output`)"));
                }
            }
            match o.get("Condition") {
                Some(c) => self.jsonata_value(s, &key_path(path, "Condition"), c),
                None => self.err(s, path, "a JSONata choice rule needs `Condition`"),
            }
            return;
        }
        let ops: Vec<&str> = o
            .keys()
            .map(String::as_str)
            .filter(|k| !matches!(*k, "Next" | "Comment" | "Variable" | "Assign"))
            .collect();
        if ops.len() != 1 {
            self.err(s, path, format!("a choice rule has exactly one operator (a comparison, `And`, `Or` or `Not`); this one has {}", if ops.is_empty() { "none".into() } else { ops.join(", ") }));
            return;
        }
        let op = ops[0];
        let at = key_path(path, op);
        match op {
            "And" | "Or" => {
                if o.contains_key("Variable") {
                    self.err(
                        s,
                        &key_path(path, "Variable"),
                        format!("`{op}` takes no `Variable`"),
                    );
                }
                match &o[op] {
                    Value::Array(rs) if !rs.is_empty() => {
                        for (i, r) in rs.iter().enumerate() {
                            self.choice_rule(s, &format!("{at}[{i}]"), r, false, ql, next);
                        }
                    }
                    _ => self.err(s, &at, format!("`{op}` is a non-empty array of rules")),
                }
            }
            "Not" => {
                if o.contains_key("Variable") {
                    self.err(s, &key_path(path, "Variable"), "`Not` takes no `Variable`");
                }
                self.choice_rule(s, &at, &o[op], false, ql, next);
            }
            _ => {
                let base = op.strip_suffix("Path").unwrap_or(op);
                let Some(&(_, kind)) = COMPARISONS.iter().find(|(n, _)| *n == base) else {
                    self.err(s, &at, format!("`{op}` is not a choice rule operator"));
                    return;
                };
                let by_path = base != op;
                if by_path && base.starts_with("Is") {
                    self.err(s, &at, format!("`{op}` is not a choice rule operator"));
                    return;
                }
                match o.get("Variable") {
                    Some(x) => self.path_field(s, &key_path(path, "Variable"), x, false, false),
                    None => self.err(s, path, format!("a `{op}` rule needs `Variable`")),
                }
                let x = &o[op];
                if by_path {
                    self.path_field(s, &at, x, false, false);
                } else {
                    let ok = match kind {
                        Kind::Str => x.is_string(),
                        Kind::Num => x.is_number(),
                        Kind::Bool => x.is_boolean(),
                    };
                    if !ok {
                        let want = match kind {
                            Kind::Str => "a string",
                            Kind::Num => "a number",
                            Kind::Bool => "true or false",
                        };
                        self.err(s, &at, format!("`{op}` compares with {want}"));
                    }
                }
            }
        }
    }

    /// A path field: a JSONPath (or a reference path) as a string, or null where allowed.
    fn path_field(&mut self, s: Option<&str>, at: &str, x: &Value, reference: bool, null_ok: bool) {
        match x {
            Value::Null if null_ok => {}
            Value::String(p) => {
                if let Err(e) = check_path(p, reference) {
                    self.err(s, at, e);
                }
            }
            _ => self.err(
                s,
                at,
                if null_ok {
                    "a path, as a string, or null"
                } else {
                    "a path, as a string"
                },
            ),
        }
    }

    fn path_or_intrinsic(&mut self, s: Option<&str>, at: &str, x: &Value) {
        match x {
            Value::String(p) if p.starts_with("States.") => {
                if let Err(e) = check_intrinsic(p) {
                    self.err(s, at, e);
                }
            }
            _ => self.path_field(s, at, x, true, false),
        }
    }

    /// A payload template (`Parameters`, `ResultSelector`, `ItemSelector`): keys ending in
    /// `.$` take a path or an intrinsic function.
    fn template(&mut self, s: Option<&str>, at: &str, x: &Value) {
        match x {
            Value::Object(m) => {
                for (k, v) in m {
                    let kp = key_path(at, k);
                    if k.ends_with(".$") {
                        match v {
                            Value::String(p) if p.starts_with("States.") => {
                                if let Err(e) = check_intrinsic(p) {
                                    self.err(s, &kp, e);
                                }
                            }
                            Value::String(p) => {
                                if let Err(e) = check_path(p, false) {
                                    self.err(s, &kp, e);
                                }
                            }
                            _ => self.err(s, &kp, format!("`{k}` ends in `.$`, so its value is a path or an intrinsic function, as a string")),
                        }
                    } else {
                        self.template(s, &kp, v);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.template(s, &format!("{at}[{i}]"), v);
                }
            }
            _ => {}
        }
    }

    /// A JSONata field: a string that starts with `{%` must end with `%}`.
    fn jsonata_value(&mut self, s: Option<&str>, at: &str, x: &Value) {
        match x {
            // An expression begun and not ended; text around the braces makes a string.
            Value::String(t) if t.starts_with("{%") && !t.ends_with("%}") => {
                self.err(s, at, "a JSONata expression is written `{% … %}`");
            }
            Value::Object(m) => {
                for (k, v) in m {
                    self.jsonata_value(s, &key_path(at, k), v);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.jsonata_value(s, &format!("{at}[{i}]"), v);
                }
            }
            _ => {}
        }
    }
}

/// Whether a value is a JSONata expression standing for a number in a JSONata state.
fn jsonata_expression(ql: QueryLanguage, x: &Value) -> bool {
    ql == QueryLanguage::Jsonata && x.is_string()
}

/// Checks the syntax of a JSONPath as Step Functions takes it: `$` (input) or `$$` (context
/// object), then `.name`, `['name']`, `[n]`, and for a plain path also `*`, `..`, slices,
/// unions and filters. A reference path names one node: none of those.
pub fn check_path(p: &str, reference: bool) -> Result<(), String> {
    let rest = if let Some(r) = p.strip_prefix("$$") {
        r
    } else if let Some(r) = p.strip_prefix('$') {
        // `$name…` starts at a workflow variable.
        let name_len = r.find(['.', '[']).unwrap_or(r.len());
        &r[name_len..]
    } else {
        return Err(format!("`{p}` is not a path: a path starts with `$`"));
    };
    let b = rest.as_bytes();
    let mut i = 0;
    let bad = |why: &str| {
        Err(format!(
            "`{p}` is not a {}: {why}",
            if reference { "reference path" } else { "path" }
        ))
    };
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                if b.get(i) == Some(&b'.') {
                    if reference {
                        return bad("`..` selects many nodes");
                    }
                    i += 1;
                }
                if b.get(i) == Some(&b'*') {
                    if reference {
                        return bad("`*` selects many nodes");
                    }
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && !matches!(b[i], b'.' | b'[') {
                    i += 1;
                }
                if i == start {
                    return bad("a `.` is followed by no name");
                }
            }
            b'[' => {
                let Some(len) = bracket_len(&rest[i..]) else {
                    return bad("a `[` is never closed");
                };
                let inner = &rest[i + 1..i + len];
                if let Some(q) = crate::path::quoted(inner) {
                    if q.is_empty() {
                        return bad("an empty name in brackets");
                    }
                } else if inner.bytes().all(|c| c.is_ascii_digit()) && !inner.is_empty() {
                } else if reference {
                    return bad("a reference path takes only names and indexes in brackets");
                } else if inner == "*"
                    || inner.starts_with("?(")
                    || inner.contains(':')
                    || inner.contains(',')
                    || inner.starts_with('-')
                {
                    if inner.starts_with("?(") && !inner.ends_with(')') {
                        return bad("a filter is written `[?(…)]`");
                    }
                } else {
                    return bad(&format!(
                        "`[{inner}]` is not a name, index, slice, union, wildcard or filter"
                    ));
                }
                i += len + 1;
            }
            _ => return bad("expected `.` or `[` after `$`"),
        }
    }
    Ok(())
}

/// Where the `]` that closes the bracket at the start of `at` is, skipping quoted names
/// (`['a]b']`, `['it\\'s']`, `["say \\"hi\\""]`).
fn bracket_len(at: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in at.char_indices().skip(1) {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ']' => return Some(i),
            None => {}
        }
    }
    None
}

/// Checks an intrinsic function call: a known name and balanced parentheses.
pub fn check_intrinsic(call: &str) -> Result<(), String> {
    let Some(open) = call.find('(') else {
        return Err(format!(
            "`{call}` is not an intrinsic function call: no `(`"
        ));
    };
    let name = &call[..open];
    if !INTRINSICS.contains(&name) {
        return Err(format!("`{name}` is not an intrinsic function"));
    }
    let mut depth = 0i32;
    let mut in_str = false;
    let mut escaped = false;
    for c in call[open..].chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '\'' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => {
                depth -= 1;
                if depth < 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    if depth != 0 || in_str || !call.trim_end().ends_with(')') {
        return Err(format!(
            "`{call}` is not a complete intrinsic function call"
        ));
    }
    Ok(())
}
