//! The typed form of a definition, built once from a definition that [`crate::validate`]
//! accepted: transitions are indexes, paths and intrinsic calls are parsed, payload templates
//! know which of their parts are static.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::intrinsic::{self, Call};
use crate::path::Path;

/// The query language of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    JsonPath,
    Jsonata,
}

/// A state machine, or a Parallel branch, or a Map's item processor.
#[derive(Debug)]
pub struct Machine {
    pub start: usize,
    pub states: Vec<State>,
    pub timeout_seconds: Option<u64>,
}

impl Machine {
    /// The index of the state named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.states.iter().position(|s| s.name == name)
    }
}

/// A JSONPath payload template (`Parameters`, `ResultSelector`, `ItemSelector`, `Assign`).
#[derive(Debug, Clone)]
pub enum Tmpl {
    Static(Value),
    Path(Path),
    Call(Call),
    Obj(Vec<(String, Tmpl)>),
    Arr(Vec<Tmpl>),
}

/// A JSONata field: any JSON value whose strings written `{% … %}` are expressions.
#[derive(Debug, Clone)]
pub enum Ata {
    Static(Value),
    Expr(String),
    Obj(Vec<(String, Ata)>),
    Arr(Vec<Ata>),
}

/// A field written for either query language.
#[derive(Debug, Clone)]
pub enum Field {
    Path(Tmpl),
    Ata(Ata),
}

/// `InputPath`, `OutputPath`, `ResultPath`: absent (the default, `$`), `null`, or a path.
#[derive(Debug, Clone)]
pub enum IoPath {
    Default,
    Null,
    Path(Path),
}

/// A number given as it is, by a path (`…Path`), or by a JSONata expression.
#[derive(Debug, Clone)]
pub enum Num {
    Fixed(f64),
    Path(Path),
    Ata(Ata),
}

/// A string given as it is, by a path or intrinsic call, or by JSONata (Fail's Error/Cause).
#[derive(Debug, Clone)]
pub enum Text {
    Fixed(String),
    Path(Path),
    Call(Call),
    Ata(Ata),
}

#[derive(Debug)]
pub struct State {
    pub name: String,
    pub lang: Lang,
    /// The next state, or `None` for the end.
    pub next: Option<usize>,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub result_path: IoPath,
    pub parameters: Option<Field>,
    pub result_selector: Option<Tmpl>,
    pub output: Option<Ata>,
    pub assign: Option<Field>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(Task),
    Choice {
        choices: Vec<ChoiceRule>,
        default: Option<usize>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Parallel {
        branches: Vec<Arc<Machine>>,
    },
    Map(Box<MapState>),
}

#[derive(Debug)]
pub struct Task {
    pub resource: String,
    pub timeout: Option<Num>,
    pub heartbeat: Option<Num>,
}

#[derive(Debug)]
pub enum WaitFor {
    Seconds(Num),
    Timestamp(Text),
}

#[derive(Debug)]
pub struct MapState {
    pub processor: Arc<Machine>,
    pub items_path: Option<Path>,
    pub items: Option<Ata>,
    pub item_selector: Option<Field>,
    pub max_concurrency: Option<Num>,
    pub tolerated_percentage: Option<Num>,
    pub tolerated_count: Option<Num>,
}

#[derive(Debug)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter: bool,
}

#[derive(Debug)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub next: usize,
    pub result_path: IoPath,
    pub output: Option<Ata>,
    pub assign: Option<Field>,
}

#[derive(Debug)]
pub struct ChoiceRule {
    pub cond: Cond,
    pub next: usize,
    pub assign: Option<Field>,
    pub output: Option<Ata>,
}

/// A choice rule's condition.
#[derive(Debug)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        variable: Path,
        op: Op,
        against: Against,
    },
    Test {
        variable: Path,
        test: TypeTest,
        want: bool,
    },
    Jsonata(Ata),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
}

const OPS: &[(&str, Op)] = &[
    ("StringEquals", Op::StringEquals),
    ("StringLessThan", Op::StringLessThan),
    ("StringGreaterThan", Op::StringGreaterThan),
    ("StringLessThanEquals", Op::StringLessThanEquals),
    ("StringGreaterThanEquals", Op::StringGreaterThanEquals),
    ("StringMatches", Op::StringMatches),
    ("NumericEquals", Op::NumericEquals),
    ("NumericLessThan", Op::NumericLessThan),
    ("NumericGreaterThan", Op::NumericGreaterThan),
    ("NumericLessThanEquals", Op::NumericLessThanEquals),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals),
    ("BooleanEquals", Op::BooleanEquals),
    ("TimestampEquals", Op::TimestampEquals),
    ("TimestampLessThan", Op::TimestampLessThan),
    ("TimestampGreaterThan", Op::TimestampGreaterThan),
    ("TimestampLessThanEquals", Op::TimestampLessThanEquals),
    ("TimestampGreaterThanEquals", Op::TimestampGreaterThanEquals),
];

#[derive(Debug)]
pub enum Against {
    Value(Value),
    Path(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

const TESTS: &[(&str, TypeTest)] = &[
    ("IsNull", TypeTest::IsNull),
    ("IsPresent", TypeTest::IsPresent),
    ("IsNumeric", TypeTest::IsNumeric),
    ("IsString", TypeTest::IsString),
    ("IsBoolean", TypeTest::IsBoolean),
    ("IsTimestamp", TypeTest::IsTimestamp),
];

type Res<T> = Result<T, String>;

/// Builds the typed machine from a definition [`crate::validate`] accepted.
pub fn compile(definition: &Value) -> Res<Machine> {
    let lang = lang_of(definition, Lang::JsonPath)?;
    machine(definition, lang)
}

fn lang_of(v: &Value, inherited: Lang) -> Res<Lang> {
    match v.get("QueryLanguage").and_then(Value::as_str) {
        None => Ok(inherited),
        Some("JSONPath") => Ok(Lang::JsonPath),
        Some("JSONata") => Ok(Lang::Jsonata),
        Some(other) => Err(format!("`{other}` is not a query language")),
    }
}

fn machine(v: &Value, lang: Lang) -> Res<Machine> {
    let states = v
        .get("States")
        .and_then(Value::as_object)
        .ok_or("a machine needs `States`")?;
    let index: HashMap<&str, usize> = states
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let find = |name: &str| -> Res<usize> {
        index
            .get(name)
            .copied()
            .ok_or_else(|| format!("`{name}` is not a state here"))
    };
    let start_name = v
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or("a machine needs `StartAt`")?;
    let mut out = Vec::with_capacity(states.len());
    for (name, s) in states {
        out.push(state(name, s, lang, &find).map_err(|e| format!("state `{name}`: {e}"))?);
    }
    Ok(Machine {
        start: find(start_name)?,
        states: out,
        timeout_seconds: v.get("TimeoutSeconds").and_then(Value::as_u64),
    })
}

fn path(v: &Value) -> Res<Path> {
    Path::parse(v.as_str().ok_or("a path is a string")?)
}

fn io_path(m: &Map<String, Value>, key: &str) -> Res<IoPath> {
    Ok(match m.get(key) {
        None => IoPath::Default,
        Some(Value::Null) => IoPath::Null,
        Some(v) => IoPath::Path(path(v)?),
    })
}

/// A JSONPath payload template.
pub fn tmpl(v: &Value) -> Res<Tmpl> {
    fn dynamic(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| k.ends_with(".$") || dynamic(v)),
            Value::Array(a) => a.iter().any(dynamic),
            _ => false,
        }
    }
    if !dynamic(v) {
        return Ok(Tmpl::Static(v.clone()));
    }
    Ok(match v {
        Value::Object(m) => {
            let mut fields = Vec::with_capacity(m.len());
            for (k, x) in m {
                if let Some(key) = k.strip_suffix(".$") {
                    let s = x
                        .as_str()
                        .ok_or_else(|| format!("`{k}` takes a path or an intrinsic function"))?;
                    fields.push((key.to_string(), path_or_call(s)?));
                } else {
                    fields.push((k.clone(), tmpl(x)?));
                }
            }
            Tmpl::Obj(fields)
        }
        Value::Array(a) => Tmpl::Arr(a.iter().map(tmpl).collect::<Res<_>>()?),
        other => Tmpl::Static(other.clone()),
    })
}

fn path_or_call(s: &str) -> Res<Tmpl> {
    if intrinsic::is_call(s) {
        Ok(Tmpl::Call(Call::parse(s)?))
    } else {
        Ok(Tmpl::Path(Path::parse(s)?))
    }
}

/// The expression inside `{% … %}`, if the string is one: it starts with `{%` and ends
/// with `%}` exactly; a string with anything around them (a space, a newline) is a string.
pub fn expression(s: &str) -> Option<&str> {
    s.strip_prefix("{%")?.strip_suffix("%}").map(str::trim)
}

/// A JSONata field.
pub fn ata(v: &Value) -> Ata {
    fn dynamic(v: &Value) -> bool {
        match v {
            Value::String(s) => expression(s).is_some(),
            Value::Object(m) => m.values().any(dynamic),
            Value::Array(a) => a.iter().any(dynamic),
            _ => false,
        }
    }
    if !dynamic(v) {
        return Ata::Static(v.clone());
    }
    match v {
        Value::String(s) => Ata::Expr(expression(s).unwrap_or_default().to_string()),
        Value::Object(m) => Ata::Obj(m.iter().map(|(k, x)| (k.clone(), ata(x))).collect()),
        Value::Array(a) => Ata::Arr(a.iter().map(ata).collect()),
        other => Ata::Static(other.clone()),
    }
}

fn field(v: &Value, lang: Lang) -> Res<Field> {
    Ok(match lang {
        Lang::JsonPath => Field::Path(tmpl(v)?),
        Lang::Jsonata => Field::Ata(ata(v)),
    })
}

fn num(m: &Map<String, Value>, key: &str, lang: Lang) -> Res<Option<Num>> {
    if let Some(v) = m.get(key) {
        return Ok(Some(match (lang, v) {
            (_, Value::Number(n)) => Num::Fixed(n.as_f64().unwrap_or(0.0)),
            (Lang::Jsonata, v) => Num::Ata(ata(v)),
            _ => return Err(format!("`{key}` is a number")),
        }));
    }
    match m.get(&format!("{key}Path")) {
        Some(v) => Ok(Some(Num::Path(path(v)?))),
        None => Ok(None),
    }
}

fn text(m: &Map<String, Value>, key: &str, lang: Lang) -> Res<Option<Text>> {
    if let Some(v) = m.get(key) {
        return Ok(Some(match (lang, v) {
            (Lang::Jsonata, v) => Text::Ata(ata(v)),
            (_, Value::String(s)) => Text::Fixed(s.clone()),
            _ => return Err(format!("`{key}` is a string")),
        }));
    }
    match m.get(&format!("{key}Path")).and_then(Value::as_str) {
        Some(s) if intrinsic::is_call(s) => Ok(Some(Text::Call(Call::parse(s)?))),
        Some(s) => Ok(Some(Text::Path(Path::parse(s)?))),
        None => Ok(None),
    }
}

fn errors(v: &Value) -> Vec<String> {
    v.get("ErrorEquals")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn state(name: &str, v: &Value, inherited: Lang, find: &dyn Fn(&str) -> Res<usize>) -> Res<State> {
    let m = v.as_object().ok_or("a state is an object")?;
    let lang = lang_of(v, inherited)?;
    let next = match m.get("Next").and_then(Value::as_str) {
        Some(n) => Some(find(n)?),
        None => None,
    };
    let ty = m.get("Type").and_then(Value::as_str).unwrap_or_default();
    let kind = match ty {
        "Pass" => Kind::Pass {
            result: m.get("Result").cloned(),
        },
        "Task" => Kind::Task(Task {
            resource: m
                .get("Resource")
                .and_then(Value::as_str)
                .ok_or("a Task needs `Resource`")?
                .to_string(),
            timeout: num(m, "TimeoutSeconds", lang)?,
            heartbeat: num(m, "HeartbeatSeconds", lang)?,
        }),
        "Choice" => {
            let mut choices = Vec::new();
            for r in m
                .get("Choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                choices.push(ChoiceRule {
                    cond: cond(r, lang)?,
                    next: find(r.get("Next").and_then(Value::as_str).unwrap_or_default())?,
                    assign: r.get("Assign").map(|a| field(a, lang)).transpose()?,
                    output: r.get("Output").map(ata),
                });
            }
            Kind::Choice {
                choices,
                default: m
                    .get("Default")
                    .and_then(Value::as_str)
                    .map(find)
                    .transpose()?,
            }
        }
        "Wait" => Kind::Wait(if let Some(t) = text(m, "Timestamp", lang)? {
            WaitFor::Timestamp(t)
        } else {
            WaitFor::Seconds(num(m, "Seconds", lang)?.ok_or("a Wait needs a time")?)
        }),
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail {
            error: text(m, "Error", lang)?,
            cause: text(m, "Cause", lang)?,
        },
        "Parallel" => Kind::Parallel {
            branches: m
                .get("Branches")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|b| machine(b, lang_of(b, lang)?).map(Arc::new))
                .collect::<Res<_>>()?,
        },
        "Map" => {
            let processor = m
                .get("ItemProcessor")
                .or_else(|| m.get("Iterator"))
                .ok_or("a Map needs `ItemProcessor`")?;
            Kind::Map(Box::new(MapState {
                processor: Arc::new(machine(processor, lang_of(processor, lang)?)?),
                items_path: m.get("ItemsPath").map(path).transpose()?,
                items: m.get("Items").map(ata),
                item_selector: m
                    .get("ItemSelector")
                    .or_else(|| m.get("Parameters"))
                    .map(|x| field(x, lang))
                    .transpose()?,
                max_concurrency: num(m, "MaxConcurrency", lang)?,
                tolerated_percentage: num(m, "ToleratedFailurePercentage", lang)?,
                tolerated_count: num(m, "ToleratedFailureCount", lang)?,
            }))
        }
        other => return Err(format!("`{other}` is not a state type")),
    };
    let parameters = match (&kind, lang) {
        (Kind::Map(_), _) => None,
        (_, Lang::JsonPath) => m.get("Parameters").map(tmpl).transpose()?.map(Field::Path),
        (_, Lang::Jsonata) => m.get("Arguments").map(|a| Field::Ata(ata(a))),
    };
    let mut retry = Vec::new();
    for r in m
        .get("Retry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        retry.push(Retrier {
            errors: errors(r),
            interval_seconds: r
                .get("IntervalSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(1.0),
            max_attempts: r.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3),
            backoff_rate: r.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
            max_delay_seconds: r.get("MaxDelaySeconds").and_then(Value::as_f64),
            jitter: r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
        });
    }
    let mut catch = Vec::new();
    for c in m
        .get("Catch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cm = c.as_object().ok_or("a catcher is an object")?;
        catch.push(Catcher {
            errors: errors(c),
            next: find(cm.get("Next").and_then(Value::as_str).unwrap_or_default())?,
            result_path: io_path(cm, "ResultPath")?,
            output: cm.get("Output").map(ata),
            assign: cm.get("Assign").map(|a| field(a, lang)).transpose()?,
        });
    }
    Ok(State {
        name: name.to_string(),
        lang,
        next,
        input_path: io_path(m, "InputPath")?,
        output_path: io_path(m, "OutputPath")?,
        result_path: io_path(m, "ResultPath")?,
        parameters,
        result_selector: m.get("ResultSelector").map(tmpl).transpose()?,
        output: m.get("Output").map(ata),
        assign: m.get("Assign").map(|a| field(a, lang)).transpose()?,
        retry,
        catch,
        kind,
    })
}

fn cond(r: &Value, lang: Lang) -> Res<Cond> {
    let m = r.as_object().ok_or("a choice rule is an object")?;
    if lang == Lang::Jsonata {
        return Ok(Cond::Jsonata(ata(m
            .get("Condition")
            .ok_or("a JSONata choice rule needs `Condition`")?)));
    }
    if let Some(a) = m.get("And").and_then(Value::as_array) {
        return Ok(Cond::And(
            a.iter().map(|r| cond(r, lang)).collect::<Res<_>>()?,
        ));
    }
    if let Some(a) = m.get("Or").and_then(Value::as_array) {
        return Ok(Cond::Or(
            a.iter().map(|r| cond(r, lang)).collect::<Res<_>>()?,
        ));
    }
    if let Some(n) = m.get("Not") {
        return Ok(Cond::Not(Box::new(cond(n, lang)?)));
    }
    let variable = path(m.get("Variable").ok_or("a comparison needs `Variable`")?)?;
    for (k, x) in m {
        if let Some(&(_, test)) = TESTS.iter().find(|(n, _)| n == k) {
            return Ok(Cond::Test {
                variable,
                test,
                want: x
                    .as_bool()
                    .ok_or_else(|| format!("`{k}` takes true or false"))?,
            });
        }
        let (base, by_path) = match k.strip_suffix("Path") {
            Some(b) => (b, true),
            None => (k.as_str(), false),
        };
        if let Some(&(_, op)) = OPS.iter().find(|(n, _)| *n == base) {
            return Ok(Cond::Compare {
                variable,
                op,
                against: if by_path {
                    Against::Path(path(x)?)
                } else {
                    Against::Value(x.clone())
                },
            });
        }
    }
    Err("a choice rule needs an operator".into())
}
