//! `advise` on the embedded store: the note summarises similar past decisions, is stored
//! beside the decision once, and bad payloads are refused.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use helios_app::advise::Advisor;
use helios_ports::ManualClock;
use helios_store::{NewDecision, Outcome, SqliteStore, Store};
use serde_json::{json, Value};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn decision(n: u32, subject: &str, rules: &[&str], days_ago: i64) -> NewDecision {
    NewDecision {
        id: format!("dec_{n}"),
        event_id: format!("evt_{n}"),
        ruleset: "starter@1".into(),
        ruleset_hash: "h".into(),
        subject: Some(subject.into()),
        severity: Some("high".into()),
        score: 70.0,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        decided_at: t0() - Duration::days(days_ago),
        body: json!({"fired": rules}),
    }
}

async fn outcome(store: &dyn Store, decision: u32, kind: &str, body: serde_json::Value) {
    store
        .record_outcome(&Outcome {
            decision_id: format!("dec_{decision}"),
            execution: format!("dec_{decision}-0"),
            kind: kind.into(),
            recorded_at: t0(),
            body,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_note_summarises_similar_decisions_and_is_stored_once_beside_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    store.migrate().await.unwrap();
    let rule = ["ci-failing-on-main"];
    for d in [
        decision(1, "acme/web", &rule, 3),
        decision(2, "acme/web", &rule, 2),
        decision(3, "acme/api", &rule, 1),
        decision(4, "acme/web", &["deploy-failed"], 1), // another rule
        decision(5, "acme/web", &rule, 40),             // too old
        decision(9, "acme/web", &rule, 0),              // the one advised on
    ] {
        store.record_decision(&d).await.unwrap();
    }
    outcome(&*store, 1, "acknowledged", json!({"by": "alice"})).await;
    outcome(
        &*store,
        2,
        "outcome",
        json!({"escalated": {"channel": "pager"}}),
    )
    .await;
    let advisor = Advisor {
        decisions: store.clone(),
        outcomes: store.clone(),
        clock: Arc::new(ManualClock::new(t0())),
        model: None,
    };
    let note = advisor
        .handle(json!({"decision_id": "dec_9", "execution": "dec_9-0"}))
        .await
        .unwrap();
    let summary = note["summary"].as_str().unwrap();
    assert!(
        summary.contains("fired 3 time(s) before in 30 days, 2 of them for acme/web"),
        "{summary}"
    );
    assert!(
        summary.contains("1 acknowledged, 1 escalated, 1 still open"),
        "{summary}"
    );
    assert!(
        summary.contains("The latest was 2026-11-21T09:00:00Z"),
        "{summary}"
    );
    assert_eq!(note["confidence"], json!(0.38)); // 3 / (3 + 5)
    assert_eq!(note["similar"], json!(["dec_2", "dec_1", "dec_3"]));
    assert_eq!(note["advisory"], true);

    // Stored beside the decision, once: a retried task gets the first note back.
    store
        .record_decision(&decision(10, "acme/web", &rule, 0))
        .await
        .unwrap();
    let again = advisor
        .handle(json!({"decision_id": "dec_9", "execution": "dec_9-0"}))
        .await
        .unwrap();
    assert_eq!(again, note);
    let stored: Vec<_> = store
        .list_outcomes("dec_9")
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == "advice")
        .collect();
    assert_eq!(stored.len(), 1);
    let decision = store.get_decision("dec_9").await.unwrap().unwrap();
    assert_eq!(
        decision.decision.body,
        json!({"fired": rule}),
        "the decision is unchanged"
    );
}

#[tokio::test]
async fn a_first_decision_and_bad_payloads_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    store.migrate().await.unwrap();
    store
        .record_decision(&decision(1, "acme/web", &["r"], 0))
        .await
        .unwrap();
    let advisor = Advisor {
        decisions: store.clone(),
        outcomes: store.clone(),
        clock: Arc::new(ManualClock::new(t0())),
        model: None,
    };
    let first = advisor.advise("dec_1").await.unwrap();
    assert!(first["summary"]
        .as_str()
        .unwrap()
        .starts_with("First decision of `r`"));
    assert_eq!(first["confidence"], json!(0.0));
    let unknown = advisor.advise("dec_nope").await.unwrap_err();
    assert_eq!(unknown.error, "Helios.UnknownDecision");
    for bad in [
        json!({}),
        json!({"decision_id": "dec_1"}),
        json!({"decision_id": 7, "execution": "x"}),
    ] {
        let e = advisor.handle(bad.clone()).await.unwrap_err();
        assert_eq!(e.error, "Helios.BadRequest", "{bad}");
    }
}

/// A model that answers as told and keeps the prompts it got.
struct Scripted {
    answer: Result<String, String>,
    delay: std::time::Duration,
    prompts: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl helios_ports::TextModel for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn complete(
        &self,
        system: &str,
        prompt: &str,
        _max_tokens: u32,
    ) -> Result<String, helios_ports::PortError> {
        self.prompts
            .lock()
            .unwrap()
            .push((system.to_string(), prompt.to_string()));
        tokio::time::sleep(self.delay).await;
        self.answer
            .clone()
            .map_err(|e| helios_ports::PortError::unavailable("Bedrock", e))
    }
}

async fn advised_by(
    answer: Result<&str, &str>,
    delay: std::time::Duration,
) -> (Value, Arc<Scripted>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
    store.migrate().await.unwrap();
    store
        .record_decision(&decision(1, "acme/web", &["ci-failing-on-main"], 0))
        .await
        .unwrap();
    let model = Arc::new(Scripted {
        answer: answer.map(String::from).map_err(String::from),
        delay,
        prompts: Default::default(),
    });
    let advisor = Advisor {
        decisions: store.clone(),
        outcomes: store.clone(),
        clock: Arc::new(ManualClock::new(t0())),
        model: Some(model.clone()),
    };
    (advisor.advise("dec_1").await.unwrap(), model)
}

/// With a model, the model writes the note from the decision and the summary, which stays
/// beside it as its basis; the confidence is the summary's.
#[tokio::test]
async fn a_model_writes_the_note_from_the_summary() {
    let (note, model) =
        advised_by(Ok("  Check the last deploy first.  "), Default::default()).await;
    assert_eq!(note["summary"], "Check the last deploy first.");
    assert_eq!(note["method"], "model:scripted");
    assert_eq!(note["advisory"], true);
    assert_eq!(note["confidence"], json!(0.0));
    assert!(note["basis"]
        .as_str()
        .unwrap()
        .starts_with("First decision of `ci-failing-on-main`"));
    let prompts = model.prompts.lock().unwrap();
    let (system, prompt) = &prompts[0];
    assert_eq!(system, helios_app::advise::MODEL_INSTRUCTIONS);
    assert!(prompt.contains("\"ci-failing-on-main\""), "{prompt}");
    assert!(prompt.contains("acme/web"), "{prompt}");
    assert!(prompt.contains("First decision of"), "{prompt}");
}

/// A model that fails, or takes too long, leaves the summary as the note, with the reason.
#[tokio::test(start_paused = true)]
async fn a_failing_or_slow_model_leaves_the_summary() {
    let (note, _) = advised_by(Err("throttled"), Default::default()).await;
    assert!(note["summary"]
        .as_str()
        .unwrap()
        .starts_with("First decision of"));
    assert_eq!(note["method"], helios_app::advise::METHOD);
    assert!(
        note["model_error"].as_str().unwrap().contains("throttled"),
        "{note}"
    );

    let (note, _) = advised_by(
        Ok("too late"),
        helios_app::advise::MODEL_TIMEOUT + std::time::Duration::from_secs(1),
    )
    .await;
    assert!(note["summary"]
        .as_str()
        .unwrap()
        .starts_with("First decision of"));
    assert!(
        note["model_error"]
            .as_str()
            .unwrap()
            .contains("did not answer within"),
        "{note}"
    );
}
