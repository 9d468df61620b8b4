//! End to end on `helios dev`, as a user runs it: a real process, events in through HTTP,
//! read back through HTTP. Every sample of `events/`, duplicates, limits, roles, rate limits,
//! a SIGKILL right after the last acknowledgement, the PostgreSQL store, and three CI failures
//! on main that a decision turns into a signed webhook post.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use helios_events::sample::{Credentials, Sample};
use helios_events::Normalised;
use serde_json::{json, Value};
use support::*;

fn samples() -> Vec<(String, Sample)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p: PathBuf = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let name = p.strip_prefix(&root).unwrap().display().to_string();
                out.push((
                    name,
                    Sample::parse(&std::fs::read_to_string(&p).unwrap()).unwrap(),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// What the normaliser makes of a sample, for comparing data read back.
fn expected_events(sample: &Sample) -> Vec<helios_events::Event> {
    let r = sample
        .prepare(&Credentials {
            api_key: Some(API_KEY.into()),
            secrets: secrets(),
        })
        .unwrap();
    let format = r
        .path
        .strip_prefix("/v1/hooks/")
        .map(|s| helios_events::Format::from_hook(s).unwrap())
        .unwrap_or(helios_events::Format::Native);
    let mut headers = http::HeaderMap::new();
    for (k, v) in &r.headers {
        headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let s = secrets();
    let limits = helios_events::Limits::default();
    let out = helios_events::normalise(
        format,
        &helios_events::Request {
            method: &http::Method::POST,
            headers: &headers,
            query: r.query.as_deref(),
            body: &r.body,
        },
        &helios_events::Context {
            received_at: chrono::Utc::now(),
            secrets: &s,
            limits: &limits,
        },
    )
    .unwrap();
    match out {
        Normalised::Events(e) => e,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_is_accepted_once_read_back_intact_or_refused_without_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let mut accepted_total = 0;
    for (name, sample) in samples() {
        let before = list_all(&dev).await.len();
        let want = sample.expect["status"].as_u64().unwrap() as u16;
        let (status, headers, body) = send_sample(&dev, &sample).await;
        assert_eq!(status, want, "{name}: {body}");
        match want {
            202 => {
                let items = body["events"].as_array().unwrap();
                assert_eq!(
                    items.len() as u64,
                    sample.expect["events"].as_u64().unwrap(),
                    "{name}"
                );
                assert!(
                    items.iter().all(|i| i["status"] == "accepted"),
                    "{name}: {body}"
                );
                let (again, _, dup) = send_sample(&dev, &sample).await;
                assert_eq!(again, 200, "{name}: sent twice is answered 200: {dup}");
                assert!(
                    dup["events"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|i| i["status"] == "duplicate"),
                    "{name}: {dup}"
                );
                assert_eq!(
                    dup["events"][0]["id"], items[0]["id"],
                    "{name}: a duplicate has the same Helios id"
                );
                for (item, expected) in items.iter().zip(expected_events(&sample)) {
                    let (s, got) = get(
                        &dev,
                        &format!("/v1/events/{}", item["id"].as_str().unwrap()),
                        API_KEY,
                    )
                    .await;
                    assert_eq!(s, 200, "{name}");
                    assert_eq!(
                        got["event"]["data"],
                        serde_json::to_value(&expected.data).unwrap(),
                        "{name}: data intact"
                    );
                    assert_eq!(got["event"]["id"], expected.id, "{name}");
                    assert_eq!(got["event"]["type"], expected.event_type, "{name}");
                    assert!(
                        got["raw"].get("location").is_none(),
                        "{name}: the server's own path is not shown: {got}"
                    );
                    let key = got["raw"]["key"].as_str().unwrap();
                    let raw: Value = serde_json::from_str(
                        &std::fs::read_to_string(dir.path().join("blobs").join(key)).unwrap(),
                    )
                    .unwrap();
                    assert!(
                        raw["body"].is_string(),
                        "{name}: the raw request is archived"
                    );
                    assert!(
                        raw["headers"].get("x-api-key").is_none(),
                        "{name}: credentials are not archived"
                    );
                }
                accepted_total += items.len();
                assert_eq!(
                    list_all(&dev).await.len(),
                    before + items.len(),
                    "{name}: stored once"
                );
            }
            200 => {
                if let Some(code) = sample.expect.get("validation_response") {
                    assert_eq!(body["validationResponse"], *code, "{name}");
                }
                if let Some(origin) = sample.expect.get("allowed_origin") {
                    assert_eq!(
                        headers["webhook-allowed-origin"],
                        origin.as_str().unwrap(),
                        "{name}"
                    );
                }
                assert_eq!(
                    list_all(&dev).await.len(),
                    before,
                    "{name}: a handshake stores nothing"
                );
            }
            _ => {
                assert_eq!(
                    headers["content-type"], "application/problem+json",
                    "{name}"
                );
                assert_eq!(
                    body["type"],
                    format!(
                        "urn:helios:problem:{}",
                        sample.expect["problem"].as_str().unwrap()
                    ),
                    "{name}: {body}"
                );
                assert_eq!(body["status"], want, "{name}");
                let detail = sample.expect["detail_contains"].as_str().unwrap();
                assert!(
                    body["detail"].as_str().unwrap().contains(detail),
                    "{name}: {body} should mention {detail}"
                );
                assert_eq!(
                    list_all(&dev).await.len(),
                    before,
                    "{name}: a refused request leaves no trace"
                );
            }
        }
    }
    assert!(
        accepted_total >= 15,
        "the valid samples hold at least 15 events, got {accepted_total}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_roles_and_rate_limits_answer_with_specific_problems() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let event = |id: &str| json!({"id": id, "source": "app", "type": "t", "time": "2026-11-20T09:00:00Z", "data": {}});

    // Over 1 MiB.
    let big = json!({"id": "big", "source": "app", "type": "t", "time": "2026-11-20T09:00:00Z", "data": "x".repeat(1024 * 1024)});
    let (s, _, body) = post_json(&dev, API_KEY, serde_json::to_vec(&big).unwrap()).await;
    assert_eq!(s, 413, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("1048576"),
        "{body}"
    );

    // Keys made with `helios keys` while the server runs.
    let make_key = |role: &str, rate: Option<u32>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_helios"));
        cmd.args([
            "keys",
            "create",
            "--name",
            role,
            "--role",
            role,
            "--json",
            "--data-dir",
        ])
        .arg(dir.path());
        if let Some(r) = rate {
            cmd.args(["--rate", &r.to_string()]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            v["key"].as_str().unwrap().to_string(),
        )
    };
    let (_, reader) = make_key("read", None);
    let (ingest_id, ingester) = make_key("ingest", Some(2));

    let (s, _, body) = post_json(&dev, &reader, serde_json::to_vec(&event("r1")).unwrap()).await;
    assert_eq!(s, 403, "a read key cannot send: {body}");
    let (s, body) = get(&dev, "/v1/events", &ingester).await;
    assert_eq!(s, 403, "an ingest key cannot read: {body}");
    let (s, body) = get(&dev, "/v1/events", &reader).await;
    assert_eq!(s, 200, "{body}");
    let (s, _, body) = post_json(
        &dev,
        "hk_not_a_key_at_all_000000",
        serde_json::to_vec(&event("x")).unwrap(),
    )
    .await;
    assert_eq!(s, 401, "{body}");

    // Rate 2/s: a burst of two, then 429 with Retry-After.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..4 {
        let (s, h, _) = post_json(
            &dev,
            &ingester,
            serde_json::to_vec(&event(&format!("rl{i}"))).unwrap(),
        )
        .await;
        statuses.push(s);
        if s == 429 {
            retry_after = h
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
        }
    }
    assert_eq!(&statuses[..2], &[202, 202], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("1"));

    // Revoked keys stop working (within the auth cache's two seconds).
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["keys", "revoke", &ingest_id, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, _, body) = post_json(
        &dev,
        &ingester,
        serde_json::to_vec(&event("after-revoke")).unwrap(),
    )
    .await;
    assert_eq!(s, 401, "{body}");

    // The query API validates its parameters.
    for (path, field) in [
        ("/v1/events?limit=1001", "limit"),
        ("/v1/events?limit=0", "limit"),
        ("/v1/events?since=yesterday", "since"),
        ("/v1/events?cursor=abc", "cursor"),
        ("/v1/stats?bucket=1w", "bucket"),
        ("/v1/stats?bucket=1s", "at most 1000"),
        (
            "/v1/stats?since=2026-11-20T10:00:00Z&until=2026-11-20T09:00:00Z",
            "before `until`",
        ),
        ("/v1/executions?limit=0", "limit"),
    ] {
        let (s, body) = get(&dev, path, API_KEY).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(field),
            "{path}: {body}"
        );
    }
    let (s, body) = get(&dev, "/v1/events/evt_nope", API_KEY).await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = get(&dev, "/v1/executions/nope", API_KEY).await;
    assert_eq!(s, 404, "{body}");
    // A day before `until`, in hours: 10:00 of the day before to 10:30, 25 buckets.
    let (s, body) = get(&dev, "/v1/stats?until=2026-11-20T10:30:00Z", API_KEY).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["buckets"].as_array().unwrap().len(), 25, "{body}");
    assert_eq!(
        body["buckets"][0]["start"], "2026-11-19T10:00:00Z",
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_and_cursor_pagination_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let events: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("p{i}"), "source": if i % 3 == 0 { "ci" } else { "app" }, "type": if i % 2 == 0 { "even" } else { "odd" },
                         "time": format!("2026-11-20T09:{:02}:00Z", i), "data": {"i": i}}))
        .collect();
    let (s, _, body) = post_json(
        &dev,
        API_KEY,
        serde_json::to_vec(&json!({"events": events})).unwrap(),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    let mut ids = Vec::new();
    let mut path = "/v1/events?limit=7".to_string();
    loop {
        let (_, page) = get(&dev, &path, API_KEY).await;
        ids.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(c) => path = format!("/v1/events?limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(ids, (0..30).map(|i| format!("p{i}")).collect::<Vec<_>>());
    let (_, ci) = get(&dev, "/v1/events?source=ci&type=even", API_KEY).await;
    let got: Vec<_> = ci["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [0, 6, 12, 18, 24]);
    let (_, window) = get(
        &dev,
        "/v1/events?since=2026-11-20T09:10:00Z&until=2026-11-20T10:13:00%2B01:00",
        API_KEY,
    )
    .await;
    let got: Vec<_> = window["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        got,
        [10, 11, 12],
        "since inclusive, until exclusive, offsets honoured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_right_after_the_last_acknowledgement_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), None);
    let ids: Vec<String> = (0..500).map(|i| format!("kill-{i}")).collect();
    let mut tasks = Vec::new();
    for chunk in ids.chunks(63) {
        let chunk = chunk.to_vec();
        let url = dev.url.clone();
        tasks.push(tokio::spawn(async move {
            let c = client();
            for id in chunk {
                let body = json!({"id": id, "source": "burst", "type": "t", "time": "2026-11-20T09:00:00Z", "data": {"id": id}});
                let r = c.post(format!("{url}/v1/events")).header("x-api-key", API_KEY).json(&body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 202);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    dev.kill(); // SIGKILL, at once after the last 202.

    let dev = Dev::start(dir.path(), None);
    let listed = list_all(&dev).await;
    let mut got: Vec<String> = listed
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got.len(), 500, "all 500 listed, none twice");
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);

    // Whatever the kill left unpublished, the relay publishes after the restart.
    let services = helios_local::LocalServices::open(
        &dir.path().join("local.db"),
        std::sync::Arc::new(helios_ports::SystemClock),
    )
    .unwrap();
    let store = helios_store::SqliteStore::open(&dir.path().join("helios.db")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pending = helios_store::Outbox::pending_outbox(
            &store,
            chrono::Utc::now() + chrono::Duration::days(1),
            1000,
        )
        .await
        .unwrap();
        let (visible, inflight) = helios_ports::Queue::depth(&services, "decide")
            .await
            .unwrap();
        if pending.is_empty() {
            assert!(
                visible + inflight >= 500,
                "every fact reached the decide queue at least once: {visible}+{inflight}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox was not drained: {} left",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn helios_dev_runs_on_postgresql_too() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("e2e").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), Some(&url));
    let (_, sample) = samples()
        .into_iter()
        .find(|(n, _)| n == "native/valid/batch.json")
        .unwrap();
    let (s, _, body) = send_sample(&dev, &sample).await;
    assert_eq!(s, 202, "{body}");
    let (s, _, _) = send_sample(&dev, &sample).await;
    assert_eq!(s, 200);
    let listed = list_all(&dev).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2]["data"]["unicode"], "zoë ✓");
    assert_eq!(listed[2]["time"], "2026-11-20T09:26:41.250Z");
}

/// The decision plane on `helios dev`: three failed CI runs on main within minutes give a
/// decision of `ci-failing-on-main`, whose `decision` workflow posts a signed Slack-compatible
/// message to the configured channel and records its outcome.
#[tokio::test]
async fn decisions_notify_a_signed_webhook_and_wait_for_an_acknowledgement() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let hook = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    let sig = headers
                        .get("x-helios-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    seen.lock()
                        .unwrap()
                        .push((sig, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                    "ok"
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    // The starter rules, with a heartbeat period of seconds rather than a minute.
    let rules = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(root.join("rules")).unwrap().flatten() {
        if f.path().is_file() {
            let text = std::fs::read_to_string(f.path()).unwrap();
            let text = text
                .replace("every: 1m", "every: 2s")
                .replace("grace: 30s", "grace: 1s")
                .replace("repeat: 3", "repeat: 1");
            std::fs::write(rules.path().join(f.file_name()), text).unwrap();
        }
    }
    let channels = json!({"chat": {"url": hook_url, "secret": "e2e-secret"}}).to_string();
    let dev = Dev::start_with(
        dir.path(),
        None,
        &[
            "--statemachines".as_ref(),
            root.join("statemachines").as_os_str(),
            "--rules".as_ref(),
            rules.path().as_os_str(),
        ],
        &[("HELIOS_CHANNELS", &channels)],
    );
    let now = chrono::Utc::now();
    for i in 0..3 {
        let body = json!({
            "id": format!("e2e-run-{i}"), "source": "ci/buildkite", "type": "ci.build.finished",
            "time": (now + chrono::Duration::seconds(i)).to_rfc3339(), "subject": "acme/web",
            "data": {"branch": "main", "state": "failed"}
        });
        let r = client()
            .post(format!("{}/v1/events", dev.url))
            .header("x-api-key", API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let done = dir.path().join("executions/done");
    let finished = loop {
        let files: Vec<PathBuf> = std::fs::read_dir(&done)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(f) = files.first() {
            break f.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no execution ended within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&finished).unwrap()).unwrap();
    assert_eq!(record["status"], "SUCCEEDED", "{record}");
    assert_eq!(record["machine"], "decision");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.len(),
            1,
            "one post for the one decision that asked for one channel"
        );
        let (sig, body) = &seen[0];
        assert!(
            sig.starts_with("t=") && sig.contains(",v1="),
            "signed: {sig}"
        );
        assert_eq!(
            body["text"],
            "[high] CI failing on acme/web main: 3 failed runs on main of acme/web within 1h"
        );
    }

    // The query API shows the decision, why it was made, and what its workflow did.
    let get = |path: String| {
        let c = client();
        async move {
            let r = c
                .get(path)
                .header("x-api-key", API_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let all = get(format!("{}/v1/decisions", dev.url)).await;
    assert_eq!(
        all["decisions"].as_array().unwrap().len(),
        3,
        "one decision per event"
    );
    let list = get(format!("{}/v1/decisions?rule=ci-failing-on-main", dev.url)).await;
    let hits = list["decisions"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    let id = hits[0]["id"].as_str().unwrap();
    assert_eq!(record["name"], format!("{id}-0"));
    let one = get(format!("{}/v1/decisions/{id}", dev.url)).await;
    let why = one["explanation"].as_str().unwrap();
    assert!(
        why.contains("failed 3 times") && why.contains("ci-failing-on-main"),
        "{why}"
    );
    assert!(one["decision"]["trace"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(one["outcomes"][0]["kind"], "outcome");
    assert_eq!(one["outcomes"][0]["outcome"]["notified"][0]["ok"], true);
    // The rule asks for advice: a note beside the decision, marked advisory, not in it.
    let advice = &one["advice"][0];
    assert_eq!(advice["advisory"], true, "{one}");
    assert_eq!(advice["method"], "similar-decisions");
    assert!(
        advice["summary"]
            .as_str()
            .unwrap()
            .contains("First decision of `ci-failing-on-main`"),
        "{advice}"
    );
    assert!(one["decision"].get("advice").is_none());

    // A heartbeat, then none: 3 s later (period 2 s, grace 1 s) the expectation workflow emits
    // a missed expectation through the ingress path, whose decision asks for an
    // acknowledgement within 10 minutes; the workflow waits until a person acknowledges, then
    // records who did.
    let beat_time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let beat = json!({"id": "hb-1", "source": "svc/api", "type": "heartbeat",
                      "time": beat_time, "subject": "api", "data": {}});
    let r = client()
        .post(format!("{}/v1/events", dev.url))
        .header("x-api-key", API_KEY)
        .json(&beat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let id = loop {
        let list = get(format!("{}/v1/decisions?rule=heartbeat-stopped", dev.url)).await;
        if let Some(d) = list["decisions"].as_array().and_then(|a| a.first()) {
            let id = d["id"].as_str().unwrap().to_string();
            let one = get(format!("{}/v1/decisions/{id}", dev.url)).await;
            if one["outcomes"]
                .as_array()
                .is_some_and(|o| o.iter().any(|x| x["kind"] == "awaiting_ack"))
            {
                break id;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no decision awaits an ack within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let one = get(format!("{}/v1/decisions/{id}", dev.url)).await;
    let waiting = one["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "awaiting_ack")
        .unwrap();
    assert_eq!(
        waiting["outcome"]["task_token"], "(redacted)",
        "the task token is a credential, not shown to readers: {one}"
    );
    let ack = |body: Value| {
        let c = client();
        let url = format!("{}/v1/decisions/{id}/ack", dev.url);
        async move {
            c.post(url)
                .header("x-api-key", API_KEY)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = ack(json!({"by": "alice", "note": "restarting it"})).await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        ack(json!({})).await.status(),
        200,
        "an acknowledgement counts once"
    );
    let done = dir.path().join(format!("executions/done/{id}-0.json"));
    while !done.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the acknowledged workflow did not end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&done).unwrap()).unwrap();
    assert_eq!(record["status"], "SUCCEEDED", "{record}");
    let one = get(format!("{}/v1/decisions/{id}", dev.url)).await;
    let outcome = one["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "outcome")
        .unwrap();
    assert_eq!(outcome["outcome"]["ack"]["acked_by"], "alice");
    assert!(outcome["outcome"].get("escalated").is_none());
    let unknown = client()
        .post(format!("{}/v1/decisions/dec_nope/ack", dev.url))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // `helios executions` lists both executions as ended; `show` gives one with its history.
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["executions", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.iter().all(|l| l["status"] == "SUCCEEDED"),
        "{lines:?}"
    );
    let machines: Vec<&str> = lines.iter().filter_map(|l| l["machine"].as_str()).collect();
    assert_eq!(
        machines.iter().filter(|m| **m == "expectation").count(),
        1,
        "{machines:?}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["executions", "show", &format!("{id}-0"), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let types: Vec<&str> = shown["history"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        types.contains(&"TaskSubmitted") && types.last() == Some(&"ExecutionSucceeded"),
        "{types:?}"
    );

    // The timeline of the subject: the heartbeat, the wait it opened and its (empty)
    // decision, the missed expectation and its decision, then what the workflow did.
    let tl = get(format!("{}/v1/timeline?subject=api", dev.url)).await;
    let items = tl["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().filter_map(|i| i["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "event",
            "expectation",
            "decision",
            "event",
            "decision",
            "awaiting_ack",
            "acknowledged",
            "outcome"
        ],
        "{tl}"
    );
    assert_eq!(items[0]["type"], "heartbeat", "{tl}");
    // The wait, replayed from the rule set: never met, due when the miss was emitted.
    assert_eq!(items[1]["expectation"], "heartbeat", "{tl}");
    assert_eq!(items[1]["event"], items[0]["id"], "{tl}");
    assert!(items[1]["met_at"].is_null(), "{tl}");
    assert_eq!(items[1]["deadline"], items[3]["at"], "{tl}");
    assert_eq!(items[3]["source"], "helios/expect", "{tl}");
    assert_eq!(items[3]["type"], "helios.expectation.missed", "{tl}");
    let missed = get(format!(
        "{}/v1/events/{}",
        dev.url,
        items[3]["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(
        missed["event"]["data"]["last_seen"],
        beat_time.as_str(),
        "{missed}"
    );
    assert_eq!(missed["event"]["data"]["missed"], 1, "{missed}");

    // The query API lists the executions, shows one with its history, and counts.
    let listed = get(format!("{}/v1/executions", dev.url)).await;
    let execs = listed["executions"].as_array().unwrap();
    assert_eq!(execs.len(), 3, "{listed}");
    let expectation = get(format!("{}/v1/executions?machine=expectation", dev.url)).await;
    let name = expectation["executions"][0]["name"].as_str().unwrap();
    assert!(name.starts_with("exp-heartbeat-"), "{expectation}");
    let one = get(format!("{}/v1/executions/{name}", dev.url)).await;
    assert_eq!(one["status"], "SUCCEEDED");
    let states: Vec<&str> = one["history"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TaskStateEntered")
        .filter_map(|e| e["stateEnteredEventDetails"]["name"].as_str())
        .collect();
    assert_eq!(states, ["Check", "Emit"], "{one}");
    let page = get(format!("{}/v1/executions?limit=2", dev.url)).await;
    assert_eq!(page["executions"].as_array().unwrap().len(), 2);
    let rest = get(format!(
        "{}/v1/executions?limit=2&cursor={}",
        dev.url,
        page["next"].as_str().unwrap()
    ))
    .await;
    assert_eq!(rest["executions"].as_array().unwrap().len(), 1);
    assert!(rest["next"].is_null());
    let stats = get(format!("{}/v1/stats?bucket=1d", dev.url)).await;
    let sum = |path: &[&str]| -> i64 {
        stats["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| path.iter().fold(b, |v, k| &v[*k]).as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum(&["events", "total"]), 5, "{stats}");
    assert_eq!(sum(&["events", "by_source", "helios/expect"]), 1, "{stats}");
    assert_eq!(sum(&["decisions", "total"]), 5, "{stats}");
    assert_eq!(sum(&["decisions", "by_rule", "ci-failing-on-main"]), 1);
    assert_eq!(sum(&["decisions", "by_rule", "heartbeat-stopped"]), 1);
    assert_eq!(sum(&["outcomes", "acknowledged"]), 1, "{stats}");
    assert_eq!(sum(&["outcomes", "outcome"]), 2, "{stats}");

    // `helios explain` says why, in words.
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["explain", &id, "--endpoint", &dev.url, "--api-key", API_KEY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("No heartbeat from api since {beat_time}")),
        "{text}"
    );
    assert!(text.contains("fired       heartbeat-stopped"), "{text}");
    assert!(text.contains("acknowledged"), "{text}");
    drop(dev);
}

/// Issue 5's crash test: `helios dev` deciding and running workflows is killed with SIGKILL in
/// the middle of a burst, then started again on the same data. Every acknowledged event ends
/// with exactly one decision, and every decision's workflow with exactly one execution, which
/// succeeds (resumed from its checkpoint, never started again).
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_in_the_middle_of_a_decided_burst_then_restart_decides_each_event_once() {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    // The chat channel: counts posts per decision.
    let posts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let hook = {
        let posts = posts.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: http::HeaderMap| {
                let posts = posts.clone();
                async move {
                    let d = headers
                        .get("x-helios-decision")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    *posts.lock().unwrap().entry(d).or_default() += 1;
                    "ok"
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let channels =
        json!({"chat": {"url": format!("http://{}/hook", listener.local_addr().unwrap())}})
            .to_string();
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let start = || Dev::start_deciding(dir.path(), &[("HELIOS_CHANNELS", &channels)]);
    let dev = start();

    // 400 failed deploys of 400 services (each fires `deploy-failed`, no dedupe between them),
    // posted in batches of 5 by 4 clients; SIGKILL once 100 are acknowledged.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    // Once 100 are acknowledged the posters wait for the kill, so that it lands mid-burst
    // however fast the machine acknowledges and however slowly workflows begin.
    let killing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let now = chrono::Utc::now().to_rfc3339();
    let mut posters = Vec::new();
    for p in 0..4 {
        let (url, acked, count, now) = (dev.url.clone(), acked.clone(), count.clone(), now.clone());
        let killing = killing.clone();
        posters.push(tokio::spawn(async move {
            let c = client();
            for b in 0..20 {
                while count.load(Ordering::SeqCst) >= 100 && !killing.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let events: Vec<Value> = (0..5)
                    .map(|i| {
                        let n = p * 100 + b * 5 + i;
                        json!({"id": format!("dep-{n}"), "source": "deployer", "type": "deploy.finished",
                               "time": now, "subject": format!("svc-{n}"),
                               "data": {"environment": "staging", "status": "failed"}})
                    })
                    .collect();
                let Ok(r) = c
                    .post(format!("{url}/v1/events"))
                    .header("x-api-key", API_KEY)
                    .json(&json!({"events": events}))
                    .send()
                    .await
                else {
                    return; // the server is gone: this batch was not acknowledged
                };
                if r.status() != 202 {
                    return;
                }
                let Ok(body) = r.json::<Value>().await else {
                    return;
                };
                let ids: Vec<String> = body["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_string())
                    .collect();
                count.fetch_add(ids.len(), Ordering::SeqCst);
                acked.lock().unwrap().extend(ids);
            }
        }));
    }
    // Killed once 100 are acknowledged and workflows have begun: decisions and executions
    // are under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let files = |sub: &str| {
        std::fs::read_dir(dir.path().join("executions").join(sub))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    while count.load(Ordering::SeqCst) < 100 || files("running") + files("done") == 0 {
        assert!(std::time::Instant::now() < deadline, "the burst stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    killing.store(true, Ordering::SeqCst);
    dev.kill();
    let at_kill = (files("running"), files("done"));
    for p in posters {
        p.await.unwrap();
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert!(
        acked.len() >= 100 && acked.len() < 400,
        "killed mid-burst: {}",
        acked.len()
    );

    // Started again on the same data: wait until every acknowledged event is decided and no
    // execution is left running (messages the killed process had received come back after
    // their visibility timeout, 30 s).
    let dev = start();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let decisions = loop {
        let decisions = list_every(&dev, "decisions").await;
        let decided: BTreeSet<String> = decisions
            .iter()
            .map(|d| d["event"].as_str().unwrap().to_string())
            .collect();
        let running = std::fs::read_dir(dir.path().join("executions/running"))
            .map(|d| d.count())
            .unwrap_or(0);
        if acked.is_subset(&decided) && running == 0 {
            let done = std::fs::read_dir(dir.path().join("executions/done"))
                .map(|d| d.count())
                .unwrap_or(0);
            if done == decisions.len() {
                break decisions;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after the restart: {} of {} acknowledged events decided, {running} files of running executions",
            acked.intersection(&decided).count(),
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Exactly one decision per event.
    let mut per_event: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &decisions {
        *per_event.entry(d["event"].as_str().unwrap()).or_default() += 1;
    }
    assert!(per_event.values().all(|n| *n == 1), "{per_event:?}");
    // Exactly one execution per decision, named after it, succeeded; each decision notified.
    let posts = posts.lock().unwrap();
    for d in &decisions {
        let id = d["id"].as_str().unwrap();
        assert_eq!(d["rules"], json!(["deploy-failed"]), "{d}");
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("executions/done/{id}-0.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(record["status"], "SUCCEEDED", "{record}");
        let started = record["history"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "ExecutionStarted")
            .count();
        assert_eq!(started, 1, "{id} started once");
        assert!(
            posts.get(id).copied().unwrap_or(0) >= 1,
            "{id} was notified"
        );
    }
    let extra: usize = posts.values().map(|n| n - 1).sum();
    eprintln!(
        "{} acknowledged before the kill (execution files then: {} running, {} done), {} decided after the restart, {extra} notification(s) sent again by a resumed step",
        acked.len(),
        at_kill.0,
        at_kill.1,
        decisions.len()
    );
}

/// `/healthz` counts the backlog (facts not yet published, messages of the event queues): a
/// script waits on it to know the server has caught up, so it must not read zero while an
/// acknowledged event is still undecided.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_reads_an_empty_backlog_only_once_every_event_is_decided() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_deciding(dir.path(), &[]);
    let now = chrono::Utc::now().to_rfc3339();
    let mut acked = std::collections::BTreeSet::new();
    for b in 0..4 {
        let events: Vec<Value> = (0..50)
            .map(|i| {
                json!({"id": format!("b{b}-{i}"), "source": "deployer", "type": "deploy.finished",
                       "time": now, "subject": format!("svc-{b}-{i}"),
                       "data": {"environment": "staging", "status": "succeeded"}})
            })
            .collect();
        let (status, _, body) = post_json(
            &dev,
            API_KEY,
            serde_json::to_vec(&json!({"events": events})).unwrap(),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        for e in body["events"].as_array().unwrap() {
            acked.insert(e["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(acked.len(), 200);

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut saw_work = false;
    loop {
        let health: Value = client()
            .get(format!("{}/healthz", dev.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let backlog = &health["backlog"];
        let waiting = backlog["outbox"].as_u64().unwrap()
            + ["decide", "expect"]
                .iter()
                .map(|q| {
                    backlog["queues"][q]["visible"].as_u64().unwrap()
                        + backlog["queues"][q]["in_flight"].as_u64().unwrap()
                })
                .sum::<u64>();
        assert_eq!(backlog["queues"]["decide-dlq"]["visible"], 0, "{health}");
        if waiting == 0 {
            break;
        }
        saw_work = true;
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog did not empty: {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Read at once, with no further wait: every acknowledged event has its decision.
    let decided: std::collections::BTreeSet<String> = list_every(&dev, "decisions")
        .await
        .iter()
        .map(|d| d["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        acked.difference(&decided).count(),
        0,
        "the backlog read empty before every event was decided (saw work first: {saw_work})"
    );
}

/// Issue 18's rule tuning: `helios rules tune` reports, per rule, how often it nearly fired
/// and which single check stood in the way, grouped by the value found; its counts are those
/// of the near misses in the decisions' traces, read one by one through the API.
#[tokio::test(flavor = "multi_thread")]
async fn rules_tune_counts_the_near_misses_of_the_traces_by_the_check_in_the_way() {
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_deciding(&dir.path().join("data"), &[]);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let build = |n: usize, state: &str, branch: &str| {
        json!({"id": format!("b{n}"), "source": "ci/jenkins", "type": "ci.build.finished",
               "time": now, "subject": "acme/web",
               "data": {"state": state, "branch": branch, "commit": format!("c{n}")}})
    };
    // Passed on main (near misses on the state), failed elsewhere (on the branch), and one
    // failure on main (on the window: 1 of 3).
    let mut events: Vec<Value> = (0..3).map(|n| build(n, "passed", "main")).collect();
    events.extend((3..5).map(|n| build(n, "failed", "feature/x")));
    events.push(build(5, "failed", "main"));
    let (status, _, body) = post_json(
        &dev,
        API_KEY,
        serde_json::to_vec(&json!({"events": events})).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let decisions = loop {
        let d = list_every(&dev, "decisions").await;
        if d.len() == events.len() {
            break d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} events decided within 30 s",
            d.len(),
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // What the traces say, counted here: (rule, kind, field, found) -> near misses.
    let mut expected: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
    for d in &decisions {
        let id = d["id"].as_str().unwrap();
        let (status, one) = get(&dev, &format!("/v1/decisions/{id}"), API_KEY).await;
        assert_eq!(status, 200, "{one}");
        for t in one["decision"]["trace"].as_array().unwrap() {
            if t["outcome"] != "near_miss" {
                continue;
            }
            let failed: Vec<&Value> = t["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["held"] == false)
                .collect();
            assert_eq!(failed.len(), 1, "a near miss fails one check: {t}");
            let c = failed[0];
            *expected
                .entry((
                    t["rule"].as_str().unwrap().to_string(),
                    c["kind"].as_str().unwrap().to_string(),
                    c["field"].to_string(),
                    c["found"].to_string(),
                ))
                .or_default() += 1;
        }
    }
    let report = helios_json(&[
        "rules",
        "tune",
        "--since",
        "1h",
        "--examples",
        "5",
        "--json",
        "--endpoint",
        &dev.url,
        "--api-key",
        API_KEY,
    ]);
    assert_eq!(report["decisions"], events.len(), "{report}");
    let mut got: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
    for r in report["rules"].as_array().unwrap() {
        let rule = r["rule"].as_str().unwrap();
        let mut sum = 0;
        for c in r["checks"].as_array().unwrap() {
            assert_eq!(c["found_omitted"], 0);
            for f in c["found"].as_array().unwrap() {
                let n = f["count"].as_i64().unwrap();
                sum += n;
                got.insert(
                    (
                        rule.to_string(),
                        c["kind"].as_str().unwrap().to_string(),
                        c["field"].to_string(),
                        f["value"].to_string(),
                    ),
                    n,
                );
                // Each example is a decision with that near miss.
                let examples = f["examples"].as_array().unwrap();
                assert_eq!(examples.len() as i64, n.min(5), "{f}");
                for e in examples {
                    let (_, one) = get(
                        &dev,
                        &format!("/v1/decisions/{}", e["decision"].as_str().unwrap()),
                        API_KEY,
                    )
                    .await;
                    assert_eq!(one["decision"]["event"], e["event"]);
                    assert!(
                        one["decision"]["trace"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|t| t["rule"] == rule && t["outcome"] == "near_miss"),
                        "{one}"
                    );
                }
            }
        }
        assert_eq!(r["near_misses"], sum, "{r}");
    }
    assert_eq!(got, expected, "{report}");
    // The cases sent are among them: the state of the passed builds stood in the way of
    // `ci-failing-on-main` three times.
    let state = (
        "ci-failing-on-main".to_string(),
        "match".to_string(),
        json!("data.state").to_string(),
        json!("passed").to_string(),
    );
    assert_eq!(got.get(&state), Some(&3), "{report}");
    let on_main = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "ci-failing-on-main")
        .unwrap();
    assert_eq!(on_main["fired"], 0);

    // In words.
    let out = Command::new(env!("CARGO_BIN_EXE_helios"))
        .args([
            "rules",
            "tune",
            "--since",
            "1h",
            "--rule",
            "ci-failing-on-main",
            "--endpoint",
            &dev.url,
            "--api-key",
            API_KEY,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\n           3  data.state was \"passed\", wanted \"failed\"  (e.g. dec_"),
        "{text}"
    );
    assert!(
        !text.contains("ci-failed-once"),
        "one rule asked for: {text}"
    );
    drop(dev);
}

/// Issue 18's service level objectives: `GET /v1/slo` counts, over its windows, the events
/// decided within the objective's time of being received and the decisions whose workflow
/// recorded within its time, as the events, decisions and outcomes read through the API say.
#[tokio::test(flavor = "multi_thread")]
async fn slo_counts_what_the_events_decisions_and_outcomes_say() {
    let dir = tempfile::tempdir().unwrap();
    let slo = dir.path().join("slo.yaml");
    std::fs::write(
        &slo,
        "period: 7d\nevent_to_decision: {within: 2s, objective: 99.5}\n",
    )
    .unwrap();
    let dev = Dev::start_deciding(
        &dir.path().join("data"),
        &[("HELIOS_SLO_FILE", slo.to_str().unwrap())],
    );
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    // Three failures on main of one repository: the third fires `ci-failing-on-main`, whose
    // workflow notifies; the others fire nothing that acts.
    let events: Vec<Value> = (0..5)
        .map(|n| {
            json!({"id": format!("s{n}"), "source": "ci/jenkins", "type": "ci.build.finished",
                   "time": now, "subject": "acme/slo",
                   "data": {"state": if n < 3 { "failed" } else { "passed" }, "branch": "main"}})
        })
        .collect();
    for e in &events {
        let (status, _, body) = post_json(&dev, API_KEY, serde_json::to_vec(e).unwrap()).await;
        assert_eq!(status, 202, "{body}");
    }
    // Every event decided, and every decision that acts recorded by its workflow.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let details = loop {
        let list = list_every(&dev, "decisions").await;
        let mut details = Vec::new();
        for d in &list {
            let (_, one) = get(
                &dev,
                &format!("/v1/decisions/{}", d["id"].as_str().unwrap()),
                API_KEY,
            )
            .await;
            details.push(one);
        }
        let acting = |d: &Value| !d["decision"]["actions"].as_array().unwrap().is_empty();
        if list.len() == events.len()
            && details.iter().any(acting)
            && details
                .iter()
                .filter(|d| acting(d))
                .all(|d| !d["outcomes"].as_array().unwrap().is_empty())
        {
            break details;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every event decided and recorded within 60 s: {details:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let (mut decided, mut decided_in_time, mut notified, mut notified_in_time) = (0, 0, 0, 0);
    for d in &details {
        let event = d["decision"]["event"].as_str().unwrap();
        let (status, fact) = get(&dev, &format!("/v1/events/{event}"), API_KEY).await;
        assert_eq!(status, 200, "{fact}");
        let at = time(&d["decision"]["decided_at"]);
        decided += 1;
        if (at - time(&fact["event"]["received_at"]))
            .num_microseconds()
            .unwrap()
            <= 2_000_000
        {
            decided_in_time += 1;
        }
        if let Some(first) = d["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| time(&o["recorded_at"]))
            .min()
        {
            notified += 1;
            if (first - at).num_microseconds().unwrap() <= 60_000_000 {
                notified_in_time += 1;
            }
        }
    }
    assert!(notified >= 1);
    // The first record of each such workflow is timed from the execution's start (what the
    // record Lambda reports as a DecisionToNotification sample in AWS).
    for d in details
        .iter()
        .filter(|d| !d["outcomes"].as_array().unwrap().is_empty())
    {
        let name = d["outcomes"][0]["execution"].as_str().unwrap();
        let (status, exec) = get(&dev, &format!("/v1/executions/{name}"), API_KEY).await;
        assert_eq!(status, 200, "{exec}");
        assert!(
            exec.to_string().contains("first_record_after_ms"),
            "the record task answered with its time: {exec}"
        );
    }
    let (status, slo) = get(&dev, "/v1/slo", API_KEY).await;
    assert_eq!(status, 200, "{slo}");
    assert_eq!(slo["period"], "7d");
    let windows = |i: usize| slo["slos"][i]["windows"].as_array().unwrap().clone();
    assert_eq!(slo["slos"][0]["name"], "event_to_decision");
    assert_eq!(slo["slos"][0]["within"], "2s");
    assert_eq!(slo["slos"][0]["objective"], 99.5);
    assert_eq!(slo["slos"][1]["within"], "1m", "the default kept: {slo}");
    assert_eq!(slo["slos"][2]["name"], "reconciliation_accuracy");
    assert_eq!(
        slo["slos"][2]["windows"][0]["total"], 0,
        "no reconciliation yet: {slo}"
    );
    let names: Vec<_> = windows(0).iter().map(|w| w["window"].clone()).collect();
    assert_eq!(names, ["5m", "30m", "1h", "6h", "7d"]);
    for w in windows(0) {
        assert_eq!(
            (w["total"].clone(), w["good"].clone()),
            (json!(decided), json!(decided_in_time)),
            "{slo}"
        );
    }
    for w in windows(1) {
        assert_eq!(
            (w["total"].clone(), w["good"].clone()),
            (json!(notified), json!(notified_in_time)),
            "{slo}"
        );
    }
    drop(dev);
}

/// Issue 18's reconciliation accuracy: a reconciliation every source reports alike is met
/// and recorded as a `helios.reconcile.matched` fact; with the mismatched and missed ones it
/// is what `GET /v1/slo` counts.
#[tokio::test(flavor = "multi_thread")]
async fn reconciliations_record_their_verdicts_and_the_slo_counts_the_alike() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let rules = starter_rules_with(
        dir.path(),
        "orders.yaml",
        "expectations:
  - id: orders-agree
    description: every order told by the shop and the ledger within 1 s, with one amount
    reconcile:
      sources:
        shop:
          match: {source: [test/shop], type: [order.placed]}
          key: \"{{data.order}}\"
        ledger:
          match: {source: [test/ledger], type: [order.placed]}
          key: \"{{data.order}}\"
      compare: {amount: data.amount}
      within: 1s
",
    );
    let dev = Dev::start_with(
        &dir.path().join("data"),
        None,
        &[
            "--statemachines".as_ref(),
            root.join("statemachines").as_os_str(),
            "--rules".as_ref(),
            rules.as_os_str(),
        ],
        &[],
    );
    let now = chrono::Utc::now().to_rfc3339();
    // o-1 alike, o-2 with two amounts, o-3 told by the shop only.
    for (id, source, order, amount) in [
        ("s1", "test/shop", "o-1", 10.0),
        ("l1", "test/ledger", "o-1", 10.0),
        ("s2", "test/shop", "o-2", 20.0),
        ("l2", "test/ledger", "o-2", 21.0),
        ("s3", "test/shop", "o-3", 30.0),
    ] {
        let e = json!({"id": id, "source": source, "type": "order.placed", "time": now,
                       "subject": order, "data": {"order": order, "amount": amount}});
        let (status, _, body) = post_json(&dev, API_KEY, serde_json::to_vec(&e).unwrap()).await;
        assert_eq!(status, 202, "{body}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let verdicts = loop {
        let (_, page) = get(&dev, "/v1/events?source=helios/expect", API_KEY).await;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.len() >= 3 {
            break events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "three verdicts within 60 s: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(verdicts.len(), 3, "one verdict per order: {verdicts:?}");
    let of = |order: &str| {
        verdicts
            .iter()
            .find(|e| e["data"]["key"] == order)
            .unwrap_or_else(|| panic!("no verdict on {order}: {verdicts:?}"))
    };
    assert_eq!(of("o-1")["type"], "helios.reconcile.matched");
    assert_eq!(of("o-1")["data"]["expectation"], "orders-agree");
    assert_eq!(of("o-1")["data"]["mismatched"], json!([]));
    assert_eq!(of("o-2")["type"], "helios.reconcile.mismatched");
    assert_eq!(of("o-3")["type"], "helios.expectation.missed");
    assert_eq!(of("o-3")["data"]["missing"], json!(["ledger"]));

    let (status, slo) = get(&dev, "/v1/slo", API_KEY).await;
    assert_eq!(status, 200, "{slo}");
    let accuracy = &slo["slos"][2];
    assert_eq!(accuracy["name"], "reconciliation_accuracy");
    for w in accuracy["windows"].as_array().unwrap() {
        assert_eq!(
            (w["total"].clone(), w["good"].clone()),
            (json!(3), json!(1)),
            "{slo}"
        );
    }
    drop(dev);
}
