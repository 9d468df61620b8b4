//! Where the interpreter must agree with Step Functions word for word (issue 19), each test
//! quoting the rule of the AWS Step Functions Developer Guide it checks.

use helios_states::local::LocalHost;
use helios_states::{Definition, Options, Outcome, Status};
use serde_json::{json, Value};

const START: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn run(definition: Value, input: Value) -> Outcome {
    let def = Definition::new(&definition).expect("a valid definition");
    LocalHost::new(START, 7).run(&def.machine, input, &Options::default())
}

/// "States.Runtime: An execution failed due to some exception that it couldn't process.
/// [...] Runtime errors are not retriable, and will always cause the execution to fail. A
/// retry or catch on States.ALL won't catch States.Runtime errors."
/// (Error handling, error names.) Named explicitly, it is not caught either.
#[test]
fn states_runtime_is_never_retried_nor_caught_even_when_named() {
    for errors in [
        json!(["States.ALL"]),
        json!(["States.Runtime"]),
        json!(["States.TaskFailed", "States.Runtime"]),
    ] {
        let def = json!({
            "StartAt": "Broken",
            "States": {
                // A reference path that names nothing in the input: a States.Runtime error.
                "Broken": {
                    "Type": "Pass", "InputPath": "$.missing.field", "Next": "Task"
                },
                "Task": {"Type": "Succeed"}
            }
        });
        let o = run(def, json!({}));
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.failure.as_ref().unwrap().error, "States.Runtime");
        // In a Task with a retrier and a catcher on it.
        let def = json!({
            "StartAt": "Task",
            "States": {
                "Task": {
                    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "f", "Payload.$": "$.missing.field"},
                    "Retry": [{"ErrorEquals": errors, "MaxAttempts": 3}],
                    "Catch": [{"ErrorEquals": errors, "Next": "Caught"}],
                    "End": true
                },
                "Caught": {"Type": "Succeed"}
            }
        });
        let o = run(def, json!({}));
        assert_eq!(o.status, Status::Failed, "{errors}: {:?}", o.output);
        assert_eq!(
            o.failure.as_ref().unwrap().error,
            "States.Runtime",
            "{errors}"
        );
    }
}

/// "To use a JSONata expression, [...] the string must begin with `{%` and end with `%}`"
/// (Transforming data with JSONata): a string with whitespace around the braces is not an
/// expression, it is that string.
#[test]
fn a_jsonata_expression_is_delimited_exactly_without_surrounding_whitespace() {
    let def = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": {
            "expr": "{% 1 + 1 %}",
            "spaced": " {% 1 + 1 %}",
            "tail": "1 + 1 %}"
        }, "End": true}}
    });
    let o = run(def, json!({}));
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    assert_eq!(
        o.output.unwrap(),
        json!({"expr": 2, "spaced": " {% 1 + 1 %}", "tail": "1 + 1 %}"})
    );
    // Begun and never ended, it is refused with the definition.
    let open = json!({"QueryLanguage": "JSONata", "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% 1 + 1", "End": true}}});
    assert!(Definition::new(&open).is_err());
}

/// "ToleratedFailurePercentage: A percentage of the items that may fail, from 0 to 100"
/// (Map state, distributed mode, failure threshold). Read from the input through
/// `ToleratedFailurePercentagePath`, a value outside that range fails the execution with
/// States.Runtime, which no catcher handles.
#[test]
fn a_tolerated_failure_percentage_outside_0_to_100_fails_the_execution() {
    for pct in [json!(150), json!(-1)] {
        let def = json!({
            "StartAt": "M",
            "States": {"M": {
                "Type": "Map", "ItemsPath": "$.items",
                "ToleratedFailurePercentagePath": "$.pct",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": true
            }, "Caught": {"Type": "Succeed"}}
        });
        let o = run(def, json!({"items": [1, 2], "pct": pct}));
        assert_eq!(o.status, Status::Failed, "{pct}: {:?}", o.output);
        let f = o.failure.unwrap();
        assert_eq!(f.error, "States.Runtime");
        assert!(
            f.cause.contains("ToleratedFailurePercentage"),
            "{}",
            f.cause
        );
    }
    let ok = json!({
        "StartAt": "M",
        "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items", "ToleratedFailurePercentagePath": "$.pct",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "End": true
        }}
    });
    assert_eq!(
        run(ok, json!({"items": [1], "pct": 100})).status,
        Status::Succeeded
    );
}

/// "States.QueryEvaluationError: Query evaluation failed in a JSONata state" (Transforming
/// data with JSONata, error handling): in a JSONata state, a Map whose items are not an
/// array, and a Wait whose Timestamp is not one, fail with it, and a Catch can handle it
/// (a JSONPath state fails with States.Runtime, which none can).
#[test]
fn jsonata_map_items_and_wait_timestamps_of_the_wrong_kind_are_query_evaluation_errors() {
    let catch = json!([{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Caught"}]);
    let map = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {"Type": "Map", "Items": "{% $states.input.items %}",
                  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
                  "Catch": catch, "End": true},
            "Caught": {"Type": "Pass", "Output": "{% $states.input.Error %}", "End": true}
        }
    });
    let o = run(map, json!({"items": {"not": "an array"}}));
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    assert_eq!(o.output.unwrap(), json!("States.QueryEvaluationError"));

    let wait = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Timestamp": "{% $states.input.at %}", "End": true}}
    });
    let o = run(wait, json!({"at": "tomorrow"}));
    assert_eq!(o.status, Status::Failed);
    assert_eq!(o.failure.unwrap().error, "States.QueryEvaluationError");

    let jsonpath = json!({
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "End": true}}
    });
    let o = run(jsonpath, json!({"items": {"not": "an array"}}));
    assert_eq!(o.failure.unwrap().error, "States.Runtime");
}

/// "$range(start, end, step): returns an array of numbers" (JSONata functions provided by
/// Step Functions). Its result is a JSONata sequence, as the results of JSONata's own
/// functions are: a single number is that number, not an array of one.
#[test]
fn a_one_element_range_is_a_bare_value_as_jsonata_sequences_are() {
    let def = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": {
            "one": "{% $range(1, 1, 1) %}",
            "three": "{% $range(1, 5, 2) %}"
        }, "End": true}}
    });
    let o = run(def, json!({}));
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    assert_eq!(o.output.unwrap(), json!({"one": 1, "three": [1, 3, 5]}));
}
