//! The workflows in `statemachines/`, run as deployed (their `${…}` function placeholders
//! resolve to local functions), in virtual time.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use helios_states::local::LocalHost;
use helios_states::{Definition, Failure, Options, Status};
use serde_json::{json, Value};

const START: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn definition(name: &str) -> Definition {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../statemachines")
        .join(name);
    let def: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    Definition::new(&def).unwrap()
}

type Calls = Rc<RefCell<Vec<(String, Value)>>>;

/// A host with notify, record and advise functions that log their calls. `ack` says whether
/// the person acknowledges (the record function answers the token at once) or not.
fn host(ack: bool, failing_channel: Option<&'static str>) -> (LocalHost, Calls) {
    let calls: Calls = Rc::default();
    let mut host = LocalHost::new(START, 3);
    let c = calls.clone();
    host.handle(
        "NotifyFunctionArn",
        Box::new(move |call, _| {
            c.borrow_mut().push(("notify".into(), call.input.clone()));
            let channel = call.input["channel"].as_str().unwrap_or_default();
            if Some(channel) == failing_channel {
                return Err(Failure::new("Helios.EndpointRejected", "410 Gone"));
            }
            Ok(json!({"channel": channel, "status": 200}))
        }),
    );
    let c = calls.clone();
    host.handle(
        "RecordFunctionArn",
        Box::new(move |call, tokens| {
            c.borrow_mut().push(("record".into(), call.input.clone()));
            if call.input["kind"] == "awaiting_ack" && ack {
                let token = call.input["task_token"].as_str().unwrap_or_default();
                tokens.answer(token, Ok(json!({"acked_by": "alice"})));
            }
            Ok(json!({}))
        }),
    );
    host.handle(
        "AdviseFunctionArn",
        Box::new(|_, _| {
            Err(Failure::new(
                "Helios.AdviceUnavailable",
                "no model configured",
            ))
        }),
    );
    (host, calls)
}

fn input() -> Value {
    json!({
        "decision_id": "dec_1", "severity": "critical", "title": "api stopped sending heartbeats",
        "text": "No heartbeat since 10:00", "channels": ["chat", "pager"], "advise": true,
        "ack_within_seconds": 600
    })
}

#[test]
fn an_acknowledged_decision_notifies_every_channel_and_records_the_ack() {
    let (host, calls) = host(true, None);
    let o = host.run(
        &definition("decision.asl.json").machine,
        input(),
        &Options::default(),
    );
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    let calls = calls.borrow();
    let notified: Vec<&Value> = calls
        .iter()
        .filter(|(f, _)| f == "notify")
        .map(|(_, v)| &v["channel"])
        .collect();
    assert_eq!(notified, [&json!("chat"), &json!("pager")]);
    let (_, outcome) = calls.iter().rev().find(|(f, _)| f == "record").unwrap();
    assert_eq!(outcome["kind"], "outcome");
    assert_eq!(outcome["outcome"]["ack"], json!({"acked_by": "alice"}));
    assert_eq!(
        outcome["outcome"]["advice_error"]["Error"],
        "Helios.AdviceUnavailable"
    );
    assert!(outcome["outcome"].get("escalated").is_none());
    assert_eq!(o.stop_ms - o.start_ms, 0);
}

#[test]
fn without_an_ack_the_decision_escalates_after_the_delay() {
    let (host, calls) = host(false, Some("chat"));
    let o = host.run(
        &definition("decision.asl.json").machine,
        input(),
        &Options::default(),
    );
    assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
    assert_eq!(
        o.stop_ms - o.start_ms,
        600_000,
        "escalated after ack_within_seconds"
    );
    let calls = calls.borrow();
    let (_, outcome) = calls.iter().rev().find(|(f, _)| f == "record").unwrap();
    let notified = &outcome["outcome"]["notified"];
    assert_eq!(
        notified[0]["ok"], false,
        "the chat endpoint refused: {notified}"
    );
    assert_eq!(notified[0]["error"], "Helios.EndpointRejected");
    assert_eq!(notified[1]["ok"], true);
    assert_eq!(outcome["outcome"]["ack_timeout"]["Error"], "States.Timeout");
    assert_eq!(
        outcome["outcome"]["escalated"],
        json!({"channel": "pager", "status": 200})
    );
    let escalation = calls
        .iter()
        .find(|(f, v)| f == "notify" && v["escalation"] == true)
        .unwrap();
    assert_eq!(
        escalation.1["title"],
        "Not acknowledged: api stopped sending heartbeats"
    );
}

#[test]
fn the_expectation_workflow_emits_a_miss_at_the_deadline_and_checks_again_while_told_to() {
    // (met, misses the check reports before it stops asking again) → emits expected.
    for (came, repeat) in [(true, 1), (false, 1), (false, 3)] {
        let calls: Calls = Rc::default();
        let mut host = LocalHost::new(START, 1);
        let c = calls.clone();
        host.handle(
            "ExpectFunctionArn",
            Box::new(move |call, _| {
                c.borrow_mut().push((
                    call.input["action"].as_str().unwrap_or_default().into(),
                    call.input.clone(),
                ));
                Ok(match call.input["action"].as_str() {
                    Some("check") => {
                        let input = &call.input["expectation"];
                        let attempt = input["attempt"].as_u64().unwrap_or(1);
                        let mut check =
                            json!({"met": came, "event": {"id": format!("miss-{attempt}")}});
                        if attempt < repeat {
                            let mut next = input.clone();
                            next["attempt"] = json!(attempt + 1);
                            next["deadline"] = json!(format!("2026-01-01T0{}:00:00Z", 6 + attempt));
                            check["next"] = next;
                        }
                        check
                    }
                    _ => {
                        json!({"emitted": call.input["check"]["event"]["id"], "status": "accepted"})
                    }
                })
            }),
        );
        let input = json!({"expectation": "heartbeat", "subject": "api", "attempt": 1,
                           "deadline": "2026-01-01T06:00:00Z"});
        let o = host.run(
            &definition("expectation.asl.json").machine,
            input,
            &Options::default(),
        );
        assert_eq!(o.status, Status::Succeeded, "{:?}", o.failure);
        let calls = calls.borrow();
        let actions: Vec<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
        if came {
            assert_eq!(actions, ["check"]);
            assert_eq!(o.stop_ms - o.start_ms, 6 * 3600 * 1000);
            continue;
        }
        let emitted: Vec<&Value> = calls
            .iter()
            .filter(|(a, _)| a == "emit_missed")
            .map(|(_, v)| &v["check"]["event"]["id"])
            .collect();
        let want: Vec<Value> = (1..=repeat).map(|i| json!(format!("miss-{i}"))).collect();
        assert_eq!(emitted, want.iter().collect::<Vec<_>>());
        // Each emit carries the input the check was made for, and each check waited for its
        // own deadline: 06:00, then 07:00 and 08:00.
        assert_eq!(calls[1].1["expectation"]["subject"], "api");
        assert_eq!(
            o.stop_ms - o.start_ms,
            (6 + repeat as i64 - 1) * 3600 * 1000
        );
        assert_eq!(o.output.as_ref().unwrap()["met"], false);
    }
}
