//! What the dashboard reads from a real `helios dev`: the newest-first listings and the live
//! stream (`GET /v1/stream`, server-sent events, resumable with `Last-Event-ID`).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// One server-sent event: its `event`, `id` and `data`.
#[derive(Debug)]
struct Message {
    event: String,
    id: Option<String>,
    data: Value,
}

/// An open stream and what has arrived of it that is not yet a whole message.
struct Stream {
    resp: reqwest::Response,
    pending: String,
}

impl Stream {
    async fn open(dev: &Dev, last_event_id: Option<&str>) -> Stream {
        let mut req = client()
            .get(format!("{}/v1/stream", dev.url))
            .header("authorization", format!("Bearer {API_KEY}"))
            .timeout(Duration::from_secs(120));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            resp,
            pending: String::new(),
        }
    }

    /// The next message (comments and the `retry` line are skipped).
    async fn next(&mut self) -> Message {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (None, None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let (Some(event), Some(data)) = (event, data) {
                    return Message { event, id, data };
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.resp.chunk())
                .await
                .expect("a message within 20 s")
                .unwrap()
                .expect("the stream does not end");
            self.pending.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Messages until a batch holds an event of `id`: the batches read, in order.
    async fn batches_until(&mut self, id: &str) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut batches = Vec::new();
        while Instant::now() < deadline {
            let m = self.next().await;
            if m.event != "batch" {
                continue;
            }
            let found = event_ids(&m).iter().any(|e| e == id);
            batches.push(m);
            if found {
                return batches;
            }
        }
        panic!("no batch with {id} within 20 s: {batches:?}");
    }
}

fn event_ids(m: &Message) -> Vec<String> {
    m.data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

async fn post(dev: &Dev, id: &str) -> String {
    let body = json!({"id": id, "source": "ci", "type": "build.failed", "subject": "acme/web",
        "time": "2026-12-03T09:00:00Z", "data": {"n": 1}});
    let (status, _, answer) = post_json(dev, API_KEY, serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(status, 202, "{answer}");
    answer["events"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {answer}"))
        .to_string()
}

#[tokio::test]
async fn listings_newest_first_page_back_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(&dir.path().join("data"), None);
    let mut ids = Vec::new();
    for i in 1..=3 {
        ids.push(post(&dev, &format!("order-{i}")).await);
    }
    let (status, page) = get(&dev, "/v1/events?order=newest&limit=2", API_KEY).await;
    assert_eq!(status, 200, "{page}");
    let got: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["helios_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page["next"].as_str().unwrap();
    let (_, rest) = get(
        &dev,
        &format!("/v1/events?order=newest&limit=2&cursor={cursor}"),
        API_KEY,
    )
    .await;
    assert_eq!(rest["events"][0]["helios_id"], ids[0].as_str());
    assert_eq!(rest["next"], Value::Null);
    // A cursor is for the order of the page it came from.
    let (status, problem) = get(
        &dev,
        &format!("/v1/events?limit=2&cursor={cursor}"),
        API_KEY,
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("order"),
        "{problem}"
    );
    let (status, problem) = get(&dev, "/v1/decisions?order=sideways", API_KEY).await;
    assert_eq!(status, 400, "{problem}");
}

#[tokio::test]
async fn the_stream_sends_what_is_recorded_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(&dir.path().join("data"), None);

    // Without a key: refused (and counted among the refusals the health shows).
    let r = client()
        .get(format!("{}/v1/stream", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let r = client()
        .get(format!("{}/v1/stream", dev.url))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let first = post(&dev, "live-1").await;
    let second = post(&dev, "live-2").await;

    // A new client starts with the newest events, oldest first.
    let mut s = Stream::open(&dev, None).await;
    let batches = s.batches_until(&second).await;
    let seen: Vec<String> = batches.iter().flat_map(event_ids).collect();
    assert_eq!(seen, [first.clone(), second.clone()]);
    let last_id = batches
        .last()
        .unwrap()
        .id
        .clone()
        .expect("a batch has an id");
    let e = &batches.last().unwrap().data["events"][1];
    assert_eq!(e["source"], "ci");
    assert_eq!(e["family"], "ci");
    assert_eq!(e["type"], "build.failed");
    assert_eq!(e["subject"], "acme/web");

    // What is accepted while the stream is open arrives on it.
    let third = post(&dev, "live-3").await;
    let batches = s.batches_until(&third).await;
    let seen: Vec<String> = batches.iter().flat_map(event_ids).collect();
    assert_eq!(seen, std::slice::from_ref(&third), "nothing twice");

    // The health comes along, with the refused requests by problem type.
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        let m = s.next().await;
        if m.event == "health" {
            break m.data;
        }
        assert!(Instant::now() < deadline, "no health within 10 s");
    };
    assert_eq!(health["status"], "ok", "{health}");
    assert!(
        health["refused"]["unauthenticated"].as_u64() >= Some(1),
        "{health}"
    );
    assert!(health["backlog"]["queues"].is_object(), "{health}");
    drop(s);

    // A client that comes back with the last id it saw gets what it missed, and only that.
    let fourth = post(&dev, "live-4").await;
    let mut s = Stream::open(&dev, Some(&last_id)).await;
    let batches = s.batches_until(&fourth).await;
    let seen: Vec<String> = batches.iter().flat_map(event_ids).collect();
    assert_eq!(seen, [third, fourth]);
}

/// `helios demo`, as a new user runs it at the root of a checkout: one command, and soon every
/// format has sent events, rules have fired, and the dashboard is served; Ctrl-C ends it and
/// removes its temporary data folder.
#[tokio::test]
async fn the_demo_fills_helios_with_traffic_of_every_format_and_cleans_up() {
    use std::io::BufRead as _;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_helios"))
        .args([
            "demo",
            "--port",
            "0",
            "--no-open",
            "--rate",
            "100",
            "--seed",
            "1",
        ])
        .current_dir(&root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let (mut link, mut data) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(l) = line.trim().strip_prefix("sign in:") {
            link = Some(l.trim().to_string());
        }
        // The demo's own `data:` line comes after its link (helios dev prints one before).
        if let Some(d) = line.trim().strip_prefix("data:").filter(|_| link.is_some()) {
            data = Some(d.trim().split(" (").next().unwrap().to_string());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let link = link.expect("the demo prints a sign-in link");
    let data = std::path::PathBuf::from(data.expect("the demo prints its data folder"));
    // The link carries a one-time ticket, not the key: traded once for the key.
    assert!(!link.contains("hk_"), "the key is not in the link: {link}");
    let (base, ticket) = link.split_once("/#/sign-in?ticket=").unwrap();
    let http = client();
    let redeem = || {
        http.post(format!("{base}/v1/session/redeem"))
            .json(&json!({ "ticket": ticket }))
            .send()
    };
    let first = redeem().await.unwrap();
    assert_eq!(first.status(), 200);
    let key = first.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let key = key.as_str();
    let again = redeem().await.unwrap();
    assert_eq!(again.status(), 404, "a sign-in ticket is good once");
    // Guessing tickets counts against the client's address, as wrong keys do.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(redeem().await.unwrap().status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("app.js"));

    // The newest thousand of a listing.
    let newest = |what: &str| {
        let req = http
            .get(format!("{base}/v1/{what}?order=newest&limit=1000"))
            .bearer_auth(key);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut formats = std::collections::BTreeSet::new();
    let fired = loop {
        let events = newest("events").await;
        for e in events["events"].as_array().unwrap() {
            formats.insert(e["format"].as_str().unwrap().to_string());
        }
        let decisions = newest("decisions").await;
        let fired: std::collections::BTreeSet<String> = decisions["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["rules"].as_array().unwrap().iter())
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        if formats.len() == 6 && fired.contains("cloud-alarm") && fired.contains("ci-failed-once") {
            break fired;
        }
        assert!(
            Instant::now() < deadline,
            "within a minute: formats {formats:?}, rules fired {fired:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(fired.len() >= 2, "{fired:?}");

    // Ctrl-C ends it, and its temporary data folder goes with it.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the demo did not end on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    assert!(!data.exists(), "{} is left behind", data.display());
}

/// The loaded rule set, read and tried through the API: nothing stored.
#[tokio::test]
async fn the_rule_set_is_read_and_an_event_tried_on_it_without_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_deciding(&dir.path().join("data"), &[]);
    let (status, set) = get(&dev, "/v1/rules", API_KEY).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["name"], "starter");
    assert!(set["hash"].as_str().unwrap().starts_with("sha256:"));
    let ids: Vec<&str> = set["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"cloud-alarm") && ids.contains(&"ci-failing-on-main"),
        "{ids:?}"
    );
    assert!(set["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["text"].as_str().unwrap().contains("cloud-alarm")));

    // Now: a window counts the events of its span before the moment of deciding, and an
    // alarm of an hour ago is out of `cloud-alarm`'s 15 minutes (a fixed time here made
    // this test pass only within 15 minutes after it).
    let tried = json!({"id": "try-1", "source": "aws.cloudwatch", "type": "CloudWatch Alarm State Change",
        "subject": "api-5xx", "time": chrono::Utc::now().to_rfc3339(),
        "data": {"alarmName": "api-5xx", "state": {"value": "ALARM"}}});
    let r = client()
        .post(format!("{}/v1/rules/try", dev.url))
        .bearer_auth(API_KEY)
        .json(&tried)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["decision"]["fired"][0]["rule"], "cloud-alarm",
        "{answer}"
    );
    assert!(
        answer["explanation"].as_str().unwrap().contains("api-5xx"),
        "{answer}"
    );
    // Nothing was stored: no event, no decision.
    let (_, events) = get(&dev, "/v1/events", API_KEY).await;
    assert_eq!(events["events"], json!([]), "{events}");
    let (_, decisions) = get(&dev, "/v1/decisions", API_KEY).await;
    assert_eq!(decisions["decisions"], json!([]), "{decisions}");

    // What is not one native event is a problem that says so.
    for (body, why) in [
        ("[1, 2]", "object"),
        ("{nope", "not JSON"),
        ("{\"id\": \"x\"}", "source"),
    ] {
        let r = client()
            .post(format!("{}/v1/rules/try", dev.url))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().contains(why), "{body}: {p}");
    }
}

/// `helios schemas infer` (issue 17) against a running helios dev: the schema of the `data`
/// of the stored events of one source and type, a property required only when every event
/// had it, formats recognised.
#[tokio::test]
async fn schemas_infer_reads_the_stored_events_of_a_source_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(&dir.path().join("data"), None);
    for (i, extra) in [(1, None), (2, Some(true)), (3, None)] {
        let mut data =
            json!({"branch": "main", "n": i, "log": format!("https://ci.example.com/b/{i}")});
        if let Some(x) = extra {
            data["retried"] = json!(x);
        }
        let body = json!({"id": format!("build-{i}"), "source": "ci/buildkite",
            "type": "ci.build.finished", "time": "2026-12-03T09:00:00Z", "data": data});
        let (status, _, answer) =
            post_json(&dev, API_KEY, serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(status, 202, "{answer}");
    }
    let v = helios_json(&[
        "schemas",
        "infer",
        "--source",
        "ci/buildkite",
        "--type",
        "ci.build.finished",
        "--endpoint",
        &dev.url,
        "--api-key",
        API_KEY,
    ]);
    assert_eq!(v["samples"], 3);
    let schema = &v["schema"];
    assert_eq!(schema["required"], json!(["branch", "n", "log"]));
    assert_eq!(schema["properties"]["retried"]["type"], "boolean");
    assert_eq!(schema["properties"]["n"]["type"], "integer");
    assert_eq!(schema["properties"]["log"]["format"], "uri");
    // Nothing of that type: a clear message, exit 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_helios"))
        .args(["schemas", "infer", "--source", "nope", "--type", "none"])
        .args(["--endpoint", &dev.url, "--api-key", API_KEY])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stored event has source"));
}

/// A request with a JSON body (or none) to a running helios dev, answered as JSON.
async fn call(dev: &Dev, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = client()
        .request(method.parse().unwrap(), format!("{}{path}", dev.url))
        .header("x-api-key", key);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&b).unwrap());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn build(id: &str, data: Value) -> Value {
    json!({"id": id, "source": "ci/jenkins", "type": "ci.build.finished", "subject": "acme/web",
        "time": "2026-12-03T09:00:00Z", "data": data})
}

async fn send(dev: &Dev, event: Value) -> (u16, Value) {
    let (status, _, answer) = post_json(dev, API_KEY, serde_json::to_vec(&event).unwrap()).await;
    (status, answer)
}

/// Waits until `path` answers a JSON whose `field` array has `n` items (or more).
async fn wait_for(dev: &Dev, path: &str, field: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, v) = get(dev, path, API_KEY).await;
        assert_eq!(status, 200, "{path}: {v}");
        let items = v[field].as_array().cloned().unwrap_or_default();
        if items.len() >= n {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {n} {field} never came: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The schema registry end to end (issue 17): versions registered under the subject's
/// compatibility mode (an incompatible one refused with every breaking pointer), checked
/// without registering, compared; then each ingest policy: `enforce` refuses with 422 and
/// stores nothing, `quarantine` stores without deciding until an admin releases (or drops),
/// `observe` stores, decides and counts; each fact and decision names the schema version; a
/// drifted event emits `helios.schema.drifted`, which the starter rule set decides.
#[tokio::test]
async fn the_schema_registry_checks_enforces_quarantines_and_observes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = Dev::start_deciding(&data, &[]);
    let reader = create_key(&data, "reader", "read", None);
    let subject = "/v1/schemas/ci%2Fjenkins/ci.build.finished";
    let v1 = json!({"type": "object", "required": ["status"], "properties": {
        "status": {"enum": ["passed", "failed"]}, "n": {"type": "integer"}}});

    assert_eq!(call(&dev, "GET", subject, API_KEY, None).await.0, 404);
    let (status, reg) = call(
        &dev,
        "POST",
        &format!("{subject}/versions"),
        API_KEY,
        Some(json!({"schema": v1})),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(
        (reg["version"].as_u64(), reg["created"].as_bool()),
        (Some(1), Some(true))
    );
    let (status, again) = call(
        &dev,
        "POST",
        &format!("{subject}/versions"),
        API_KEY,
        Some(json!({"schema": v1})),
    )
    .await;
    assert_eq!(
        (status, &again["version"], &again["created"]),
        (200, &json!(1), &json!(false)),
        "the same schema is its version"
    );
    // A read key may check but not register.
    let (status, p) = call(
        &dev,
        "POST",
        &format!("{subject}/versions"),
        &reader,
        Some(json!({"schema": v1})),
    )
    .await;
    assert_eq!(status, 403, "{p}");
    // BACKWARD (the default): a new required property and a narrowed enum are refused.
    let v_bad = json!({"type": "object", "required": ["status", "branch"], "properties": {
        "status": {"enum": ["passed"]}, "n": {"type": "integer"}, "branch": {"type": "string"}}});
    let (status, p) = call(
        &dev,
        "POST",
        &format!("{subject}/versions"),
        API_KEY,
        Some(json!({"schema": v_bad})),
    )
    .await;
    assert_eq!(status, 409, "{p}");
    assert_eq!(p["type"], "urn:helios:problem:incompatible-schema");
    let pointers: Vec<&str> = p["breaking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["pointer"].as_str().unwrap())
        .collect();
    assert!(
        pointers.contains(&"/required") && pointers.contains(&"/properties/status/enum"),
        "{p}"
    );
    let (status, checked) = call(
        &dev,
        "POST",
        &format!("{subject}/check"),
        &reader,
        Some(json!({"schema": v_bad, "mode": "NONE"})),
    )
    .await;
    assert_eq!(
        (status, &checked["compatible"]),
        (200, &json!(true)),
        "{checked}"
    );
    let (status, p) = call(
        &dev,
        "POST",
        &format!("{subject}/versions"),
        API_KEY,
        Some(json!({"schema": {"type": "nonsense"}})),
    )
    .await;
    assert_eq!(
        (status, p["type"].as_str()),
        (422, Some("urn:helios:problem:invalid-schema")),
        "{p}"
    );
    // A compatible widening: one more status. (A new property would narrow: the open
    // content model of version 1 took any value under that name.)
    let v2 = json!({"type": "object", "required": ["status"], "properties": {
        "status": {"enum": ["passed", "failed", "cancelled"]}, "n": {"type": "integer"}}});
    let (status, reg2) = call(
        &dev,
        "POST",
        &format!("{subject}/versions"),
        API_KEY,
        Some(json!({"schema": v2})),
    )
    .await;
    assert_eq!((status, &reg2["version"]), (201, &json!(2)), "{reg2}");
    let (_, diff) = get(&dev, &format!("{subject}/diff?from=1&to=2"), &reader).await;
    assert!(
        diff["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["pointer"] == "/properties/status/enum" && c["direction"] == "widened"),
        "{diff}"
    );
    let (_, latest) = get(&dev, &format!("{subject}/versions/latest"), &reader).await;
    assert_eq!((&latest["version"], &latest["schema"]), (&json!(2), &v2));

    // observe (the default): stored, decided, counted; the fact names the version.
    let (status, ok) = send(&dev, build("b-ok", json!({"status": "passed", "n": 1}))).await;
    assert_eq!(status, 202, "{ok}");
    assert_eq!(ok["events"][0]["schema"]["valid"], true, "{ok}");
    let (status, bad) = send(
        &dev,
        build("b-observed", json!({"status": "exploded", "n": 2})),
    )
    .await;
    assert_eq!(
        (status, &bad["events"][0]["schema"]["valid"]),
        (202, &json!(false)),
        "{bad}"
    );
    let observed = bad["events"][0]["id"].as_str().unwrap().to_string();
    let (_, fact) = get(&dev, &format!("/v1/events/{observed}"), API_KEY).await;
    assert_eq!(
        fact["event"]["schema"],
        json!({"id": reg2["id"], "version": 2, "valid": false, "policy": "observe"}),
        "{fact}"
    );
    let decisions = wait_for(
        &dev,
        &format!("/v1/decisions?event={observed}"),
        "decisions",
        1,
    )
    .await;
    let (_, decision) = get(
        &dev,
        &format!("/v1/decisions/{}", decisions[0]["id"].as_str().unwrap()),
        API_KEY,
    )
    .await;
    assert_eq!(
        decision["decision"]["schema"]["version"], 2,
        "the decision names the schema: {decision}"
    );

    // enforce: refused with every violation's pointer, nothing stored.
    let (status, set) = call(
        &dev,
        "PUT",
        &format!("{subject}/settings"),
        API_KEY,
        Some(json!({"policy": "enforce"})),
    )
    .await;
    assert_eq!(
        (status, &set["settings"]["policy"], &set["settings"]["mode"]),
        (200, &json!("enforce"), &json!("BACKWARD")),
        "{set}"
    );
    assert_eq!(
        call(
            &dev,
            "PUT",
            &format!("{subject}/settings"),
            &reader,
            Some(json!({"policy": "observe"}))
        )
        .await
        .0,
        403
    );
    let (status, p) = send(&dev, json!({"events": [build("b-fine", json!({"status": "failed"})), build("b-refused", json!({"status": 3, "n": "x"}))]})).await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["type"], "urn:helios:problem:schema-violation");
    assert_eq!(p["events"][0]["index"], 1);
    let mut at: Vec<&str> = p["events"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    at.sort();
    assert_eq!(at, ["/n", "/status"], "{p}");
    let (_, listed) = get(&dev, "/v1/events?source=ci%2Fjenkins&limit=100", API_KEY).await;
    let ids: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.contains(&"b-fine") && !ids.contains(&"b-refused"),
        "nothing of the refused request is stored: {ids:?}"
    );

    // quarantine: stored, held, not decided until released; a dropped one never.
    call(
        &dev,
        "PUT",
        &format!("{subject}/settings"),
        API_KEY,
        Some(json!({"policy": "quarantine"})),
    )
    .await;
    let (status, held) = send(&dev, build("b-held", json!({"status": "weird"}))).await;
    assert_eq!(
        (status, &held["events"][0]["quarantined"]),
        (202, &json!(true)),
        "{held}"
    );
    let held_id = held["events"][0]["id"].as_str().unwrap().to_string();
    let (_, dropped) = send(&dev, build("b-dropped", json!({"status": "odd"}))).await;
    let dropped_id = dropped["events"][0]["id"].as_str().unwrap().to_string();
    let (_, q) = get(&dev, "/v1/quarantine", &reader).await;
    let listed: Vec<&str> = q["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["helios_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [held_id.as_str(), dropped_id.as_str()], "{q}");
    assert_eq!(
        q["held"][0]["reason"]["violations"][0]["pointer"],
        "/status"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, none) = get(&dev, &format!("/v1/decisions?event={held_id}"), API_KEY).await;
    assert_eq!(none["decisions"], json!([]), "a held fact is not decided");
    assert_eq!(
        call(
            &dev,
            "POST",
            &format!("/v1/quarantine/{held_id}/release"),
            &reader,
            None
        )
        .await
        .0,
        403
    );
    let (status, released) = call(
        &dev,
        "POST",
        &format!("/v1/quarantine/{held_id}/release"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(
        (status, &released["status"]),
        (200, &json!("released")),
        "{released}"
    );
    let (status, p) = call(
        &dev,
        "POST",
        &format!("/v1/quarantine/{held_id}/drop"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(
        (status, p["type"].as_str()),
        (409, Some("urn:helios:problem:not-held")),
        "{p}"
    );
    let (status, _) = call(
        &dev,
        "POST",
        &format!("/v1/quarantine/{dropped_id}/drop"),
        API_KEY,
        None,
    )
    .await;
    assert_eq!(status, 200);
    wait_for(
        &dev,
        &format!("/v1/decisions?event={held_id}"),
        "decisions",
        1,
    )
    .await;
    let (_, q) = get(&dev, "/v1/quarantine", API_KEY).await;
    assert_eq!(q["held"], json!([]));
    let (_, all) = get(&dev, "/v1/quarantine?status=all", API_KEY).await;
    assert_eq!(all["held"].as_array().unwrap().len(), 2);
    // Not by a replay of its time either: a replay publishes what is not held.
    let (status, replayed) = call(
        &dev,
        "POST",
        "/v1/replay",
        API_KEY,
        Some(
            json!({"since": "2026-12-03T00:00:00Z", "until": "2026-12-04T00:00:00Z",
            "source": "ci/jenkins", "redecide": true}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(
        replayed["replayed"], 3,
        "the dropped one is left out: {replayed}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, none) = get(&dev, &format!("/v1/decisions?event={dropped_id}"), API_KEY).await;
    assert_eq!(
        none["decisions"],
        json!([]),
        "a dropped fact is never decided"
    );

    // Counted per version: the observed one, and the two quarantined ones.
    let (_, s) = get(&dev, subject, &reader).await;
    assert_eq!(s["versions"][1]["violations"], 3, "{s}");
    let (_, subjects) = get(&dev, "/v1/schemas", &reader).await;
    assert_eq!(subjects["subjects"][0]["violations"], 3, "{subjects}");
    assert_eq!(subjects["subjects"][0]["settings"]["policy"], "quarantine");

    // Drift: a property the schema does not name, then the same again (one drift event).
    call(
        &dev,
        "PUT",
        &format!("{subject}/settings"),
        API_KEY,
        Some(json!({"policy": "observe"})),
    )
    .await;
    for id in ["b-new-1", "b-new-2"] {
        let (status, a) = send(
            &dev,
            build(id, json!({"status": "passed", "runner": {"os": "linux"}})),
        )
        .await;
        assert_eq!(status, 202, "{a}");
    }
    // The status out of the enum drifted first (observed, then held twice: one event).
    let drifted = wait_for(&dev, "/v1/events?source=helios%2Fschemas", "events", 2).await;
    let places: Vec<(&str, &str)> = drifted
        .iter()
        .map(|d| {
            (
                d["data"]["pointer"].as_str().unwrap(),
                d["data"]["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        places,
        [("/status", "enum"), ("/runner", "new_property")],
        "one drift event per place: {drifted:?}"
    );
    let d = &drifted[1];
    assert_eq!(d["type"], "helios.schema.drifted");
    assert_eq!(
        (
            &d["data"]["pointer"],
            &d["data"]["kind"],
            &d["data"]["schema_version"]
        ),
        (&json!("/runner"), &json!("new_property"), &json!(2)),
        "{d}"
    );
    let decided = wait_for(
        &dev,
        &format!("/v1/decisions?event={}", d["helios_id"].as_str().unwrap()),
        "decisions",
        1,
    )
    .await;
    assert_eq!(
        decided[0]["rules"],
        json!(["schema-drifted"]),
        "{decided:?}"
    );
}

/// `helios schemas apply|list|show|register|set|check` (issue 17) against a running helios
/// dev: the repository's `schemas/` folder registered (again: nothing new), read back,
/// one more version refused with exit 1, a policy set.
#[tokio::test]
async fn the_schemas_cli_applies_the_folder_and_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(&dir.path().join("data"), None);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let folder = root.join("schemas");
    let client = ["--endpoint", &dev.url, "--api-key", API_KEY];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(client.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        helios_json(&refs)
    };
    let folder_arg = folder.to_str().unwrap();
    let applied = run(with(&["schemas", "apply", folder_arg]));
    let n = applied["applied"].as_array().unwrap().len();
    assert!(n >= 4, "{applied}");
    assert!(applied["applied"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["versions"][0]["created"] == true));
    let again = run(with(&["schemas", "apply", folder_arg]));
    assert!(
        again["applied"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["versions"][0]["created"] == false),
        "{again}"
    );
    let list = run(with(&["schemas", "list"]));
    assert_eq!(list["subjects"].as_array().unwrap().len(), n);
    let heartbeat = list["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "heartbeat")
        .unwrap();
    assert_eq!(
        heartbeat["settings"]["mode"], "FULL",
        "the file's mode was applied: {heartbeat}"
    );
    let shown = run(with(&[
        "schemas",
        "show",
        "--source",
        "ci/buildkite",
        "--type",
        "ci.build.finished",
        "--version",
        "latest",
    ]));
    assert_eq!(shown["version"], 1);
    assert_eq!(
        shown["schema"]["required"],
        json!(["pipeline", "branch", "commit", "state"])
    );

    // A version that drops a state breaks BACKWARD: checked (exit 1), then refused (exit 1).
    let narrower = dir.path().join("narrower.json");
    let mut schema = shown["schema"].clone();
    schema["properties"]["state"]["enum"] = json!(["passed", "failed"]);
    std::fs::write(&narrower, serde_json::to_vec(&schema).unwrap()).unwrap();
    let path = narrower.to_str().unwrap();
    let helios = |args: Vec<String>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_helios"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = helios(with(&[
        "schemas",
        "check",
        "--source",
        "ci/buildkite",
        "--type",
        "ci.build.finished",
        path,
    ]));
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["breaking"][0]["pointer"], "/properties/state/enum", "{v}");
    let out = helios(with(&[
        "schemas",
        "register",
        "--source",
        "ci/buildkite",
        "--type",
        "ci.build.finished",
        path,
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BACKWARD"));
    // Under NONE it is taken.
    run(with(&[
        "schemas",
        "set",
        "--source",
        "ci/buildkite",
        "--type",
        "ci.build.finished",
        "--mode",
        "NONE",
        "--policy",
        "enforce",
    ]));
    let registered = run(with(&[
        "schemas",
        "register",
        "--source",
        "ci/buildkite",
        "--type",
        "ci.build.finished",
        path,
    ]));
    assert_eq!(
        (&registered["version"], &registered["created"]),
        (&json!(2), &json!(true))
    );
    let subject = run(with(&[
        "schemas",
        "show",
        "--source",
        "ci/buildkite",
        "--type",
        "ci.build.finished",
    ]));
    assert_eq!(
        subject["settings"],
        json!({"mode": "NONE", "policy": "enforce", "set": true})
    );
    assert_eq!(subject["versions"].as_array().unwrap().len(), 2);
}

/// Discovery (issue 17): with `--discover-schemas`, the first event of a new source and type
/// registers the schema inferred from it as version 1, and the event records it; a later
/// event with one more property is drift.
#[tokio::test]
async fn a_new_subject_discovers_its_schema_from_its_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(
        &dir.path().join("data"),
        None,
        &["--discover-schemas".as_ref()],
        &[],
    );
    let first = json!({"id": "o-1", "source": "shop", "type": "order.placed", "time": "2026-12-03T09:00:00Z",
        "data": {"order": "A-1", "amount": 12.5, "at": "2026-12-03T09:00:00Z"}});
    let (status, answer) = send(&dev, first).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["events"][0]["schema"]["version"], 1, "{answer}");
    let (status, v1) = get(&dev, "/v1/schemas/shop/order.placed/versions/1", API_KEY).await;
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["schema"]["required"], json!(["order", "amount", "at"]));
    assert_eq!(v1["schema"]["properties"]["at"]["format"], "date-time");
    let next = json!({"id": "o-2", "source": "shop", "type": "order.placed", "time": "2026-12-03T09:01:00Z",
        "data": {"order": "A-2", "amount": 3, "at": "2026-12-03T09:01:00Z", "coupon": "X"}});
    let (status, answer) = send(&dev, next).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["events"][0]["schema"]["valid"], true,
        "an extra property fits the open schema"
    );
    let drifted = wait_for(&dev, "/v1/events?source=helios%2Fschemas", "events", 1).await;
    assert_eq!(drifted[0]["data"]["pointer"], "/coupon", "{drifted:?}");
    let (_, subjects) = get(&dev, "/v1/schemas", API_KEY).await;
    assert_eq!(
        subjects["subjects"].as_array().unwrap().len(),
        1,
        "Helios's own drift event discovers nothing: {subjects}"
    );
}

/// `GET /metrics` (issue 18, first slice): Prometheus's text format, checked by `promtool
/// check metrics` (Debian's prometheus package, or `HELIOS_PROMTOOL`); a read key sees it,
/// none does not; the answers' counter moves as events are sent, by route template.
#[tokio::test]
async fn metrics_pass_promtool_and_count_what_is_sent() {
    let promtool = std::env::var("HELIOS_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = Dev::start_deciding(&data, &[]);
    let reader = create_key(&data, "scraper", "read", None);
    let scrape = || async {
        let resp = client()
            .get(format!("{}/metrics", dev.url))
            .header("authorization", format!("Bearer {reader}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        resp.text().await.unwrap()
    };
    let accepted = |text: &str| -> u64 {
        text.lines()
            .find(|l| {
                l.starts_with(
                    r#"helios_http_requests_total{route="/v1/events",method="POST",status="202"}"#,
                )
            })
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    let before = scrape().await;
    for i in 0..3 {
        let mut failed = build(
            &format!("m-{i}"),
            json!({"branch": "main", "state": "failed"}),
        );
        // Now: `ci-failing-on-main` counts the failures of the hour before it decides.
        failed["time"] = json!(chrono::Utc::now().to_rfc3339());
        let (status, _) = send(&dev, failed).await;
        assert_eq!(status, 202);
    }
    // A heartbeat opens one expectation (an `expectation` execution watches it).
    let now = chrono::Utc::now().to_rfc3339();
    let (status, _) = send(
        &dev,
        json!({"id": "hb-metrics", "source": "svc/api", "type": "heartbeat", "subject": "metrics-api",
            "time": now, "data": {"every": "1h"}}),
    )
    .await;
    assert_eq!(status, 202);
    let decided = wait_for(&dev, "/v1/decisions?limit=100", "decisions", 4).await;
    let (status, _) = get(&dev, "/v1/events/evt_nope", API_KEY).await;
    assert_eq!(status, 404);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, health) = get(&dev, "/v1/health", API_KEY).await;
        if health["expectations"]["open"] == 1 {
            // No channel is configured, so no circuit can be open; the health says so.
            assert_eq!(
                health["breakers"],
                json!({"open": 0, "channels": []}),
                "{health}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no expectation opened: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let after = scrape().await;
    assert!(after.contains("\nhelios_expectations_open 1\n"), "{after}");
    assert!(
        after.contains("\nhelios_circuit_breakers_open 0\n"),
        "{after}"
    );
    // The store's transactions are timed: the embedded store's facts file committed them.
    let commits = after
        .lines()
        .find(|l| l.starts_with(r#"helios_store_commit_duration_seconds_count{store="helios.db"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(commits >= 1, "{after}");
    assert_eq!(accepted(&after), accepted(&before) + 4, "{after}");
    assert!(
        after.contains(
            r#"helios_http_requests_total{route="/v1/events/{id}",method="GET",status="404"} 1"#
        ),
        "{after}"
    );
    assert!(after.contains("helios_health_up 1"));
    // Each decision once by severity; by each rule that fired.
    let counted = |prefix: &str| -> u64 {
        after
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(
        counted("helios_decisions_by_severity_total{"),
        decided.len() as u64,
        "{after}"
    );
    let fired: u64 = decided
        .iter()
        .map(|d| d["rules"].as_array().map_or(1, |r| r.len().max(1)) as u64)
        .sum();
    assert_eq!(counted("helios_decisions_by_rule_total{"), fired, "{after}");
    assert!(
        after.contains(r#"helios_decisions_by_rule_total{rule="ci-failing-on-main"} 1"#),
        "{after}"
    );
    // Each rule that nearly fired in a decision, as the decisions' traces say.
    let mut near: std::collections::BTreeMap<String, u64> = Default::default();
    for d in &decided {
        let (status, body) = get(
            &dev,
            &format!("/v1/decisions/{}", d["id"].as_str().unwrap()),
            API_KEY,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for t in body["decision"]["trace"].as_array().unwrap() {
            if t["outcome"] == "near_miss" {
                *near
                    .entry(t["rule"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    assert!(
        near.get("ci-failing-on-main").is_some_and(|n| *n >= 2),
        "{near:?}"
    );
    for (rule, n) in &near {
        assert!(
            after.contains(&format!(r#"helios_near_misses_total{{rule="{rule}"}} {n}"#)),
            "{rule}: {n} near misses in the traces\n{after}"
        );
    }
    assert_eq!(
        counted("helios_near_misses_total{"),
        near.values().sum::<u64>(),
        "{after}"
    );
    assert!(
        after.contains(r#"helios_queue_messages{queue="decide-dlq",state="visible"} 0"#),
        "{after}"
    );
    let mut check = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{promtool} does not run ({e}): install it (Debian: sudo apt-get install -y prometheus) or set HELIOS_PROMTOOL"));
    use std::io::Write as _;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(after.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let anonymous = client()
        .get(format!("{}/metrics", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
