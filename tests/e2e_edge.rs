//! The HTTP edge of `helios dev` against what real clients send and what an attacker tries:
//! each test reproduces a finding of the outside-in review (issue 13) on a real process.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

fn url_host(dev: &Dev) -> String {
    dev.url.trim_start_matches("http://").to_string()
}

/// Sends raw bytes on a new connection and reads until the server closes it or `wait`
/// passes; returns what was read and whether the server closed the connection.
fn raw_exchange(dev: &Dev, bytes: &[u8], wait: Duration) -> (String, bool) {
    let mut s = TcpStream::connect(url_host(dev)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false, // timed out, still open
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

async fn healthy(dev: &Dev) {
    let r = client()
        .get(format!("{}/healthz", dev.url))
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(r.status(), 200);
}

/// The router refuses a target that is not valid percent-encoded UTF-8 before any handler
/// reads it (issue 15); it used to be read leniently, and before that the decoder sliced
/// inside the character and the connection dropped.
#[tokio::test]
async fn a_query_string_that_splits_a_character_is_a_400_problem_not_a_dropped_connection() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    // `%a` then the two bytes of `é`, raw.
    let req = format!(
        "GET /v1/events?source=%a\u{e9} HTTP/1.1\r\nHost: x\r\nx-api-key: {API_KEY}\r\nConnection: close\r\n\r\n"
    );
    let (answer, _) = raw_exchange(&dev, req.as_bytes(), Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("invalid-request-target"), "{answer}");
    // Valid percent-encoded UTF-8, and raw UTF-8, are read.
    for q in ["source=caf%C3%A9", "source=caf\u{e9}"] {
        let req = format!(
            "GET /v1/events?{q} HTTP/1.1\r\nHost: x\r\nx-api-key: {API_KEY}\r\nConnection: close\r\n\r\n"
        );
        let (answer, _) = raw_exchange(&dev, req.as_bytes(), Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 200"), "{q}: {answer}");
        assert!(answer.contains("\"events\":[]"), "{answer}");
    }
    healthy(&dev).await;
}

#[tokio::test]
async fn times_outside_years_1_to_9999_are_refused_and_a_bad_stats_range_is_a_400() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    for t in ["0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"] {
        let body =
            json!({"id": format!("t-{t}"), "source": "probe", "type": "t", "time": t, "data": {}});
        let (status, _, problem) = post_json(&dev, API_KEY, body.to_string().into_bytes()).await;
        assert_eq!(status, 400, "{t}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("`time`"),
            "{problem}"
        );
    }
    assert!(list_all(&dev).await.is_empty(), "nothing was stored");
    let (status, problem) = get(&dev, "/v1/stats?until=0000-01-01T00:00:00Z", API_KEY).await;
    assert_eq!(status, 400, "a bad range is the client's: {problem}");
    // Near the earliest time there is: the default `since` (a day before) is clamped to
    // 0001-01-01, not a time no store can hold (503).
    let (status, stats) = get(&dev, "/v1/stats?until=0001-01-01T12:00:00Z", API_KEY).await;
    assert_eq!(status, 200, "{stats}");
}

#[tokio::test]
async fn an_empty_cloudevents_batch_is_answered_200_with_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let r = client()
        .post(format!("{}/v1/hooks/cloudevents", dev.url))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/cloudevents-batch+json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"events": []}));
    healthy(&dev).await;
}

#[tokio::test]
async fn the_cloudevents_handshake_takes_the_key_as_access_token_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let options = |query: String| {
        client()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/hooks/cloudevents{query}", dev.url),
            )
            .header("WebHook-Request-Origin", "sender.example.com")
            .send()
    };
    for query in [
        format!("?access_token={API_KEY}"),
        format!("?token={API_KEY}"),
    ] {
        let r = options(query.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "{query}");
        assert_eq!(
            r.headers()["webhook-allowed-origin"],
            "sender.example.com",
            "{query}"
        );
    }
    // Without a credential, or with a wrong one, the handshake is refused.
    assert_eq!(options(String::new()).await.unwrap().status(), 401);
    assert_eq!(
        options("?access_token=hk_not_a_key_of_this_server".into())
            .await
            .unwrap()
            .status(),
        401
    );
    // The delivery may use it too; the archive keeps no credential from the query.
    let r = client()
        .post(format!(
            "{}/v1/hooks/cloudevents?access_token={API_KEY}&sig=s3cret&keep=1",
            dev.url
        ))
        .header("content-type", "application/cloudevents+json")
        .body(
            json!({"specversion": "1.0", "id": "q-1", "source": "probe", "type": "t"}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let answer: Value = r.json().await.unwrap();
    let (_, got) = get(
        &dev,
        &format!("/v1/events/{}", answer["events"][0]["id"].as_str().unwrap()),
        API_KEY,
    )
    .await;
    let key = got["raw"]["key"].as_str().unwrap();
    let raw = std::fs::read_to_string(dir.path().join("blobs").join(key)).unwrap();
    assert!(!raw.contains(API_KEY) && !raw.contains("s3cret"), "{raw}");
    assert!(raw.contains("keep=1"), "{raw}");
}

#[tokio::test]
async fn bad_signatures_do_not_spend_the_rate_limit_of_correctly_signed_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(
        dir.path(),
        None,
        &["--rate-limit".as_ref(), "5".as_ref()],
        &[],
    );
    let body = json!({"zen": "Keep it logically awesome.", "hook_id": 1}).to_string();
    let deliver = |signature: String, n: usize| {
        client()
            .post(format!("{}/v1/hooks/github", dev.url))
            .header("content-type", "application/json")
            .header("x-github-event", "ping")
            .header("x-github-delivery", format!("d-{n}"))
            .header("x-hub-signature-256", signature)
            .body(body.clone())
            .send()
    };
    let mut statuses = Vec::new();
    for n in 0..40 {
        statuses.push(
            deliver("sha256=00".into(), n)
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(statuses[..5].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "unauthenticated failures are limited per client address: {statuses:?}"
    );
    let good =
        helios_events::github_signature(secrets().github.as_deref().unwrap(), body.as_bytes());
    let r = deliver(good, 1000).await.unwrap();
    assert_eq!(
        r.status(),
        202,
        "a correctly signed delivery is not charged for the failures"
    );
}

#[tokio::test]
async fn slow_headers_idle_connections_and_slow_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(
        dir.path(),
        None,
        &[
            "--header-timeout".as_ref(),
            "1".as_ref(),
            "--body-timeout".as_ref(),
            "1".as_ref(),
        ],
        &[],
    );
    // Headers that never end.
    let (answer, closed) = raw_exchange(
        &dev,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(5),
    );
    assert!(
        closed,
        "a connection with unfinished headers is closed: {answer:?}"
    );
    // An idle keep-alive connection, after one answered request.
    let (answer, closed) = raw_exchange(
        &dev,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle connection is closed: {answer:?}");
    // A body that never comes.
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nx-api-key: {API_KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"id\":"
    );
    let (answer, closed) = raw_exchange(&dev, head.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");
    assert!(closed, "{answer}");
    healthy(&dev).await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(
        dir.path(),
        None,
        &["--max-connections".as_ref(), "2".as_ref()],
        &[],
    );
    let first = TcpStream::connect(url_host(&dev)).unwrap();
    let _second = TcpStream::connect(url_host(&dev)).unwrap();
    // Both slots are taken by silent connections: a third request is not served yet.
    let waiting = tokio::spawn({
        let url = dev.url.clone();
        async move {
            let started = Instant::now();
            let r = client().get(format!("{url}/healthz")).send().await;
            (r.map(|r| r.status().as_u16()), started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served over the cap");
    drop(first);
    let (status, _) = waiting.await.unwrap();
    assert_eq!(status.unwrap(), 200, "served once a slot is free");
}

#[tokio::test]
async fn a_credential_speaks_only_for_its_own_sources() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let token = secrets().eventgrid.unwrap();
    let eventgrid = |events: Value| {
        client()
            .post(format!("{}/v1/hooks/eventgrid?token={token}", dev.url))
            .header("content-type", "application/json")
            .body(events.to_string())
            .send()
    };
    let eg = |topic: &str, id: &str, event_type: &str| {
        json!([{"id": id, "topic": topic, "subject": "s", "eventType": event_type,
            "eventTime": "2026-12-01T00:00:00Z", "data": {}, "dataVersion": "1"}])
    };
    // Holding only the Event Grid token: `github`, a native source and `helios/expect` are
    // the publisher's claims, recorded under `eventgrid:`.
    for (topic, event_type) in [
        ("github", "github.push"),
        ("ci/buildkite", "ci.build.finished"),
        ("helios/expect", "helios.expectation.missed"),
    ] {
        let r = eventgrid(eg(topic, "run-1", event_type)).await.unwrap();
        assert_eq!(r.status(), 202, "{topic}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["events"][0]["source"], format!("eventgrid:{topic}"));
    }
    // So the real native event is not taken for a duplicate.
    let native = json!({"id": "run-1", "source": "ci/buildkite", "type": "ci.build.finished",
        "time": "2026-12-01T00:00:00Z", "data": {}});
    let (status, _, answer) = post_json(&dev, API_KEY, native.to_string().into_bytes()).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["events"][0]["status"], "accepted");
    // An Azure topic is the hook's own.
    let r = eventgrid(eg("/subscriptions/x/resourceGroups/rg", "e-1", "t"))
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["events"][0]["source"],
        "/subscriptions/x/resourceGroups/rg"
    );
    // No API key, not even the admin's, may speak for Helios.
    let event = |source: &str| {
        json!({"id": "x-1", "source": source, "type": "t",
            "time": "2026-12-01T00:00:00Z", "data": {}})
        .to_string()
        .into_bytes()
    };
    let (status, _, problem) = post_json(&dev, API_KEY, event("helios/expect")).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"], "urn:helios:problem:source-not-allowed");
    // A sender's key may not speak for a hook's sources, unless its list names them.
    let sender = create_key(dir.path(), "sender", "ingest", None);
    let relay = create_key(dir.path(), "relay", "ingest", Some("github"));
    for source in ["github", "gcp.pubsub/p/s", "/subscriptions/x"] {
        let (status, _, problem) = post_json(&dev, &sender, event(source)).await;
        assert_eq!(status, 403, "{source}: {problem}");
        assert_eq!(problem["type"], "urn:helios:problem:source-not-allowed");
        assert!(
            problem["detail"].as_str().unwrap().contains("hook"),
            "{problem}"
        );
    }
    let (status, _, answer) = post_json(&dev, &relay, event("github")).await;
    assert_eq!(status, 202, "a key whose list names github: {answer}");
    // The operator's admin key may (a backfill, a relay that verified GitHub itself).
    let backfill = json!({"id": "x-2", "source": "gcp.pubsub/p/s", "type": "t",
        "time": "2026-12-01T00:00:00Z", "data": {}});
    let (status, _, answer) = post_json(&dev, API_KEY, backfill.to_string().into_bytes()).await;
    assert_eq!(status, 202, "the admin key: {answer}");
    let events = list_all(&dev).await;
    assert!(
        events.iter().all(|e| e["source"] != "helios/expect"),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_same_id_with_another_body_is_a_duplicate_marked_as_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let event = |n: u32| {
        json!({"id": "c-1", "source": "app", "type": "t", "time": "2026-12-01T00:00:00Z",
            "data": {"n": n}})
        .to_string()
        .into_bytes()
    };
    let (status, _, first) = post_json(&dev, API_KEY, event(1)).await;
    assert_eq!(
        (status, &first["events"][0]["status"]),
        (202, &json!("accepted"))
    );
    let (status, _, again) = post_json(&dev, API_KEY, event(1)).await;
    assert_eq!(
        (status, &again["events"][0]["status"]),
        (200, &json!("duplicate"))
    );
    let (status, _, other) = post_json(&dev, API_KEY, event(2)).await;
    assert_eq!(status, 200, "{other}");
    assert_eq!(other["events"][0]["status"], "duplicate", "{other}");
    assert_eq!(other["events"][0]["conflict"], true, "{other}");
    assert!(again["events"][0].get("conflict").is_none(), "{again}");
    let (_, got) = get(
        &dev,
        &format!("/v1/events/{}", first["events"][0]["id"].as_str().unwrap()),
        API_KEY,
    )
    .await;
    assert_eq!(got["event"]["data"]["n"], 1, "the first one stands");
}

#[tokio::test]
async fn a_known_route_asked_with_another_method_is_a_405_with_allow() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    for (method, path, allow) in [
        ("DELETE", "/v1/events", "GET, HEAD, POST"),
        ("POST", "/v1/decisions", "GET, HEAD"),
        ("PUT", "/v1/stats", "GET, HEAD"),
        ("GET", "/v1/hooks/github", "POST"),
        ("GET", "/v1/hooks/eventgrid", "POST, OPTIONS"),
        ("GET", "/v1/decisions/dec_1/ack", "POST"),
    ] {
        let r = client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", dev.url),
            )
            .header("x-api-key", API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
    }
    let r = client()
        .get(format!("{}/v1/nothing", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn the_data_folder_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = Dev::start(&data, None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = json!({"id": "p-1", "source": "app", "type": "t", "time": "2026-12-01T00:00:00Z", "data": {}});
    let (status, _, _) = rt.block_on(post_json(&dev, API_KEY, body.to_string().into_bytes()));
    assert_eq!(status, 202);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data folder");
    let mut stack = vec![data.clone()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                assert_eq!(mode(&p) & 0o077, 0, "{} is private", p.display());
                stack.push(p);
            } else {
                assert_eq!(mode(&p) & 0o077, 0, "{} is private", p.display());
                files += 1;
            }
        }
    }
    assert!(
        files >= 3,
        "the store, the secrets and a blob were looked at ({files})"
    );
}

#[tokio::test]
async fn a_github_body_replayed_under_a_new_delivery_id_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let body =
        json!({"action": "opened", "issue": {"number": 1, "updated_at": "2026-12-01T00:00:00Z"},
        "repository": {"full_name": "acme/web"}})
        .to_string();
    let signature =
        helios_events::github_signature(secrets().github.as_deref().unwrap(), body.as_bytes());
    let deliver = |delivery: &str| {
        client()
            .post(format!("{}/v1/hooks/github", dev.url))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature.clone())
            .body(body.clone())
            .send()
    };
    let first: Value = deliver("d-1").await.unwrap().json().await.unwrap();
    assert_eq!(first["events"][0]["status"], "accepted");
    // GitHub's own redelivery keeps its id: a plain duplicate.
    let again: Value = deliver("d-1").await.unwrap().json().await.unwrap();
    assert_eq!(again["events"][0]["status"], "duplicate");
    assert!(again["events"][0].get("replay_of").is_none(), "{again}");
    // A captured delivery replayed with a fresh id passes the signature, and is caught here.
    let r = deliver("d-2").await.unwrap();
    assert_eq!(r.status(), 200);
    let replay: Value = r.json().await.unwrap();
    assert_eq!(replay["events"][0]["status"], "duplicate", "{replay}");
    assert_eq!(
        replay["events"][0]["replay_of"], first["events"][0]["id"],
        "{replay}"
    );
    assert_eq!(list_all(&dev).await.len(), 1, "recorded once");
}

#[tokio::test]
async fn read_routes_are_rate_limited_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(
        dir.path(),
        None,
        &["--rate-limit".as_ref(), "3".as_ref()],
        &[],
    );
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, _) = get(&dev, "/v1/events", API_KEY).await;
        statuses.push(status);
    }
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let health: Value = client()
        .get(format!("{}/healthz", dev.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["executions"],
        json!({"running": 0, "parked": 0, "refused_at_cap": 0})
    );
}

#[tokio::test]
async fn an_unreadable_outbox_row_left_by_a_crash_is_parked_and_the_others_are_relayed() {
    let dir = tempfile::tempdir().unwrap();
    let start = || Dev::start_deciding(dir.path(), &[]);
    let decisions_of = |dev: &Dev| {
        let url = dev.url.clone();
        async move {
            let page: Value = client()
                .get(format!("{url}/v1/decisions?limit=1000"))
                .header("x-api-key", API_KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["decisions"].as_array().unwrap().clone()
        }
    };
    // GIVEN three failed deploys, acknowledged and decided
    let dev = start();
    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<Value> = (1..=3)
        .map(|n| {
            json!({"id": format!("dep-{n}"), "source": "deployer", "type": "deploy.finished",
                "time": now, "subject": format!("svc-{n}"),
                "data": {"environment": "staging", "status": "failed"}})
        })
        .collect();
    let (status, _, answer) = post_json(
        &dev,
        API_KEY,
        json!({"events": events}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let ids: Vec<String> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while decisions_of(&dev).await.len() < 3 {
        assert!(Instant::now() < deadline, "the three were not decided");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // WHEN the process dies with all three still in its outbox, the second one written by a
    // faulty build (a time in year 0, which no build can read back)
    dev.kill();
    {
        let db = rusqlite::Connection::open(dir.path().join("helios.db")).unwrap();
        db.execute(
            "INSERT OR IGNORE INTO outbox (helios_id, seq, created_at) SELECT helios_id, seq, received_at FROM facts",
            [],
        )
        .unwrap();
        db.execute(
            "UPDATE facts SET event = json_set(event, '$.time', '-0001-12-31T23:00:00Z') WHERE helios_id = ?1",
            [&ids[1]],
        )
        .unwrap();
    }
    let dev = start();
    // THEN the relay parks the unreadable row and publishes the others again, which are
    // decided once all the same, and the outbox is empty
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (outbox, parked): (i64, Vec<String>) = {
            let db = rusqlite::Connection::open(dir.path().join("helios.db")).unwrap();
            let outbox = db
                .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
                .unwrap();
            let mut st = db.prepare("SELECT helios_id FROM outbox_parked").unwrap();
            let parked = st
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (outbox, parked)
        };
        if outbox == 0 && parked == [ids[1].clone()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "outbox {outbox}, parked {parked:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let decisions = decisions_of(&dev).await;
    let mut per_event: Vec<&str> = decisions
        .iter()
        .map(|d| d["event"].as_str().unwrap())
        .collect();
    per_event.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(per_event, want, "each decided once");
    // And the process goes on taking events.
    let later = json!({"id": "dep-4", "source": "deployer", "type": "deploy.finished",
        "time": now, "subject": "svc-4", "data": {"environment": "staging", "status": "failed"}});
    let (status, _, _) = post_json(&dev, API_KEY, later.to_string().into_bytes()).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn a_key_bound_to_some_sources_speaks_for_those_only() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_helios"))
        .args([
            "keys",
            "create",
            "--name",
            "ci",
            "--role",
            "ingest",
            "--sources",
            "ci/*, builds/nightly",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["sources"], json!(["ci/*", "builds/nightly"]));
    let key = created["key"].as_str().unwrap();
    let event = |source: &str| {
        json!({"id": "k-1", "source": source, "type": "t", "time": "2026-12-01T00:00:00Z", "data": {}})
            .to_string()
            .into_bytes()
    };
    for source in ["ci/buildkite", "builds/nightly"] {
        let (status, _, answer) = post_json(&dev, key, event(source)).await;
        assert_eq!(status, 202, "{source}: {answer}");
    }
    for source in ["deploy/prod", "builds/nightly-2", "cix"] {
        let (status, _, problem) = post_json(&dev, key, event(source)).await;
        assert_eq!(status, 403, "{source}: {problem}");
        assert_eq!(problem["type"], "urn:helios:problem:source-not-allowed");
    }
    // A key without a list speaks for every source no hook and not Helios owns.
    let (status, _, _) = post_json(&dev, API_KEY, event("deploy/prod")).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn the_ack_route_limits_unauthenticated_tries_and_each_key_like_the_others() {
    let dir = tempfile::tempdir().unwrap();
    // Workflows on (the ack route is served only then).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dev = Dev::start_with(
        dir.path(),
        None,
        &[
            "--rate-limit".as_ref(),
            "3".as_ref(),
            "--statemachines".as_ref(),
            root.join("statemachines").as_os_str(),
        ],
        &[],
    );
    let ack = |key: Option<&'static str>| {
        let mut req = client().post(format!("{}/v1/decisions/no-such-decision/ack", dev.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // Without a key: 401, until the client address has tried too often.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(ack(None).await);
    }
    assert!(statuses[..5].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "unauthenticated acks are limited per client address: {statuses:?}"
    );
    // With the admin key: an unknown decision is a 404, within the key's rate.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(ack(Some(API_KEY)).await);
    }
    assert_eq!(statuses[..3], [404, 404, 404], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}
