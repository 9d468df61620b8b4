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
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helios_states::intrinsic::splitmix;
use helios_states::memory::Memory;
use helios_states::model::Machine;
use helios_states::{Checkpoint, Failure, Host, Options, Outcome, Target, TaskCall};
use serde_json::Value;
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
}

impl RealHost {
    /// A host for the execution `execution`; with `checkpoints`, its checkpoint is kept in
    /// `<checkpoints>/<execution>.json` until it ends.
    pub fn new(execution: &str, checkpoints: Option<PathBuf>, tokens: TokenBox) -> RealHost {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
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
        let outcome = match self.checkpoint_file().and_then(|f| read_checkpoint(&f)) {
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

    fn checkpoint(&self, at: &Checkpoint) {
        let Some(file) = self.checkpoint_file() else {
            return;
        };
        // Written whole to a temporary file, then renamed: a crash leaves the old or the new.
        let tmp = file.with_extension("json.tmp");
        let written = serde_json::to_vec(at)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &file));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot keep the execution checkpoint");
        }
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
        let opts = Options::default();
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
    }

    #[tokio::test]
    async fn a_token_answered_before_the_wait_is_kept() {
        let tokens = TokenBox::default();
        assert!(!tokens.answer("t-1", Ok(json!(1))));
        let rx = tokens.wait("t-1");
        assert_eq!(rx.await.unwrap(), Ok(json!(1)));
    }
}
