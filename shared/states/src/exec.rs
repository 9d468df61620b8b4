//! The interpreter: runs a [`Machine`] as Step Functions runs it.
//!
//! It does no I/O and reads no clock: tasks, time and randomness come from a [`Host`] the
//! caller owns. With [`crate::clock::VirtualClock`] a day of waits takes no time; a host on
//! real time runs the same definition as `helios dev` does.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures_util::future::{select, try_join_all, Either};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use crate::choice;
use crate::clock::{iso, parse_timestamp};
use crate::error::{self, quote, Failure};
use crate::history::{self, Event};
use crate::intrinsic::{uuid_v4, Random};
use crate::jsonata;
use crate::model::*;
use crate::path::{Path, PathError, Roots};

/// What a task runs: a Lambda function (by name) or a service integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function, from `lambda:invoke`'s `FunctionName` or a function ARN; a `${…}`
    /// placeholder terraform fills in stands for the function it names.
    Lambda { function: String },
    /// `arn:aws:states:::sqs:sendMessage` and the like: `service` is `sqs`, `action`
    /// `sendMessage`; for the AWS SDK integrations, `aws-sdk:s3` and `getObject`.
    Service { service: String, action: String },
    /// An activity ARN: the work is done by a worker that answers with the task token.
    Activity { arn: String },
}

/// One call of a task.
#[derive(Debug, Clone)]
pub struct TaskCall {
    pub target: Target,
    /// The function's event, or the service request.
    pub input: Value,
    /// Set for `.waitForTaskToken` and activities: the token the answer will carry.
    pub token: Option<String>,
    pub state: String,
    /// 0 for the first attempt, then 1, 2… for the retries.
    pub attempt: u32,
}

/// Everything an execution needs from outside.
pub trait Host {
    fn now_ms(&self) -> i64;
    fn sleep_until(&self, at_ms: i64) -> impl Future<Output = ()>;
    fn random(&self) -> u64;
    /// Runs a task and returns its result: a function's return value, or the service's
    /// response.
    fn call(&self, call: TaskCall) -> impl Future<Output = Result<Value, Failure>>;
    /// Waits for the answer to a task token (`SendTaskSuccess` / `SendTaskFailure`).
    fn await_token(&self, token: &str) -> impl Future<Output = Result<Value, Failure>>;
    /// A mocked result for the task state `state`, used as the task's whole result instead
    /// of calling it (Step Functions Local's mock configuration).
    fn mock(&self, _state: &str) -> Option<Result<Value, Failure>> {
        None
    }
    /// Called as the execution enters each state of its top-level machine; a host that keeps
    /// it can [`resume`] the execution after a restart. Checkpoints cost a copy of the state's
    /// input and of the variables, so a host that does not keep them says so here.
    fn wants_checkpoints(&self) -> bool {
        false
    }
    fn checkpoint(&self, _at: &Checkpoint) {}
    /// A Wait state until `at_ms`. `checkpointed` says that the execution's checkpoint was
    /// taken as it entered this state (a Wait of the top-level machine, checkpoints on): a
    /// host may then stop the execution here, keep nothing of it in memory, and [`resume`] it
    /// from the checkpoint at `at_ms`, which enters the Wait again with the time it was first
    /// entered, so that the wait ends when it would have.
    fn wait_state(&self, at_ms: i64, checkpointed: bool) -> impl Future<Output = ()> {
        let _ = checkpointed;
        self.sleep_until(at_ms)
    }
}

/// How an execution is named and what it records.
#[derive(Debug, Clone)]
pub struct Options {
    pub execution_name: String,
    pub machine_name: String,
    pub region: String,
    pub account: String,
    pub role_arn: String,
    /// Keep the history events (they cost a copy of each state's input and output).
    pub history: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            execution_name: "local".into(),
            machine_name: "helios".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            role_arn: "arn:aws:iam::123456789012:role/helios-local".into(),
            history: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub output: Option<Value>,
    pub failure: Option<Failure>,
    pub history: Vec<Event>,
    /// The events before the checkpoint a resumed execution went on from, as
    /// `GetExecutionHistory` returns them; empty for an execution run in one go.
    pub earlier_history: Vec<Value>,
    pub transitions: u64,
    pub start_ms: i64,
    pub stop_ms: i64,
}

impl Outcome {
    /// The whole history, `{"events": […]}`, resumed parts included.
    pub fn history_json(&self) -> Value {
        let mut events = self.earlier_history.clone();
        events.extend(self.history.iter().map(Event::to_json));
        json!({ "events": events })
    }

    /// `{"status": …, "output": …}` or `{"status": …, "error": …, "cause": …}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), Value::String(self.status.as_str().into()));
        if let Some(o) = &self.output {
            m.insert("output".into(), o.clone());
        }
        // As DescribeExecution: an error or cause the execution has not is left out.
        if let Some(f) = &self.failure {
            if !f.error.is_empty() {
                m.insert("error".into(), Value::String(f.error.clone()));
            }
            if !f.cause.is_empty() {
                m.insert("cause".into(), Value::String(f.cause.clone()));
            }
        }
        Value::Object(m)
    }
}

/// A Standard workflow runs for a year at most.
const MAX_DURATION_MS: i64 = 365 * 24 * 3600 * 1000;
/// A Task's `TimeoutSeconds` when none is given.
const DEFAULT_TASK_TIMEOUT: f64 = 99_999_999.0;

/// Where an execution stands when it enters a state of its top-level machine: enough to go on
/// from there after a restart ([`resume`]). A state that was under way is run again from its
/// start, except that a Wait keeps the time it was entered, so it waits only what remains.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub state: String,
    pub input: Value,
    pub variables: Map<String, Value>,
    pub entered_ms: i64,
    pub start_ms: i64,
    pub execution_input: Value,
    pub next_event_id: u64,
    pub transitions: u64,
    /// The history so far, as `GetExecutionHistory` returns it, so that a resumed execution
    /// still has all of it.
    #[serde(default)]
    pub history: Vec<Value>,
}

/// Runs `machine` on `input` to the end.
pub async fn execute<H: Host>(
    host: &H,
    machine: &Machine,
    input: Value,
    opts: &Options,
) -> Outcome {
    run_from(host, machine, input, opts, None).await
}

/// Goes on with an execution from its last [`Checkpoint`] (given to [`Host::checkpoint`]).
pub async fn resume<H: Host>(
    host: &H,
    machine: &Machine,
    from: Checkpoint,
    opts: &Options,
) -> Outcome {
    let input = from.input.clone();
    run_from(host, machine, input, opts, Some(from)).await
}

async fn run_from<H: Host>(
    host: &H,
    machine: &Machine,
    input: Value,
    opts: &Options,
    from: Option<Checkpoint>,
) -> Outcome {
    let start_ms = from.as_ref().map_or_else(|| host.now_ms(), |c| c.start_ms);
    let run = Run {
        host,
        opts,
        start_ms,
        input: from
            .as_ref()
            .map_or_else(|| input.clone(), |c| c.execution_input.clone()),
        history: RefCell::new(Vec::new()),
        rendered: RefCell::new((
            from.as_ref().map(|c| c.history.clone()).unwrap_or_default(),
            0,
        )),
        next_id: Cell::new(from.as_ref().map_or(0, |c| c.next_event_id)),
        transitions: Cell::new(from.as_ref().map_or(0, |c| c.transitions)),
        execution_arn: format!(
            "arn:aws:states:{}:{}:execution:{}:{}",
            opts.region, opts.account, opts.machine_name, opts.execution_name
        ),
        machine_arn: format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            opts.region, opts.account, opts.machine_name
        ),
    };
    let thread = Cell::new(run.next_id.get());
    let scope = Rc::new(Vars::default());
    let mut start = None;
    match &from {
        None => {
            // As in Step Functions, the first state's event follows event 0, not this one.
            run.event(
                &Cell::new(0),
                "ExecutionStarted",
                run.recording().then(|| {
                    (
                        "executionStartedEventDetails",
                        obj([("input", input.clone()), ("roleArn", json!(opts.role_arn))]),
                    )
                }),
            );
        }
        Some(c) => {
            scope.own.borrow_mut().extend(c.variables.clone());
            match machine.index_of(&c.state) {
                Some(i) => start = Some((i, c.entered_ms)),
                None => {
                    return Outcome {
                        status: Status::Failed,
                        output: None,
                        failure: Some(Failure::runtime(format!(
                            "Cannot resume at state '{}': the definition has no such state",
                            c.state
                        ))),
                        history: Vec::new(),
                        earlier_history: c.history.clone(),
                        transitions: c.transitions,
                        start_ms,
                        stop_ms: host.now_ms(),
                    }
                }
            }
        }
    }
    let deadline = start_ms
        + machine
            .timeout_seconds
            .map(|s| (s as i64).saturating_mul(1000))
            .unwrap_or(MAX_DURATION_MS)
            .min(MAX_DURATION_MS);
    let body = run.machine(machine, input, scope, &thread, Top::Yes(start));
    let timer = host.sleep_until(deadline);
    let result = match select(body, std::pin::pin!(timer)).await {
        Either::Left((r, _)) => Some(r),
        Either::Right(_) => None,
    };
    let (status, output, failure) = match result {
        Some(Ok(out)) => {
            run.event(
                &thread,
                "ExecutionSucceeded",
                Some((
                    "executionSucceededEventDetails",
                    obj([("output", out.clone())]),
                )),
            );
            (Status::Succeeded, Some(out), None)
        }
        Some(Err(f)) => {
            let mut d = Map::new();
            if !f.error.is_empty() {
                d.insert("error".into(), json!(f.error));
            }
            if !f.cause.is_empty() {
                d.insert("cause".into(), json!(f.cause));
            }
            run.event(
                &thread,
                "ExecutionFailed",
                Some(("executionFailedEventDetails", d)),
            );
            (Status::Failed, None, Some(f))
        }
        None => {
            let f = Failure::new(
                error::TIMEOUT,
                "The execution ran longer than its TimeoutSeconds",
            );
            run.event(
                &thread,
                "ExecutionTimedOut",
                Some((
                    "executionTimedOutEventDetails",
                    obj([("error", json!(f.error)), ("cause", json!(f.cause))]),
                )),
            );
            (Status::TimedOut, None, Some(f))
        }
    };
    Outcome {
        status,
        output,
        failure,
        history: run.history.take(),
        earlier_history: {
            // Only the resumed part: this run's events are in `history`.
            let (mut all, own) = run.rendered.take();
            all.truncate(all.len() - own);
            all
        },
        transitions: run.transitions.get(),
        start_ms,
        stop_ms: host.now_ms(),
    }
}

fn obj<const N: usize>(fields: [(&str, Value); N]) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Workflow variables: one scope for the execution, one for each Parallel branch and Map
/// iteration, which reads the scopes around it.
#[derive(Default)]
struct Vars {
    own: RefCell<HashMap<String, Value>>,
    outer: Option<Rc<Vars>>,
}

impl Vars {
    fn get(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.own.borrow().get(name) {
            return Some(v.clone());
        }
        self.outer.as_ref().and_then(|o| o.get(name))
    }

    fn inner(outer: &Rc<Vars>) -> Rc<Vars> {
        Rc::new(Vars {
            own: RefCell::default(),
            outer: Some(outer.clone()),
        })
    }
}

struct Run<'h, H> {
    host: &'h H,
    opts: &'h Options,
    start_ms: i64,
    input: Value,
    history: RefCell<Vec<Event>>,
    /// For checkpoints: the history rendered so far (the resumed part, then this run's
    /// events), and how many of this run's events it holds.
    rendered: RefCell<(Vec<Value>, usize)>,
    next_id: Cell<u64>,
    transitions: Cell<u64>,
    execution_arn: String,
    machine_arn: String,
}

/// The map item a Map's `ItemSelector` sees as `$$.Map.Item`.
#[derive(Clone, Copy)]
struct Item<'a> {
    index: usize,
    value: &'a Value,
}

/// What paths, intrinsic functions and JSONata read besides their input, for one state.
struct Env<'a, H> {
    run: &'a Run<'a, H>,
    state: &'a State,
    entered_ms: i64,
    retry_count: u32,
    token: Option<&'a str>,
    item: Option<Item<'a>>,
    vars: &'a Rc<Vars>,
}

impl<H: Host> Env<'_, H> {
    fn context_object(&self, with_input: bool) -> Value {
        let run = self.run;
        // The order and fields of the context object as Step Functions shows it; `RetryCount`
        // only in the states that can retry.
        let mut execution = Map::new();
        execution.insert("Id".into(), json!(run.execution_arn));
        if with_input {
            execution.insert("Input".into(), run.input.clone());
        }
        execution.insert("StartTime".into(), json!(iso(run.start_ms)));
        execution.insert("Name".into(), json!(run.opts.execution_name));
        execution.insert("RoleArn".into(), json!(run.opts.role_arn));
        execution.insert("RedriveCount".into(), json!(0));
        let mut state = Map::new();
        state.insert("Name".into(), json!(self.state.name));
        state.insert("EnteredTime".into(), json!(iso(self.entered_ms)));
        if matches!(
            self.state.kind,
            Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_)
        ) {
            state.insert("RetryCount".into(), json!(self.retry_count));
        }
        let mut c = json!({
            "Execution": execution,
            "StateMachine": {"Id": run.machine_arn, "Name": run.opts.machine_name},
            "State": state,
        });
        if let Some(t) = self.token {
            c["Task"] = json!({"Token": t});
        }
        if let Some(item) = self.item {
            c["Map"] = json!({"Item": {"Index": item.index, "Value": item.value}});
        }
        c
    }

    /// `$states` for a JSONata expression.
    fn states<'v>(
        &self,
        input: &'v Value,
        extra: Option<(&'v str, &'v Value)>,
    ) -> jsonata::States<'v> {
        jsonata::States { input, extra }
    }
}

impl<H: Host> Roots for Env<'_, H> {
    fn context(&self) -> Value {
        self.context_object(true)
    }
    fn context_at(&self, steps: &[crate::path::Step]) -> Option<Value> {
        use crate::path::{walk, Step};
        match steps {
            [Step::Key(e), Step::Key(i), rest @ ..] if e == "Execution" && i == "Input" => {
                walk(&self.run.input, rest).cloned()
            }
            [Step::Key(m), Step::Key(i), rest @ ..] if m == "Map" && i == "Item" => {
                let item = self.item?;
                match rest {
                    [] => Some(json!({"Index": item.index, "Value": item.value})),
                    [Step::Key(k), rest @ ..] if k == "Value" => walk(item.value, rest).cloned(),
                    [Step::Key(k)] if k == "Index" => Some(json!(item.index)),
                    _ => None,
                }
            }
            [] => Some(self.context_object(true)),
            [Step::Key(e)] if e == "Execution" => {
                Some(self.context_object(true)["Execution"].take())
            }
            _ => walk(&self.context_object(false), steps).cloned(),
        }
    }
    fn var(&self, name: &str) -> Option<Value> {
        self.vars.get(name)
    }
}

impl<H: Host> jsonata::Scope for Env<'_, H> {
    fn var(&self, name: &str) -> Option<Value> {
        self.vars.get(name)
    }
    fn context(&self, with_input: bool) -> Value {
        self.context_object(with_input)
    }
    fn now_ms(&self) -> i64 {
        self.run.host.now_ms()
    }
    fn random(&self) -> u64 {
        self.run.host.random()
    }
}

impl<H: Host> Random for Env<'_, H> {
    fn next_u64(&self) -> u64 {
        self.run.host.random()
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Whether a machine is the execution's own (checkpointed, maybe resumed at a state entered
/// at a given time) or a Parallel branch or Map iteration.
#[derive(Clone, Copy)]
enum Top {
    Yes(Option<(usize, i64)>),
    No,
}

/// Where a state goes, and with what.
struct Step {
    output: Value,
    next: Option<usize>,
    assigned: Option<Map<String, Value>>,
}

impl<'h, H: Host> Run<'h, H> {
    /// The history so far, rendered; only the events since the last call are rendered now.
    fn rendered_history(&self) -> Vec<Value> {
        let mut r = self.rendered.borrow_mut();
        let history = self.history.borrow();
        let (all, own) = &mut *r;
        all.extend(history[*own..].iter().map(Event::to_json));
        *own = history.len();
        all.clone()
    }

    fn event(
        &self,
        thread: &Cell<u64>,
        kind: &'static str,
        details: Option<(&'static str, Map<String, Value>)>,
    ) -> u64 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        if self.opts.history {
            self.history.borrow_mut().push(Event {
                timestamp_ms: self.host.now_ms(),
                kind,
                id,
                previous_id: thread.get(),
                details,
            });
        }
        thread.set(id);
        id
    }

    /// Whether events are kept: details are only built when they are.
    fn recording(&self) -> bool {
        self.opts.history
    }

    fn machine<'a>(
        &'a self,
        m: &'a Machine,
        input: Value,
        vars: Rc<Vars>,
        thread: &'a Cell<u64>,
        top: Top,
    ) -> Boxed<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let (mut at, mut resumed_at) = match top {
                Top::Yes(Some((i, entered))) => (i, Some(entered)),
                _ => (m.start, None),
            };
            let mut input = input;
            loop {
                let state = &m.states[at];
                let entered_ms = resumed_at.take().unwrap_or_else(|| self.host.now_ms());
                if matches!(top, Top::Yes(_)) && self.host.wants_checkpoints() {
                    self.host.checkpoint(&Checkpoint {
                        state: state.name.clone(),
                        input: input.clone(),
                        variables: vars
                            .own
                            .borrow()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        entered_ms,
                        start_ms: self.start_ms,
                        execution_input: self.input.clone(),
                        next_event_id: self.next_id.get(),
                        transitions: self.transitions.get(),
                        history: self.rendered_history(),
                    });
                }
                self.transitions.set(self.transitions.get() + 1);
                let ty = state_type(&state.kind);
                let entered_id = self.event(
                    thread,
                    history::entered(ty),
                    self.recording().then(|| {
                        (
                            "stateEnteredEventDetails",
                            obj([("name", json!(state.name)), ("input", input.clone())]),
                        )
                    }),
                );
                let checkpointed = matches!(top, Top::Yes(_)) && self.host.wants_checkpoints();
                let step = self
                    .state(state, &input, &vars, thread, entered_ms, checkpointed)
                    .await
                    .map_err(|f| {
                        if f.error == error::QUERY_EVALUATION_ERROR {
                            self.event(
                                thread,
                                "EvaluationFailed",
                                self.recording().then(|| {
                                    (
                                        "evaluationFailedEventDetails",
                                        {
                                            let mut d = obj([("error", json!(f.error)), ("cause", json!(f.cause)), ("state", json!(state.name))]);
                                            if let Some(l) = &f.location {
                                                d.insert("location".into(), json!(l));
                                            }
                                            d
                                        },
                                    )
                                }),
                            );
                        }
                        // The cause an execution fails with names the state, for a query
                        // evaluation error too: "An error occurred while executing the state
                        // 'Run S3 Data Push' (entered at the event id #6). The JSONata
                        // expression … returned nothing (undefined)." (recorded from AWS). The
                        // `EvaluationFailed` event above, and a `Catch` of the state (handled
                        // before this), keep the bare cause.
                        if (f.error == error::RUNTIME || f.error == error::QUERY_EVALUATION_ERROR)
                            && !f.cause.starts_with("An error occurred while executing")
                        {
                            Failure::new(f.error, format!(
                                "An error occurred while executing the state '{}' (entered at the event id #{entered_id}). {}",
                                state.name, f.cause
                            ))
                            .at_opt(f.location)
                        } else {
                            f
                        }
                    })?;
                if let Some(a) = &step.assigned {
                    let mut own = vars.own.borrow_mut();
                    for (k, v) in a {
                        own.insert(k.clone(), v.clone());
                    }
                }
                if !matches!(state.kind, Kind::Fail { .. }) {
                    self.event(
                        thread,
                        history::exited(ty),
                        self.recording().then(|| {
                            let mut d =
                                obj([("name", json!(state.name)), ("output", step.output.clone())]);
                            if let Some(a) = &step.assigned {
                                d.insert("assignedVariables".into(), Value::Object(a.clone()));
                            }
                            ("stateExitedEventDetails", d)
                        }),
                    );
                }
                match step.next {
                    Some(n) => {
                        at = n;
                        input = step.output;
                    }
                    None => return Ok(step.output),
                }
            }
        })
    }

    async fn state(
        &self,
        state: &State,
        raw: &Value,
        vars: &Rc<Vars>,
        thread: &Cell<u64>,
        entered_ms: i64,
        checkpointed: bool,
    ) -> Result<Step, Failure> {
        let env = Env {
            run: self,
            state,
            entered_ms,
            retry_count: 0,
            token: None,
            item: None,
            vars,
        };
        match &state.kind {
            Kind::Pass { result } => {
                if state.lang == Lang::Jsonata {
                    return self.finish_ata(&env, raw, None, None);
                }
                let effective = input_path(state, raw, &env)?;
                let result = match (result, &state.parameters) {
                    (Some(r), _) => r.clone(),
                    (None, Some(Field::Path(t))) => template(t, &effective, &env, "Parameters")?,
                    (None, _) => effective.into_owned(),
                };
                self.finish_path(&env, raw, result, &state.assign)
            }
            Kind::Succeed => {
                if state.lang == Lang::Jsonata {
                    return self
                        .finish_ata(&env, raw, None, None)
                        .map(|s| Step { next: None, ..s });
                }
                let effective = input_path(state, raw, &env)?;
                Ok(Step {
                    output: output_path(state, effective.into_owned(), &env)?,
                    next: None,
                    assigned: None,
                })
            }
            Kind::Fail { error, cause } => {
                let text = |t: &Option<Text>, field: &str| -> Result<Option<String>, Failure> {
                    let Some(t) = t else { return Ok(None) };
                    let v = match t {
                        Text::Fixed(s) => return Ok(Some(s.clone())),
                        // Step Functions names the field the path was given in: `ErrorPath`.
                        Text::Path(p) => read(p, raw, &env, &format!("{field}Path"))?,
                        Text::Call(c) => c.eval(raw, &env, &env)?,
                        Text::Ata(a) => {
                            jsonata::eval_field(a, &env.states(raw, None), &env, field)?
                        }
                    };
                    match v {
                        Value::String(s) => Ok(Some(s)),
                        other => Err(Failure::runtime(format!(
                            "The value of {field} must be a string, not {}",
                            quote(&other)
                        ))),
                    }
                };
                let e = text(error, "Error")?;
                let c = text(cause, "Cause")?;
                Err(Failure::new(e.unwrap_or_default(), c.unwrap_or_default()))
            }
            Kind::Choice { choices, default } => self.choice(&env, raw, choices, *default),
            Kind::Wait(w) => {
                let until = match w {
                    WaitFor::Seconds(n) => {
                        let s = number(n, raw, &env, "Seconds")?;
                        if s < 0.0 || s.fract() != 0.0 {
                            return Err(Failure::runtime(format!(
                                "The Seconds of a Wait must be a non-negative integer, not {s}"
                            )));
                        }
                        entered_ms.saturating_add((s * 1000.0) as i64)
                    }
                    WaitFor::Timestamp(t) => {
                        let v = match t {
                            Text::Fixed(s) => Value::String(s.clone()),
                            Text::Path(p) => {
                                read(p, &*input_path(state, raw, &env)?, &env, "TimestampPath")?
                            }
                            Text::Call(c) => c.eval(raw, &env, &env)?,
                            Text::Ata(a) => {
                                jsonata::eval_field(a, &env.states(raw, None), &env, "Timestamp")?
                            }
                        };
                        v.as_str().and_then(parse_timestamp).ok_or_else(|| {
                            // Step Functions' words: "The TimestampPath parameter does not
                            // reference a valid ISO-8601 extended offset date-time format
                            // string: $.t == yesterday".
                            let shown = match &v {
                                Value::String(s) => s.clone(),
                                other => quote(other),
                            };
                            let (field, given) = match t {
                                Text::Path(p) => ("TimestampPath", p.text().to_string()),
                                Text::Call(c) => ("Timestamp", c.text().to_string()),
                                Text::Ata(Ata::Expr(e)) => ("Timestamp", format!("{{% {e} %}}")),
                                _ => ("Timestamp", shown.clone()),
                            };
                            let cause = format!(
                                "The {field} parameter does not reference a valid ISO-8601 extended offset date-time format string: {given} == {shown}"
                            );
                            // From a JSONata expression, a query evaluation error.
                            if state.lang == Lang::Jsonata {
                                Failure::new(error::QUERY_EVALUATION_ERROR, cause)
                            } else {
                                Failure::runtime(cause)
                            }
                        })?
                    }
                };
                self.host.wait_state(until, checkpointed).await;
                if state.lang == Lang::Jsonata {
                    return self.finish_ata(&env, raw, None, None);
                }
                let effective = input_path(state, raw, &env)?;
                let assigned = assign_path(state.assign.as_ref(), &effective, &env)?;
                Ok(Step {
                    output: output_path(state, effective.into_owned(), &env)?,
                    next: state.next,
                    assigned,
                })
            }
            Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
                self.with_retries(state, raw, vars, thread, entered_ms)
                    .await
            }
        }
    }

    /// A JSONPath state's end: `Assign` on `basis`, then `ResultPath` and `OutputPath`.
    fn finish_path(
        &self,
        env: &Env<'_, H>,
        raw: &Value,
        result: Value,
        assign: &Option<Field>,
    ) -> Result<Step, Failure> {
        let state = env.state;
        let assigned = assign_path(assign.as_ref(), &result, env)?;
        let combined = result_path(&state.result_path, raw, result)?;
        Ok(Step {
            output: output_path(state, combined, env)?,
            next: state.next,
            assigned,
        })
    }

    /// A JSONata state's end: `Assign` and `Output`, both seeing the variables as they were.
    fn finish_ata(
        &self,
        env: &Env<'_, H>,
        raw: &Value,
        result: Option<&Value>,
        default: Option<Value>,
    ) -> Result<Step, Failure> {
        let state = env.state;
        let states = env.states(raw, result.map(|r| ("result", r)));
        let assigned = assign_ata(state.assign.as_ref(), &states, env)?;
        let output = match &state.output {
            Some(o) => jsonata::eval_field(o, &states, env, "Output")?,
            None => default.unwrap_or_else(|| raw.clone()),
        };
        Ok(Step {
            output,
            next: state.next,
            assigned,
        })
    }

    fn choice(
        &self,
        env: &Env<'_, H>,
        raw: &Value,
        choices: &[ChoiceRule],
        default: Option<usize>,
    ) -> Result<Step, Failure> {
        let state = env.state;
        if state.lang == Lang::Jsonata {
            let states = env.states(raw, None);
            for rule in choices {
                if choice::holds(&rule.cond, raw, env, &states)? {
                    let assigned =
                        assign_ata(rule.assign.as_ref().or(state.assign.as_ref()), &states, env)?;
                    let output = match rule.output.as_ref().or(state.output.as_ref()) {
                        Some(o) => jsonata::eval_field(o, &states, env, "Output")?,
                        None => raw.clone(),
                    };
                    return Ok(Step {
                        output,
                        next: Some(rule.next),
                        assigned,
                    });
                }
            }
            let Some(d) = default else {
                return Err(no_choice(state));
            };
            let step = self.finish_ata(env, raw, None, None)?;
            return Ok(Step {
                next: Some(d),
                ..step
            });
        }
        let effective = input_path(state, raw, env)?;
        let mut chosen = None;
        for rule in choices {
            if choice::holds(&rule.cond, &effective, env, &env.states(&effective, None))? {
                chosen = Some((rule.next, &rule.assign));
                break;
            }
        }
        let (next, rule_assign) = match (chosen, default) {
            (Some((n, a)), _) => (n, a),
            (None, Some(d)) => (d, &None),
            (None, None) => return Err(no_choice(state)),
        };
        // The chosen rule's Assign, or the state's (as with the Default).
        let assigned = assign_path(
            rule_assign.as_ref().or(state.assign.as_ref()),
            &effective,
            env,
        )?;
        Ok(Step {
            output: output_path(state, effective.into_owned(), env)?,
            next: Some(next),
            assigned,
        })
    }

    /// A Task, Parallel or Map state: attempts, `Retry` and `Catch`.
    async fn with_retries(
        &self,
        state: &State,
        raw: &Value,
        vars: &Rc<Vars>,
        thread: &Cell<u64>,
        entered_ms: i64,
    ) -> Result<Step, Failure> {
        let mut counts = vec![0u64; state.retry.len()];
        let mut attempt = 0u32;
        loop {
            let env = Env {
                run: self,
                state,
                entered_ms,
                retry_count: attempt,
                token: None,
                item: None,
                vars,
            };
            let failure = match self.attempt(&env, raw, thread).await {
                Ok(step) => return Ok(step),
                Err(f) => f,
            };
            if let Some(i) = state.retry.iter().position(|r| failure.matches(&r.errors)) {
                let r = &state.retry[i];
                if counts[i] < r.max_attempts {
                    let mut delay = r.interval_seconds * r.backoff_rate.powi(counts[i] as i32);
                    if let Some(max) = r.max_delay_seconds {
                        delay = delay.min(max);
                    }
                    if r.jitter {
                        delay *= (self.host.random() >> 11) as f64 / (1u64 << 53) as f64;
                    }
                    counts[i] += 1;
                    attempt += 1;
                    let until = self.host.now_ms().saturating_add((delay * 1000.0) as i64);
                    self.host.sleep_until(until).await;
                    continue;
                }
            }
            let Some(c) = state.catch.iter().find(|c| failure.matches(&c.errors)) else {
                return Err(failure);
            };
            let err = failure.output();
            if state.lang == Lang::Jsonata {
                let states = env.states(raw, Some(("errorOutput", &err)));
                return Ok(Step {
                    assigned: assign_ata(c.assign.as_ref(), &states, &env)?,
                    output: match &c.output {
                        Some(o) => jsonata::eval_field(o, &states, &env, "Output")?,
                        None => err,
                    },
                    next: Some(c.next),
                });
            }
            let assigned = assign_path(c.assign.as_ref(), &err, &env)?;
            return Ok(Step {
                output: result_path(&c.result_path, raw, err)?,
                next: Some(c.next),
                assigned,
            });
        }
    }

    async fn attempt(
        &self,
        env: &Env<'_, H>,
        raw: &Value,
        thread: &Cell<u64>,
    ) -> Result<Step, Failure> {
        let state = env.state;
        let ata = state.lang == Lang::Jsonata;
        let effective = if ata {
            Cow::Borrowed(raw)
        } else {
            input_path(state, raw, env)?
        };
        let result = match &state.kind {
            Kind::Task(task) => {
                let token = matches!(resource_pattern(&task.resource), Pattern::Token).then(|| {
                    let mut b = [0u8; 16];
                    b[..8].copy_from_slice(&self.host.random().to_le_bytes());
                    b[8..].copy_from_slice(&self.host.random().to_le_bytes());
                    uuid_v4(b)
                });
                let env = Env {
                    token: token.as_deref(),
                    ..*env
                };
                let params = match &state.parameters {
                    Some(Field::Path(t)) => template(t, &effective, &env, "Parameters")?,
                    Some(Field::Ata(a)) => {
                        jsonata::eval_field(a, &env.states(raw, None), &env, "Arguments")?
                    }
                    None => effective.clone().into_owned(),
                };
                self.task(&env, task, &effective, params, token.clone(), thread)
                    .await?
            }
            Kind::Parallel { branches } => {
                let input = match &state.parameters {
                    Some(Field::Path(t)) => template(t, &effective, env, "Parameters")?,
                    Some(Field::Ata(a)) => {
                        jsonata::eval_field(a, &env.states(raw, None), env, "Arguments")?
                    }
                    None => effective.clone().into_owned(),
                };
                self.event(thread, "ParallelStateStarted", None);
                let runs = branches.iter().map(|b| {
                    let vars = Vars::inner(env.vars);
                    let input = input.clone();
                    async move {
                        let t = Cell::new(thread.get());
                        self.machine(b, input, vars, &t, Top::No).await
                    }
                });
                let joined = try_join_all(runs).await;
                // The event after the branches follows the last event any of them wrote.
                thread.set(self.next_id.get());
                match joined {
                    Ok(outs) => {
                        self.event(thread, "ParallelStateSucceeded", None);
                        Value::Array(outs)
                    }
                    Err(f) => {
                        self.event(thread, "ParallelStateFailed", None);
                        return Err(f);
                    }
                }
            }
            Kind::Map(map) => self.map(env, map, raw, &effective, thread).await?,
            _ => effective.clone().into_owned(),
        };
        if ata {
            let default = result.clone();
            return self.finish_ata(env, raw, Some(&result), Some(default));
        }
        let selected = match &state.result_selector {
            Some(t) => template(t, &result, env, "ResultSelector")?,
            None => result,
        };
        self.finish_path(env, raw, selected, &state.assign)
    }

    async fn task(
        &self,
        env: &Env<'_, H>,
        task: &Task,
        effective: &Value,
        params: Value,
        token: Option<String>,
        thread: &Cell<u64>,
    ) -> Result<Value, Failure> {
        let state = env.state;
        let timeout = match &task.timeout {
            Some(n) => number(n, effective, env, "TimeoutSeconds")?,
            None => DEFAULT_TASK_TIMEOUT,
        };
        let heartbeat = match &task.heartbeat {
            Some(n) => Some(number(n, effective, env, "HeartbeatSeconds")?),
            None => None,
        };
        let (target, input, kind) = resolve(&task.resource, &params)?;
        let (resource_type, resource) = describe(&task.resource);
        let lambda_arn = kind == Integration::FunctionArn;
        if self.recording() {
            if lambda_arn {
                self.event(
                    thread,
                    "LambdaFunctionScheduled",
                    Some((
                        "lambdaFunctionScheduledEventDetails",
                        obj([
                            ("resource", json!(task.resource)),
                            ("input", params.clone()),
                            ("timeoutInSeconds", json!(timeout as u64)),
                        ]),
                    )),
                );
                self.event(thread, "LambdaFunctionStarted", None);
            } else {
                let mut d = obj([
                    ("resourceType", json!(resource_type)),
                    ("resource", json!(resource)),
                    ("region", json!(self.opts.region)),
                    ("parameters", params.clone()),
                ]);
                if task.timeout.is_some() {
                    d.insert("timeoutInSeconds".into(), json!(timeout as u64));
                }
                if let Some(h) = heartbeat {
                    d.insert("heartbeatInSeconds".into(), json!(h as u64));
                }
                self.event(
                    thread,
                    "TaskScheduled",
                    Some(("taskScheduledEventDetails", d)),
                );
                self.event(
                    thread,
                    "TaskStarted",
                    Some((
                        "taskStartedEventDetails",
                        obj([
                            ("resourceType", json!(resource_type)),
                            ("resource", json!(resource)),
                        ]),
                    )),
                );
            }
        } else {
            self.event(
                thread,
                if lambda_arn {
                    "LambdaFunctionScheduled"
                } else {
                    "TaskScheduled"
                },
                None,
            );
            self.event(
                thread,
                if lambda_arn {
                    "LambdaFunctionStarted"
                } else {
                    "TaskStarted"
                },
                None,
            );
        }
        let now = self.host.now_ms();
        let deadline = now.saturating_add((timeout * 1000.0) as i64);
        let heartbeat_deadline = heartbeat.map(|h| now.saturating_add((h * 1000.0) as i64));
        let call = TaskCall {
            target,
            input,
            token: token.clone(),
            state: state.name.clone(),
            attempt: env.retry_count,
        };
        let work = async {
            let response = self.host.call(call).await?;
            match &token {
                Some(t) => {
                    if self.recording() {
                        self.event(
                            thread,
                            "TaskSubmitted",
                            Some((
                                "taskSubmittedEventDetails",
                                obj([
                                    ("resourceType", json!(resource_type)),
                                    ("resource", json!(resource)),
                                    ("output", response),
                                ]),
                            )),
                        );
                    }
                    self.host.await_token(t).await
                }
                None => Ok(response),
            }
        };
        let (limit, limit_error) = match heartbeat_deadline {
            Some(h) if h < deadline => (h, error::HEARTBEAT_TIMEOUT),
            _ => (deadline, error::TIMEOUT),
        };
        let mocked = self.host.mock(&state.name);
        let is_mock = mocked.is_some();
        let outcome = match mocked {
            Some(m) => m,
            None => {
                let timer = self.host.sleep_until(limit);
                match select(std::pin::pin!(work), std::pin::pin!(timer)).await {
                    Either::Left((r, _)) => r,
                    Either::Right(_) => Err(Failure::new(limit_error, "")),
                }
            }
        };
        let timed_out = matches!(&outcome, Err(f) if f.error == limit_error && f.cause.is_empty());
        match outcome {
            Ok(v) => {
                let result = match kind {
                    // A mock is the whole result; a token's answer is the output as sent.
                    _ if is_mock || token.is_some() => v,
                    Integration::LambdaInvoke => json!({
                        "ExecutedVersion": "$LATEST",
                        "Payload": v,
                        "SdkHttpMetadata": {
                            "HttpHeaders": {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"},
                            "HttpStatusCode": 200,
                        },
                        "SdkResponseMetadata": {"RequestId": self.request_id()},
                        "StatusCode": 200,
                    }),
                    _ => v,
                };
                if self.recording() {
                    if lambda_arn {
                        self.event(
                            thread,
                            "LambdaFunctionSucceeded",
                            Some((
                                "lambdaFunctionSucceededEventDetails",
                                obj([("output", result.clone())]),
                            )),
                        );
                    } else {
                        self.event(
                            thread,
                            "TaskSucceeded",
                            Some((
                                "taskSucceededEventDetails",
                                obj([
                                    ("resourceType", json!(resource_type)),
                                    ("resource", json!(resource)),
                                    ("output", result.clone()),
                                ]),
                            )),
                        );
                    }
                } else {
                    self.event(thread, "TaskSucceeded", None);
                }
                Ok(result)
            }
            Err(f) => {
                let kind = match (lambda_arn, timed_out) {
                    (true, true) => (
                        "LambdaFunctionTimedOut",
                        "lambdaFunctionTimedOutEventDetails",
                    ),
                    (true, false) => ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails"),
                    (false, true) => ("TaskTimedOut", "taskTimedOutEventDetails"),
                    (false, false) => ("TaskFailed", "taskFailedEventDetails"),
                };
                let mut d = obj([("error", json!(f.error)), ("cause", json!(f.cause))]);
                if !lambda_arn {
                    d.insert("resourceType".into(), json!(resource_type));
                    d.insert("resource".into(), json!(resource));
                }
                self.event(thread, kind.0, self.recording().then_some((kind.1, d)));
                Err(f)
            }
        }
    }

    fn request_id(&self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.host.random().to_le_bytes());
        b[8..].copy_from_slice(&self.host.random().to_le_bytes());
        uuid_v4(b)
    }

    async fn map(
        &self,
        env: &Env<'_, H>,
        map: &MapState,
        raw: &Value,
        effective: &Value,
        thread: &Cell<u64>,
    ) -> Result<Value, Failure> {
        let state = env.state;
        let items: Cow<'_, Value> = match (&map.items, &map.items_path) {
            (Some(a), _) => Cow::Owned(jsonata::eval_field(
                a,
                &env.states(raw, None),
                env,
                "Items",
            )?),
            (None, Some(p)) => p
                .get_ref(effective, env)
                .map_err(|e| path_failure(p, effective, "ItemsPath", e))?,
            (None, None) => Cow::Borrowed(effective),
        };
        let Some(items) = items.as_array() else {
            // In a JSONata state the items are the value of an expression (`Items`, or the
            // input): a wrong one is a query evaluation error, which a Catch can handle.
            return Err(match &map.items {
                Some(Ata::Expr(e)) => Failure::new(
                    error::QUERY_EVALUATION_ERROR,
                    format!(
                        "The JSONata expression '{e}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '{}' for value: {}",
                        jsonata::type_name(&items),
                        quote(&items)
                    ),
                ),
                _ => {
                    let cause = format!(
                        "The items of Map state '{}' are not an array: {}",
                        state.name,
                        quote(&items)
                    );
                    if state.lang == Lang::Jsonata {
                        Failure::new(error::QUERY_EVALUATION_ERROR, cause)
                    } else {
                        Failure::runtime(cause)
                    }
                }
            });
        };
        let concurrency = match &map.max_concurrency {
            Some(n) => map_number(n, effective, env, MapNumber::MaxConcurrency)?,
            None => 0.0,
        };
        let tolerated_count = match &map.tolerated_count {
            Some(n) => Some(map_number(
                n,
                effective,
                env,
                MapNumber::ToleratedFailureCount,
            )?),
            None => None,
        };
        let tolerated_pct = match &map.tolerated_percentage {
            Some(n) => Some(map_number(
                n,
                effective,
                env,
                MapNumber::ToleratedFailurePercentage,
            )?),
            None => None,
        };
        let tolerant = tolerated_count.is_some() || tolerated_pct.is_some();
        let limit = if concurrency >= 1.0 {
            concurrency as usize
        } else {
            items.len().max(1)
        };
        self.event(
            thread,
            "MapStateStarted",
            self.recording().then(|| {
                (
                    "mapStateStartedEventDetails",
                    obj([("length", json!(items.len()))]),
                )
            }),
        );
        let total = items.len();
        let runs = items.iter().enumerate().map(|(index, value)| {
            let item_env = Env {
                item: Some(Item { index, value }),
                ..*env
            };
            let input = match &map.item_selector {
                Some(Field::Path(t)) => template(t, effective, &item_env, "ItemSelector"),
                Some(Field::Ata(a)) => {
                    jsonata::eval_field(a, &item_env.states(raw, None), &item_env, "ItemSelector")
                }
                None => Ok(value.clone()),
            };
            let vars = Vars::inner(env.vars);
            async move {
                let input = input?;
                let t = Cell::new(thread.get());
                let details = |this: &Self| {
                    this.recording().then(|| {
                        (
                            "mapIterationStartedEventDetails",
                            obj([("name", json!(state.name)), ("index", json!(index))]),
                        )
                    })
                };
                self.event(&t, "MapIterationStarted", details(self));
                let r = self.machine(&map.processor, input, vars, &t, Top::No).await;
                let kind = if r.is_ok() {
                    "MapIterationSucceeded"
                } else {
                    "MapIterationFailed"
                };
                let d = details(self).map(|(_, m)| {
                    (
                        if r.is_ok() {
                            "mapIterationSucceededEventDetails"
                        } else {
                            "mapIterationFailedEventDetails"
                        },
                        m,
                    )
                });
                self.event(&t, kind, d);
                r
            }
        });
        let mut results = stream::iter(runs).buffered(limit);
        let mut out = Vec::with_capacity(total);
        let mut failures = 0usize;
        while let Some(r) = results.next().await {
            match r {
                Ok(v) => out.push(v),
                Err(f) if !tolerant => {
                    self.event(thread, "MapStateFailed", None);
                    return Err(f);
                }
                Err(f) => {
                    failures += 1;
                    let over_count = tolerated_count.is_some_and(|c| failures as f64 > c);
                    let over_pct =
                        tolerated_pct.is_some_and(|p| failures as f64 * 100.0 / total as f64 > p);
                    if over_count || over_pct {
                        self.event(thread, "MapStateFailed", None);
                        return Err(Failure::new(
                            error::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                            format!("The Map state '{}' failed on {failures} of {total} items, more than it tolerates", state.name),
                        ));
                    }
                    out.push(f.output());
                }
            }
        }
        thread.set(self.next_id.get());
        self.event(thread, "MapStateSucceeded", None);
        Ok(Value::Array(out))
    }
}

fn state_type(k: &Kind) -> &'static str {
    match k {
        Kind::Pass { .. } => "Pass",
        Kind::Task(_) => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map(_) => "Map",
    }
}

fn no_choice(state: &State) -> Failure {
    Failure::new(
        error::NO_CHOICE_MATCHED,
        format!(
            "No Choice Rule matched and no Default is specified in the Choice state '{}'",
            state.name
        ),
    )
}

/// Reads a path for a field; a missing node or variable is a `States.Runtime` error.
fn read(p: &Path, input: &Value, roots: &dyn Roots, field: &str) -> Result<Value, Failure> {
    p.get(input, roots)
        .map_err(|e| path_failure(p, input, field, e))
}

fn path_failure(p: &Path, input: &Value, field: &str, e: PathError) -> Failure {
    match e {
        PathError::UnknownVariable(v) => Failure::runtime(format!(
            "The variable '${v}' used in the field '{field}' was never assigned"
        )),
        PathError::NotFound => Failure::runtime(format!(
            "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
            p.text(),
            quote(input)
        )),
        PathError::CannotWrite(why) => Failure::runtime(format!(
            "The JSONPath '{}' specified for the field '{field}' cannot be applied: {why}",
            p.text()
        )),
    }
}

/// `InputPath`, borrowing the raw input where it selects all of it or one node of it.
fn input_path<'v>(
    state: &State,
    raw: &'v Value,
    roots: &dyn Roots,
) -> Result<Cow<'v, Value>, Failure> {
    match &state.input_path {
        IoPath::Default => Ok(Cow::Borrowed(raw)),
        IoPath::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
        IoPath::Path(p) => p.get_ref(raw, roots).map_err(|_| no_results(p)),
    }
}

/// Jayway's message for a path that names nothing: `Invalid path '$.a' : No results for path:
/// $['a']`.
fn no_results(p: &Path) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{}' : No results for path: {}",
        p.text(),
        p.normalized()
    ))
}

fn output_path(state: &State, combined: Value, roots: &dyn Roots) -> Result<Value, Failure> {
    match &state.output_path {
        IoPath::Default => Ok(combined),
        IoPath::Null => Ok(Value::Object(Map::new())),
        IoPath::Path(p) if p.is_identity() => Ok(combined),
        IoPath::Path(p) => p.get(&combined, roots).map_err(|_| no_results(p)),
    }
}

/// `ResultPath`: where the result goes in the raw input.
fn result_path(rp: &IoPath, raw: &Value, result: Value) -> Result<Value, Failure> {
    match rp {
        IoPath::Default => Ok(result),
        IoPath::Null => Ok(raw.clone()),
        IoPath::Path(p) => {
            let mut out = raw.clone();
            p.set(&mut out, result).map_err(|e| {
                let why = match e {
                    PathError::CannotWrite(w) => w,
                    _ => "the path cannot be written".into(),
                };
                Failure::new(
                    error::RESULT_PATH_MATCH_FAILURE,
                    format!(
                        "Unable to apply ResultPath '{}' to input '{}': {why}",
                        p.text(),
                        quote(raw)
                    ),
                )
            })?;
            Ok(out)
        }
    }
}

/// Fills a JSONPath payload template from `input`.
fn template<H: Host>(
    t: &Tmpl,
    input: &Value,
    env: &Env<'_, H>,
    field: &str,
) -> Result<Value, Failure> {
    Ok(match t {
        Tmpl::Static(v) => v.clone(),
        Tmpl::Path(p) => read(p, input, env, field)?,
        Tmpl::Call(c) => c.eval(input, env, env)?,
        Tmpl::Obj(fields) => {
            let mut m = Map::with_capacity(fields.len());
            for (k, f) in fields {
                let v = match f {
                    // A failing path names its key, as Step Functions does: 'JobName.$'.
                    Tmpl::Path(p) => read(p, input, env, &format!("{k}.$"))?,
                    f => template(f, input, env, field)?,
                };
                m.insert(k.clone(), v);
            }
            Value::Object(m)
        }
        Tmpl::Arr(items) => Value::Array(
            items
                .iter()
                .map(|f| template(f, input, env, field))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn assign_path<H: Host>(
    assign: Option<&Field>,
    basis: &Value,
    env: &Env<'_, H>,
) -> Result<Option<Map<String, Value>>, Failure> {
    match assign {
        Some(Field::Path(t)) => match template(t, basis, env, "Assign")? {
            Value::Object(m) => Ok(Some(m)),
            other => Err(Failure::runtime(format!(
                "Assign must be an object, not {}",
                quote(&other)
            ))),
        },
        Some(Field::Ata(_)) | None => Ok(None),
    }
}

fn assign_ata<H: Host>(
    assign: Option<&Field>,
    states: &jsonata::States<'_>,
    env: &Env<'_, H>,
) -> Result<Option<Map<String, Value>>, Failure> {
    match assign {
        Some(Field::Ata(a)) => match jsonata::eval_field(a, states, env, "Assign")? {
            Value::Object(m) => Ok(Some(m)),
            other => Err(Failure::runtime(format!(
                "Assign must be an object, not {}",
                quote(&other)
            ))),
        },
        Some(Field::Path(_)) | None => Ok(None),
    }
}

/// A number field: as written, read by a path from `input`, or a JSONata expression.
fn number<H: Host>(n: &Num, input: &Value, env: &Env<'_, H>, field: &str) -> Result<f64, Failure> {
    let v = match n {
        Num::Fixed(x) => return Ok(*x),
        Num::Path(p) => read(p, input, env, &format!("{field}Path"))?,
        Num::Ata(a) => jsonata::eval_field(a, &env.states(input, None), env, field)?,
    };
    v.as_f64().filter(|x| *x >= 0.0).ok_or_else(|| {
        Failure::runtime(format!(
            "The value of {field} must be a non-negative number, not {}",
            quote(&v)
        ))
    })
}

/// The three numbers of a Map read at run time.
#[derive(Clone, Copy)]
enum MapNumber {
    MaxConcurrency,
    ToleratedFailureCount,
    ToleratedFailurePercentage,
}

/// Reads a Map's `MaxConcurrency`, `ToleratedFailureCount` or `ToleratedFailurePercentage`
/// (fixed, by a path or by JSONata) and checks it as Step Functions does when the execution
/// reaches the state: a value of the wrong kind or out of range fails the execution with
/// `States.Runtime`, in Step Functions' words ("The MaxConcurrencyPath field refers to value
/// \"x\" which is not a valid integer: $.m", "ToleratedFailurePercentage must be between 0
/// and 100."). A string that holds an integer is taken as that integer.
fn map_number<H: Host>(
    n: &Num,
    input: &Value,
    env: &Env<'_, H>,
    which: MapNumber,
) -> Result<f64, Failure> {
    let (name, integer) = match which {
        MapNumber::MaxConcurrency => ("MaxConcurrency", true),
        MapNumber::ToleratedFailureCount => ("ToleratedFailureCount", true),
        MapNumber::ToleratedFailurePercentage => ("ToleratedFailurePercentage", false),
    };
    let (v, path) = match n {
        Num::Fixed(x) => (json!(x), None),
        Num::Path(p) => (read(p, input, env, &format!("{name}Path"))?, Some(p)),
        Num::Ata(a) => (
            jsonata::eval_field(a, &env.states(input, None), env, name)?,
            None,
        ),
    };
    let x = match &v {
        Value::Number(x) => x.as_f64().filter(|x| !integer || x.fract() == 0.0),
        Value::String(s) => s.trim().parse::<i64>().ok().map(|i| i as f64),
        _ => None,
    };
    let Some(x) = x else {
        let shown = match &v {
            Value::String(s) => s.clone(),
            other => quote(other),
        };
        let kind = if integer { "integer" } else { "float" };
        return Err(Failure::runtime(match path {
            Some(p) => format!(
                "The {name}Path field refers to value \"{shown}\" which is not a valid {kind}: {}",
                p.text()
            ),
            None => {
                format!("The {name} field refers to value \"{shown}\" which is not a valid {kind}")
            }
        }));
    };
    let wrong = match which {
        MapNumber::MaxConcurrency if x < 0.0 => Some(format!(
            "Expected non-negative integer for MaxConcurrency, got '{}' instead.",
            quote(&v)
        )),
        MapNumber::ToleratedFailureCount if x < 0.0 => {
            Some("ToleratedFailureCount cannot be negative.".to_string())
        }
        MapNumber::ToleratedFailurePercentage if !(0.0..=100.0).contains(&x) => {
            Some("ToleratedFailurePercentage must be between 0 and 100.".to_string())
        }
        _ => None,
    };
    match wrong {
        Some(cause) => Err(Failure::runtime(cause)),
        None => Ok(x),
    }
}

/// How a task's resource is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Integration {
    /// `arn:aws:states:::lambda:invoke`: the result is wrapped as Lambda's Invoke response.
    LambdaInvoke,
    /// A function ARN or `${…}` placeholder: the result is the function's return value.
    FunctionArn,
    Service,
    Activity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Response,
    Token,
    Sync,
}

fn resource_pattern(resource: &str) -> Pattern {
    if resource.ends_with(".waitForTaskToken") || resource.contains(":activity:") {
        Pattern::Token
    } else if resource.ends_with(".sync") || resource.contains(".sync:") {
        Pattern::Sync
    } else {
        Pattern::Response
    }
}

/// The function a name, ARN or `${…}` placeholder stands for.
pub fn function_name(s: &str) -> String {
    if let Some(inner) = s.strip_prefix("${").and_then(|x| x.strip_suffix('}')) {
        return inner.to_string();
    }
    match s.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_string(),
        None => s.to_string(),
    }
}

/// What a task's resource and parameters call, and how.
fn resolve(resource: &str, params: &Value) -> Result<(Target, Value, Integration), Failure> {
    let base = resource
        .strip_suffix(".waitForTaskToken")
        .or_else(|| resource.strip_suffix(".sync:2"))
        .or_else(|| resource.strip_suffix(".sync"))
        .unwrap_or(resource);
    if let Some(api) = base.strip_prefix("arn:aws:states:::") {
        if api == "lambda:invoke" {
            let function = params
                .get("FunctionName")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Failure::runtime("The lambda:invoke parameters need a FunctionName string")
                })?;
            let payload = params
                .get("Payload")
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            return Ok((
                Target::Lambda {
                    function: function_name(function),
                },
                payload,
                Integration::LambdaInvoke,
            ));
        }
        let (service, action) = match api.rsplit_once(':') {
            Some((s, a)) => (s.to_string(), a.to_string()),
            None => (api.to_string(), String::new()),
        };
        return Ok((
            Target::Service { service, action },
            params.clone(),
            Integration::Service,
        ));
    }
    if resource.contains(":activity:") {
        return Ok((
            Target::Activity {
                arn: resource.into(),
            },
            params.clone(),
            Integration::Activity,
        ));
    }
    Ok((
        Target::Lambda {
            function: function_name(resource),
        },
        params.clone(),
        Integration::FunctionArn,
    ))
}

/// The `resourceType` and `resource` of a task's history events.
fn describe(resource: &str) -> (String, String) {
    match resource.strip_prefix("arn:aws:states:::") {
        Some(api) => match api.split_once(':') {
            Some((t, r)) => (t.to_string(), r.to_string()),
            None => (api.to_string(), String::new()),
        },
        None if resource.contains(":activity:") => ("activity".into(), resource.into()),
        None => ("lambda".into(), resource.into()),
    }
}
