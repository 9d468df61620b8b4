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

    let tried = json!({"id": "try-1", "source": "aws.cloudwatch", "type": "CloudWatch Alarm State Change",
        "subject": "api-5xx", "time": "2026-12-03T09:00:00Z",
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
