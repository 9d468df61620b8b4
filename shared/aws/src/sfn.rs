//! Step Functions: starting executions by state machine name, answering task tokens, and
//! reading executions back for the query API.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sfn::types::HistoryEvent;
use helios_ports::{Executions, PortError, Workflows};
use serde_json::{json, Map, Value};

use crate::unavailable;

pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
    /// State machine name (the file name in `statemachines/`) → ARN.
    machines: HashMap<String, String>,
}

/// The most executions a listing reads per state machine.
const LIST_LIMIT: usize = 1000;

fn time(t: &aws_sdk_sfn::primitives::DateTime) -> Value {
    chrono::DateTime::from_timestamp_millis(t.to_millis().unwrap_or(0))
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

impl StepFunctions {
    pub fn new(config: &aws_config::SdkConfig, machines: HashMap<String, String>) -> StepFunctions {
        StepFunctions {
            client: aws_sdk_sfn::Client::new(config),
            machines,
        }
    }

    pub fn client(&self) -> &aws_sdk_sfn::Client {
        &self.client
    }

    fn arn(&self, machine: &str) -> Result<&String, PortError> {
        self.machines.get(machine).ok_or_else(|| {
            PortError::Invalid(format!("no state machine is configured for `{machine}`"))
        })
    }

    async fn history(&self, execution_arn: &str) -> Result<Vec<Value>, PortError> {
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .max_results(1000)
                .send()
                .await
                .map_err(|e| unavailable("step functions", e))?;
            events.extend(out.events.iter().map(event_json));
            token = out.next_token;
            if token.is_none() {
                return Ok(events);
            }
        }
    }
}

/// A history event as `GetExecutionHistory` writes it: the common fields and the details
/// of the events Helios' workflows produce.
fn event_json(e: &HistoryEvent) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), time(&e.timestamp));
    m.insert("type".into(), json!(e.r#type.as_str()));
    m.insert("id".into(), json!(e.id));
    m.insert("previousEventId".into(), json!(e.previous_event_id));
    if let Some(d) = &e.state_entered_event_details {
        m.insert(
            "stateEnteredEventDetails".into(),
            json!({"name": d.name, "input": d.input}),
        );
    }
    if let Some(d) = &e.state_exited_event_details {
        m.insert(
            "stateExitedEventDetails".into(),
            json!({"name": d.name, "output": d.output}),
        );
    }
    if let Some(d) = &e.execution_started_event_details {
        m.insert(
            "executionStartedEventDetails".into(),
            json!({"input": d.input, "roleArn": d.role_arn}),
        );
    }
    if let Some(d) = &e.execution_succeeded_event_details {
        m.insert(
            "executionSucceededEventDetails".into(),
            json!({"output": d.output}),
        );
    }
    let failure =
        |error: &Option<String>, cause: &Option<String>| json!({"error": error, "cause": cause});
    if let Some(d) = &e.execution_failed_event_details {
        m.insert(
            "executionFailedEventDetails".into(),
            failure(&d.error, &d.cause),
        );
    }
    if let Some(d) = &e.task_failed_event_details {
        m.insert("taskFailedEventDetails".into(), failure(&d.error, &d.cause));
    }
    if let Some(d) = &e.lambda_function_failed_event_details {
        m.insert(
            "lambdaFunctionFailedEventDetails".into(),
            failure(&d.error, &d.cause),
        );
    }
    if let Some(d) = &e.task_succeeded_event_details {
        m.insert(
            "taskSucceededEventDetails".into(),
            json!({"resource": d.resource, "resourceType": d.resource_type, "output": d.output}),
        );
    }
    Value::Object(m)
}

#[async_trait]
impl Workflows for StepFunctions {
    /// `Ok(false)` when an execution of that name exists with another input; Step Functions
    /// answers a start with the same name and input as the first one did, so that repeat
    /// is `Ok(true)` and still starts nothing.
    async fn start(&self, machine: &str, name: &str, input: &Value) -> Result<bool, PortError> {
        let arn = self.arn(machine)?;
        match self
            .client
            .start_execution()
            .state_machine_arn(arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("step functions", e)),
        }
    }

    async fn send_task_success(&self, token: &str, output: &Value) -> Result<(), PortError> {
        self.client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| {
                    s.is_task_does_not_exist() || s.is_task_timed_out() || s.is_invalid_token()
                }) {
                    PortError::Invalid(format!(
                        "the task token is no longer awaited: {}",
                        aws_sdk_sfn::error::DisplayErrorContext(&e)
                    ))
                } else {
                    unavailable("step functions", e)
                }
            })?;
        Ok(())
    }
}

#[async_trait]
impl Executions for StepFunctions {
    async fn running_by_machine(
        &self,
        cap: usize,
    ) -> Result<BTreeMap<String, (usize, bool)>, PortError> {
        let mut by = BTreeMap::new();
        for (machine, arn) in &self.machines {
            let (mut running, mut more, mut token) = (0, false, None);
            loop {
                let out = self
                    .client
                    .list_executions()
                    .state_machine_arn(arn)
                    .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
                    .set_next_token(token)
                    .max_results(1000)
                    .send()
                    .await
                    .map_err(|e| unavailable("step functions", e))?;
                running += out.executions.len();
                token = out.next_token;
                if running > cap {
                    (running, more) = (cap, true);
                    break;
                }
                if token.is_none() {
                    break;
                }
            }
            by.insert(machine.clone(), (running, more));
        }
        Ok(by)
    }

    async fn list_executions(&self) -> Result<Vec<Value>, PortError> {
        let mut all = Vec::new();
        for (machine, arn) in &self.machines {
            let mut token = None;
            let mut read = 0;
            loop {
                let out = self
                    .client
                    .list_executions()
                    .state_machine_arn(arn)
                    .set_next_token(token)
                    .max_results(100)
                    .send()
                    .await
                    .map_err(|e| unavailable("step functions", e))?;
                for x in &out.executions {
                    all.push(json!({
                        "name": x.name,
                        "machine": machine,
                        "status": x.status.as_str(),
                        "start": time(&x.start_date),
                        "stop": x.stop_date.as_ref().map(time),
                        "arn": x.execution_arn,
                    }));
                }
                read += out.executions.len();
                token = out.next_token;
                if token.is_none() || read >= LIST_LIMIT {
                    break;
                }
            }
        }
        helios_ports::sort_executions(&mut all);
        Ok(all)
    }

    async fn describe_execution(&self, name: &str) -> Result<Option<Value>, PortError> {
        for (machine, arn) in &self.machines {
            let execution_arn = format!(
                "{}:{name}",
                arn.replacen(":stateMachine:", ":execution:", 1)
            );
            let d = match self
                .client
                .describe_execution()
                .execution_arn(&execution_arn)
                .send()
                .await
            {
                Ok(d) => d,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_execution_does_not_exist()) =>
                {
                    continue
                }
                Err(e) => return Err(unavailable("step functions", e)),
            };
            let parse = |s: &Option<String>| {
                s.as_deref()
                    .map(|t| serde_json::from_str::<Value>(t).unwrap_or(json!(t)))
            };
            return Ok(Some(json!({
                "name": name,
                "machine": machine,
                "arn": execution_arn,
                "status": d.status.as_str(),
                "start": time(&d.start_date),
                "stop": d.stop_date.as_ref().map(time),
                "input": parse(&d.input),
                "output": parse(&d.output),
                "error": d.error,
                "cause": d.cause,
                "history": {"events": self.history(&execution_arn).await?},
            })));
        }
        Ok(None)
    }
}
