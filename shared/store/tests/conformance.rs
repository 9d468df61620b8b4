//! One conformance suite, run against the embedded SQLite store and against PostgreSQL (a
//! throwaway cluster started from the installed server binaries).

use chrono::{DateTime, Duration, TimeZone, Utc};
use helios_events::{helios_id, Event, Format};
use helios_store::prelude::*;
use helios_store::{
    ApiKey, DecisionQuery, FactQuery, HoldStatus, NearMissQuery, NewDecision, NewFact, Outboxed,
    Outcome, PgStore, RawRef, Recorded, Role, SchemaVersion, SloCounts, SloQuery, SqliteStore,
    StatsQuery, Store, SubjectSettings,
};

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap() + Duration::seconds(s)
}

fn event(source: &str, id: &str, ty: &str, at: i64) -> Event {
    Event {
        helios_id: helios_id(source, id),
        id: id.into(),
        source: source.into(),
        event_type: ty.into(),
        subject: Some("acme/web".into()),
        time: t(at) + Duration::microseconds(250),
        received_at: t(at + 1),
        schema_version: 1,
        format: Format::Native,
        extensions: Default::default(),
        correlation: [("subject".to_string(), "acme/web".to_string())].into(),
        data: serde_json::json!({"z": 1, "a": [1, 2.5, "x", null], "nested": {"b": true}}),
        schema: None,
        traceparent: None,
    }
}

fn fact(source: &str, id: &str, ty: &str, at: i64) -> NewFact {
    NewFact {
        hold: None,
        event: event(source, id, ty, at),
        raw: RawRef {
            key: format!("raw/{id}.json"),
            index: 0,
        },
    }
}

async fn records_facts_once_and_reads_them_back_intact(s: &dyn Store) {
    let r = s
        .record_facts(&[fact("ci", "1", "build", 0), fact("ci", "2", "build", 1)])
        .await
        .unwrap();
    assert_eq!(r, [Recorded::Accepted, Recorded::Accepted]);
    let again = s
        .record_facts(&[
            fact("ci", "2", "build", 1),
            fact("ci", "3", "build", 2),
            fact("ci", "3", "build", 2),
        ])
        .await
        .unwrap();
    assert_eq!(
        again,
        [Recorded::Duplicate, Recorded::Accepted, Recorded::Duplicate],
        "duplicates, across and within batches"
    );
    let got = s
        .get_fact(&helios_id("ci", "1"))
        .await
        .unwrap()
        .expect("fact 1 is stored");
    assert_eq!(
        got.event,
        event("ci", "1", "build", 0),
        "the event reads back exactly, microseconds included"
    );
    assert_eq!(
        serde_json::to_string(&got.event.data).unwrap(),
        r#"{"z":1,"a":[1,2.5,"x",null],"nested":{"b":true}}"#,
        "data keeps its key order"
    );
    assert_eq!(
        got.raw,
        RawRef {
            key: "raw/1.json".into(),
            index: 0
        }
    );
    assert!(s.get_fact("evt_missing").await.unwrap().is_none());
    let all = s
        .list_facts(&FactQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.facts.len(), 3, "no fact twice");
    let subject = |name: &str| FactQuery {
        subject: Some(name.into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        s.list_facts(&subject("acme/web"))
            .await
            .unwrap()
            .facts
            .len(),
        3
    );
    assert!(s
        .list_facts(&subject("acme/api"))
        .await
        .unwrap()
        .facts
        .is_empty());
}

async fn same_id_from_another_source_is_another_fact(s: &dyn Store) {
    let r = s
        .record_facts(&[fact("ci", "1", "build", 0), fact("github", "1", "push", 0)])
        .await
        .unwrap();
    assert_eq!(r, [Recorded::Accepted, Recorded::Accepted]);
}

async fn outbox_holds_what_is_not_yet_published(s: &dyn Store) {
    s.record_facts(&[
        fact("a", "1", "x", 0),
        fact("a", "2", "x", 10),
        fact("a", "3", "x", 20),
    ])
    .await
    .unwrap();
    let pending = s.pending_outbox(t(100), 10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .filter_map(Outboxed::fact)
            .map(|f| f.event.id.as_str())
            .collect::<Vec<_>>(),
        ["1", "2", "3"],
        "oldest first"
    );
    let only_old = s.pending_outbox(t(11), 10).await.unwrap();
    assert_eq!(
        only_old.len(),
        1,
        "facts recorded after `before` are left to the inline publish"
    );
    s.mark_published(&[helios_id("a", "1"), helios_id("a", "3")])
        .await
        .unwrap();
    let left = s.pending_outbox(t(100), 10).await.unwrap();
    assert_eq!(
        left.iter()
            .filter_map(Outboxed::fact)
            .map(|f| f.event.id.as_str())
            .collect::<Vec<_>>(),
        ["2"]
    );
    s.record_facts(&[fact("a", "1", "x", 0)]).await.unwrap();
    assert_eq!(
        s.pending_outbox(t(100), 10).await.unwrap().len(),
        1,
        "a duplicate does not go back to the outbox"
    );
    // Parked: out of the outbox, listed with its reason, the fact kept.
    let two = helios_id("a", "2");
    s.park_outbox(&[(two.clone(), "cannot be read".into())], t(200))
        .await
        .unwrap();
    assert!(s.pending_outbox(t(300), 10).await.unwrap().is_empty());
    assert_eq!(
        s.parked_outbox(10).await.unwrap(),
        [(two.clone(), "cannot be read".to_string())]
    );
    assert!(s.get_fact(&two).await.unwrap().is_some(), "the fact stays");
    s.park_outbox(&[(two.clone(), "again".into())], t(201))
        .await
        .unwrap();
    assert_eq!(s.parked_outbox(10).await.unwrap().len(), 1, "parked once");
}

/// A row whose stored event cannot be read back (written by a faulty build: a time in year
/// 0) is answered as unreadable beside the readable ones, never as an error of the call.
async fn an_unreadable_outbox_row_is_answered_beside_the_others(
    s: &dyn Store,
    corrupt: impl std::future::Future<Output = ()>,
) {
    s.record_facts(&[
        fact("a", "1", "x", 0),
        fact("a", "2", "x", 1),
        fact("a", "3", "x", 2),
    ])
    .await
    .unwrap();
    corrupt.await;
    let pending = s.pending_outbox(t(100), 10).await.unwrap();
    assert_eq!(pending.len(), 3);
    assert!(
        matches!(&pending[1], Outboxed::Unreadable { helios_id, problem, .. }
        if *helios_id == helios_id_of("a", "2") && !problem.is_empty())
    );
    assert!(pending[0].fact().is_some() && pending[2].fact().is_some());
}

fn helios_id_of(source: &str, id: &str) -> String {
    helios_id(source, id)
}

#[tokio::test]
async fn sqlite_answers_an_unreadable_outbox_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.db");
    let s = SqliteStore::open(&path).unwrap();
    s.migrate().await.unwrap();
    let corrupt = async {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "UPDATE facts SET event = json_set(event, '$.time', '-0001-12-31T23:00:00Z') WHERE helios_id = ?1",
            [helios_id("a", "2")],
        )
        .unwrap();
    };
    an_unreadable_outbox_row_is_answered_beside_the_others(&s, corrupt).await;
}

#[tokio::test]
async fn postgres_answers_an_unreadable_outbox_row() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("unreadable").unwrap();
    let s = PgStore::connect(&url, 2).unwrap();
    s.migrate().await.unwrap();
    let corrupt = async {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.execute(
            "UPDATE facts SET event = jsonb_set(event::jsonb, '{time}', '\"-0001-12-31T23:00:00Z\"')::json WHERE helios_id = $1",
            &[&helios_id("a", "2")],
        )
        .await
        .unwrap();
    };
    an_unreadable_outbox_row_is_answered_beside_the_others(&s, corrupt).await;
}

/// The ids of every fact, read 10 at a time through the cursor.
async fn ids_page_by_page(s: &dyn Store, newest_first: bool) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_facts(&FactQuery {
                after,
                limit: 10,
                newest_first,
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.facts.iter().map(|f| f.event.id.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => return seen,
        }
    }
}

async fn lists_filter_and_paginate(s: &dyn Store) {
    let mut batch = Vec::new();
    for i in 0..25 {
        let (src, ty) = if i % 2 == 0 {
            ("github", "push")
        } else {
            ("ci", "build")
        };
        batch.push(fact(src, &format!("e{i}"), ty, i * 60));
    }
    s.record_facts(&batch).await.unwrap();
    let seen = ids_page_by_page(s, false).await;
    assert_eq!(
        seen,
        (0..25).map(|i| format!("e{i}")).collect::<Vec<_>>(),
        "pages cover everything once, in order"
    );
    // The newest first, a page at a time: the same facts, the other way round.
    assert_eq!(
        ids_page_by_page(s, true).await,
        (0..25).rev().map(|i| format!("e{i}")).collect::<Vec<_>>(),
        "newest first, pages cover everything once"
    );
    let latest_github = s
        .list_facts(&FactQuery {
            source: Some("github".into()),
            limit: 2,
            newest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        latest_github
            .facts
            .iter()
            .map(|f| f.event.id.as_str())
            .collect::<Vec<_>>(),
        ["e24", "e22"],
        "filters apply newest first too"
    );
    let gh = s
        .list_facts(&FactQuery {
            source: Some("github".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(gh.facts.len(), 13);
    let builds = s
        .list_facts(&FactQuery {
            event_type: Some("build".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(builds.facts.iter().all(|f| f.event.event_type == "build") && builds.facts.len() == 12);
    let window = s
        .list_facts(&FactQuery {
            since: Some(t(120)),
            until: Some(t(300)),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    // Event times are t(i*60)+250µs: e2 (120.00025 s) through e4 (240.00025 s); e5 is at 300.00025 s.
    assert_eq!(
        window
            .facts
            .iter()
            .map(|f| f.event.id.as_str())
            .collect::<Vec<_>>(),
        ["e2", "e3", "e4"]
    );
    let exact = s
        .list_facts(&FactQuery {
            limit: 25,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(exact.facts.len(), 25);
    assert_eq!(
        exact.next, None,
        "a page that ends exactly at the last fact has no next"
    );
}

async fn api_keys_are_found_by_hash_and_revoked(s: &dyn Store) {
    let k = ApiKey {
        id: "key_1".into(),
        name: "ci".into(),
        role: Role::Ingest,
        hash: "ab".repeat(32),
        rate_per_second: Some(50),
        created_at: t(0),
        revoked_at: None,
        sources: None,
    };
    s.create_api_key(&k).await.unwrap();
    assert!(
        s.create_api_key(&k).await.is_err(),
        "ids and hashes are unique"
    );
    assert_eq!(s.find_api_key(&k.hash).await.unwrap().unwrap(), k);
    assert!(s.find_api_key("cd").await.unwrap().is_none());
    assert!(s.revoke_api_key("key_1", t(5)).await.unwrap());
    assert!(
        !s.revoke_api_key("key_1", t(6)).await.unwrap(),
        "revoking twice is a no-op"
    );
    assert_eq!(
        s.find_api_key(&k.hash).await.unwrap().unwrap().revoked_at,
        Some(t(5))
    );
    assert_eq!(s.list_api_keys().await.unwrap().len(), 1);
    // A key bound to some sources reads back with them.
    let bound = ApiKey {
        id: "key_2".into(),
        hash: "cd".repeat(32),
        sources: Some(vec!["ci/buildkite".into(), "deploy/*".into()]),
        ..k.clone()
    };
    s.create_api_key(&bound).await.unwrap();
    let got = s.find_api_key(&bound.hash).await.unwrap().unwrap();
    assert_eq!(got, bound);
    assert!(got.may_speak_for("ci/buildkite") && got.may_speak_for("deploy/prod"));
    assert!(!got.may_speak_for("ci/other") && !got.may_speak_for("deployer"));
    assert!(k.may_speak_for("anything"), "no list: every source");
}

async fn migrating_twice_applies_nothing(s: &dyn Store) {
    assert_eq!(s.migrate().await.unwrap(), 0);
}

fn decision(
    n: u32,
    event: &str,
    hash: &str,
    subject: &str,
    rules: &[&str],
    at: i64,
) -> NewDecision {
    NewDecision {
        id: format!("dec_{n}"),
        event_id: event.into(),
        ruleset: "starter@1".into(),
        ruleset_hash: hash.into(),
        subject: Some(subject.into()),
        severity: Some(if n.is_multiple_of(2) { "high" } else { "low" }.into()),
        score: 70.5,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        decided_at: t(at) + Duration::microseconds(17),
        body: serde_json::json!({"z": n, "a": {"fired": rules, "trace": [1, 2.5, null]}}),
    }
}

async fn records_decisions_once_and_lists_them(s: &dyn Store) {
    let first = decision(
        1,
        "h-1",
        "rs-a",
        "acme/web",
        &["ci-failing-on-main", "ci-failed-once"],
        0,
    );
    assert_eq!(s.record_decision(&first).await.unwrap(), Recorded::Accepted);
    // A redelivery of the same event to the same rules stores nothing new, whatever its id.
    let again = NewDecision {
        id: "dec_other".into(),
        ..first.clone()
    };
    assert_eq!(
        s.record_decision(&again).await.unwrap(),
        Recorded::Duplicate
    );
    assert_eq!(
        s.record_decision(&first).await.unwrap(),
        Recorded::Duplicate
    );
    assert!(s.get_decision("dec_other").await.unwrap().is_none());
    // New rules decide the same event again.
    let redecided = decision(2, "h-1", "rs-b", "acme/web", &["ci-failed-once"], 5);
    assert_eq!(
        s.record_decision(&redecided).await.unwrap(),
        Recorded::Accepted
    );
    for i in 3..8 {
        let d = decision(
            i,
            &format!("h-{i}"),
            "rs-a",
            if i < 6 { "acme/api" } else { "acme/web" },
            &["heartbeat-stopped"],
            i as i64 * 10,
        );
        s.record_decision(&d).await.unwrap();
    }

    let got = s.get_decision("dec_1").await.unwrap().unwrap();
    assert_eq!(
        got.decision, first,
        "read back intact, body key order and times included"
    );

    let all = |q: DecisionQuery| async move {
        s.list_decisions(&DecisionQuery { limit: 100, ..q })
            .await
            .unwrap()
    };
    let ids = |p: helios_store::DecisionPage| {
        p.decisions
            .into_iter()
            .map(|d| d.decision.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(all(DecisionQuery::default()).await),
        ["dec_1", "dec_2", "dec_3", "dec_4", "dec_5", "dec_6", "dec_7"]
    );
    assert_eq!(
        ids(all(DecisionQuery {
            newest_first: true,
            ..Default::default()
        })
        .await),
        ["dec_7", "dec_6", "dec_5", "dec_4", "dec_3", "dec_2", "dec_1"]
    );
    let newest_two = s
        .list_decisions(&DecisionQuery {
            limit: 2,
            newest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let rest = s
        .list_decisions(&DecisionQuery {
            limit: 100,
            after: newest_two.next,
            newest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (ids(newest_two), ids(rest)),
        (
            vec!["dec_7".to_string(), "dec_6".into()],
            vec![
                "dec_5".to_string(),
                "dec_4".into(),
                "dec_3".into(),
                "dec_2".into(),
                "dec_1".into()
            ]
        ),
        "the cursor of a newest-first page goes on back in time"
    );
    assert_eq!(
        ids(all(DecisionQuery {
            rule: Some("ci-failed-once".into()),
            ..Default::default()
        })
        .await),
        ["dec_1", "dec_2"]
    );
    assert_eq!(
        ids(all(DecisionQuery {
            rule: Some("ci-failed".into()),
            ..Default::default()
        })
        .await),
        Vec::<String>::new(),
        "a rule matches whole"
    );
    assert_eq!(
        ids(all(DecisionQuery {
            subject: Some("acme/api".into()),
            ..Default::default()
        })
        .await),
        ["dec_3", "dec_4", "dec_5"]
    );
    assert_eq!(
        ids(all(DecisionQuery {
            event_id: Some("h-1".into()),
            ..Default::default()
        })
        .await),
        ["dec_1", "dec_2"],
        "the decisions of one event, under two rule sets"
    );
    assert_eq!(
        ids(all(DecisionQuery {
            severity: Some("high".into()),
            ..Default::default()
        })
        .await),
        ["dec_2", "dec_4", "dec_6"]
    );
    assert_eq!(
        ids(all(DecisionQuery {
            since: Some(t(30)),
            until: Some(t(60)),
            ..Default::default()
        })
        .await),
        ["dec_3", "dec_4", "dec_5"]
    );
    // Pages: all of them, none twice.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_decisions(&DecisionQuery {
                after,
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.decisions.iter().map(|d| d.decision.id.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
}

/// Decisions recorded at the same time (as a `decide` batch records them, and as the
/// PostgreSQL store groups them into one insert), each delivered twice: each is stored once,
/// and exactly one of its two calls is answered as the one that stored it.
async fn concurrent_decisions_are_each_recorded_once(s: &dyn Store) {
    let calls: Vec<NewDecision> = (0..40)
        .map(|n| {
            decision(
                n % 20,
                &format!("c-{}", n % 20),
                "rs-c",
                "acme/api",
                &["r"],
                5,
            )
        })
        .collect();
    let answers = futures_util::future::join_all(calls.iter().map(|d| s.record_decision(d))).await;
    let mut accepted = std::collections::BTreeMap::<String, usize>::new();
    for (d, a) in calls.iter().zip(&answers) {
        if *a.as_ref().unwrap() == Recorded::Accepted {
            *accepted.entry(d.id.clone()).or_default() += 1;
        }
    }
    assert_eq!(accepted.len(), 20, "{answers:?}");
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
    let page = s
        .list_decisions(&DecisionQuery {
            subject: Some("acme/api".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.decisions.len(), 20);
    for d in &page.decisions {
        let n: u32 = d.decision.id["dec_".len()..].parse().unwrap();
        assert_eq!(
            d.decision,
            decision(n, &format!("c-{n}"), "rs-c", "acme/api", &["r"], 5)
        );
    }
}

async fn records_outcomes_once_per_kind(s: &dyn Store) {
    let o = |kind: &str, exec: &str, at: i64| Outcome {
        decision_id: "dec_9".into(),
        execution: exec.into(),
        kind: kind.into(),
        recorded_at: t(at) + Duration::microseconds(3),
        body: serde_json::json!({"z": 1, "notified": [{"channel": "chat", "ok": true}]}),
    };
    assert_eq!(
        s.record_outcome(&o("awaiting_ack", "dec_9-0", 0))
            .await
            .unwrap(),
        Recorded::Accepted
    );
    assert_eq!(
        s.record_outcome(&o("outcome", "dec_9-0", 5)).await.unwrap(),
        Recorded::Accepted
    );
    assert_eq!(
        s.record_outcome(&o("outcome", "dec_9-0", 9)).await.unwrap(),
        Recorded::Duplicate
    );
    let got = s.list_outcomes("dec_9").await.unwrap();
    assert_eq!(
        got,
        vec![o("awaiting_ack", "dec_9-0", 0), o("outcome", "dec_9-0", 5)]
    );
    assert!(s.list_outcomes("dec_none").await.unwrap().is_empty());
    // Several decisions in one query, in the order recorded, and only theirs.
    let other = Outcome {
        decision_id: "dec_8".into(),
        ..o("outcome", "dec_8-0", 7)
    };
    s.record_outcome(&other).await.unwrap();
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        s.outcomes_of(&ids(&["dec_8", "dec_9", "dec_none"]))
            .await
            .unwrap(),
        vec![
            o("awaiting_ack", "dec_9-0", 0),
            o("outcome", "dec_9-0", 5),
            other.clone()
        ]
    );
    assert_eq!(
        s.outcomes_of(&ids(&["dec_8"])).await.unwrap(),
        vec![other.clone()]
    );
    assert!(s.outcomes_of(&[]).await.unwrap().is_empty());
    // By position in the order recorded, past a cursor (the archive reads them so).
    let all = s.outcomes_after(0, 10).await.unwrap();
    let kinds: Vec<_> = all.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            o("awaiting_ack", "dec_9-0", 0),
            o("outcome", "dec_9-0", 5),
            other.clone()
        ]
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "{all:?}");
    assert_eq!(
        s.outcomes_after(all[0].0, 1).await.unwrap(),
        vec![all[1].clone()]
    );
    assert!(s.outcomes_after(all[2].0, 10).await.unwrap().is_empty());
}

async fn counts_per_time_bucket(s: &dyn Store) {
    // t(0) is 09:00:00 on a whole hour; buckets of 10 minutes.
    s.record_facts(&[
        fact("ci", "s1", "build.failed", 0),
        fact("ci", "s2", "build.failed", 30),
        fact("github", "s3", "push", 61),
        fact("ci", "s4", "build.failed", 600),
        fact("ci", "late", "build.failed", 3600),
    ])
    .await
    .unwrap();
    for d in [
        decision(1, "e1", "h", "acme/web", &["ci-failing", "noisy"], 10),
        decision(2, "e2", "h", "acme/web", &["ci-failing"], 620),
        decision(3, "e3", "h", "acme/web", &[], 630),
        // A decision as the engine writes it: its trace names the rules that nearly fired.
        NewDecision {
            body: serde_json::json!({"trace": [
                {"rule": "noisy", "outcome": "fired"},
                {"rule": "ci-flaky", "outcome": "near_miss"},
                {"rule": "deploy-failed", "outcome": "near_miss"},
                7
            ]}),
            ..decision(4, "e4", "h", "acme/web", &["noisy"], 640)
        },
    ] {
        s.record_decision(&d).await.unwrap();
    }
    let outcome = |kind: &str, exec: &str, at: i64, body: serde_json::Value| Outcome {
        decision_id: "dec_1".into(),
        execution: exec.into(),
        kind: kind.into(),
        recorded_at: t(at),
        body,
    };
    s.record_outcome(&outcome("awaiting_ack", "x-0", 20, serde_json::json!({})))
        .await
        .unwrap();
    s.record_outcome(&outcome(
        "outcome",
        "x-0",
        700,
        serde_json::json!({"escalated": {"channel": "pager"}}),
    ))
    .await
    .unwrap();
    s.record_outcome(&outcome(
        "outcome",
        "x-1",
        710,
        serde_json::json!({"notified": []}),
    ))
    .await
    .unwrap();
    let rows = s
        .stats(&StatsQuery {
            since: t(0),
            until: t(3600),
            bucket_seconds: 600,
        })
        .await
        .unwrap();
    let b0 = t(0).timestamp();
    let b1 = b0 + 600;
    let got: Vec<(i64, &str, &str, i64)> = rows
        .iter()
        .map(|r| (r.bucket, r.series.as_str(), r.key.as_str(), r.count))
        .collect();
    assert_eq!(
        got,
        vec![
            (b0, "outcome", "awaiting_ack", 1),
            (b0, "rule", "ci-failing", 1),
            (b0, "rule", "noisy", 1),
            (b0, "severity", "low", 1),
            (b0, "source", "ci", 2),
            (b0, "source", "github", 1),
            (b0, "type", "build.failed", 2),
            (b0, "type", "push", 1),
            (b1, "near_miss", "ci-flaky", 1),
            (b1, "near_miss", "deploy-failed", 1),
            (b1, "outcome", "escalated", 1),
            (b1, "outcome", "outcome", 1),
            (b1, "rule", "", 1),
            (b1, "rule", "ci-failing", 1),
            (b1, "rule", "noisy", 1),
            (b1, "severity", "high", 2),
            (b1, "severity", "low", 1),
            (b1, "source", "ci", 1),
            (b1, "type", "build.failed", 1),
        ]
    );
    assert!(s
        .stats(&StatsQuery {
            since: t(-7200),
            until: t(-3600),
            bucket_seconds: 60,
        })
        .await
        .unwrap()
        .is_empty());
}

async fn groups_near_misses_by_the_check_in_the_way(s: &dyn Store) {
    use serde_json::json;
    // A near miss as the engine traces it: the checks of the rule, one of which did not hold.
    let branch = |found: &str| {
        json!({"rule": "ci-failing-on-main", "outcome": "near_miss",
               "because": format!("`ci-failing-on-main` did not fire: data.branch was \"{found}\", wanted \"main\""),
               "checks": [
                   {"kind": "match", "field": "type", "wanted": ["build.failed"], "found": "build.failed", "held": true},
                   {"kind": "match", "field": "data.branch", "wanted": ["main"], "found": found, "held": false}]})
    };
    let window = |found: i64| {
        json!({"rule": "flaky", "outcome": "near_miss",
               "because": format!("`flaky` did not fire: the window (count) was {found}, wanted at least 3"),
               "checks": [
                   {"kind": "match", "field": "type", "wanted": ["build.failed"], "found": "build.failed", "held": true},
                   {"kind": "window", "op": "count", "wanted": 3, "found": found, "held": false}]})
    };
    let traced = |n: u32, at: i64, trace: serde_json::Value| NewDecision {
        body: json!({"trace": trace}),
        ..decision(n, &format!("e{n}"), "h", "acme/web", &[], at)
    };
    for d in [
        traced(1, 10, json!([branch("master"), window(2)])),
        traced(2, 20, json!([branch("master")])),
        traced(
            3,
            30,
            json!([branch("master"), {"rule": "noisy", "outcome": "fired", "checks": [
            {"kind": "match", "field": "type", "wanted": ["x"], "found": "y", "held": false}]}]),
        ),
        traced(
            4,
            40,
            json!([branch("develop"), window(2), "not a trace", {"outcome": "near_miss"}]),
        ),
        traced(5, 50, json!({"not": "a list"})),
        // Out of the range asked.
        traced(6, 7200, json!([branch("master")])),
    ] {
        s.record_decision(&d).await.unwrap();
    }
    let q = |rule: Option<&str>| NearMissQuery {
        since: t(0),
        until: t(3600),
        rule: rule.map(String::from),
        examples: 2,
    };
    let rows = s.near_misses(&q(None)).await.unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.rule.as_str(),
                r.kind.as_str(),
                r.field.as_deref(),
                r.op.as_deref(),
                r.wanted.clone(),
                r.found.clone(),
                r.count,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("ci-failing-on-main", "match", Some("data.branch"), None, json!(["main"]), json!("master"), 3),
            ("ci-failing-on-main", "match", Some("data.branch"), None, json!(["main"]), json!("develop"), 1),
            ("flaky", "window", None, Some("count"), json!(3), json!(2), 2),
        ],
        "one row per rule, check and value found; a fired rule's checks and what is not a near miss are not counted"
    );
    // The newest examples, at most two.
    let pair = |n: u32| (format!("dec_{n}"), format!("e{n}"));
    assert_eq!(rows[0].examples, vec![pair(2), pair(3)]);
    assert_eq!(rows[1].examples, vec![pair(4)]);
    assert_eq!(rows[2].examples, vec![pair(1), pair(4)]);
    assert_eq!(
        rows[0].because,
        "`ci-failing-on-main` did not fire: data.branch was \"master\", wanted \"main\""
    );
    let one = s.near_misses(&q(Some("flaky"))).await.unwrap();
    assert_eq!(one, rows[2..].to_vec(), "one rule asked for");
    assert!(s.near_misses(&q(Some("none"))).await.unwrap().is_empty());
}

async fn counts_what_the_service_level_objectives_measure(s: &dyn Store) {
    use serde_json::json;
    // Each fact is received one second after its time: f1 at t(1), f2 at t(11), …
    s.record_facts(&[
        fact("ci", "f1", "build", 0),
        fact("ci", "f2", "build", 10),
        fact("ci", "f3", "build", 20),
        fact("ci", "f5", "build", 1195),
        fact("ci", "f9", "build", 1990),
    ])
    .await
    .unwrap();
    // Verdicts of reconciliations: matched, mismatched, missed; a missed heartbeat is none.
    let verdict = |id: &str, ty: &str, kind: &str, at: i64| {
        let mut f = fact("helios/expect", id, ty, at);
        f.event.data = json!({"kind": kind});
        f
    };
    s.record_facts(&[
        verdict("r1", "helios.reconcile.matched", "reconcile", 100),
        verdict("r2", "helios.reconcile.mismatched", "reconcile", 200),
        verdict("r3", "helios.expectation.missed", "reconcile", 300),
        verdict("r4", "helios.expectation.missed", "heartbeat", 400),
        verdict("r5", "helios.reconcile.matched", "reconcile", 1500),
    ])
    .await
    .unwrap();
    let acting = |n: u32, event: &str, hash: &str, at: i64, actions: bool| NewDecision {
        body: if actions {
            json!({"actions": [{"workflow": "decision", "params": {}}]})
        } else {
            json!({"actions": []})
        },
        ..decision(n, &helios_id("ci", event), hash, "acme/web", &[], at)
    };
    for d in [
        acting(1, "f1", "h", 3, true), // decided 2 s after it was received; notified 2 s later
        acting(2, "f2", "h", 30, true), // decided after 19 s; never notified
        acting(3, "f3", "h", 22, false), // decided after 1 s; nothing to notify
        acting(4, "f3", "other", 500, true), // decided again (a replay): its event is not counted again, its workflow is, never notified
        acting(5, "f5", "h", 1196, true),    // decided at once; 4 s later, not yet late
        acting(9, "f9", "h", 2000, true),    // after the window
    ] {
        s.record_decision(&d).await.unwrap();
    }
    s.record_outcome(&Outcome {
        decision_id: "dec_1".into(),
        execution: "dec_1-0".into(),
        kind: "awaiting_ack".into(),
        recorded_at: t(5),
        body: json!({}),
    })
    .await
    .unwrap();
    s.record_outcome(&Outcome {
        decision_id: "dec_1".into(),
        execution: "dec_1-0".into(),
        kind: "outcome".into(),
        recorded_at: t(400),
        body: json!({}),
    })
    .await
    .unwrap();
    // The last 1,200 s and the last 300 s (slots of 300 s), in one query.
    let q = |decide: f64, notify: f64| SloQuery {
        until: t(1200),
        windows: vec![1200, 300],
        decide_within: decide,
        notify_within: notify,
    };
    // The last 300 s: f5 only, still within its time to be notified.
    let recent = SloCounts {
        decided: 1,
        decided_in_time: 1,
        ..Default::default()
    };
    assert_eq!(
        s.slo_counts(&q(5.0, 10.0)).await.unwrap(),
        vec![
            SloCounts {
                decided: 4,
                decided_in_time: 3,
                notified: 3,
                notified_in_time: 1,
                reconciled: 3,
                reconciled_alike: 1,
            },
            recent
        ]
    );
    // Other thresholds: every event in time; the first record of dec_1 counts, not its last;
    // dec_5 has now waited too long.
    assert_eq!(
        s.slo_counts(&q(20.0, 3.0)).await.unwrap(),
        vec![
            SloCounts {
                decided: 4,
                decided_in_time: 4,
                notified: 4,
                notified_in_time: 1,
                reconciled: 3,
                reconciled_alike: 1,
            },
            SloCounts {
                notified: 1,
                ..recent
            }
        ]
    );
}

fn schema_version(source: &str, ty: &str, version: u32, at: i64) -> SchemaVersion {
    SchemaVersion {
        source: source.into(),
        event_type: ty.into(),
        version,
        id: format!("sch_{version:024}"),
        schema: serde_json::json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}),
        registered_at: t(at) + Duration::microseconds(125),
    }
}

async fn keeps_schema_versions_and_subject_settings(s: &dyn Store) {
    assert!(s.subjects().await.unwrap().is_empty());
    assert!(s.schema_versions("ci", "build").await.unwrap().is_empty());
    let v1 = schema_version("ci", "build", 1, 0);
    assert_eq!(s.add_schema_version(&v1).await.unwrap(), Recorded::Accepted);
    let mut taken = schema_version("ci", "build", 1, 5);
    taken.id = "sch_other".into();
    assert_eq!(
        s.add_schema_version(&taken).await.unwrap(),
        Recorded::Duplicate,
        "a version number is taken once"
    );
    let v2 = schema_version("ci", "build", 2, 10);
    s.add_schema_version(&v2).await.unwrap();
    s.add_schema_version(&schema_version("ci", "deploy", 1, 10))
        .await
        .unwrap();
    assert_eq!(
        s.schema_versions("ci", "build").await.unwrap(),
        [v1.clone(), v2],
        "versions read back intact, oldest first"
    );
    assert_eq!(s.subject_settings("ci", "build").await.unwrap(), None);
    let settings = SubjectSettings {
        mode: "FULL".into(),
        policy: "quarantine".into(),
        updated_at: t(20),
    };
    s.set_subject_settings("ci", "build", &settings)
        .await
        .unwrap();
    s.set_subject_settings("gh", "push", &settings)
        .await
        .unwrap();
    let changed = SubjectSettings {
        policy: "enforce".into(),
        updated_at: t(30),
        ..settings.clone()
    };
    s.set_subject_settings("gh", "push", &changed)
        .await
        .unwrap();
    assert_eq!(
        s.subject_settings("gh", "push").await.unwrap(),
        Some(changed.clone())
    );
    // Facts that did not fit are counted per version as they are recorded, once each.
    let checked = |id: &str, version: u32, valid: bool| {
        let mut f = fact("ci", id, "build", 0);
        f.event.schema = Some(helios_events::SchemaCheck {
            id: format!("sch_{version:024}"),
            version,
            valid,
            policy: "observe".into(),
        });
        f
    };
    s.record_facts(&[
        checked("v1", 1, false),
        checked("v2a", 2, false),
        checked("v2b", 2, false),
        checked("v2b", 2, false),
        checked("ok", 2, true),
        fact("ci", "unchecked", "build", 0),
    ])
    .await
    .unwrap();
    s.record_facts(&[checked("v2a", 2, false), checked("v2c", 2, false)])
        .await
        .unwrap();
    assert_eq!(
        s.schema_violations("ci", "build").await.unwrap(),
        [(1, 1), (2, 3)],
        "duplicates are not counted"
    );
    let subjects = s.subjects().await.unwrap();
    let summary: Vec<(&str, &str, u32, u64, Option<&str>)> = subjects
        .iter()
        .map(|x| {
            (
                x.source.as_str(),
                x.event_type.as_str(),
                x.latest,
                x.latest_violations,
                x.settings.as_ref().map(|s| s.policy.as_str()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ci", "build", 2, 3, Some("quarantine")),
            ("ci", "deploy", 1, 0, None),
            ("gh", "push", 0, 0, Some("enforce")),
        ]
    );
}

async fn holds_quarantined_facts_until_released_or_dropped(s: &dyn Store) {
    let reason = serde_json::json!({"schema": {"id": "sch_1", "version": 1}, "violations": [{"pointer": "/n", "message": "not an integer"}]});
    let mut held = fact("ci", "h1", "build", 0);
    held.hold = Some(reason.clone());
    let mut dropped = fact("ci", "h2", "build", 1);
    dropped.hold = Some(reason.clone());
    let r = s
        .record_facts(&[
            held.clone(),
            fact("ci", "ok", "build", 1),
            dropped,
            held.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(
        r,
        [
            Recorded::Accepted,
            Recorded::Accepted,
            Recorded::Accepted,
            Recorded::Duplicate
        ]
    );
    let pending: Vec<String> = s
        .pending_outbox(t(1000), 10)
        .await
        .unwrap()
        .iter()
        .map(|o| o.fact().unwrap().event.id.clone())
        .collect();
    assert_eq!(pending, ["ok"], "a held fact has no outbox row");
    assert!(
        s.get_fact(&helios_id("ci", "h1")).await.unwrap().is_some(),
        "a held fact is recorded"
    );
    let listed = s.held(Some(HoldStatus::Held), None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].helios_id, helios_id("ci", "h1"));
    assert_eq!(
        (listed[0].source.as_str(), listed[0].event_type.as_str()),
        ("ci", "build")
    );
    assert_eq!(listed[0].reason, reason);
    assert_eq!(listed[0].held_at, t(1));
    assert_eq!(
        s.held(None, Some(listed[0].seq), 10).await.unwrap()[0].helios_id,
        helios_id("ci", "h2"),
        "the cursor pages"
    );

    let released = s
        .resolve_held(&helios_id("ci", "h1"), HoldStatus::Released, "alice", t(50))
        .await
        .unwrap()
        .expect("h1 was held");
    assert_eq!(released.status, HoldStatus::Released);
    assert_eq!(released.resolved_by.as_deref(), Some("alice"));
    assert_eq!(released.resolved_at, Some(t(50)));
    assert_eq!(
        s.resolve_held(&helios_id("ci", "h1"), HoldStatus::Dropped, "bob", t(51))
            .await
            .unwrap(),
        None,
        "resolved once"
    );
    s.resolve_held(&helios_id("ci", "h2"), HoldStatus::Dropped, "bob", t(52))
        .await
        .unwrap()
        .expect("h2 was held");
    assert_eq!(
        s.resolve_held(&helios_id("ci", "nope"), HoldStatus::Released, "bob", t(52))
            .await
            .unwrap(),
        None
    );
    let mut pending: Vec<String> = s
        .pending_outbox(t(1000), 10)
        .await
        .unwrap()
        .iter()
        .map(|o| o.fact().unwrap().event.id.clone())
        .collect();
    pending.sort();
    assert_eq!(
        pending,
        ["h1", "ok"],
        "released into the outbox; dropped not"
    );
    assert!(s
        .held(Some(HoldStatus::Held), None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.get_held(&helios_id("ci", "h2"))
            .await
            .unwrap()
            .unwrap()
            .status,
        HoldStatus::Dropped
    );
}

macro_rules! suite {
    ($make:expr, $($case:ident),+ $(,)?) => {{
        $(
            let store = $make(stringify!($case)).await;
            $case(&*store).await;
        )+
    }};
}

/// Every case of the suite that reads and writes rows, listed once, so that both stores
/// (and the functions' role) always run the same ones.
macro_rules! every_row_case {
    ($make:expr) => {
        suite!(
            $make,
            records_facts_once_and_reads_them_back_intact,
            same_id_from_another_source_is_another_fact,
            outbox_holds_what_is_not_yet_published,
            lists_filter_and_paginate,
            api_keys_are_found_by_hash_and_revoked,
            records_decisions_once_and_lists_them,
            concurrent_decisions_are_each_recorded_once,
            records_outcomes_once_per_kind,
            counts_per_time_bucket,
            groups_near_misses_by_the_check_in_the_way,
            counts_what_the_service_level_objectives_measure,
            keeps_schema_versions_and_subject_settings,
            holds_quarantined_facts_until_released_or_dropped
        )
    };
}

/// Every case of the suite.
macro_rules! every_case {
    ($make:expr) => {{
        every_row_case!($make);
        suite!($make, migrating_twice_applies_nothing);
    }};
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &'static str| {
        let path = dir.path().join(format!("{name}.db"));
        async move {
            let s = SqliteStore::open(&path).unwrap();
            assert!(s.migrate().await.unwrap() >= 1);
            Box::new(s) as Box<dyn Store>
        }
    };
    every_case!(make);
}

#[tokio::test]
async fn postgres_store_conforms() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let make = |name: &'static str| {
        let url = cluster.create_database(name).unwrap();
        async move {
            let s = PgStore::connect(&url, 4).unwrap();
            assert!(s.migrate().await.unwrap() >= 1);
            Box::new(s) as Box<dyn Store>
        }
    };
    every_case!(make);
}

/// A decision PostgreSQL refuses (a NUL character in a text column) fails alone: the
/// decisions grouped into the same insert with it are stored, and it is answered as invalid.
#[tokio::test]
async fn postgres_refuses_one_decision_of_a_group_alone() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let s = PgStore::connect(&cluster.create_database("refused").unwrap(), 4).unwrap();
    s.migrate().await.unwrap();
    let mut calls: Vec<NewDecision> = (0..12)
        .map(|n| decision(n, &format!("g-{n}"), "rs-g", "acme/db", &["r"], 9))
        .collect();
    calls[5].subject = Some("bad\0subject".into());
    let answers = futures_util::future::join_all(calls.iter().map(|d| s.record_decision(d))).await;
    for (n, a) in answers.iter().enumerate() {
        match n {
            5 => assert!(
                matches!(a, Err(helios_store::StoreError::Invalid(m)) if m.contains("0x00")),
                "{a:?}"
            ),
            _ => assert_eq!(a.as_ref().unwrap(), &Recorded::Accepted, "{n}"),
        }
    }
    assert!(s.get_decision("dec_4").await.unwrap().is_some());
    assert!(s.get_decision("dec_5").await.unwrap().is_none());
}

/// Counts the passwords it makes (the role logs in under trust authentication here, so the
/// value is not checked by the server; that it is asked for is).
struct CountingPassword(std::sync::Arc<std::sync::atomic::AtomicUsize>);

#[async_trait::async_trait]
impl helios_store::PasswordSource for CountingPassword {
    async fn password(&self) -> Result<String, String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok("token".into())
    }
}

/// The functions' role, as `migrate` grants it, is enough for everything the store does
/// but migrating: every case that reads and writes rows runs as that role, over connections
/// whose password is made (as IAM authentication tokens are in AWS), and migrating is
/// refused to it.
#[tokio::test]
async fn postgres_store_conforms_as_the_functions_role() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let made = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let make = |name: &'static str| {
        let url = cluster.create_database(name).unwrap();
        let made = made.clone();
        async move {
            let master = PgStore::connect(&url, 1).unwrap();
            assert!(master.migrate().await.unwrap() >= 1);
            master
                .grant_dml("helios_app", &helios_store::Login::Iam)
                .await
                .unwrap();
            let app = url.replacen("postgres://postgres@", "postgres://helios_app@", 1);
            let s = PgStore::connect_with_password(
                &app,
                4,
                std::sync::Arc::new(CountingPassword(made)),
            )
            .unwrap();
            Box::new(s) as Box<dyn Store>
        }
    };
    every_row_case!(make);
    let role = make("migrating_as_the_role").await;
    let refused = role.migrate().await.unwrap_err().to_string();
    assert!(
        refused.contains("permission denied"),
        "the functions' role could migrate, or failed otherwise: {refused}"
    );
    assert!(
        made.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "no password was made for a connection"
    );
}

/// The functions' role reads and writes rows and cannot change the schema; granting is
/// idempotent (migrate runs it on every deploy) and takes only a plain role name.
#[tokio::test]
async fn the_functions_role_cannot_change_the_schema() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("grants").unwrap();
    let master = PgStore::connect(&url, 1).unwrap();
    master.migrate().await.unwrap();
    master
        .grant_dml("helios_app", &helios_store::Login::Iam)
        .await
        .unwrap();
    master
        .grant_dml("helios_app", &helios_store::Login::Iam)
        .await
        .unwrap();
    for bad in ["helios_app; DROP TABLE facts", "Helios", "1app", ""] {
        let e = master
            .grant_dml(bad, &helios_store::Login::Iam)
            .await
            .unwrap_err();
        assert!(
            matches!(e, helios_store::StoreError::Invalid(_)),
            "{bad:?}: {e}"
        );
    }

    // For RDS Proxy the role logs in with a password, which is stored as a SCRAM verifier
    // (the statement that sets it carries only the verifier, so the DDL log never holds it).
    master
        .grant_dml(
            "helios_app",
            &helios_store::Login::Password("s3cret'pw".into()),
        )
        .await
        .unwrap();
    let (su, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let stored: String = su
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'helios_app'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains("s3cret"));
    master
        .grant_dml("helios_app", &helios_store::Login::Iam)
        .await
        .unwrap();

    let app = url.replacen("postgres://postgres@", "postgres://helios_app@", 1);
    let (client, connection) = tokio_postgres::connect(&app, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("DELETE FROM outbox WHERE false; SELECT count(*) FROM facts")
        .await
        .unwrap();
    for ddl in [
        "CREATE TABLE sneaky (x int)",
        "DROP TABLE facts",
        "ALTER TABLE facts ADD COLUMN sneaky int",
        "TRUNCATE facts",
        "CREATE ROLE other LOGIN",
    ] {
        let e = client.batch_execute(ddl).await.unwrap_err();
        assert_eq!(
            e.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{ddl}: {e}"
        );
    }
}

/// Migration 6 drops the unique index on `(source, source_id)`, which `helios_id` (its hash)
/// already makes unique: had the constraint another name, `DROP CONSTRAINT IF EXISTS` would
/// drop nothing, silently.
#[tokio::test]
async fn postgres_facts_are_unique_by_helios_id_only() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("unique_by_id").unwrap();
    let s = PgStore::connect(&url, 2).unwrap();
    s.migrate().await.unwrap();
    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let indexes: Vec<String> = c
        .query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'facts' ORDER BY indexname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        indexes,
        [
            "facts_by_source",
            "facts_by_time",
            "facts_by_type",
            "facts_helios_id_key",
            "facts_pkey"
        ]
    );
    let again = s
        .record_facts(&[fact("a", "1", "x", 0), fact("a", "1", "x", 0)])
        .await
        .unwrap();
    assert_eq!(again, [Recorded::Accepted, Recorded::Duplicate]);
}
