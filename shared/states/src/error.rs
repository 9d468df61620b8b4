//! Errors as Step Functions names them.

use serde_json::{json, Value};

pub const ALL: &str = "States.ALL";
pub const TASK_FAILED: &str = "States.TaskFailed";
pub const TIMEOUT: &str = "States.Timeout";
pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
pub const RUNTIME: &str = "States.Runtime";
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
pub const BRANCH_FAILED: &str = "States.BranchFailed";
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
pub const PERMISSIONS: &str = "States.Permissions";

/// A failed state, execution or task: an error name and a cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
    /// For a JSONata expression that failed, the field it was written in (`Output`,
    /// `Assign/total`): the `location` of the `EvaluationFailed` event.
    pub location: Option<String>,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            cause: cause.into(),
            location: None,
        }
    }

    /// This failure, from the JSONata expression in the field `location` if there is one.
    pub fn at_opt(mut self, location: Option<String>) -> Failure {
        self.location = location;
        self
    }

    /// This failure, from the JSONata expression in the field `location`.
    pub fn at(mut self, location: String) -> Failure {
        self.location = Some(location);
        self
    }

    pub fn runtime(cause: impl Into<String>) -> Failure {
        Failure::new(RUNTIME, cause)
    }

    pub fn intrinsic(cause: impl Into<String>) -> Failure {
        Failure::new(INTRINSIC_FAILURE, cause)
    }

    /// The error output a `Catch` passes on: `{"Error": …, "Cause": …}`.
    pub fn output(&self) -> Value {
        json!({"Error": self.error, "Cause": self.cause})
    }

    /// Whether a `Retry` or `Catch` naming `names` handles this failure. `States.ALL` matches
    /// every error but `States.Runtime` and `States.DataLimitExceeded`, which can only be
    /// named; `States.TaskFailed` matches every error but `States.Timeout`.
    pub fn matches(&self, names: &[String]) -> bool {
        // "Runtime errors are not retriable, and will always cause the execution to fail"
        // (Step Functions developer guide, error names, States.Runtime): not even a
        // retrier or catcher that names it handles it.
        if self.error == RUNTIME {
            return false;
        }
        names.iter().any(|n| {
            n == &self.error
                || (n == ALL && self.error != RUNTIME && self.error != DATA_LIMIT_EXCEEDED)
                || (n == TASK_FAILED
                    && self.error != TIMEOUT
                    && self.error != RUNTIME
                    && self.error != DATA_LIMIT_EXCEEDED)
        })
    }

    /// Whether no `Retry` or `Catch` may handle it: the execution fails.
    pub fn is_terminal(&self) -> bool {
        self.error == RUNTIME || self.error == DATA_LIMIT_EXCEEDED
    }
}

/// A JSON value as Step Functions quotes it in a cause: compact JSON.
pub fn quote(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
