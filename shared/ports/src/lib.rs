//! The ports of Helios: the small capability traits its handlers depend on (a blob store, a
//! key-value store with conditional writes, counters and TTL, a publisher with topic → queue
//! fan-out, queues with visibility timeouts and dead-letter queues, and a clock). No adapter
//! lives here and nothing here does I/O.
//!
//! Handlers never construct a client: they take these traits. Each port has a local adapter
//! (`helios-local`: durable across restarts, safe against SIGKILL) and an AWS adapter
//! (`helios-aws`); the same behaviour suite (`suite`) runs against both. Adapters never leak
//! their SDK types through a trait.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

pub mod filter;
pub mod keys;
pub mod observe;
pub mod store;
#[cfg(feature = "suite")]
pub mod suite;
pub mod trace;
pub mod update;

pub use filter::{FilterError, FilterPolicy};

/// Why a port operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortError {
    /// The backing service could not be reached or failed; the caller may retry.
    #[error("{0} is unavailable: {1}")]
    Unavailable(&'static str, String),
    /// The request itself is wrong (bad key, unknown queue, …); retrying will not help.
    #[error("{0}")]
    Invalid(String),
}

impl PortError {
    pub fn unavailable(port: &'static str, e: impl std::fmt::Display) -> PortError {
        PortError::Unavailable(port, e.to_string())
    }
    pub fn is_retryable(&self) -> bool {
        matches!(self, PortError::Unavailable(..))
    }
}

/// The time, from a clock the caller owns.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(std::sync::Mutex::new(start))
    }
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

// ---- blob store ------------------------------------------------------------------------

/// Objects by key (S3 in AWS, a folder locally).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `body` under `key`, replacing what was there; durable when it returns.
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), PortError>;
    async fn get(&self, key: &str) -> Result<Option<Bytes>, PortError>;
    /// Where the object lives, for people (`file://…`, `s3://…`).
    fn locate(&self, key: &str) -> String;
}

// ---- key-value ---------------------------------------------------------------------------

/// One item of the key-value store.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub value: serde_json::Value,
    /// Bumped on every write; the token of optimistic concurrency.
    pub version: u64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One item of the key-value store, its value the JSON text it is stored as.
#[derive(Clone, Debug, PartialEq)]
pub struct TextItem {
    pub text: String,
    pub version: u64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// When a write may happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// Only if no live item has the key (an expired item counts as absent).
    NotExists,
    /// Only if the live item is at this version.
    VersionIs(u64),
}

/// Whether a conditional write happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Yes { version: u64 },
    ConditionFailed,
}

/// Key-value with conditional writes, atomic counters and expiry (DynamoDB in AWS).
///
/// Both adapters store a value as JSON text, so the calls an adapter implements take and give
/// text: a caller that reads the value into a type of its own ([`update::update`]) parses it
/// once. Parsed through a `serde_json::Value` first, a window state of 2,000 entries costs
/// three times the parse. [`KeyValue::get`] and [`KeyValue::put`] are the same calls with
/// a `Value`.
#[async_trait]
pub trait KeyValue: Send + Sync {
    async fn get_text(&self, key: &str) -> Result<Option<TextItem>, PortError>;
    /// Writes `text`, JSON as `serde_json` wrote it, on `condition`.
    async fn put_text(
        &self,
        key: &str,
        text: String,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<Written, PortError>;
    async fn delete(&self, key: &str, condition: Condition) -> Result<Written, PortError>;
    /// Adds `delta` to the counter at `key` (absent or expired counts as 0) and returns the
    /// new value; `ttl`, when given, sets the expiry.
    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, PortError>;

    /// [`KeyValue::get_text`], the value parsed.
    async fn get(&self, key: &str) -> Result<Option<Item>, PortError> {
        self.get_text(key)
            .await?
            .map(|i| {
                Ok(Item {
                    value: serde_json::from_str(&i.text).map_err(|e| {
                        PortError::unavailable(
                            "key-value",
                            format!("item `{key}` is not JSON: {e}"),
                        )
                    })?,
                    version: i.version,
                    expires_at: i.expires_at,
                })
            })
            .transpose()
    }
    /// [`KeyValue::put_text`] of `value`.
    async fn put(
        &self,
        key: &str,
        value: serde_json::Value,
        condition: Condition,
        ttl: Option<Duration>,
    ) -> Result<Written, PortError> {
        self.put_text(key, value.to_string(), condition, ttl).await
    }
}

// ---- workflows ---------------------------------------------------------------------------

/// The errors task functions fail with, by the names the workflows' `Retry` and `Catch`
/// match (`statemachines/*.asl.json`). Named here once: code uses the variants, and
/// `tests/deployment.rs` checks that every `Helios.…` name a workflow matches is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskError {
    /// Try again later: a dependency is unavailable or the state moved under us.
    Retryable,
    /// The input is wrong; retrying cannot help.
    BadRequest,
    UnknownChannel,
    UnknownDecision,
    /// The endpoint refused the request (4xx): retrying the same request cannot help.
    EndpointRejected,
    ChannelUnavailable,
    /// The channel's circuit breaker is open.
    CircuitOpen,
    AdviceUnavailable,
    Internal,
}

impl TaskError {
    pub const ALL: [TaskError; 9] = [
        TaskError::Retryable,
        TaskError::BadRequest,
        TaskError::UnknownChannel,
        TaskError::UnknownDecision,
        TaskError::EndpointRejected,
        TaskError::ChannelUnavailable,
        TaskError::CircuitOpen,
        TaskError::AdviceUnavailable,
        TaskError::Internal,
    ];

    /// The name a workflow matches: `Helios.<Variant>`.
    pub const fn name(self) -> &'static str {
        match self {
            TaskError::Retryable => "Helios.Retryable",
            TaskError::BadRequest => "Helios.BadRequest",
            TaskError::UnknownChannel => "Helios.UnknownChannel",
            TaskError::UnknownDecision => "Helios.UnknownDecision",
            TaskError::EndpointRejected => "Helios.EndpointRejected",
            TaskError::ChannelUnavailable => "Helios.ChannelUnavailable",
            TaskError::CircuitOpen => "Helios.CircuitOpen",
            TaskError::AdviceUnavailable => "Helios.AdviceUnavailable",
            TaskError::Internal => "Helios.Internal",
        }
    }
}

/// A task function's failure, named for a workflow's `Retry` and `Catch` (`error`), with a
/// sentence for the execution history (`cause`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    pub error: &'static str,
    pub cause: String,
}

impl TaskFailure {
    /// A failure named by its [`TaskError`].
    pub fn of(error: TaskError, cause: impl Into<String>) -> TaskFailure {
        TaskFailure::new(error.name(), cause)
    }

    pub fn new(error: &'static str, cause: impl Into<String>) -> TaskFailure {
        TaskFailure {
            error,
            cause: cause.into(),
        }
    }
}

/// Starts workflow executions (Step Functions in AWS; the ASL interpreter locally).
#[async_trait]
pub trait Workflows: Send + Sync {
    /// Starts execution `name` of the state machine `machine` on `input`. `Ok(false)` when an
    /// execution of that name was already started: names make starting idempotent.
    async fn start(
        &self,
        machine: &str,
        name: &str,
        input: &serde_json::Value,
    ) -> Result<bool, PortError>;

    /// Answers a task token (`SendTaskSuccess`): the waiting task's result is `output`.
    async fn send_task_success(
        &self,
        token: &str,
        output: &serde_json::Value,
    ) -> Result<(), PortError>;
}

/// Orders an execution listing as the Step Functions console does: newest start first,
/// then by name.
pub fn sort_executions(all: &mut [serde_json::Value]) {
    all.sort_by(|a, b| {
        b["start"]
            .as_str()
            .cmp(&a["start"].as_str())
            .then_with(|| a["name"].as_str().cmp(&b["name"].as_str()))
    });
}

/// One page of a whole listing: the executions `filter` admits from `offset` on, at most
/// `limit`, and whether more follow.
pub fn page_of(
    all: Vec<serde_json::Value>,
    filter: &ExecutionFilter,
    offset: usize,
    limit: usize,
) -> (Vec<serde_json::Value>, bool) {
    let mut page: Vec<serde_json::Value> = all
        .into_iter()
        .filter(|e| filter.admits(e))
        .skip(offset)
        .take(limit.saturating_add(1))
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    (page, more)
}

/// Which executions a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    pub machine: Option<String>,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: Option<String>,
}

impl ExecutionFilter {
    /// Whether the execution summary `e` passes.
    pub fn admits(&self, e: &serde_json::Value) -> bool {
        self.machine.as_deref().is_none_or(|m| e["machine"] == m)
            && self.status.as_deref().is_none_or(|s| e["status"] == s)
    }
}

/// Reads workflow executions, as the Step Functions console shows them (`ListExecutions`,
/// `DescribeExecution`, `GetExecutionHistory` in AWS; the interpreter's files locally).
#[async_trait]
pub trait Executions: Send + Sync {
    /// Every execution, newest start first: `{name, machine, status, start, stop, error?,
    /// state?}` each (`state`: where a running one is).
    async fn list_executions(&self) -> Result<Vec<serde_json::Value>, PortError>;

    /// One page of [`Executions::list_executions`], filtered by machine and status: the
    /// executions from `offset` on, at most `limit`, and whether more follow. Adapters that
    /// keep an index answer without reading every execution.
    async fn list_page(
        &self,
        filter: &ExecutionFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<serde_json::Value>, bool), PortError> {
        Ok(page_of(
            self.list_executions().await?,
            filter,
            offset,
            limit,
        ))
    }

    /// One execution with its input, output or error, and history; `None` if unknown.
    async fn describe_execution(&self, name: &str) -> Result<Option<serde_json::Value>, PortError>;

    /// How many executions of each machine are running, each counted up to `cap`: by machine,
    /// (the count, whether more run).
    async fn running_by_machine(
        &self,
        cap: usize,
    ) -> Result<BTreeMap<String, (usize, bool)>, PortError> {
        let filter = ExecutionFilter {
            machine: None,
            status: Some("RUNNING".into()),
        };
        let (page, more) = self.list_page(&filter, 0, cap).await?;
        let mut by: BTreeMap<String, (usize, bool)> = BTreeMap::new();
        for e in &page {
            let machine = e["machine"].as_str().unwrap_or_default().to_string();
            by.entry(machine).or_default().0 += 1;
        }
        if more {
            by.values_mut().for_each(|(_, m)| *m = true);
        }
        Ok(by)
    }
}

// ---- messaging ---------------------------------------------------------------------------

/// A message as published or sent: a body and string attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

/// A text model (Amazon Bedrock in AWS): given instructions and a prompt, a text. Used for
/// advisory notes only, never for a decision.
#[async_trait]
pub trait TextModel: Send + Sync {
    /// The model's name, recorded beside what it wrote.
    fn name(&self) -> &str;
    /// The model's answer to `prompt` under the instructions `system`, at most `max_tokens`.
    async fn complete(
        &self,
        system: &str,
        prompt: &str,
        max_tokens: u32,
    ) -> Result<String, PortError>;
}

/// Sends a notification mail through a topic its readers subscribed to (SNS email
/// subscriptions in AWS).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Publishes `body` with `subject` to the topic `topic_arn`.
    async fn mail(&self, topic_arn: &str, subject: &str, body: &str) -> Result<(), PortError>;
}

/// What became of a message sent to a live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The connection is no longer there (API Gateway's `410 Gone`): forget it.
    Gone,
}

/// Sends messages to the clients connected to the live feed: API Gateway's WebSocket API
/// in AWS (`PostToConnection`), the WebSocket connections of `helios dev` locally.
#[async_trait]
pub trait Sockets: Send + Sync {
    /// Sends one text message to the connection `id`.
    async fn send(&self, id: &str, message: &str) -> Result<Delivery, PortError>;
}

/// Publishes to topics (SNS in AWS); each topic fans out to the queues subscribed to it
/// whose filter policy matches the message attributes.
#[async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, topic: &str, messages: &[Message]) -> Result<(), PortError>;
}

/// A message received from a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// Deletes or extends this receive, and no other.
    pub receipt: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// Why a queue message was not handled. Either way it is not deleted: it comes back after
/// its visibility timeout, and lands in the dead-letter queue after the queue's receive
/// limit; `retryable` says whether another try can help (it is logged, for the operator).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct MessageFailed {
    pub error: String,
    pub retryable: bool,
}

/// Queues with visibility timeouts and dead-letter queues (SQS in AWS).
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, queue: &str, message: &Message) -> Result<String, PortError>;
    /// Up to `max` visible messages, hidden for `visibility` (the queue's default when
    /// `None`). A message already received as many times as the queue allows is moved to
    /// its dead-letter queue instead of being returned.
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, PortError>;
    /// Deletes a received message; a receipt from an earlier receive deletes nothing.
    async fn delete(&self, queue: &str, receipt: &str) -> Result<bool, PortError>;
    /// Makes a received message visible again after `visibility` (zero: at once).
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility: Duration,
    ) -> Result<bool, PortError>;
    /// Approximate counts: (visible, in flight).
    async fn depth(&self, queue: &str) -> Result<(u64, u64), PortError>;
    /// Puts the messages of dead-letter queue `dead_letter` back on `source`. By default
    /// they are moved one by one ([`redrive`]); SQS moves them itself.
    async fn redrive(&self, dead_letter: &str, source: &str) -> Result<Redriven, PortError> {
        redrive(self, dead_letter, source)
            .await
            .map(Redriven::Moved)
    }
}

/// How a dead-letter queue was put back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redriven {
    /// The messages were moved, one by one; how many.
    Moved(u64),
    /// The queue service moves them itself (SQS's `StartMessageMoveTask`); the task's
    /// handle. How many it moves shows in the queues' depths as it goes.
    MoveTask(String),
}

/// Moves every message of `dead_letter` back to `source` (a portable `StartMessageMoveTask`):
/// each is sent to the source queue, then deleted from the dead-letter queue, so a crash in
/// between can only deliver a message twice, never lose it. Returns how many moved.
pub async fn redrive<Q: Queue + ?Sized>(
    queues: &Q,
    dead_letter: &str,
    source: &str,
) -> Result<u64, PortError> {
    let mut moved = 0;
    loop {
        let batch = queues
            .receive(dead_letter, 10, Some(Duration::from_secs(60)))
            .await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for m in batch {
            let message = Message {
                body: m.body,
                attributes: m.attributes,
            };
            queues.send(source, &message).await?;
            queues.delete(dead_letter, &m.receipt).await?;
            moved += 1;
        }
    }
}

// ---- outbound HTTP -------------------------------------------------------------------------

/// A POST to a URL outside Helios (a channel's webhook).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The whole exchange, from connecting to the end of the answer's headers.
    pub timeout: Duration,
}

/// Why a POST got no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
}

/// Outbound HTTP (the same client in AWS and locally); redirects are not followed.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// Sends `post`; the answer's status.
    async fn post(&self, post: Post) -> Result<u16, PostError>;
}
