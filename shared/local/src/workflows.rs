//! Executions on real time, as `helios dev` runs them: the host of the ASL interpreter whose
//! clock is tokio's, whose tasks are in-process functions, and which keeps a checkpoint of
//! each execution in a folder so that a restart goes on where the execution was.
//!
//! Executions are not `Send` (the interpreter is single-threaded); run them on a
//! `tokio::task::LocalSet` or a current-thread runtime.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helios_states::intrinsic::splitmix;
use helios_states::memory::Memory;
use helios_states::model::Machine;
use helios_states::{Checkpoint, Failure, Host, Options, Outcome, Target, TaskCall};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// An in-process task function.
pub type Function =
    Arc<dyn Fn(TaskCall) -> Pin<Box<dyn Future<Output = Result<Value, Failure>>>> + Send + Sync>;

/// Answers to task tokens (`SendTaskSuccess` / `SendTaskFailure`), shared with whatever
/// receives acknowledgements (the query API's `ack`, a queue consumer).
#[derive(Default, Clone)]
pub struct TokenBox {
    inner: Arc<Mutex<Tokens>>,
}

#[derive(Default)]
struct Tokens {
    waiting: HashMap<String, oneshot::Sender<Result<Value, Failure>>>,
    early: HashMap<String, Result<Value, Failure>>,
}

impl TokenBox {
    /// Delivers the answer to a token; false if no execution waits on it now (the answer is
    /// kept for an execution that asks for it later, as after a restart).
    pub fn answer(&self, token: &str, result: Result<Value, Failure>) -> bool {
        let Ok(mut t) = self.inner.lock() else {
            return false;
        };
        match t.waiting.remove(token) {
            Some(tx) => tx.send(result).is_ok(),
            None => {
                t.early.insert(token.to_string(), result);
                false
            }
        }
    }

    fn wait(&self, token: &str) -> oneshot::Receiver<Result<Value, Failure>> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut t) = self.inner.lock() {
            match t.early.remove(token) {
                Some(r) => {
                    let _ = tx.send(r);
                }
                None => {
                    t.waiting.insert(token.to_string(), tx);
                }
            }
        }
        rx
    }
}

/// The host of executions on real time.
pub struct RealHost {
    wall_at_start_ms: i64,
    started: tokio::time::Instant,
    seed: Cell<u64>,
    functions: HashMap<String, Function>,
    memory: Memory,
    pub tokens: TokenBox,
    checkpoints: Option<PathBuf>,
    execution: String,
    /// The listing told of each state the execution enters.
    pub index: Option<ExecutionIndex>,
    /// Where to say that the execution stops at a long Wait of its top-level machine, to be
    /// resumed from its checkpoint when the Wait ends ([`Host::wait_state`]).
    park: std::cell::RefCell<Option<oneshot::Sender<i64>>>,
    park_after_ms: i64,
}

/// A Wait longer than this parks its execution: it is then data (its checkpoint and a place
/// in the runner's timer queue), not a task holding the interpreter's state in memory.
pub const PARK_AFTER_MS: i64 = 2_000;

impl RealHost {
    /// A host for the execution `execution`; with `checkpoints`, its checkpoint is kept in
    /// `<checkpoints>/<execution>.json` until it ends.
    pub fn new(execution: &str, checkpoints: Option<PathBuf>, tokens: TokenBox) -> RealHost {
        let wall = wall_ms();
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        RealHost {
            wall_at_start_ms: wall,
            started: tokio::time::Instant::now(),
            seed: Cell::new(u64::from_le_bytes(seed)),
            functions: HashMap::new(),
            memory: Memory::default(),
            tokens,
            checkpoints,
            execution: execution.to_string(),
            index: None,
            park: std::cell::RefCell::new(None),
            park_after_ms: PARK_AFTER_MS,
        }
    }

    /// Sets the host's clock to read `wall_ms` now (tests, where tokio's clock is paused and
    /// the machine's is not).
    pub fn clock_at(mut self, wall_ms: i64) -> RealHost {
        self.wall_at_start_ms = wall_ms;
        self.started = tokio::time::Instant::now();
        self
    }

    /// Registers the function a task names (`notify`, or a `${…}` placeholder's name).
    pub fn function(&mut self, name: &str, f: Function) {
        self.functions.insert(name.to_string(), f);
    }

    fn checkpoint_file(&self) -> Option<PathBuf> {
        self.checkpoints
            .as_ref()
            .map(|d| d.join(format!("{}.json", self.execution)))
    }

    /// Runs an execution, or goes on with it from its checkpoint if one is kept; the
    /// checkpoint is removed when the execution ends.
    pub async fn run(&self, machine: &Machine, input: Value, opts: &Options) -> Outcome {
        let outcome = match self
            .checkpoint_file()
            .filter(|f| f.exists())
            .and_then(|f| read_checkpoint(&f))
        {
            Some(cp) => helios_states::resume(self, machine, cp, opts).await,
            None => helios_states::execute(self, machine, input, opts).await,
        };
        if let Some(f) = self.checkpoint_file() {
            let _ = std::fs::remove_file(f);
        }
        outcome
    }
}

/// The checkpoint kept in `file`, if there is a readable one.
pub fn read_checkpoint(file: &Path) -> Option<Checkpoint> {
    let text = std::fs::read_to_string(file).ok()?;
    match serde_json::from_str(&text) {
        Ok(cp) => Some(cp),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "unreadable execution checkpoint, starting over");
            None
        }
    }
}

impl Host for RealHost {
    fn now_ms(&self) -> i64 {
        self.wall_at_start_ms + self.started.elapsed().as_millis() as i64
    }

    fn sleep_until(&self, at_ms: i64) -> impl Future<Output = ()> {
        let wait = (at_ms - self.now_ms()).max(0) as u64;
        tokio::time::sleep(Duration::from_millis(wait))
    }

    fn random(&self) -> u64 {
        let r = splitmix(self.seed.get());
        self.seed.set(r);
        r
    }

    fn call(&self, call: TaskCall) -> impl Future<Output = Result<Value, Failure>> {
        let key = match &call.target {
            Target::Lambda { function } => function.clone(),
            Target::Service { service, action } => format!("{service}:{action}"),
            Target::Activity { arn } => arn.clone(),
        };
        let f = self.functions.get(&key).cloned();
        let in_memory = match (&call.target, &f) {
            (Target::Service { service, action }, None) => {
                let r = (u128::from(self.random()) << 64) | u128::from(self.random());
                self.memory.call(service, action, &call.input, r)
            }
            _ => None,
        };
        async move {
            match (in_memory, f) {
                (Some(r), _) => r,
                (None, Some(f)) => f(call).await,
                (None, None) => Err(Failure::new(
                    "Lambda.ResourceNotFoundException",
                    format!("Function not found: {key}"),
                )),
            }
        }
    }

    fn await_token(&self, token: &str) -> impl Future<Output = Result<Value, Failure>> {
        let rx = self.tokens.wait(token);
        async move {
            rx.await.unwrap_or_else(|_| {
                Err(Failure::new(
                    "States.TaskFailed",
                    "the task token's answer was dropped",
                ))
            })
        }
    }

    fn wants_checkpoints(&self) -> bool {
        self.checkpoints.is_some()
    }

    fn wait_state(&self, at_ms: i64, checkpointed: bool) -> impl Future<Output = ()> {
        let park = if checkpointed && at_ms - self.now_ms() > self.park_after_ms {
            self.park.borrow_mut().take()
        } else {
            None
        };
        let sleep = self.sleep_until(at_ms);
        async move {
            if park.is_some_and(|tx| tx.send(at_ms).is_ok()) {
                // Stopped here by the runner: this future is dropped with the execution's.
                std::future::pending::<()>().await
            }
            sleep.await
        }
    }

    fn checkpoint(&self, at: &Checkpoint) {
        if let Some(index) = &self.index {
            index.at_state(&self.execution, &at.state);
        }
        let Some(file) = self.checkpoint_file() else {
            return;
        };
        let written = serde_json::to_vec(at)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_whole(&file, &bytes));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot keep the execution checkpoint");
        }
    }
}

/// Writes `bytes` to a temporary file beside `file`, then renames it over `file`: a crash
/// (even SIGKILL mid-write) leaves either no file or the whole of it, never a torn one.
fn write_whole(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut name = file.as_os_str().to_owned();
    name.push(TMP_SUFFIX);
    let tmp = PathBuf::from(name);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}

/// The suffix of the files `write_whole` renames; any left behind are the remains of a crash.
const TMP_SUFFIX: &str = ".tmp";

/// Removes the temporary files of writes a crash cut short; what each would have replaced
/// is still whole.
fn remove_cut_writes(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.to_str().is_some_and(|p| p.ends_with(TMP_SUFFIX)) {
            tracing::info!(file = %path.display(), "removing a write cut short");
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Why an execution could not be started.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error("no state machine named `{0}` (the definitions are the files of statemachines/)")]
    UnknownMachine(String),
    #[error("`{0}` is not an execution name: 1 to 80 letters, digits, `-` or `_`")]
    BadName(String),
    #[error("execution `{0}` was already started")]
    AlreadyStarted(String),
    #[error("the workflow runner has stopped")]
    Stopped,
    #[error("cannot record execution `{0}`: {1}")]
    Io(String, String),
    /// As Step Functions answers `ExecutionLimitExceeded`: retry later.
    #[error(
        "{0} executions are running, the most this runner keeps (--max-executions); retry later"
    )]
    AtCapacity(usize),
}

/// How the runner keeps its executions.
#[derive(Clone)]
pub struct RunnerOptions {
    /// The listing the runner keeps up to date.
    pub index: ExecutionIndex,
    /// The most executions running at once; a start beyond is refused, retryably.
    pub max_running: usize,
    /// Waits longer than this park their execution ([`PARK_AFTER_MS`]; `i64::MAX` never).
    pub park_after_ms: i64,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            index: ExecutionIndex::default(),
            max_running: 10_000,
            park_after_ms: PARK_AFTER_MS,
        }
    }
}

enum Command {
    Start {
        machine: String,
        name: String,
        input: Value,
        reply: oneshot::Sender<Result<(), StartError>>,
    },
}

/// Runs the workflows of `statemachines/` on real time, as `helios dev` does: executions are
/// started by name (a name is started once, ever), keep a checkpoint while they run
/// (`<data>/executions/running/`), and are resumed when the runner starts again; a finished
/// execution is written to `<data>/executions/done/<name>.json` with its history.
pub struct Runner {
    tx: Option<tokio::sync::mpsc::UnboundedSender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub tokens: TokenBox,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Started {
    machine: String,
    name: String,
    input: Value,
}

fn valid_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads every definition of a folder (`decision.asl.json` is the machine `decision`).
pub fn load_definitions(
    dir: &Path,
) -> anyhow::Result<HashMap<String, Rc<helios_states::Definition>>> {
    let mut out = HashMap::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the state machines in {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(name) = file
            .strip_suffix(".asl.json")
            .or_else(|| file.strip_suffix(".json"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        let def = helios_states::Definition::from_text(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        out.insert(name.to_string(), Rc::new(def));
    }
    Ok(out)
}

impl Runner {
    /// Starts the runner on a thread of its own and resumes the executions that were running.
    pub fn start(
        statemachines: PathBuf,
        data_dir: &Path,
        functions: HashMap<String, Function>,
        options: RunnerOptions,
    ) -> anyhow::Result<Runner> {
        let running = data_dir.join("executions/running");
        let done = data_dir.join("executions/done");
        std::fs::create_dir_all(&running)?;
        std::fs::create_dir_all(&done)?;
        let tokens = TokenBox::default();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_tokens = tokens.clone();
        let thread = std::thread::Builder::new()
            .name("helios-workflows".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow::anyhow!(
                            "cannot start the workflow runtime: {e}"
                        )));
                        return;
                    }
                };
                let defs = match load_definitions(&statemachines) {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let ctx = Rc::new(RunnerCtx {
                    defs,
                    running,
                    done,
                    functions,
                    tokens: thread_tokens,
                    options,
                    parked: Default::default(),
                    parked_changed: tokio::sync::Notify::new(),
                });
                tokio::task::LocalSet::new().block_on(&rt, runner_loop(ctx, rx));
            })?;
        ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the workflow runner did not start"))??;
        Ok(Runner {
            tx: Some(tx),
            thread: Some(thread),
            tokens,
        })
    }

    /// Starts execution `name` of `machine` on `input`; a name already used is refused.
    pub async fn start_execution(
        &self,
        machine: &str,
        name: &str,
        input: Value,
    ) -> Result<(), StartError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .as_ref()
            .ok_or(StartError::Stopped)?
            .send(Command::Start {
                machine: machine.to_string(),
                name: name.to_string(),
                input,
                reply,
            })
            .map_err(|_| StartError::Stopped)?;
        answer.await.map_err(|_| StartError::Stopped)?
    }
}

#[async_trait::async_trait]
impl helios_ports::Workflows for Runner {
    async fn start(
        &self,
        machine: &str,
        name: &str,
        input: &Value,
    ) -> Result<bool, helios_ports::PortError> {
        match self.start_execution(machine, name, input.clone()).await {
            Ok(()) => Ok(true),
            Err(StartError::AlreadyStarted(_)) => Ok(false),
            Err(e @ (StartError::Stopped | StartError::Io(..) | StartError::AtCapacity(_))) => {
                Err(helios_ports::PortError::unavailable("workflows", e))
            }
            Err(e) => Err(helios_ports::PortError::Invalid(e.to_string())),
        }
    }

    async fn send_task_success(
        &self,
        token: &str,
        output: &Value,
    ) -> Result<(), helios_ports::PortError> {
        // An answer no execution waits on yet is kept: after a restart the execution that
        // resumes at its task asks for it.
        self.tokens.answer(token, Ok(output.clone()));
        Ok(())
    }
}

impl Drop for Runner {
    /// Stops the runner: executions under way stop where they are and keep their checkpoint.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct RunnerCtx {
    defs: HashMap<String, Rc<helios_states::Definition>>,
    running: PathBuf,
    done: PathBuf,
    functions: HashMap<String, Function>,
    tokens: TokenBox,
    options: RunnerOptions,
    /// Parked executions by the time their Wait ends: `(at_ms, name)`, earliest first.
    parked: std::cell::RefCell<std::collections::BinaryHeap<std::cmp::Reverse<(i64, String)>>>,
    parked_changed: tokio::sync::Notify,
}

async fn runner_loop(ctx: Rc<RunnerCtx>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Command>) {
    remove_cut_writes(&ctx.running);
    remove_cut_writes(&ctx.done);
    tokio::task::spawn_local(wake_parked(ctx.clone()));
    // Resume what was running.
    if let Ok(entries) = std::fs::read_dir(&ctx.running) {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_record = path
                .file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.ends_with(".started.json"));
            if !is_record {
                continue;
            }
            match std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<Started>(&t).ok())
            {
                Some(s) => {
                    tracing::info!(execution = %s.name, machine = %s.machine, "resuming execution");
                    tokio::task::spawn_local(execute_one(ctx.clone(), s));
                }
                None => tracing::warn!(file = %path.display(), "unreadable execution record"),
            }
        }
    }
    // Until the runner is dropped: the executions under way stop with the runtime.
    while let Some(Command::Start {
        machine,
        name,
        input,
        reply,
    }) = rx.recv().await
    {
        let _ = reply.send(begin(&ctx, machine, name, input));
    }
}

fn begin(
    ctx: &Rc<RunnerCtx>,
    machine: String,
    name: String,
    input: Value,
) -> Result<(), StartError> {
    if !valid_name(&name) {
        return Err(StartError::BadName(name));
    }
    if !ctx.defs.contains_key(&machine) {
        return Err(StartError::UnknownMachine(machine));
    }
    let record = ctx.running.join(format!("{name}.started.json"));
    if record.exists() || ctx.done.join(format!("{name}.json")).exists() {
        return Err(StartError::AlreadyStarted(name));
    }
    let index = &ctx.options.index;
    if index.running() >= ctx.options.max_running {
        index.refused_one();
        tracing::warn!(execution = %name, max = ctx.options.max_running, "an execution was refused: the runner is at its cap");
        return Err(StartError::AtCapacity(ctx.options.max_running));
    }
    let started = Started {
        machine,
        name,
        input,
    };
    let bytes = serde_json::to_vec(&started)
        .map_err(|e| StartError::Io(started.name.clone(), e.to_string()))?;
    write_whole(&record, &bytes)
        .map_err(|e| StartError::Io(started.name.clone(), e.to_string()))?;
    index.put(execution_summary(
        &started.name,
        &json!({
            "machine": started.machine,
            "status": "RUNNING",
            "start": helios_states::clock::iso(wall_ms()),
        }),
    ));
    tokio::task::spawn_local(execute_one(ctx.clone(), started));
    Ok(())
}

/// Resumes each parked execution when its Wait ends: one task for all of them.
async fn wake_parked(ctx: Rc<RunnerCtx>) {
    loop {
        let next = ctx.parked.borrow().peek().map(|e| e.0 .0);
        let wait = next.map_or(Duration::from_secs(3600), |at| {
            Duration::from_millis((at - wall_ms()).max(0) as u64)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = ctx.parked_changed.notified() => continue,
        }
        let now = wall_ms();
        loop {
            let due = {
                let mut parked = ctx.parked.borrow_mut();
                match parked.peek() {
                    Some(e) if e.0 .0 <= now => parked.pop().map(|e| e.0 .1),
                    _ => None,
                }
            };
            let Some(name) = due else { break };
            ctx.options.index.set_parked(ctx.parked.borrow().len());
            let record = ctx.running.join(format!("{name}.started.json"));
            match std::fs::read_to_string(&record)
                .ok()
                .and_then(|t| serde_json::from_str::<Started>(&t).ok())
            {
                Some(s) => {
                    tokio::task::spawn_local(execute_one(ctx.clone(), s));
                }
                None => {
                    tracing::warn!(execution = %name, file = %record.display(), "a parked execution's record is gone or unreadable")
                }
            }
        }
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

async fn execute_one(ctx: Rc<RunnerCtx>, s: Started) {
    let Some(def) = ctx.defs.get(&s.machine).cloned() else {
        tracing::warn!(execution = %s.name, machine = %s.machine, "no such state machine any more");
        return;
    };
    let mut host = RealHost::new(&s.name, Some(ctx.running.clone()), ctx.tokens.clone());
    host.index = Some(ctx.options.index.clone());
    host.park_after_ms = ctx.options.park_after_ms;
    for (k, f) in &ctx.functions {
        host.function(k, f.clone());
    }
    let (park_tx, park_rx) = oneshot::channel();
    *host.park.borrow_mut() = Some(park_tx);
    let opts = Options {
        execution_name: s.name.clone(),
        machine_name: s.machine.clone(),
        history: true,
        ..Options::default()
    };
    let run = host.run(&def.machine, s.input.clone(), &opts);
    tokio::pin!(run);
    let outcome = tokio::select! {
        outcome = &mut run => outcome,
        Ok(at_ms) = park_rx => {
            // The interpreter's future is dropped here; the checkpoint taken as the Wait was
            // entered stays on disk, and the execution goes on from it at `at_ms`.
            ctx.parked.borrow_mut().push(std::cmp::Reverse((at_ms, s.name.clone())));
            ctx.options.index.set_parked(ctx.parked.borrow().len());
            ctx.parked_changed.notify_one();
            return;
        }
    };
    let mut record = outcome.to_json();
    record["machine"] = Value::String(s.machine.clone());
    record["name"] = Value::String(s.name.clone());
    record["input"] = s.input.clone();
    record["start"] = Value::String(helios_states::clock::iso(outcome.start_ms));
    record["stop"] = Value::String(helios_states::clock::iso(outcome.stop_ms));
    record["history"] = outcome.history_json();
    let file = ctx.done.join(format!("{}.json", s.name));
    match serde_json::to_vec_pretty(&record).map(|b| write_whole(&file, &b)) {
        Ok(Ok(())) => {
            let _ = std::fs::remove_file(ctx.running.join(format!("{}.started.json", s.name)));
            ctx.options.index.put(execution_summary(&s.name, &record));
            tracing::info!(execution = %s.name, status = outcome.status.as_str(), "execution ended");
        }
        Ok(Err(e)) => {
            tracing::warn!(file = %file.display(), error = %e, "cannot write the execution's end")
        }
        Err(e) => tracing::warn!(error = %e, "cannot write the execution's end"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn machine() -> helios_states::Definition {
        helios_states::Definition::new(&json!({
            "StartAt": "Before",
            "States": {
                "Before": {"Type": "Pass", "Assign": {"seen": true}, "Result": 1, "ResultPath": "$.before", "Next": "Hour"},
                "Hour": {"Type": "Wait", "Seconds": 3600, "Next": "After"},
                "After": {"Type": "Pass", "Parameters": {"before.$": "$.before", "seen.$": "$seen"}, "End": true}
            }
        }))
        .unwrap()
    }

    /// A restart during a Wait: the execution goes on from its checkpoint and waits only the
    /// rest of the hour (tokio's clock is paused, so the hour passes at once).
    #[tokio::test(start_paused = true)]
    async fn an_execution_goes_on_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let def = machine();
        let opts = Options {
            history: true,
            ..Options::default()
        };
        let first = RealHost::new(
            "exec-1",
            Some(dir.path().to_path_buf()),
            TokenBox::default(),
        );
        let cut = tokio::time::timeout(
            Duration::from_secs(600),
            first.run(&def.machine, json!({"id": 7}), &opts),
        )
        .await;
        assert!(cut.is_err(), "the execution was cut in its Wait");
        let kept = read_checkpoint(&dir.path().join("exec-1.json")).unwrap();
        assert_eq!(kept.state, "Hour");
        assert_eq!(kept.variables["seen"], true);
        let now = first.now_ms();
        drop(first);

        let second = RealHost::new(
            "exec-1",
            Some(dir.path().to_path_buf()),
            TokenBox::default(),
        )
        .clock_at(now);
        let resumed_at = second.now_ms();
        let outcome = second
            .run(&def.machine, json!({"ignored": true}), &opts)
            .await;
        assert_eq!(
            outcome.status,
            helios_states::Status::Succeeded,
            "{:?}",
            outcome.failure
        );
        assert_eq!(outcome.output, Some(json!({"before": 1, "seen": true})));
        // 600 s passed before the restart: 3,000 s remained.
        let waited = outcome.stop_ms - resumed_at;
        assert!(
            (2_999_000..=3_001_000).contains(&waited),
            "waited {waited} ms"
        );
        assert!(
            !dir.path().join("exec-1.json").exists(),
            "the checkpoint goes with the end"
        );
        // The history is whole: what came before the restart, then the rest, numbered on.
        let history = outcome.history_json();
        let events = history["events"].as_array().unwrap();
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            types,
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "WaitStateEntered",
                "WaitStateExited",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ]
        );
        let ids: Vec<u64> = events.iter().filter_map(|e| e["id"].as_u64()).collect();
        assert_eq!(ids, (1..=8).collect::<Vec<u64>>());
    }

    #[tokio::test]
    async fn a_token_answered_before_the_wait_is_kept() {
        let tokens = TokenBox::default();
        assert!(!tokens.answer("t-1", Ok(json!(1))));
        let rx = tokens.wait("t-1");
        assert_eq!(rx.await.unwrap(), Ok(json!(1)));
    }

    /// `helios dev` stopped while an execution waited, then started again: the execution is
    /// resumed and ends once; its name cannot start a second one.
    #[test]
    fn at_its_cap_the_runner_refuses_a_start_retryably_and_counts_it() {
        let defs = tempfile::tempdir().unwrap();
        std::fs::write(
            defs.path().join("pause.asl.json"),
            r#"{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}"#,
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let index = ExecutionIndex::default();
        let runner = Runner::start(
            defs.path().to_path_buf(),
            data.path(),
            HashMap::new(),
            RunnerOptions {
                index: index.clone(),
                max_running: 2,
                ..RunnerOptions::default()
            },
        )
        .unwrap();
        for name in ["a", "b"] {
            rt.block_on(runner.start_execution("pause", name, json!({})))
                .unwrap();
        }
        assert_eq!(
            rt.block_on(runner.start_execution("pause", "c", json!({}))),
            Err(StartError::AtCapacity(2))
        );
        // Through the port, a caller (decide, expect) sees an error it retries.
        let e = rt
            .block_on(helios_ports::Workflows::start(
                &runner,
                "pause",
                "c",
                &json!({}),
            ))
            .unwrap_err();
        assert!(e.is_retryable(), "{e}");
        // Both wait an hour: parked, not tasks.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while index.counts()["parked"] != 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            index.counts(),
            json!({"running": 2, "parked": 2, "refused_at_cap": 2})
        );
        // The listing comes from the index, newest first, filtered and paged.
        let (page, more) = index.page(&helios_ports::ExecutionFilter::default(), 0, 1);
        assert_eq!(page.len(), 1);
        assert!(more);
        let running = helios_ports::ExecutionFilter {
            status: Some("RUNNING".into()),
            ..Default::default()
        };
        let (all, more) = index.page(&running, 0, 10);
        assert_eq!(all.len(), 2);
        assert!(!more);
        let names: Vec<&str> = all.iter().filter_map(|e| e["name"].as_str()).collect();
        assert!(names.contains(&"a") && names.contains(&"b"), "{names:?}");
    }

    #[test]
    fn a_long_wait_parks_the_execution_which_goes_on_from_its_checkpoint_when_it_ends() {
        let defs = tempfile::tempdir().unwrap();
        std::fs::write(
            defs.path().join("pause.asl.json"),
            r#"{"StartAt": "Before", "States": {
                "Before": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.before", "Next": "Wait"},
                "Wait": {"Type": "Wait", "Seconds": 3, "Next": "Done"},
                "Done": {"Type": "Pass", "End": true}}}"#,
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let index = ExecutionIndex::default();
        let options = RunnerOptions {
            index: index.clone(),
            max_running: 10,
            ..RunnerOptions::default()
        };
        let runner = Runner::start(
            defs.path().to_path_buf(),
            data.path(),
            HashMap::new(),
            options,
        )
        .unwrap();
        let started = std::time::Instant::now();
        rt.block_on(runner.start_execution("pause", "p-1", json!({"x": 1})))
            .unwrap();
        let until = started + Duration::from_secs(2);
        while index.counts()["parked"] != 1 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(index.counts()["parked"], 1, "waiting, as data");
        assert!(
            data.path().join("executions/running/p-1.json").exists(),
            "its checkpoint"
        );
        let done = data.path().join("executions/done/p-1.json");
        let until = started + Duration::from_secs(20);
        while !done.exists() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            started.elapsed() >= Duration::from_secs(3),
            "the Wait was kept"
        );
        let record: Value = serde_json::from_str(&std::fs::read_to_string(&done).unwrap()).unwrap();
        assert_eq!(record["status"], "SUCCEEDED");
        assert_eq!(record["output"], json!({"x": 1, "before": {"n": 1}}));
        let kinds: Vec<&str> = record["history"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "WaitStateEntered").count(),
            1,
            "one entry into the Wait, parked or not: {kinds:?}"
        );
        assert!(kinds.contains(&"WaitStateExited"), "{kinds:?}");
        assert_eq!(index.counts()["parked"], 0);
        assert_eq!(index.running(), 0);
    }

    #[test]
    fn the_index_keeps_executions_newest_first_and_counts_the_running_ones() {
        let index = ExecutionIndex::default();
        let summary = |name: &str, start: &str, status: &str| json!({"name": name, "machine": "m", "status": status, "start": start});
        index.put(summary("old", "2026-12-01T00:00:00Z", "RUNNING"));
        index.put(summary("new", "2026-12-02T00:00:00Z", "RUNNING"));
        index.put(summary("mid", "2026-12-01T12:00:00Z", "SUCCEEDED"));
        assert_eq!(index.running(), 2);
        index.put(summary("old", "2026-12-01T00:00:00Z", "FAILED"));
        assert_eq!(
            index.running(),
            1,
            "an execution that ends is running no more"
        );
        index.put(json!({"name": "x", "machine": "expectation", "status": "RUNNING", "start": "2026-12-01T06:00:00Z"}));
        assert_eq!(
            (index.running_of("m"), index.running_of("expectation")),
            (1, 1)
        );
        index.put(json!({"name": "x", "machine": "expectation", "status": "SUCCEEDED", "start": "2026-12-01T06:00:00Z"}));
        assert_eq!(
            (index.running_of("m"), index.running_of("expectation")),
            (1, 0)
        );
        index.at_state("new", "Wait");
        let (page, _) = index.page(&helios_ports::ExecutionFilter::default(), 0, 10);
        let names: Vec<&str> = page.iter().filter_map(|e| e["name"].as_str()).collect();
        assert_eq!(names, ["new", "mid", "x", "old"]);
        assert_eq!(page[0]["state"], "Wait");
        let (second, more) = index.page(&helios_ports::ExecutionFilter::default(), 1, 1);
        assert_eq!((second[0]["name"].as_str(), more), (Some("mid"), true));
    }

    #[test]
    fn the_runner_resumes_executions_after_a_restart() {
        let defs = tempfile::tempdir().unwrap();
        std::fs::write(
            defs.path().join("pause.asl.json"),
            r#"{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Done"}, "Done": {"Type": "Pass", "Result": "done", "End": true}}}"#,
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let runner = Runner::start(
            defs.path().to_path_buf(),
            data.path(),
            HashMap::new(),
            RunnerOptions::default(),
        )
        .unwrap();
        rt.block_on(runner.start_execution("pause", "e-1", json!({"n": 1})))
            .unwrap();
        assert_eq!(
            rt.block_on(runner.start_execution("pause", "e-1", json!({}))),
            Err(StartError::AlreadyStarted("e-1".into()))
        );
        assert_eq!(
            rt.block_on(runner.start_execution("nope", "e-2", json!({}))),
            Err(StartError::UnknownMachine("nope".into()))
        );
        // Stop in the middle of the Wait, once the execution has entered it.
        let checkpoint = data.path().join("executions/running/e-1.json");
        let entered = std::time::Instant::now() + Duration::from_secs(10);
        while !checkpoint.exists() && std::time::Instant::now() < entered {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(runner);
        let done = data.path().join("executions/done/e-1.json");
        assert!(!done.exists());
        let kept = read_checkpoint(&checkpoint).expect("the checkpoint is kept");
        assert_eq!(kept.state, "Wait");
        // A SIGKILL can cut a write short: its temporary file is all that is torn.
        let cut = [
            data.path().join("executions/running/e-2.started.json.tmp"),
            data.path().join("executions/done/e-3.json.tmp"),
        ];
        for f in &cut {
            std::fs::write(f, "{\"machi").unwrap();
        }

        let runner = Runner::start(
            defs.path().to_path_buf(),
            data.path(),
            HashMap::new(),
            RunnerOptions::default(),
        )
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let record: Value = serde_json::from_str(&std::fs::read_to_string(&done).unwrap()).unwrap();
        assert_eq!(record["status"], "SUCCEEDED");
        assert_eq!(record["output"], "done");
        assert!(!data.path().join("executions/running/e-1.json").exists());
        assert!(
            cut.iter().all(|f| !f.exists()),
            "the torn writes are removed"
        );
        assert_eq!(
            rt.block_on(runner.start_execution("pause", "e-1", json!({}))),
            Err(StartError::AlreadyStarted("e-1".into()))
        );
    }
}

/// The executions of a data folder in memory, newest start first, so that a listing reads
/// no file: built once from the folder when `helios dev` starts, then kept by the runner as
/// executions start, move from state to state and end. With 38,000 executions a listing that
/// read every file took 3.3 s and, done on the async runtime, stalled every other request.
#[derive(Clone, Default)]
pub struct ExecutionIndex {
    inner: Arc<Mutex<IndexInner>>,
}

#[derive(Default)]
struct IndexInner {
    /// How many summaries say RUNNING.
    running: usize,
    /// Starts refused because `running` was at the cap.
    refused: u64,
    /// Running executions parked at a Wait (no task, no interpreter state in memory).
    parked: usize,
    /// How many summaries say RUNNING, by machine.
    running_by_machine: HashMap<String, usize>,
    /// Summaries by name, with the key of `order`.
    by_name: HashMap<String, (OrderKey, Value)>,
    /// Newest start first (an execution with no start last), then by name.
    order: std::collections::BTreeSet<OrderKey>,
}

type OrderKey = (std::cmp::Reverse<Option<String>>, String);

impl ExecutionIndex {
    /// The index of the executions kept in `data_dir` (reads every file once: call it
    /// before serving, or on a blocking thread).
    pub fn load(data_dir: &Path) -> ExecutionIndex {
        let index = ExecutionIndex::default();
        let files = ExecutionFiles {
            data_dir: data_dir.to_path_buf(),
            index: None,
            statemachines: None,
        };
        for summary in files.by_name().into_values() {
            index.put(summary);
        }
        index
    }

    /// Adds or replaces the summary of the execution `summary["name"]`.
    pub fn put(&self, summary: Value) {
        let Some(name) = summary["name"].as_str().map(str::to_string) else {
            return;
        };
        let key = (
            std::cmp::Reverse(summary["start"].as_str().map(str::to_string)),
            name.clone(),
        );
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((old, was)) = inner.by_name.remove(&name) {
            inner.order.remove(&old);
            if was["status"] == "RUNNING" {
                inner.running -= 1;
                let machine = was["machine"].as_str().unwrap_or_default();
                if let Some(n) = inner.running_by_machine.get_mut(machine) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        if summary["status"] == "RUNNING" {
            inner.running += 1;
            let machine = summary["machine"].as_str().unwrap_or_default().to_string();
            *inner.running_by_machine.entry(machine).or_default() += 1;
        }
        inner.order.insert(key.clone());
        inner.by_name.insert(name, (key, summary));
    }

    /// How many executions of `machine` are running.
    pub fn running_of(&self, machine: &str) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.running_by_machine.get(machine).copied().unwrap_or(0)
    }

    /// Counts a start refused at the cap.
    fn refused_one(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.refused += 1;
    }

    fn set_parked(&self, n: usize) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).parked = n;
    }

    /// `{running, parked, refused_at_cap}`: what `/healthz` shows of the executions.
    pub fn counts(&self) -> Value {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        json!({"running": inner.running, "parked": inner.parked, "refused_at_cap": inner.refused})
    }

    /// Sets where the running execution `name` is.
    fn at_state(&self, name: &str, state: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, summary)) = inner.by_name.get_mut(name) {
            summary["state"] = Value::String(state.to_string());
        }
    }

    /// How many executions are running.
    pub fn running(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).running
    }

    /// One page of the listing, and whether more follow.
    pub fn page(
        &self,
        filter: &helios_ports::ExecutionFilter,
        offset: usize,
        limit: usize,
    ) -> (Vec<Value>, bool) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut page: Vec<Value> = inner
            .order
            .iter()
            .filter_map(|k| inner.by_name.get(&k.1).map(|(_, s)| s))
            .filter(|s| filter.admits(s))
            .skip(offset)
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        (page, more)
    }
}

/// The executions `helios dev` keeps in its data folder, read as the Step Functions console
/// lists them: ended ones from `executions/done/`, running ones from `executions/running/`
/// with the state they were last in.
#[derive(Clone)]
pub struct ExecutionFiles {
    pub data_dir: PathBuf,
    /// The index `helios dev` keeps; without one (`helios executions`), listings read the
    /// folder.
    pub index: Option<ExecutionIndex>,
    /// The folder of the definitions (`<machine>.asl.json`): an execution's description
    /// carries its machine's definition when it is there (the dashboard draws it).
    pub statemachines: Option<PathBuf>,
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The record of a running execution: its `.started.json` and its checkpoint, if one was
/// written yet.
fn running_record(started: &Value, checkpoint: Option<&Value>) -> Value {
    json!({
        "machine": started["machine"],
        "status": "RUNNING",
        "start": checkpoint.and_then(|c| c["start_ms"].as_i64()).map(helios_states::clock::iso),
        "state": checkpoint.map(|c| c["state"].clone()),
    })
}

/// One line of a listing.
fn execution_summary(name: &str, record: &Value) -> Value {
    json!({
        "name": name,
        "machine": record["machine"],
        "status": record["status"],
        "start": record["start"],
        "stop": record["stop"],
        "error": record.get("error"),
        "state": record.get("state"),
    })
}

impl ExecutionFiles {
    fn dir(&self) -> PathBuf {
        self.data_dir.join("executions")
    }

    /// Every execution, by name.
    pub fn by_name(&self) -> std::collections::BTreeMap<String, Value> {
        let mut out = std::collections::BTreeMap::new();
        let dir = self.dir();
        for entry in std::fs::read_dir(dir.join("done"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(String::from) else {
                continue;
            };
            if let Some(record) = read_json(&path) {
                out.insert(name.clone(), execution_summary(&name, &record));
            }
        }
        for entry in std::fs::read_dir(dir.join("running"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            let Some(file) = path.file_name().and_then(|s| s.to_str()) else {
                continue;
            };
            let Some(name) = file.strip_suffix(".started.json") else {
                continue;
            };
            if out.contains_key(name) {
                continue;
            }
            let started = read_json(&path).unwrap_or_default();
            let checkpoint = read_json(&dir.join("running").join(format!("{name}.json")));
            out.insert(
                name.to_string(),
                execution_summary(name, &running_record(&started, checkpoint.as_ref())),
            );
        }
        out
    }

    /// A running execution as `describe` shows it: its summary, input and history so far.
    fn running(&self, name: &str) -> Option<Value> {
        let dir = self.dir().join("running");
        let started = read_json(&dir.join(format!("{name}.started.json")))?;
        let checkpoint = read_json(&dir.join(format!("{name}.json")));
        let mut v = execution_summary(name, &running_record(&started, checkpoint.as_ref()));
        if let (Some(o), Some(c)) = (v.as_object_mut(), checkpoint) {
            o.insert("input".into(), c["execution_input"].clone());
            o.insert("history".into(), c["history"].clone());
        }
        Some(v)
    }

    /// One execution: the ended record with its history, or a running one's summary, input
    /// and history so far.
    pub fn describe(&self, name: &str) -> Option<Value> {
        if !valid_name(name) {
            return None;
        }
        let mut found = read_json(&self.dir().join("done").join(format!("{name}.json")))
            .or_else(|| self.running(name))?;
        let definition = match (&self.statemachines, found["machine"].as_str()) {
            (Some(dir), Some(machine)) if valid_name(machine) => {
                read_json(&dir.join(format!("{machine}.asl.json")))
            }
            _ => None,
        };
        if let (Some(d), Some(o)) = (definition, found.as_object_mut()) {
            o.insert("definition".into(), d);
        }
        Some(found)
    }
}

#[async_trait::async_trait]
impl helios_ports::Executions for ExecutionFiles {
    async fn list_executions(&self) -> Result<Vec<Value>, helios_ports::PortError> {
        if let Some(index) = &self.index {
            return Ok(index
                .page(&helios_ports::ExecutionFilter::default(), 0, usize::MAX - 1)
                .0);
        }
        let files = self.clone();
        let mut all: Vec<Value> = blocking(move || files.by_name().into_values().collect()).await?;
        helios_ports::sort_executions(&mut all);
        Ok(all)
    }

    async fn list_page(
        &self,
        filter: &helios_ports::ExecutionFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Value>, bool), helios_ports::PortError> {
        match &self.index {
            Some(index) => Ok(index.page(filter, offset, limit)),
            None => Ok(helios_ports::page_of(
                self.list_executions().await?,
                filter,
                offset,
                limit,
            )),
        }
    }

    async fn describe_execution(
        &self,
        name: &str,
    ) -> Result<Option<Value>, helios_ports::PortError> {
        let (files, name) = (self.clone(), name.to_string());
        blocking(move || files.describe(&name)).await
    }
}

/// File reads off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, helios_ports::PortError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| helios_ports::PortError::unavailable("executions", e))
}
