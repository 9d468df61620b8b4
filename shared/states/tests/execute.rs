//! Executions on the local host: tasks, tokens, virtual time, histories and mocks.

use helios_states::history::to_json;
use helios_states::local::{LocalHost, Mocks};
use helios_states::{Definition, Failure, Options, Outcome, Status, Target};
use serde_json::{json, Value};

const START: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn run(host: &LocalHost, definition: Value, input: Value) -> Outcome {
    let def = Definition::new(&definition).expect("a valid definition");
    let opts = Options {
        history: true,
        ..Options::default()
    };
    host.run(&def.machine, input, &opts)
}

fn types(o: &Outcome) -> Vec<&'static str> {
    o.history.iter().map(|e| e.kind).collect()
}

#[test]
fn a_day_of_retries_catches_and_waits_takes_no_real_time() {
    let mut host = LocalHost::new(START, 7);
    // Fails twice with a throttle, then succeeds.
    host.handle(
        "flaky",
        Box::new(|call, _| {
            if call.attempt < 2 {
                Err(Failure::new("Lambda.TooManyRequestsException", "slow down"))
            } else {
                Ok(json!({"ok": call.attempt}))
            }
        }),
    );
    let def = json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "flaky", "Payload.$": "$"},
                "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 3600, "BackoffRate": 2, "MaxAttempts": 5}],
                "ResultSelector": {"ok.$": "$.Payload.ok"}, "ResultPath": "$.call", "Next": "Sleep"
            },
            "Sleep": {"Type": "Wait", "Seconds": 75600, "Next": "Broken"},
            "Broken": {
                "Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:missing",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Done"}], "End": true
            },
            "Done": {"Type": "Succeed"}
        }
    });
    let wall = std::time::Instant::now();
    let o = run(&host, def, json!({"id": 1}));
    let wall = wall.elapsed();
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    let out = o.output.clone().unwrap();
    assert_eq!(out["call"], json!({"ok": 2}));
    assert_eq!(out["caught"]["Error"], "Lambda.ResourceNotFoundException");
    // 1 h + 2 h of back-off, then 21 h of waiting: 24 hours of virtual time.
    assert_eq!(o.stop_ms - o.start_ms, 24 * 3600 * 1000);
    eprintln!("24 virtual hours ran in {wall:?}");
    let kinds = types(&o);
    assert_eq!(kinds.iter().filter(|k| **k == "TaskFailed").count(), 2);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "LambdaFunctionFailed")
            .count(),
        1
    );
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"));
}

#[test]
fn lambda_invoke_wraps_the_result_and_a_function_arn_does_not() {
    let mut host = LocalHost::new(START, 1);
    host.handle(
        "notify",
        Box::new(|call, _| Ok(json!({"sent": call.input["to"]}))),
    );
    let def = json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:notify:live", "Payload": {"to": "ops"}},
                  "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Task", "Resource": "${NotifyFunctionArn}", "Parameters": {"to": "dev"}, "ResultPath": "$.b", "End": true}
        }
    });
    host.handle(
        "NotifyFunctionArn",
        Box::new(|call, _| Ok(json!({"placeholder": call.input["to"]}))),
    );
    let o = run(&host, def, json!({}));
    let out = o.output.unwrap();
    assert_eq!(out["a"]["Payload"], json!({"sent": "ops"}));
    assert_eq!(out["a"]["StatusCode"], 200);
    assert_eq!(out["a"]["ExecutedVersion"], "$LATEST");
    assert_eq!(out["b"], json!({"placeholder": "dev"}));
}

#[test]
fn wait_for_task_token_takes_the_answer_sent_with_the_token() {
    let mut host = LocalHost::new(START, 1);
    // The queue consumer acknowledges with the token it was sent.
    host.handle(
        "sqs:sendMessage",
        Box::new(|call, tokens| {
            let token = call.input["MessageBody"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert_eq!(Some(token.as_str()), call.token.as_deref());
            if call.input["MessageBody"]["reject"] == true {
                tokens.answer(&token, Err(Failure::new("Rejected", "no")));
            } else {
                tokens.answer(&token, Ok(json!({"acked_by": "alice"})));
            }
            Ok(json!({"MessageId": "m-1"}))
        }),
    );
    let def = |reject: bool| {
        json!({
            "StartAt": "Ask",
            "States": {"Ask": {
                "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "TimeoutSeconds": 60,
                "Parameters": {"QueueUrl": "acks", "MessageBody": {"token.$": "$$.Task.Token", "reject": reject}},
                "End": true
            }}
        })
    };
    let o = run(&host, def(false), json!({}));
    assert_eq!(o.output, Some(json!({"acked_by": "alice"})));
    let kinds = types(&o);
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(pos("TaskSubmitted") < pos("TaskSucceeded"));

    let o = run(&host, def(true), json!({}));
    assert_eq!(o.status, Status::Failed);
    assert_eq!(o.failure.unwrap().error, "Rejected");
}

#[test]
fn history_events_carry_the_fields_of_get_execution_history() {
    let host = LocalHost::new(START, 1);
    let def = json!({
        "StartAt": "M",
        "States": {
            "M": {"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": 1, "Next": "W",
                  "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Wait", "Seconds": 10, "End": true}}}},
            "W": {"Type": "Pass", "Assign": {"n": 3}, "End": true}
        }
    });
    let o = run(&host, def, json!({"xs": [1, 2, 3]}));
    // One item at a time: three waits of ten seconds one after the other.
    assert_eq!(o.stop_ms - o.start_ms, 30_000);
    let h = to_json(&o.history);
    let events = h["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "ExecutionStarted");
    assert_eq!(
        events[0]["executionStartedEventDetails"]["input"],
        "{\"xs\":[1,2,3]}"
    );
    assert_eq!(events[0]["timestamp"], "2026-01-01T00:00:00.000Z");
    let started = events
        .iter()
        .find(|e| e["type"] == "MapStateStarted")
        .unwrap();
    assert_eq!(started["mapStateStartedEventDetails"]["length"], 3);
    let it: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "MapIterationStarted")
        .collect();
    assert_eq!(
        it[2]["mapIterationStartedEventDetails"],
        json!({"name": "M", "index": 2})
    );
    assert_eq!(it[2]["timestamp"], "2026-01-01T00:00:20.000Z");
    let exited = events
        .iter()
        .find(|e| e["type"] == "PassStateExited")
        .unwrap();
    assert_eq!(
        exited["stateExitedEventDetails"]["assignedVariables"],
        json!({"n": "3"})
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["id"], i + 1);
        assert!(e["previousEventId"].as_u64().unwrap() <= i as u64);
    }

    // Without a limit the iterations wait together.
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Wait", "Seconds": 10, "End": true}}}}}});
    let o = run(&host, def, json!([1, 2, 3]));
    assert_eq!(o.stop_ms - o.start_ms, 10_000);
}

#[test]
fn mocks_in_the_step_functions_local_format_answer_by_invocation() {
    let config = json!({
        "StateMachines": {"orders": {"TestCases": {"RetryPath": {"Charge": "ThrottledThenOk"}}}},
        "MockedResponses": {"ThrottledThenOk": {
            "0-1": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "busy"}},
            "2": {"Return": {"StatusCode": 200, "Payload": {"charged": true}}}
        }}
    });
    let mocks = Mocks::from_config(&config, "orders", "RetryPath").unwrap();
    let host = LocalHost::new(START, 1).with_mocks(mocks);
    let def = json!({"StartAt": "Charge", "States": {"Charge": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "charge", "Payload.$": "$"},
        "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 3}],
        "OutputPath": "$.Payload", "End": true}}});
    let o = run(&host, def, json!({}));
    assert_eq!(o.output, Some(json!({"charged": true})));
    assert!(Mocks::from_config(&config, "orders", "Nope")
        .unwrap_err()
        .contains("RetryPath"));
}

#[test]
fn jsonata_time_and_randomness_are_the_executions() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 90, "Next": "T"},
        "T": {"Type": "Pass", "Output": {"now": "{% $now() %}", "id": "{% $uuid() %}", "ctx": "{% $states.context.Execution.StartTime %}"}, "End": true}}});
    let a = run(&LocalHost::new(START, 5), def.clone(), json!({}))
        .output
        .unwrap();
    let b = run(&LocalHost::new(START, 5), def.clone(), json!({}))
        .output
        .unwrap();
    let c = run(&LocalHost::new(START, 6), def, json!({}))
        .output
        .unwrap();
    assert_eq!(a["now"], "2026-01-01T00:01:30.000Z");
    assert_eq!(a["ctx"], "2026-01-01T00:00:00.000Z");
    assert_eq!(a["id"], b["id"], "the same seed gives the same UUID");
    assert_ne!(a["id"], c["id"]);
}

#[test]
fn in_memory_services_answer_sqs_sns_and_dynamodb() {
    let host = LocalHost::new(START, 1);
    let def = json!({"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "acks", "Item": {"pk": {"S.$": "$.id"}, "state": {"S": "open"}}}, "ResultPath": null, "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": "acks", "Key": {"pk": {"S.$": "$.id"}}}, "ResultSelector": {"state.$": "$.Item.state.S"}, "ResultPath": "$.got", "Next": "Send"},
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                 "Parameters": {"QueueUrl": "https://sqs.local/q", "MessageBody.$": "$"}, "ResultPath": "$.sent", "End": true}}});
    let o = run(&host, def, json!({"id": "a-1"}));
    let out = o.output.clone().unwrap();
    assert_eq!(out["got"], json!({"state": "open"}));
    assert!(out["sent"]["MessageId"].is_string());
    assert_eq!(
        host.memory.queues.borrow()["https://sqs.local/q"][0]["id"],
        "a-1"
    );
    let t = o
        .history
        .iter()
        .find(|e| e.kind == "TaskScheduled")
        .unwrap();
    let scheduled = t.to_json();
    assert_eq!(
        scheduled["taskScheduledEventDetails"]["resourceType"],
        "dynamodb"
    );
    assert_eq!(
        scheduled["taskScheduledEventDetails"]["resource"],
        "putItem"
    );
}

#[test]
fn targets_name_the_function_behind_placeholders_and_arns() {
    assert_eq!(
        helios_states::exec::function_name("${EscalateFunctionArn}"),
        "EscalateFunctionArn"
    );
    assert_eq!(
        helios_states::exec::function_name("arn:aws:lambda:us-east-1:1:function:notify:prod"),
        "notify"
    );
    let t = Target::Lambda {
        function: "x".into(),
    };
    assert_eq!(
        t,
        Target::Lambda {
            function: "x".into()
        }
    );
}
