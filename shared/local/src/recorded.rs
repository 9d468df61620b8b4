//! Workflows that are recorded, not run: for handlers tested without the interpreter, and for
//! tools that only need to know what would start.

use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use helios_ports::{PortError, Workflows};

/// Keeps each started execution (machine, name, input), starts a name once, and keeps each
/// task-token answer.
#[derive(Debug, Default)]
pub struct RecordedWorkflows {
    started: Mutex<Vec<(String, String, Value)>>,
    answered: Mutex<Vec<(String, Value)>>,
}

impl RecordedWorkflows {
    /// The executions started so far, in order: (machine, name, input).
    pub fn started(&self) -> Vec<(String, String, Value)> {
        self.started.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The task tokens answered so far, in order, with their output.
    pub fn answered(&self) -> Vec<(String, Value)> {
        self.answered.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Workflows for RecordedWorkflows {
    async fn start(&self, machine: &str, name: &str, input: &Value) -> Result<bool, PortError> {
        let mut s = self
            .started
            .lock()
            .map_err(|_| PortError::unavailable("workflows", "a lock was poisoned"))?;
        if s.iter().any(|(_, n, _)| n == name) {
            return Ok(false);
        }
        s.push((machine.into(), name.into(), input.clone()));
        Ok(true)
    }

    async fn send_task_success(&self, token: &str, output: &Value) -> Result<(), PortError> {
        self.answered
            .lock()
            .map_err(|_| PortError::unavailable("workflows", "a lock was poisoned"))?
            .push((token.into(), output.clone()));
        Ok(())
    }
}
