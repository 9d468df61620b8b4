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

fn run_with_history(definition: Value, input: Value) -> Outcome {
    let def = Definition::new(&definition).expect("a valid definition");
    let options = Options {
        history: true,
        ..Options::default()
    };
    LocalHost::new(START, 7).run(&def.machine, input, &options)
}

fn cause(o: &Outcome) -> (&str, &str) {
    let f = o.failure.as_ref().expect("a failed execution");
    (f.error.as_str(), f.cause.as_str())
}

fn pass_jsonata(field: &str, value: Value) -> Value {
    let mut state = json!({"Type": "Pass", "End": true});
    state[field] = value;
    json!({"QueryLanguage": "JSONata", "StartAt": "Transform", "States": {"Transform": state}})
}

/// Class 1, causes word for word. "States.QueryEvaluationError: Query evaluation failed in a
/// JSONata state" (Developer Guide, error names); `EvaluationFailedEventDetails` has "location:
/// The location of the field in the state in which the evaluation error occurred" (API
/// reference). The cause an execution fails with, as recorded from AWS: "An error occurred
/// while executing the state 'Run S3 Data Push' (entered at the event id #6). The JSONata
/// expression '$states.input.pushLocation' specified for the field
/// 'Arguments/Input/pushLocation' returned nothing (undefined)."
#[test]
fn a_jsonata_expression_that_returns_nothing_names_its_field() {
    let o = run(
        pass_jsonata("Output", json!("{% $states.input.absent %}")),
        json!({}),
    );
    assert_eq!(
        cause(&o),
        (
            "States.QueryEvaluationError",
            "An error occurred while executing the state 'Transform' (entered at the event id #2). \
             The JSONata expression '$states.input.absent' specified for the field 'Output' \
             returned nothing (undefined)."
        )
    );
    // A field inside an object and an array, and an Assign.
    let says_field = |o: &Outcome, field: &str| {
        let want = format!(
            "The JSONata expression '$states.input.absent' specified for the field '{field}' \
             returned nothing (undefined)."
        );
        assert!(cause(o).1.ends_with(&want), "{:?}", cause(o));
    };
    let o = run(
        pass_jsonata(
            "Output",
            json!({"a": {"b": ["x", "{% $states.input.absent %}"]}}),
        ),
        json!({}),
    );
    says_field(&o, "Output/a/b[1]");
    let o = run_with_history(
        pass_jsonata("Assign", json!({"total": "{% $states.input.absent %}"})),
        json!({}),
    );
    says_field(&o, "Assign/total");
    // The EvaluationFailed event: the state, the field, and the cause without the state.
    let h = o.history_json();
    let failed = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "EvaluationFailed")
        .expect("an EvaluationFailed event");
    let d = &failed["evaluationFailedEventDetails"];
    assert_eq!(d["state"], "Transform");
    assert_eq!(d["location"], "Assign/total");
    assert_eq!(
        d["cause"],
        "The JSONata expression '$states.input.absent' specified for the field 'Assign/total' \
         returned nothing (undefined)."
    );
    // A Catch hands on the cause of the EvaluationFailed event: the state's name is added
    // only when the execution fails with it.
    let def = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Transform",
        "States": {
            "Transform": {"Type": "Map", "Items": "{% $states.input.absent %}", "End": true,
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
                "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "Output": "{% $states.input.Cause %}", "End": true}
        }
    });
    let o = run(def, json!({}));
    assert_eq!(
        o.output.unwrap(),
        json!(
            "The JSONata expression '$states.input.absent' specified for the field 'Items' \
             returned nothing (undefined)."
        )
    );
}

/// Class 1: a JSONata evaluation error is told as JSONata tells it, `code: message`, after
/// the expression and its field, not with the library's `T1006 @ 0:` position.
#[test]
fn a_jsonata_evaluation_error_is_told_in_the_words_of_jsonata() {
    for (expr, told) in [
        (
            "$number('abc')",
            "D3030: Unable to cast value to a number: \"abc\"",
        ),
        (
            "$range('0', 4, 1)",
            "T0410: Argument 1 of function \"range\" does not match function signature",
        ),
        (
            "$range(0, 4, 1, 2)",
            "T0410: Argument 4 of function \"range\" does not match function signature",
        ),
    ] {
        let o = run(
            pass_jsonata("Output", json!(format!("{{% {expr} %}}"))),
            json!({}),
        );
        assert_eq!(
            cause(&o),
            (
                "States.QueryEvaluationError",
                format!(
                    "An error occurred while executing the state 'Transform' (entered at the event \
                     id #2). The JSONata expression '{expr}' specified for the field 'Output' \
                     threw an error during evaluation. {told}"
                )
                .as_str()
            )
        );
    }
}

/// Class 1: "ErrorPath [...] CausePath [...] a reference path" (Fail state): a path that
/// names nothing fails the execution with `States.Runtime`, naming the field as it is
/// written, `ErrorPath` or `CausePath`.
#[test]
fn a_fail_state_path_that_names_nothing_is_named_as_written() {
    for (field, other) in [("ErrorPath", ("Cause", "c")), ("CausePath", ("Error", "E"))] {
        let mut state = json!({"Type": "Fail"});
        state[field] = json!("$.nope");
        state[other.0] = json!(other.1);
        let o = run(
            json!({"StartAt": "Boom", "States": {"Boom": state}}),
            json!({"other": 1}),
        );
        assert_eq!(
            cause(&o),
            (
                "States.Runtime",
                format!(
                    "An error occurred while executing the state 'Boom' (entered at the event id \
                     #2). The JSONPath '$.nope' specified for the field '{field}' could not be \
                     found in the input '{{\"other\":1}}'"
                )
                .as_str()
            )
        );
    }
}

/// Class 1: "Timestamp: An absolute time [...] Timestamps must conform to the RFC3339 profile
/// of ISO 8601" (Wait state); a `TimestampPath` that reads something else fails the execution.
#[test]
fn an_invalid_timestamp_path_is_told_with_the_path_and_the_value() {
    let def = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "TimestampPath": "$.at", "End": true}}});
    let o = run(def, json!({"at": "yesterday"}));
    assert_eq!(
        cause(&o),
        (
            "States.Runtime",
            "An error occurred while executing the state 'W' (entered at the event id #2). The \
             TimestampPath parameter does not reference a valid ISO-8601 extended offset \
             date-time format string: $.at == yesterday"
        )
    );
}

/// Class 1: "MaxConcurrencyPath [...] ToleratedFailurePercentagePath [...]
/// ToleratedFailureCountPath: a reference path to [...] a positive integer / a percentage"
/// (Map state): a value of the wrong kind, or out of range, fails the execution with
/// `States.Runtime`, naming the field and the path.
#[test]
fn invalid_map_concurrency_and_tolerance_values_name_their_field() {
    let map = |field: &str| {
        let mut m = json!({"Type": "Map", "ItemsPath": "$.items", "End": true,
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}});
        m[field] = json!("$.v");
        json!({"StartAt": "M", "States": {"M": m}})
    };
    let prefix = "An error occurred while executing the state 'M' (entered at the event id #2). ";
    for (field, v, told) in [
        (
            "MaxConcurrencyPath",
            json!("many"),
            "The MaxConcurrencyPath field refers to value \"many\" which is not a valid integer: $.v",
        ),
        (
            "MaxConcurrencyPath",
            json!(-1),
            "Expected non-negative integer for MaxConcurrency, got '-1' instead.",
        ),
        (
            "ToleratedFailureCountPath",
            json!(true),
            "The ToleratedFailureCountPath field refers to value \"true\" which is not a valid integer: $.v",
        ),
        (
            "ToleratedFailureCountPath",
            json!(-2),
            "ToleratedFailureCount cannot be negative.",
        ),
        (
            "ToleratedFailurePercentagePath",
            json!("half"),
            "The ToleratedFailurePercentagePath field refers to value \"half\" which is not a valid float: $.v",
        ),
        (
            "ToleratedFailurePercentagePath",
            json!(101),
            "ToleratedFailurePercentage must be between 0 and 100.",
        ),
    ] {
        let o = run(map(field), json!({"items": [1], "v": v}));
        assert_eq!(
            cause(&o),
            ("States.Runtime", format!("{prefix}{told}").as_str()),
            "{field} = {v}"
        );
    }
    // A string that holds an integer is that integer.
    let o = run(map("MaxConcurrencyPath"), json!({"items": [1], "v": "2"}));
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
}

/// Class 2, with Step Functions' words: "Items (Optional, JSONata only): A JSON array or a
/// JSONata expression that must evaluate to an array" (Map state). Anything else is a
/// `States.QueryEvaluationError` naming the type and the value it found.
#[test]
fn jsonata_map_items_that_are_not_an_array_are_told_by_type_and_value() {
    let def = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "Items": "{% $states.input.items %}",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "End": true}}
    });
    let o = run(def, json!({"items": {"a": 1}}));
    assert_eq!(
        cause(&o),
        (
            "States.QueryEvaluationError",
            "An error occurred while executing the state 'M' (entered at the event id #2). The \
             JSONata expression '$states.input.items' specified for the field 'Items' returned an \
             unexpected result type. Expected 'array', but was 'object' for value: {\"a\":1}"
        )
    );
}

/// Class 5: "States.Format: [...] the string defined in the first argument with each {}
/// replaced by the value of the positionally-corresponding argument" (Intrinsic functions).
/// An object or array argument is rendered as Step Functions renders it, `{key=value}` and
/// `[a, b]` (as Java prints maps and lists), not as JSON.
#[test]
fn states_format_renders_objects_and_arrays_as_step_functions_does() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
        "Parameters": {"s.$": "States.Format('{} and {} and {}', $.o, $.a, $.n)"}}}});
    let o = run(
        def,
        json!({"o": {"Arg1": 1, "Arg2": [], "Nested": {"k": "v", "b": true}}, "a": ["x", 2, null], "n": null}),
    );
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    assert_eq!(
        o.output.unwrap(),
        json!({"s": "{Arg1=1, Arg2=[], Nested={k=v, b=true}} and [x, 2, null] and null"})
    );
}

/// Class 5: "States.StringToJson: takes a single argument [...] a string" (Intrinsic
/// functions): the empty string (or one of blanks only) is `null`.
#[test]
fn states_string_to_json_of_an_empty_string_is_null() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
        "Parameters": {"e.$": "States.StringToJson($.e)", "b.$": "States.StringToJson($.b)"}}}});
    let o = run(def, json!({"e": "", "b": "  "}));
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    assert_eq!(o.output.unwrap(), json!({"e": null, "b": null}));
}

/// Class 5: "Paths [...] use JsonPath syntax" (Paths in Step Functions): bracket notation
/// takes a name in single or double quotes, with a backslash escaping a quote or a
/// backslash, and a `]` inside the quotes is part of the name.
#[test]
fn bracket_notation_reads_escaped_quotes_and_backslashes() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
    "Parameters": {
        "single.$": r"$['it\'s']",
        "double.$": r#"$["say \"hi\""]"#,
        "backslash.$": r"$['back\\slash']",
        "bracket.$": "$['a]b']",
        "nested.$": r#"$.outer["in'ner"]"#
    }}}});
    let o = run(
        def,
        json!({"it's": 1, "say \"hi\"": 2, "back\\slash": 3, "a]b": 4, "outer": {"in'ner": 5}}),
    );
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    assert_eq!(
        o.output.unwrap(),
        json!({"single": 1, "double": 2, "backslash": 3, "bracket": 4, "nested": 5})
    );
}
