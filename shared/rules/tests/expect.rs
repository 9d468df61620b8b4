//! Expectations: what an event means to each (observe), how an instance's state moves
//! (apply), and what a check at the deadline finds.

use helios_rules::expect::{
    check, CheckError, ExpectState, Role, MATCHED, MISMATCHED, MISSED, SOURCE,
};
use helios_rules::{RuleSet, SourceFile};
use serde_json::{json, Value};

const SET: &str = r##"
name: t
version: 1
expectations:
  - id: heartbeat
    heartbeat: {match: {type: [heartbeat]}, every: 1m, grace: 30s, repeat: 2}
  - id: deploy-finishes
    sequence: {first: {type: [deploy.started]}, then: {type: [deploy.finished]}, within: 30m}
    carry: {environment: data.environment}
  - id: pushed-and-built
    reconcile:
      sources:
        github: {match: {source: [github]}, key: "{{correlation.commit}}", values: {branch: correlation.branch}}
        ci: {source: [ci]}
      compare: {branch: data.branch}
      within: 10m
    key: "{{data.commit}}"
"##;

fn load(text: &str) -> Result<RuleSet, String> {
    RuleSet::load(&[SourceFile {
        path: "rules/r.yaml".into(),
        text: text.into(),
    }])
    .map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn set() -> RuleSet {
    load(SET).unwrap()
}

fn ms(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_millis()
}

fn event(id: &str, source: &str, ty: &str, time: &str, subject: &str, data: Value) -> Value {
    json!({"helios_id": format!("evt_{id}"), "id": id, "source": source, "type": ty,
           "time": time, "subject": subject, "data": data})
}

/// Observes `e` and applies what it means to `state`; returns the workflow inputs to start.
fn feed(rs: &RuleSet, state: &mut ExpectState, e: &Value) -> Vec<Value> {
    let mut starts = Vec::new();
    for o in rs.observe(e) {
        if state.apply(&o).start {
            starts.push(o.workflow_input());
        }
    }
    starts
}

#[test]
fn a_heartbeat_is_met_by_a_later_one_and_missed_when_none_comes() {
    let rs = set();
    let mut st = ExpectState::default();
    let b1 = event(
        "b1",
        "svc",
        "heartbeat",
        "2026-11-23T09:00:00Z",
        "api",
        json!({}),
    );
    let obs = rs.observe(&b1);
    assert_eq!(obs.len(), 1);
    assert_eq!(obs[0].role, Role::Beat);
    assert_eq!(obs[0].key, "api");
    assert_eq!(obs[0].deadline_ms, Some(ms("2026-11-23T09:01:30Z")));
    let first = feed(&rs, &mut st, &b1);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["deadline"], "2026-11-23T09:01:30Z");

    // A second beat supersedes the first: it starts nothing (the first's watch is there),
    // and the first's check is met and follows it to its own deadline.
    let b2 = event(
        "b2",
        "svc",
        "heartbeat",
        "2026-11-23T09:01:00Z",
        "api",
        json!({}),
    );
    assert!(feed(&rs, &mut st, &b2).is_empty(), "one watch per instance");
    let c = check(&rs, &first[0], Some(&st), ms("2026-11-23T09:01:30Z")).unwrap();
    assert!(c.met, "{c:?}");
    assert!(c.event.is_none());
    let second = [c.next.clone().expect("the watch follows the later beat")];
    assert_eq!(second[0]["event"], "evt_b2");
    assert_eq!(second[0]["deadline"], "2026-11-23T09:02:30Z");
    assert_eq!(second[0]["attempt"], 1);

    // None after b2: missed once, then again a period later, then no more (repeat 2).
    let c = check(&rs, &second[0], Some(&st), ms("2026-11-23T09:02:30Z")).unwrap();
    assert!(!c.met);
    let e = c.event.clone().unwrap();
    assert_eq!(e["source"], SOURCE);
    assert_eq!(e["type"], MISSED);
    assert_eq!(e["subject"], "api");
    assert_eq!(e["time"], "2026-11-23T09:02:30Z");
    assert_eq!(e["data"]["expectation"], "heartbeat");
    assert_eq!(e["data"]["last_seen"], "2026-11-23T09:01:00Z");
    assert_eq!(e["data"]["missed"], 1);
    let next = c.next.clone().unwrap();
    assert_eq!(next["deadline"], "2026-11-23T09:03:30Z");
    let c2 = check(&rs, &next, Some(&st), ms("2026-11-23T09:03:30Z")).unwrap();
    assert_eq!(c2.event.as_ref().unwrap()["data"]["missed"], 2);
    assert_ne!(
        c2.event.as_ref().unwrap()["id"],
        e["id"],
        "each miss is an event of its own"
    );
    assert!(c2.next.is_none(), "repeat 2 stops after the second miss");

    // The same check again gives the same event id (the ingress path keeps it once).
    let again = check(&rs, &second[0], Some(&st), ms("2026-11-23T09:05:00Z")).unwrap();
    assert_eq!(again.event.unwrap()["id"], e["id"]);
}

#[test]
fn a_late_heartbeat_delivered_out_of_order_does_not_move_the_state_back() {
    let rs = set();
    let mut st = ExpectState::default();
    feed(
        &rs,
        &mut st,
        &event(
            "b2",
            "svc",
            "heartbeat",
            "2026-11-23T09:01:00Z",
            "api",
            json!({}),
        ),
    );
    let old = event(
        "b1",
        "svc",
        "heartbeat",
        "2026-11-23T09:00:00Z",
        "api",
        json!({}),
    );
    assert!(
        feed(&rs, &mut st, &old).is_empty(),
        "an older beat starts nothing"
    );
    assert_eq!(st.latest.as_ref().unwrap().event, "evt_b2");
    // A redelivered beat starts again (the execution name keeps it to one) but changes nothing.
    let o = rs.observe(&event(
        "b2",
        "svc",
        "heartbeat",
        "2026-11-23T09:01:00Z",
        "api",
        json!({}),
    ));
    let applied = st.clone().apply(&o[0]);
    assert!(!applied.changed && applied.start);
    assert_eq!(
        o[0].execution_name(),
        rs.observe(&event(
            "b2",
            "svc",
            "heartbeat",
            "2026-11-23T09:01:00Z",
            "api",
            json!({})
        ))[0]
            .execution_name()
    );
    assert!(o[0].execution_name().len() <= 80);
}

#[test]
fn a_sequence_is_met_by_its_closing_event_before_the_deadline_and_carries_fields() {
    let rs = set();
    let mut st = ExpectState::default();
    let started = event(
        "d1",
        "deployer",
        "deploy.started",
        "2026-11-23T10:00:00Z",
        "acme/web",
        json!({"environment": "production"}),
    );
    let inputs = feed(&rs, &mut st, &started);
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["deadline"], "2026-11-23T10:30:00Z");
    assert_eq!(inputs[0]["carried"]["environment"], "production");

    // Nothing closed it: missed, with the fields the rules read.
    let c = check(&rs, &inputs[0], Some(&st), ms("2026-11-23T10:30:00Z")).unwrap();
    assert!(!c.met);
    let data = &c.event.as_ref().unwrap()["data"];
    assert_eq!(data["started_at"], "2026-11-23T10:00:00Z");
    assert_eq!(data["deadline"], "2026-11-23T10:30:00Z");
    assert_eq!(data["environment"], "production");
    assert!(c.next.is_none());

    // Closed in time: met. A close of another subject is another instance's.
    let elsewhere = rs.observe(&event(
        "f0",
        "deployer",
        "deploy.finished",
        "2026-11-23T10:20:00Z",
        "acme/api",
        json!({}),
    ));
    assert_eq!(elsewhere[0].role, Role::Closes);
    assert_ne!(elsewhere[0].state_key, rs.observe(&started)[0].state_key);
    let finished = event(
        "f1",
        "deployer",
        "deploy.finished",
        "2026-11-23T10:20:00Z",
        "acme/web",
        json!({}),
    );
    assert!(feed(&rs, &mut st, &finished).is_empty());
    let c = check(&rs, &inputs[0], Some(&st), ms("2026-11-23T10:30:05Z")).unwrap();
    assert!(c.met, "{c:?}");

    // Closed after the deadline: still missed.
    let mut late = ExpectState::default();
    feed(&rs, &mut late, &started);
    feed(
        &rs,
        &mut late,
        &event(
            "f2",
            "deployer",
            "deploy.finished",
            "2026-11-23T10:45:00Z",
            "acme/web",
            json!({}),
        ),
    );
    assert!(
        !check(&rs, &inputs[0], Some(&late), ms("2026-11-23T10:50:00Z"))
            .unwrap()
            .met
    );
}

#[test]
fn a_reconciliation_flags_a_missing_source_and_a_mismatched_value() {
    let rs = set();
    let gh = json!({"helios_id": "evt_p1", "id": "p1", "source": "github", "type": "github.push",
        "time": "2026-11-23T11:00:00Z", "subject": "acme/web",
        "correlation": {"commit": "abc123", "branch": "main"}, "data": {}});
    let ci = |branch: &str| {
        event(
            "c1",
            "ci",
            "ci.build.finished",
            "2026-11-23T11:03:00Z",
            "acme/web",
            json!({"commit": "abc123", "branch": branch}),
        )
    };

    let mut st = ExpectState::default();
    let inputs = feed(&rs, &mut st, &gh);
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["key"], "abc123");
    let c = check(&rs, &inputs[0], Some(&st), ms("2026-11-23T11:10:00Z")).unwrap();
    assert!(!c.met);
    let e = c.event.unwrap();
    assert_eq!(e["type"], MISSED);
    assert_eq!(e["data"]["missing"], json!(["ci"]));

    // Both came, same branch: met; both start the same execution name.
    let mut both = st.clone();
    let ci_inputs = feed(&rs, &mut both, &ci("main"));
    assert_eq!(ci_inputs.len(), 1);
    assert_eq!(
        rs.observe(&gh)[0].execution_name(),
        rs.observe(&ci("main"))[0].execution_name()
    );
    let c = check(&rs, &inputs[0], Some(&both), ms("2026-11-23T11:10:00Z")).unwrap();
    assert!(c.met);
    // Met, and recorded as a fact of its own (what the reconciliation-accuracy objective
    // counts), with both reports.
    let e = c.event.unwrap();
    assert_eq!(e["type"], MATCHED);
    assert_eq!(e["source"], "helios/expect");
    assert_eq!(e["data"]["kind"], "reconcile");
    assert_eq!(e["data"]["missing"], json!([]));
    assert_eq!(e["data"]["mismatched"], json!([]));
    assert_eq!(e["data"]["reports"]["ci"]["event"], ci("main")["helios_id"]);
    assert_eq!(e["time"], inputs[0]["deadline"], "at the deadline");

    // Both came, different branches: mismatched, with each source's value.
    let mut differ = st.clone();
    feed(&rs, &mut differ, &ci("release"));
    let c = check(&rs, &inputs[0], Some(&differ), ms("2026-11-23T11:10:00Z")).unwrap();
    assert!(!c.met);
    let e = c.event.unwrap();
    assert_eq!(e["type"], MISMATCHED);
    assert_eq!(
        e["data"]["mismatched"],
        json!([{"field": "branch", "values": {"ci": "release", "github": "main"}}])
    );
}

#[test]
fn events_helios_emits_are_not_observed_and_keyless_events_are_skipped() {
    let rs = set();
    let mut e = event(
        "b1",
        "svc",
        "heartbeat",
        "2026-11-23T09:00:00Z",
        "api",
        json!({}),
    );
    e["source"] = json!(SOURCE);
    assert!(rs.observe(&e).is_empty());
    let mut keyless = event(
        "b1",
        "svc",
        "heartbeat",
        "2026-11-23T09:00:00Z",
        "api",
        json!({}),
    );
    keyless.as_object_mut().unwrap().remove("subject");
    assert!(rs.observe(&keyless).is_empty());
}

#[test]
fn a_check_before_the_deadline_or_of_an_undeclared_expectation_is_answered() {
    let rs = set();
    let input = json!({"expectation": "heartbeat", "key": "api", "event": "evt_b1",
                       "time": "2026-11-23T09:00:00Z", "deadline": "2026-11-23T09:01:30Z"});
    let early = check(&rs, &input, None, ms("2026-11-23T09:01:00Z")).unwrap_err();
    assert!(matches!(early, CheckError::Early { .. }), "{early}");
    let gone = check(
        &rs,
        &json!({"expectation": "retired", "key": "api", "deadline": "2026-11-23T09:01:30Z"}),
        None,
        ms("2026-11-23T09:02:00Z"),
    )
    .unwrap();
    assert!(
        gone.met && gone.reason.contains("no longer declared"),
        "{gone:?}"
    );
    assert!(matches!(
        check(&rs, &json!({}), None, 0),
        Err(CheckError::BadInput(_))
    ));
}

#[test]
fn the_interest_of_expectations_is_the_types_they_watch() {
    use helios_rules::expect::Interest;
    let load = |body: &str| {
        load(&format!("name: t\nversion: 1\n{body}"))
            .unwrap()
            .expectation_interest()
    };
    assert_eq!(load("rules: []"), Interest::Nothing);
    // The set above: its reconciliation matches on source alone.
    assert_eq!(set().expectation_interest(), Interest::Everything);
    assert_eq!(
        load("expectations:\n  - id: d\n    sequence: {first: {type: [deploy.started]}, then: {type: [deploy.finished, deploy.done]}, within: 1m}\n  - id: h\n    heartbeat: {match: {type: [heartbeat]}, every: 1m}\n"),
        Interest::Types(vec!["deploy.done".into(), "deploy.finished".into(), "deploy.started".into(), "heartbeat".into()])
    );
    assert_eq!(
        load("expectations:\n  - id: h\n    heartbeat: {match: {type: [{prefix: beat}]}, every: 1m}\n"),
        Interest::Everything
    );
    // As the SNS filter policy of the `expect` subscription.
    assert_eq!(
        Interest::Types(vec!["a".into(), "b".into()]).filter_policy(),
        Some(serde_json::json!({"type": ["a", "b"]}))
    );
    assert_eq!(
        Interest::Nothing.filter_policy(),
        Some(serde_json::json!({"type": [{"exists": false}]}))
    );
    assert_eq!(Interest::Everything.filter_policy(), None);
}

#[test]
fn bad_declarations_are_rejected_with_their_path() {
    let load =
        |body: &str| load(&format!("name: t\nversion: 1\nexpectations:\n{body}")).unwrap_err();
    let e = load("  - id: x\n    heartbeat: {match: {type: [h]}, every: 1y}\n");
    assert!(e.contains("expectations[0].heartbeat.every"), "{e}");
    let e = load("  - id: x\n    heartbeat: {match: {type: [h]}, every: 1m}\n    sequence: {first: {type: [a]}, then: {type: [b]}, within: 1m}\n");
    assert!(e.contains("exactly one of"), "{e}");
    let e = load("  - id: x\n    reconcile: {sources: {a: {source: [a]}}, within: 1m}\n");
    assert!(e.contains("at least two sources"), "{e}");
    let e = load("  - id: x\n    sequence: {first: {type: [a]}, then: {type: [b]}, within: 1m}\n  - id: x\n    sequence: {first: {type: [a]}, then: {type: [b]}, within: 1m}\n");
    assert!(e.contains("expectations[1].id"), "{e}");
    let e = load("  - id: x\n    sequence: {first: {type: [a]}, then: {type: [b]}, within: 1m}\n    key: \"{{nope.x}}\"\n");
    assert!(e.contains("expectations[0].key"), "{e}");
}

#[test]
fn open_spans_replay_when_each_instance_waited_and_whether_it_was_met() {
    let rs = set();
    let beat = |id: &str, t: &str| event(id, "svc", "heartbeat", t, "api", json!({}));
    let events = vec![
        // Beats a minute apart meet each other's wait; the third is 2 minutes late.
        beat("b3", "2026-11-23T09:03:40Z"),
        beat("b1", "2026-11-23T09:00:00Z"),
        beat("b2", "2026-11-23T09:01:00Z"),
        // A deploy that finishes, and one that never does.
        event(
            "d1",
            "deployer",
            "deploy.started",
            "2026-11-23T09:00:10Z",
            "api",
            json!({"environment": "prod"}),
        ),
        event(
            "d2",
            "deployer",
            "deploy.finished",
            "2026-11-23T09:05:00Z",
            "api",
            json!({}),
        ),
        event(
            "d3",
            "deployer",
            "deploy.started",
            "2026-11-23T10:00:00Z",
            "web",
            json!({}),
        ),
        // A commit both sources report.
        json!({"helios_id": "evt_g1", "source": "github", "type": "push", "time": "2026-11-23T09:00:00Z",
               "subject": "api", "correlation": {"commit": "abc", "branch": "main"}, "data": {}}),
        event(
            "c1",
            "ci",
            "build",
            "2026-11-23T09:02:00Z",
            "api",
            json!({"commit": "abc", "branch": "main"}),
        ),
    ];
    let spans = rs.open_spans(&events);
    let of = |id: &str| -> Vec<(String, i64, i64, Option<i64>)> {
        spans
            .iter()
            .filter(|s| s.expectation == id)
            .map(|s| (s.event.clone(), s.opened_ms, s.deadline_ms, s.met_ms))
            .collect()
    };
    let m = |t: &str| ms(t);
    assert_eq!(
        of("heartbeat"),
        [
            (
                "evt_b1".into(),
                m("2026-11-23T09:00:00Z"),
                m("2026-11-23T09:01:30Z"),
                Some(m("2026-11-23T09:01:00Z"))
            ),
            // Missed: the next beat came after its deadline.
            (
                "evt_b2".into(),
                m("2026-11-23T09:01:00Z"),
                m("2026-11-23T09:02:30Z"),
                None
            ),
            (
                "evt_b3".into(),
                m("2026-11-23T09:03:40Z"),
                m("2026-11-23T09:05:10Z"),
                None
            ),
        ]
    );
    let deploys = of("deploy-finishes");
    assert_eq!(deploys.len(), 2);
    assert_eq!(
        deploys[0].3,
        Some(m("2026-11-23T09:05:00Z")),
        "the first deploy finished"
    );
    assert_eq!(deploys[1].3, None, "the second did not (yet)");
    let rec = of("pushed-and-built");
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(
        (rec[0].1, rec[0].3),
        (m("2026-11-23T09:00:00Z"), Some(m("2026-11-23T09:02:00Z")))
    );

    // As of a moment: the first beat's wait is open until the second beat, not after.
    let first = spans.iter().find(|s| s.event == "evt_b1").unwrap();
    assert!(first.open_at(m("2026-11-23T09:00:30Z")));
    assert!(!first.open_at(m("2026-11-23T09:01:00Z")));
    assert!(!first.open_at(m("2026-11-23T08:59:59Z")));
    // The missed wait is open until its deadline.
    let missed = spans.iter().find(|s| s.event == "evt_b2").unwrap();
    assert!(missed.open_at(m("2026-11-23T09:02:29Z")));
    assert!(!missed.open_at(m("2026-11-23T09:02:30Z")));
}

#[test]
fn a_heartbeat_may_state_its_own_period_within_bounds() {
    let rs = load(
        "name: t
version: 1
expectations:
  - id: lease
    description: each holder renews within the period it states
    heartbeat: {match: {type: [lease]}, every: 1m, grace: 1s, repeat: 2, every_from: data.every}
",
    )
    .unwrap();
    let beat = |id: &str, time: &str, every: Value| {
        event(
            id,
            "svc",
            "lease",
            time,
            "holder-1",
            json!({"every": every}),
        )
    };
    let deadline = |e: &Value| rs.observe(e)[0].workflow_input()["deadline"].clone();
    // A stated period of 10 s: due 11 s later (with the grace); none stated, or one out of
    // bounds or not a span: the declared minute.
    assert_eq!(
        deadline(&beat("a", "2026-11-23T11:00:00Z", json!("10s"))),
        "2026-11-23T11:00:11Z"
    );
    for other in [
        json!(null),
        json!("0s"),
        json!("8d"),
        json!(10),
        json!("soon"),
    ] {
        assert_eq!(
            deadline(&beat("a", "2026-11-23T11:00:00Z", other.clone())),
            "2026-11-23T11:01:01Z",
            "{other}"
        );
    }

    // Missed at 11:00:11, and again a stated period later.
    let mut st = ExpectState::default();
    let first = beat("a", "2026-11-23T11:00:00Z", json!("10s"));
    let inputs = feed(&rs, &mut st, &first);
    assert_eq!(inputs[0]["period_ms"], 10_000);
    let c = check(&rs, &inputs[0], Some(&st), ms("2026-11-23T11:00:11Z")).unwrap();
    assert!(!c.met);
    assert!(
        c.reason.contains("1 period(s) of 10s missed"),
        "{}",
        c.reason
    );
    let next = c.next.unwrap();
    assert_eq!(next["deadline"], "2026-11-23T11:00:21Z");
    assert!(check(&rs, &next, Some(&st), ms("2026-11-23T11:00:21Z"))
        .unwrap()
        .reason
        .contains("2 period(s) of 10s"));

    // A later heartbeat stating 20 s: the watch follows it, to its own period.
    let mut renewed = st.clone();
    feed(
        &rs,
        &mut renewed,
        &beat("b", "2026-11-23T11:00:05Z", json!("20s")),
    );
    let c = check(&rs, &inputs[0], Some(&renewed), ms("2026-11-23T11:00:11Z")).unwrap();
    assert!(c.met);
    let next = c.next.unwrap();
    assert_eq!(next["deadline"], "2026-11-23T11:00:26Z");
    assert_eq!(next["period_ms"], 20_000);

    let e = load("name: t\nversion: 1\nexpectations:\n  - id: x\n    heartbeat: {match: {type: [x]}, every: 1m, every_from: \"nope.x\"}\n")
        .unwrap_err();
    assert!(e.contains("expectations[0].heartbeat.every_from"), "{e}");
}
