//! Validation of definitions, rule by rule, with definitions shaped like the examples of the
//! Amazon States Language specification and the Step Functions developer guide.

use helios_states::{validate, AslError};
use serde_json::{json, Value};

fn errors(def: Value) -> Vec<AslError> {
    validate(&def).expect_err("the definition should be refused")
}

/// The one error of a definition, checked for its state, path and a phrase of its message.
fn one_error(def: Value, state: Option<&str>, path: &str, phrase: &str) {
    let e = errors(def);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].state.as_deref(), state, "{e:?}");
    assert_eq!(e[0].path, path, "{e:?}");
    assert!(
        e[0].message.contains(phrase),
        "{:?} lacks {phrase:?}",
        e[0].message
    );
}

/// A definition refused with (among others) this error.
fn has_error(def: Value, state: Option<&str>, path: &str, phrase: &str) {
    let e = errors(def);
    assert!(
        e.iter()
            .any(|x| x.state.as_deref() == state && x.path == path && x.message.contains(phrase)),
        "no error at {path} saying {phrase:?}: {e:#?}"
    );
}

#[test]
fn the_documented_examples_are_valid() {
    // "Hello World" of the developer guide, a Choice with And/Not, a Task with Retry and
    // Catch, a Wait, a Parallel, an inline Map, and a JSONata machine.
    let defs = [
        json!({"Comment": "A Hello World example", "StartAt": "Hello", "States": {
            "Hello": {"Type": "Pass", "Result": "Hello", "Next": "World"},
            "World": {"Type": "Pass", "Result": "World", "End": true}}}),
        json!({"StartAt": "Pick", "States": {
            "Pick": {"Type": "Choice", "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {"And": [{"Variable": "$.value", "IsPresent": true},
                         {"Variable": "$.value", "NumericGreaterThanEqualsPath": "$.min"}], "Next": "Big"},
                {"Variable": "$.name", "StringMatches": "log-*.txt", "Next": "Big"}],
              "Default": "Public"},
            "Public": {"Type": "Succeed"},
            "Big": {"Type": "Fail", "Error": "TooBig", "CausePath": "States.Format('value {}', $.value)"}}}),
        json!({"StartAt": "Notify", "States": {
            "Notify": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "${notify}", "Payload.$": "$", "At.$": "$$.State.EnteredTime",
                             "Id.$": "States.UUID()"},
              "ResultSelector": {"status.$": "$.Payload.status"},
              "ResultPath": "$.notify", "TimeoutSeconds": 30, "HeartbeatSeconds": 10,
              "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 2,
                         "MaxAttempts": 6, "BackoffRate": 2.0, "MaxDelaySeconds": 60, "JitterStrategy": "FULL"},
                        {"ErrorEquals": ["States.ALL"]}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Record"}],
              "Next": "Wait"},
            "Wait": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Record"},
            "Record": {"Type": "Parallel", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "End": true}}}],
              "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
              "ItemSelector": {"item.$": "$$.Map.Item.Value"},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "P",
                                "States": {"P": {"Type": "Pass", "End": true}}},
              "End": true}}}),
        json!({"QueryLanguage": "JSONata", "StartAt": "Check", "States": {
            "Check": {"Type": "Choice", "Choices": [
                {"Condition": "{% $states.input.n > 3 %}", "Next": "Done", "Assign": {"big": true}}],
              "Default": "Done"},
            "Done": {"Type": "Pass", "Output": {"n": "{% $states.input.n %}"}, "End": true}}}),
    ];
    for d in defs {
        assert_eq!(validate(&d), Ok(()), "{d}");
    }
}

#[test]
fn a_state_needs_next_or_end_and_its_targets_must_exist() {
    has_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}),
        Some("A"),
        "$.States.A",
        "needs `Next` or `\"End\": true`",
    );
    has_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}),
        Some("A"),
        "$.States.A.Next",
        "`B`, which is not a state",
    );
    has_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A", "End": true}}}),
        Some("A"),
        "$.States.A",
        "not both",
    );
    has_error(
        json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}),
        None,
        "$.StartAt",
        "not a state of this machine",
    );
}

#[test]
fn unreachable_states_and_unknown_types_are_refused() {
    let e = errors(json!({"StartAt": "A", "States": {
        "A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}, "C": {"Type": "Sleep", "End": true}}}));
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e
        .iter()
        .any(|x| x.path == "$.States.C.Type" && x.message.contains("not a state type")));
    assert!(e
        .iter()
        .any(|x| x.state.as_deref() == Some("B") && x.message.contains("unreachable")));
}

#[test]
fn a_branch_cannot_transition_out_of_itself() {
    let e = errors(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Out", "Branches": [
            {"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "Out"}}}]},
        "Out": {"Type": "Succeed"}}}));
    assert!(
        e.iter().any(|x| x.state.as_deref() == Some("In")
            && x.path == "$.States.P.Branches[0].States.In.Next"
            && x.message.contains("cannot leave itself")),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|x| x.path == "$.States.P.Branches[0].States"
            && x.message.contains("no terminal state")),
        "{e:#?}"
    );
}

#[test]
fn fields_of_the_other_query_language_are_refused() {
    one_error(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
            "A": {"Type": "Pass", "InputPath": "$.x", "End": true}}}),
        Some("A"),
        "$.States.A.InputPath",
        "belongs to JSONPath",
    );
    one_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Output": {}, "End": true}}}),
        Some("A"),
        "$.States.A.Output",
        "belongs to JSONata",
    );
    one_error(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
            "A": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}}),
        Some("A"),
        "$.States.A.QueryLanguage",
        "cannot use JSONPath inside a JSONata",
    );
}

#[test]
fn retry_and_catch_are_checked() {
    let task = |retry: Value| {
        json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:f", "Retry": retry, "End": true}}})
    };
    one_error(
        task(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}])),
        Some("T"),
        "$.States.T.Retry[0].ErrorEquals",
        "last retrier",
    );
    one_error(
        task(json!([{"ErrorEquals": ["States.ALL", "X"]}])),
        Some("T"),
        "$.States.T.Retry[0].ErrorEquals",
        "alone",
    );
    one_error(
        task(json!([{"ErrorEquals": ["X"], "BackoffRate": 0.5}])),
        Some("T"),
        "$.States.T.Retry[0].BackoffRate",
        "at least 1.0",
    );
    one_error(
        task(json!([{"ErrorEquals": []}])),
        Some("T"),
        "$.States.T.Retry[0]",
        "non-empty",
    );
    one_error(
        task(json!([{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}])),
        Some("T"),
        "$.States.T.Retry[0].JitterStrategy",
        "FULL",
    );
    one_error(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
            "Catch": [{"ErrorEquals": ["X"], "Next": "Gone"}]}}}),
        Some("T"),
        "$.States.T.Catch[0].Next",
        "`Gone`, which is not a state",
    );
}

#[test]
fn choice_rules_are_checked() {
    let choice = |rule: Value| {
        json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [rule], "Default": "D"}, "D": {"Type": "Succeed"}}})
    };
    one_error(
        choice(json!({"Variable": "$.n", "NumericEquals": "3", "Next": "D"})),
        Some("C"),
        "$.States.C.Choices[0].NumericEquals",
        "a number",
    );
    one_error(
        choice(json!({"Variable": "$.n", "NumericEquals": 3})),
        Some("C"),
        "$.States.C.Choices[0]",
        "needs `Next`",
    );
    one_error(
        choice(json!({"And": [{"Variable": "$.n", "IsNull": false, "Next": "D"}], "Next": "D"})),
        Some("C"),
        "$.States.C.Choices[0].And[0].Next",
        "only a top-level",
    );
    one_error(
        choice(json!({"Variable": "$.n", "NumericEquals": 3, "StringEquals": "x", "Next": "D"})),
        Some("C"),
        "$.States.C.Choices[0]",
        "exactly one operator",
    );
    one_error(
        choice(json!({"Variable": "$.n", "IsPresentPath": "$.x", "Next": "D"})),
        Some("C"),
        "$.States.C.Choices[0].IsPresentPath",
        "not a choice rule operator",
    );
    one_error(
        choice(json!({"Variable": "n", "IsPresent": true, "Next": "D"})),
        Some("C"),
        "$.States.C.Choices[0].Variable",
        "starts with `$`",
    );
}

#[test]
fn wait_and_fail_take_one_form_of_each_field() {
    one_error(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "Timestamp": "2026-01-01T00:00:00Z", "End": true}}}),
        Some("W"),
        "$.States.W",
        "exactly one of",
    );
    one_error(
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}}),
        Some("F"),
        "$.States.F",
        "`Error` or `ErrorPath`, not both",
    );
}

#[test]
fn paths_and_templates_are_checked() {
    let pass = |extra: Value| {
        let mut s = json!({"Type": "Pass", "End": true});
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"StartAt": "P", "States": {"P": s}})
    };
    one_error(
        pass(json!({"ResultPath": "$.items[*]"})),
        Some("P"),
        "$.States.P.ResultPath",
        "reference path",
    );
    one_error(
        pass(json!({"InputPath": "x.y"})),
        Some("P"),
        "$.States.P.InputPath",
        "starts with `$`",
    );
    one_error(
        pass(json!({"Parameters": {"a.$": "States.Nope(1)"}})),
        Some("P"),
        "$.States.P.Parameters['a.$']",
        "not an intrinsic function",
    );
    one_error(
        pass(json!({"Parameters": {"a": {"b.$": 3}}})),
        Some("P"),
        "$.States.P.Parameters.a['b.$']",
        "ends in `.$`",
    );
    assert_eq!(
        validate(&pass(
            json!({"InputPath": "$..name", "OutputPath": null, "Parameters": {"f.$": "$.a[?(@.b > 1)]"}})
        )),
        Ok(())
    );
}

#[test]
fn map_and_task_fields_are_checked() {
    one_error(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}),
        Some("M"),
        "$.States.M",
        "needs `ItemProcessor`",
    );
    one_error(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ToleratedFailurePercentage": 120,
            "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}),
        Some("M"),
        "$.States.M.ToleratedFailurePercentage",
        "0 to 100",
    );
    one_error(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 10, "HeartbeatSeconds": 10, "End": true}}}),
        Some("T"),
        "$.States.T.HeartbeatSeconds",
        "smaller than `TimeoutSeconds`",
    );
    one_error(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "End": true}}}),
        Some("T"),
        "$.States.T",
        "needs `Resource`",
    );
}
