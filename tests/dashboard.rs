//! The dashboard in a real browser: `dashboard/tests/browser.mjs` (playwright-core driving
//! Chromium, headless) against a `helios dev` seeded here through its public API. Every page
//! is checked at 375 and 1440 px wide, and its screenshots are kept in
//! `target/dashboard-screenshots/` of the checkout (or `HELIOS_SCREENSHOTS`).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// The browser: `HELIOS_CHROMIUM`, or Debian's `chromium`.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("HELIOS_CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("Chromium not found: install it (Debian: sudo apt-get install -y chromium) or set HELIOS_CHROMIUM to the browser");
}

async fn post(dev: &Dev, body: Value) -> Value {
    let (status, _, answer) = post_json(dev, API_KEY, body.to_string().into_bytes()).await;
    assert_eq!(status, 202, "{answer}");
    answer
}

/// A decision of `rule`, once one is stored and `ready` holds for its page.
async fn decision_of(dev: &Dev, rule: &str, ready: impl Fn(&Value) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, list) = get(dev, &format!("/v1/decisions?rule={rule}"), API_KEY).await;
        if let Some(id) = list["decisions"][0]["id"].as_str() {
            let (_, one) = get(dev, &format!("/v1/decisions/{id}"), API_KEY).await;
            if ready(&one) {
                return id.to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no decision of {rule} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_works_in_a_real_browser() {
    let browser = chromium();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dashboard = root.join("dashboard");
    assert!(
        dashboard.join("node_modules/playwright-core").is_dir(),
        "dashboard/node_modules has no playwright-core: run `npm ci` in dashboard/ (the build does)"
    );
    // The notify channels of the workflows: a local hook that answers 200.
    let hook = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let channels = json!({"chat": {"url": hook_url, "secret": "s"}, "pager": {"url": hook_url, "secret": "s"}});

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The starter rules, and two expectations of seconds, so that the Missed and Mismatched
    // panels have something to show while the test runs.
    let rules = starter_rules_with(
        dir.path(),
        "browser-test.yaml",
        "expectations:
  - id: test-heartbeat
    description: the browser test's heartbeat, every 2 s
    heartbeat:
      match: {source: [test/heartbeat], type: [heartbeat]}
      every: 2s
      grace: 1s
      repeat: 1
    key: \"{{subject}}\"
  - id: test-orders-agree
    description: the browser test's orders, told by the shop and the ledger within 2 s
    reconcile:
      sources:
        shop:
          match: {source: [test/shop], type: [order.placed]}
          key: \"{{data.order}}\"
        ledger:
          match: {source: [test/ledger], type: [order.placed]}
          key: \"{{data.order}}\"
      compare: {amount: data.amount}
      within: 2s
",
    );
    let dev = Dev::start_with(
        &data,
        None,
        &[
            "--statemachines".as_ref(),
            root.join("statemachines").as_os_str(),
            "--rules".as_ref(),
            rules.as_os_str(),
        ],
        &[("HELIOS_CHANNELS", &channels.to_string())],
    );
    let read_key = create_key(&data, "dashboard-reader", "read", None);

    // Seed: events of several families, three failed CI runs on main (a decision), an alarm
    // (a decision whose workflow waits for an acknowledgement), and an event whose strings
    // are attacks on the page.
    let now = chrono::Utc::now();
    let at = |s: i64| (now + chrono::Duration::seconds(s)).to_rfc3339();
    for i in 0..3 {
        post(
            &dev,
            json!({"id": format!("run-{i}"), "source": "ci/buildkite", "type": "ci.build.finished",
            "time": at(i), "subject": "acme/web", "data": {"branch": "main", "state": "failed"}}),
        )
        .await;
    }
    post(
        &dev,
        json!({"id": "push-1", "source": "github", "type": "github.push", "time": at(3),
        "subject": "acme/web", "data": {"ref": "refs/heads/main"}}),
    )
    .await;
    post(
        &dev,
        json!({"id": "alarm-1", "source": "aws.cloudwatch", "type": "CloudWatch Alarm State Change",
        "time": at(4), "subject": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:api-5xx",
        "data": {"alarmName": "api-5xx", "state": {"value": "ALARM", "reason": "5xx above 1%"}}}),
    )
    .await;
    let xss_subject = "<img src=x onerror=\"window.__xss=1\">";
    post(&dev, json!({"id": "attack-1", "source": "javascript:alert(1)", "type": "<script>window.__xss=2</script>",
        "time": at(5), "subject": xss_subject, "data": {"html": "<iframe src=javascript:alert(3)>"}})).await;

    // A deploy that has not finished: an open expectation (deploy-finishes, 30 minutes).
    post(
        &dev,
        json!({"id": "deploy-1", "source": "deployer", "type": "deploy.started", "time": at(6),
        "subject": "web", "data": {"environment": "production"}}),
    )
    .await;
    // The schema registry: a subject with two versions, whose policy holds what does not
    // fit (one invoice whose status is none of the schema's).
    let subject = format!("{}/v1/schemas/billing/invoice.paid", dev.url);
    let v1 = json!({"type": "object", "required": ["status"], "properties": {"status": {"enum": ["paid", "refunded"]}, "amount": {"type": "number"}}});
    let v2 = json!({"type": "object", "required": ["status"], "properties": {"status": {"enum": ["paid", "refunded", "disputed"]}, "amount": {"type": "number"}}});
    for (method, path, body) in [
        ("POST", "versions", json!({"schema": v1})),
        ("POST", "versions", json!({"schema": v2})),
        ("PUT", "settings", json!({"policy": "quarantine"})),
    ] {
        let resp = client()
            .request(method.parse().unwrap(), format!("{subject}/{path}"))
            .header("x-api-key", API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "{method} {path}: {}",
            resp.text().await.unwrap()
        );
    }
    for (id, status) in [("inv-1", "paid"), ("inv-2", "lost"), ("inv-3", "stolen")] {
        post(
            &dev,
            json!({"id": id, "source": "billing", "type": "invoice.paid", "time": at(7),
            "subject": "acme", "data": {"status": status, "amount": 12.5}}),
        )
        .await;
    }
    // A heartbeat that stops, and an order the two systems disagree on.
    post(
        &dev,
        json!({"id": "beat-1", "source": "test/heartbeat", "type": "heartbeat", "time": at(8),
        "subject": "svc/payments", "data": {}}),
    )
    .await;
    for (id, source, amount) in [
        ("o-shop", "test/shop", 120.0),
        ("o-ledger", "test/ledger", 102.0),
    ] {
        post(
            &dev,
            json!({"id": id, "source": source, "type": "order.placed", "time": at(8),
            "subject": "order-77", "data": {"order": "o-77", "amount": amount}}),
        )
        .await;
    }
    decision_of(&dev, "ci-failing-on-main", |_| true).await;
    for kind in ["helios.expectation.missed", "helios.reconcile.mismatched"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, page) = get(&dev, &format!("/v1/events?type={kind}"), API_KEY).await;
            if page["events"].as_array().is_some_and(|e| !e.is_empty()) {
                break;
            }
            assert!(Instant::now() < deadline, "no {kind} event within 60 s");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // A dead letter: a fact's message, put in the decide queue's dead-letter queue as a
    // message that failed every try would be.
    let (_, one) = get(&dev, "/v1/events?source=github", API_KEY).await;
    let event: helios_events::Event = serde_json::from_value(one["events"][0].clone()).unwrap();
    let services = helios_local::LocalServices::open(
        &data.join("local.db"),
        std::sync::Arc::new(helios_ports::SystemClock),
    )
    .unwrap();
    use helios_ports::Queue as _;
    services
        .send(
            "decide-dlq",
            &helios_app::outbox::fact_message(&event).unwrap(),
        )
        .await
        .unwrap();
    let ack = decision_of(&dev, "cloud-alarm", |one| {
        one["outcomes"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["kind"] == "awaiting_ack"))
    })
    .await;

    let shots = std::env::var_os("HELIOS_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/dashboard-screenshots"));
    let out = tokio::process::Command::new("node")
        .arg("tests/browser.mjs")
        .current_dir(&dashboard)
        .env("HELIOS_URL", &dev.url)
        .env("HELIOS_ADMIN_KEY", API_KEY)
        .env("HELIOS_READ_KEY", &read_key)
        .env("HELIOS_ACK_DECISION", &ack)
        .env("HELIOS_XSS_SUBJECT", xss_subject)
        .env("HELIOS_CHROMIUM", &browser)
        .env("HELIOS_SCREENSHOTS", &shots)
        .output()
        .await
        .expect("node runs (install Node.js 18 or newer: sudo apt-get install -y nodejs npm)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser checks failed:\n{stdout}\n{stderr}"
    );

    // What the buttons did, seen through the API.
    let (_, one) = get(&dev, &format!("/v1/decisions/{ack}"), API_KEY).await;
    assert!(
        one["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "acknowledged"),
        "{one}"
    );
    let (_, dead) = get(&dev, "/v1/dead-letters", API_KEY).await;
    let decide = dead["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "decide")
        .unwrap();
    assert_eq!(decide["visible"], 0, "redriven from the button: {dead}");
    for page in [
        "sign-in",
        "live",
        "decisions",
        "decision",
        "executions",
        "execution",
        "timeline",
        "stats",
        "rules",
        "expectations",
        "dead-letters",
    ] {
        for width in [375, 1440] {
            let f = shots.join(format!("{page}-{width}.png"));
            assert!(f.is_file(), "no screenshot {}", f.display());
        }
    }
}
