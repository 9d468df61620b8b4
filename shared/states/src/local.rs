//! A host for executions on one machine: tasks are in-process functions, the clock is virtual,
//! randomness is seeded. `helios states run` and the tests use it. Service integrations with
//! no handler of their own go to the in-memory stand-ins of [`crate::memory`].
//!
//! Task results can also come from a mock file in the format of Step Functions Local
//! (`MockConfigFile`): `StateMachines.<machine>.TestCases.<case>.<state>` names a response in
//! `MockedResponses`, whose keys are invocation numbers (`"0"`, `"1-2"`) and whose values are
//! `{"Return": …}` or `{"Throw": {"Error": …, "Cause": …}}`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

use serde_json::Value;

use crate::clock::{run_virtual, VirtualClock};
use crate::error::Failure;
use crate::exec::{execute, Host, Options, Outcome, Target, TaskCall};
use crate::intrinsic::splitmix;
use crate::memory::Memory;
use crate::model::Machine;

/// An in-process task: gets the call and the token box, returns the result.
pub type Handler = Box<dyn Fn(&TaskCall, &Tokens) -> Result<Value, Failure>>;

/// Answers to task tokens, given by handlers (at once, or after a virtual delay).
#[derive(Default)]
pub struct Tokens {
    answers: RefCell<HashMap<String, Result<Value, Failure>>>,
    waiting: RefCell<HashMap<String, Waker>>,
}

impl Tokens {
    /// `SendTaskSuccess` / `SendTaskFailure`.
    pub fn answer(&self, token: &str, result: Result<Value, Failure>) {
        self.answers.borrow_mut().insert(token.to_string(), result);
        if let Some(w) = self.waiting.borrow_mut().remove(token) {
            w.wake();
        }
    }
}

/// The responses of one mocked state: invocation numbers `lo..=hi` and their result.
type Responses = Vec<(u32, u32, Result<Value, Failure>)>;

/// Mocked task results in the Step Functions Local format.
#[derive(Debug, Default, Clone)]
pub struct Mocks {
    /// state name → responses by invocation number
    by_state: HashMap<String, Responses>,
}

impl Mocks {
    /// Reads the test case `case` of machine `machine` from a `MockConfigFile`.
    pub fn from_config(config: &Value, machine: &str, case: &str) -> Result<Mocks, String> {
        let cases = config
            .pointer(&format!("/StateMachines/{}/TestCases", escape(machine)))
            .and_then(Value::as_object)
            .ok_or_else(|| format!("the mock file has no StateMachines.{machine}.TestCases"))?;
        let tc = cases.get(case).and_then(Value::as_object).ok_or_else(|| {
            format!(
                "the mock file has no test case `{case}` for `{machine}` (it has: {})",
                cases.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let mut by_state = HashMap::new();
        for (state, response) in tc {
            let name = response
                .as_str()
                .ok_or_else(|| format!("test case `{case}`: state `{state}` names no response"))?;
            let r = config
                .pointer(&format!("/MockedResponses/{}", escape(name)))
                .and_then(Value::as_object)
                .ok_or_else(|| format!("the mock file has no MockedResponses.{name}"))?;
            let mut list = Vec::new();
            for (range, v) in r {
                let (lo, hi) = match range.split_once('-') {
                    Some((a, b)) => (a.trim().parse(), b.trim().parse()),
                    None => (range.trim().parse(), range.trim().parse()),
                };
                let (Ok(lo), Ok(hi)) = (lo, hi) else {
                    return Err(format!(
                        "MockedResponses.{name}: `{range}` is not an invocation number or range"
                    ));
                };
                let result = if let Some(ret) = v.get("Return") {
                    Ok(ret.clone())
                } else if let Some(t) = v.get("Throw") {
                    Err(Failure::new(
                        t.get("Error").and_then(Value::as_str).unwrap_or_default(),
                        t.get("Cause").and_then(Value::as_str).unwrap_or_default(),
                    ))
                } else {
                    return Err(format!(
                        "MockedResponses.{name}.{range}: neither Return nor Throw"
                    ));
                };
                list.push((lo, hi, result));
            }
            by_state.insert(state.clone(), list);
        }
        Ok(Mocks { by_state })
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The local host.
pub struct LocalHost {
    clock: VirtualClock,
    seed: Cell<u64>,
    handlers: HashMap<String, Handler>,
    mocks: Mocks,
    invocations: RefCell<HashMap<String, u32>>,
    pub tokens: Rc<Tokens>,
    pub memory: Memory,
}

impl LocalHost {
    pub fn new(start_ms: i64, seed: u64) -> LocalHost {
        LocalHost {
            clock: VirtualClock::new(start_ms),
            seed: Cell::new(seed),
            handlers: HashMap::new(),
            mocks: Mocks::default(),
            invocations: RefCell::new(HashMap::new()),
            tokens: Rc::new(Tokens::default()),
            memory: Memory::default(),
        }
    }

    /// Registers the handler of a function (by name) or a service action (`sqs:sendMessage`).
    pub fn handle(&mut self, name: &str, handler: Handler) {
        self.handlers.insert(name.to_string(), handler);
    }

    pub fn with_mocks(mut self, mocks: Mocks) -> LocalHost {
        self.mocks = mocks;
        self
    }

    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// Runs a machine to its end in virtual time.
    pub fn run(&self, machine: &Machine, input: Value, opts: &Options) -> Outcome {
        let start = self.clock.now_ms();
        run_virtual(&self.clock, execute(self, machine, input, opts)).unwrap_or_else(|| Outcome {
            // Unreachable with this host: every wait it makes ends on the clock, and the
            // execution itself times out after a year.
            status: crate::exec::Status::Failed,
            output: None,
            failure: Some(Failure::runtime(
                "The execution waited on something that never came",
            )),
            history: Vec::new(),
            earlier_history: Vec::new(),
            transitions: 0,
            start_ms: start,
            stop_ms: self.clock.now_ms(),
        })
    }
}

impl Host for LocalHost {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn sleep_until(&self, at_ms: i64) -> impl Future<Output = ()> {
        self.clock.sleep_until(at_ms)
    }

    fn random(&self) -> u64 {
        let r = splitmix(self.seed.get());
        self.seed.set(r);
        r
    }

    fn mock(&self, state: &str) -> Option<Result<Value, Failure>> {
        let list = self.mocks.by_state.get(state)?;
        let n = {
            let mut inv = self.invocations.borrow_mut();
            let n = inv.entry(state.to_string()).or_insert(0);
            *n += 1;
            *n - 1
        };
        list.iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&n))
            .or_else(|| list.iter().max_by_key(|(_, hi, _)| *hi))
            .map(|(_, _, r)| r.clone())
    }

    fn call(&self, call: TaskCall) -> impl Future<Output = Result<Value, Failure>> {
        let key = match &call.target {
            Target::Lambda { function } => function.clone(),
            Target::Service { service, action } => format!("{service}:{action}"),
            Target::Activity { arn } => arn.clone(),
        };
        let in_memory = match &call.target {
            Target::Service { service, action } if !self.handlers.contains_key(&key) => {
                let r = (u128::from(self.random()) << 64) | u128::from(self.random());
                self.memory.call(service, action, &call.input, r)
            }
            _ => None,
        };
        let result = match (in_memory, self.handlers.get(&key)) {
            (Some(r), _) => r,
            (None, Some(h)) => h(&call, &self.tokens),
            (None, None) => Err(match &call.target {
                Target::Lambda { function } => Failure::new(
                    "Lambda.ResourceNotFoundException",
                    format!("Function not found: {function} (no local function has this name)"),
                ),
                _ => Failure::new("States.TaskFailed", format!("No local handler for `{key}`")),
            }),
        };
        std::future::ready(result)
    }

    fn await_token(&self, token: &str) -> impl Future<Output = Result<Value, Failure>> {
        let tokens = self.tokens.clone();
        let token = token.to_string();
        std::future::poll_fn(move |cx| {
            if let Some(r) = tokens.answers.borrow_mut().remove(&token) {
                return Poll::Ready(r);
            }
            tokens
                .waiting
                .borrow_mut()
                .insert(token.clone(), cx.waker().clone());
            Poll::Pending
        })
    }
}
