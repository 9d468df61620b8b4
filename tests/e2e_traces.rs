//! One trace per event, across the planes (issue 18): `helios dev` exports its spans over
//! OTLP/HTTP to a receiver this test starts, and the spans of one event (ingest, the outbox,
//! publish, decide, the workflow start, each task and the acknowledgement) form one tree
//! with the right parents, in the trace the sender's `traceparent` named. When the receiver
//! is gone, events are still accepted and decided, and the failed exports are counted.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use serde_json::{json, Value};
use support::*;

/// One span as the receiver got it.
#[derive(Clone, Debug)]
struct Span {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    service: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP receiver (`POST /v1/traces`, `application/x-protobuf`), decoding each
/// `ExportTraceServiceRequest` with the protocol's own message types and keeping every span.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Span>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let kept = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    assert_eq!(
                        headers.get("content-type").and_then(|v| v.to_str().ok()),
                        Some("application/x-protobuf"),
                        "OTLP/HTTP with the binary protobuf encoding"
                    );
                    let request = <ExportTraceServiceRequest as prost::Message>::decode(body)
                        .expect("an ExportTraceServiceRequest");
                    kept.lock().unwrap().extend(spans_of(&request));
                    // An empty ExportTraceServiceResponse: nothing rejected.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, spans, server }
    }

    fn spans_of(&self, trace_id: &str) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A string, integer or boolean attribute value as text.
fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// The spans of an `ExportTraceServiceRequest`.
fn spans_of(request: &ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .map(|a| text(&a.value))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(Span {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name.clone(),
                    service: service.clone(),
                    attributes: s
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(&a.value)))
                        .collect(),
                });
            }
        }
    }
    out
}

const RULE: &str = r#"
rules:
  - id: traced-alarm
    description: An alarm that asks for advice, one channel and an acknowledgement.
    priority: 90
    match:
      source: [trace/test]
      type: [alarm]
    score: {base: 80}
    actions:
      - workflow: decision
        params:
          channels: [chat]
          advise: true
          title: "Alarm on {{subject}}"
          text: "{{data.reason}}"
          ack_within: 10m
"#;

/// A webhook that answers 200 to every post: the `chat` channel.
async fn hook() -> String {
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A receiver, and a `helios dev` with the rule above exporting its spans to it: the
/// receiver, the folder everything is in, the data folder, the server.
async fn traced_dev() -> (Receiver, tempfile::TempDir, std::path::PathBuf, Dev) {
    let receiver = Receiver::start().await;
    let hook = hook().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = starter_rules_with(dir.path(), "traced.yaml", RULE);
    let data = dir.path().join("data");
    let dev = start(&data, &rules, &receiver.url, &hook);
    (receiver, dir, data, dev)
}

fn start(dir: &std::path::Path, rules: &std::path::Path, otlp: &str, hook: &str) -> Dev {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let channels = json!({"chat": {"url": hook, "secret": "trace-secret"}}).to_string();
    Dev::start_with(
        dir,
        None,
        &[
            "--statemachines".as_ref(),
            root.join("statemachines").as_os_str(),
            "--rules".as_ref(),
            rules.as_os_str(),
        ],
        &[
            ("HELIOS_CHANNELS", &channels),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ],
    )
}

async fn send(dev: &Dev, body: &Value, traceparent: Option<&str>) -> u16 {
    let mut r = client()
        .post(format!("{}/v1/events", dev.url))
        .header("x-api-key", API_KEY)
        .json(body);
    if let Some(tp) = traceparent {
        r = r.header("traceparent", tp);
    }
    r.send().await.unwrap().status().as_u16()
}

fn alarm(id: &str) -> Value {
    json!({"id": id, "source": "trace/test", "type": "alarm", "subject": "api",
           "time": chrono::Utc::now().to_rfc3339(), "data": {"reason": "5xx above 2%"}})
}

async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = check().await {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_event_is_one_trace_from_ingest_to_the_acknowledgement() {
    let (receiver, _dir, data, dev) = traced_dev().await;

    // The sender's own trace: Helios continues it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let sender_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{sender_span}-01");
    assert_eq!(send(&dev, &alarm("a-1"), Some(&traceparent)).await, 202);

    // The decision keeps its trace, and its workflow comes to wait for an acknowledgement.
    let id = wait_for(
        "a decision awaiting its ack",
        Duration::from_secs(30),
        || async {
            let (_, list) = get(&dev, "/v1/decisions?rule=traced-alarm", API_KEY).await;
            let id = list["decisions"][0]["id"].as_str()?.to_string();
            let (_, one) = get(&dev, &format!("/v1/decisions/{id}"), API_KEY).await;
            one["outcomes"]
                .as_array()?
                .iter()
                .any(|o| o["kind"] == "awaiting_ack")
                .then_some(id)
        },
    )
    .await;
    let (_, one) = get(&dev, &format!("/v1/decisions/{id}"), API_KEY).await;
    assert_eq!(one["decision"]["trace_id"], trace_id, "{one}");
    let (_, event) = get(
        &dev,
        &format!("/v1/events/{}", one["decision"]["event"].as_str().unwrap()),
        API_KEY,
    )
    .await;
    assert!(
        event["event"]["traceparent"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("00-{trace_id}-"))),
        "the fact carries its trace: {event}"
    );
    let r = client()
        .post(format!("{}/v1/decisions/{id}/ack", dev.url))
        .header("x-api-key", API_KEY)
        .json(&json!({"by": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let done = data.join(format!("executions/done/{id}-0.json"));
    wait_for(
        "the acknowledged workflow's end",
        Duration::from_secs(30),
        || async { done.exists().then_some(()) },
    )
    .await;

    // Every span of the event's way, exported to the receiver, in the sender's trace.
    let wanted = [
        "ingest",
        "outbox.write",
        "publish",
        "decide",
        "workflow.start",
        "advise",
        "notify",
        "record",
        "ack",
    ];
    let spans = wait_for(
        "every span at the receiver",
        Duration::from_secs(30),
        || async {
            let spans = receiver.spans_of(trace_id);
            // `record` twice: the wait for the acknowledgement, and the outcome.
            let records = spans.iter().filter(|s| s.name == "record").count();
            (wanted.iter().all(|w| spans.iter().any(|s| s.name == *w)) && records == 2)
                .then_some(spans)
        },
    )
    .await;
    let one_named = |name: &str| -> &Span {
        let all: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(all.len(), 1, "one `{name}` span: {spans:#?}");
        all[0]
    };
    let ingest = one_named("ingest");
    let outbox = one_named("outbox.write");
    let publish = one_named("publish");
    let decide = one_named("decide");
    let start = one_named("workflow.start");
    let advise = one_named("advise");
    let notify = one_named("notify");
    let ack = one_named("ack");
    assert_eq!(
        ingest.parent, sender_span,
        "ingest continues the sender's span"
    );
    assert_eq!(outbox.parent, ingest.span_id);
    assert_eq!(publish.parent, ingest.span_id);
    assert_eq!(
        decide.parent, publish.span_id,
        "decide continues the message's publish"
    );
    assert_eq!(start.parent, decide.span_id);
    assert_eq!(advise.parent, start.span_id);
    assert_eq!(notify.parent, start.span_id);
    for r in spans.iter().filter(|s| s.name == "record") {
        assert_eq!(r.parent, start.span_id, "record: {r:?}");
    }
    assert_eq!(
        ack.parent, decide.span_id,
        "the acknowledgement joins the decision"
    );
    assert_eq!(
        one["decision"]["span_id"], decide.span_id,
        "the decision names its decide span"
    );
    // What each span says of itself.
    assert_eq!(ingest.attributes["http.route"], "/v1/events");
    assert_eq!(ingest.attributes["http.response.status_code"], "202");
    assert_eq!(start.attributes["workflow.machine"], "decision");
    assert_eq!(ingest.service, "helios");
    // Every span of the tree is in it: its parent is one of them, or the sender's.
    let ids: Vec<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    for s in &spans {
        assert!(
            s.parent == sender_span || ids.contains(&s.parent.as_str()),
            "{s:?} hangs outside the tree"
        );
    }

    // The export is counted on /metrics.
    let r = client()
        .get(format!("{}/metrics", dev.url))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    let ok = metric(&text, "helios_trace_spans_exported_total{result=\"ok\"}");
    assert!(ok >= spans.len() as f64, "{ok} spans counted as exported");
    receiver.server.abort();
}

/// The value of the sample `name` (with its labels) in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).map(str::trim))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_receiver_stops_neither_ingest_nor_decisions_and_is_counted() {
    let (receiver, _dir, _data, dev) = traced_dev().await;
    // The receiver goes away: its port answers nothing any more.
    receiver.server.abort();
    let _ = receiver.server.await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    for i in 0..20 {
        assert_eq!(send(&dev, &alarm(&format!("dead-{i}")), None).await, 202);
    }
    wait_for("20 decisions", Duration::from_secs(60), || async {
        let all = list_every(&dev, "decisions").await;
        (all.len() == 20).then_some(())
    })
    .await;
    let failed = wait_for(
        "failed exports counted",
        Duration::from_secs(30),
        || async {
            let text = client()
                .get(format!("{}/metrics", dev.url))
                .header("x-api-key", API_KEY)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let failed = metric(
                &text,
                "helios_trace_spans_exported_total{result=\"failed\"}",
            );
            (failed > 0.0).then_some(failed)
        },
    )
    .await;
    assert!(failed > 0.0);
    assert!(receiver.spans.lock().unwrap().is_empty());
}
