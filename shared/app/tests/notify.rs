//! `notify` against a real HTTP endpoint on 127.0.0.1: the post, its signature, the error
//! names of failures, the timeout and the circuit breaker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use helios_app::notify::{signature, Endpoint, Format, Notifier, Request, BREAKER_FAILURES};
use serde_json::{json, Value};

/// A request the hook received: its headers and body.
type Seen = (HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Hook {
    /// The status to answer with, and how long to wait first.
    answer: Arc<Mutex<(u16, u64)>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn hook(State(h): State<Hook>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    h.seen.lock().unwrap().push((headers, body.to_vec()));
    let (status, delay) = *h.answer.lock().unwrap();
    tokio::time::sleep(Duration::from_millis(delay)).await;
    StatusCode::from_u16(status).unwrap()
}

async fn serve() -> (String, Hook) {
    let h = Hook::default();
    *h.answer.lock().unwrap() = (200, 0);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, h)
}

fn request(channel: &str) -> Request {
    Request {
        channel: channel.into(),
        decision_id: "dec_1".into(),
        severity: Some("critical".into()),
        title: "CI failing on acme/web main".into(),
        text: "3 failed runs on main within 1h".into(),
        escalation: false,
    }
}

fn notifier(url: &str, secret: Option<&str>, timeout_ms: u64) -> Notifier {
    notifier_at(url, secret, timeout_ms, Arc::new(helios_ports::SystemClock))
}

fn notifier_at(
    url: &str,
    secret: Option<&str>,
    timeout_ms: u64,
    clock: Arc<dyn helios_ports::Clock>,
) -> Notifier {
    let mut channels = HashMap::new();
    channels.insert(
        "chat".to_string(),
        Endpoint {
            url: url.into(),
            secret: secret.map(String::from),
            format: Format::Slack,
            timeout_ms,
        },
    );
    Notifier::new(channels, http(), clock)
}

/// The outbound HTTP adapter the functions use.
fn http() -> Arc<dyn helios_ports::Outbound> {
    Arc::new(helios_runtime::outbound::HttpClient::new().unwrap())
}

#[tokio::test]
async fn posts_a_signed_slack_compatible_message() {
    let (url, hook) = serve().await;
    let n = notifier(&url, Some("s3cret"), 2_000);
    let out = n
        .handle(serde_json::to_value(request("chat")).unwrap())
        .await
        .unwrap();
    assert_eq!(out, json!({"channel": "chat", "status": 200}));
    let seen = hook.seen.lock().unwrap();
    let (headers, body) = &seen[0];
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        v["text"],
        "[critical] CI failing on acme/web main: 3 failed runs on main within 1h"
    );
    assert_eq!(v["blocks"][0]["type"], "section");
    assert_eq!(v["helios"]["decision_id"], "dec_1");
    assert_eq!(headers["x-helios-decision"], "dec_1");
    // The receiver checks the signature with the shared secret and the time it carries.
    let sig = headers["x-helios-signature"].to_str().unwrap();
    let t: u64 = sig
        .strip_prefix("t=")
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sig, signature("s3cret", t, body));
    assert_ne!(sig, signature("other", t, body));
}

#[tokio::test]
async fn failures_carry_the_names_the_workflow_retries_on() {
    let (url, hook) = serve().await;
    let n = notifier(&url, None, 300);
    *hook.answer.lock().unwrap() = (503, 0);
    assert_eq!(
        n.notify(&request("chat")).await.unwrap_err().error,
        "Helios.Retryable"
    );
    *hook.answer.lock().unwrap() = (410, 0);
    assert_eq!(
        n.notify(&request("chat")).await.unwrap_err().error,
        "Helios.EndpointRejected"
    );
    *hook.answer.lock().unwrap() = (200, 1_000);
    let slow = n.notify(&request("chat")).await.unwrap_err();
    assert_eq!(slow.error, "Helios.Retryable");
    assert!(slow.cause.contains("within 300 ms"), "{}", slow.cause);
    assert_eq!(
        n.notify(&request("pager")).await.unwrap_err().error,
        "Helios.UnknownChannel"
    );
    let bad = n.handle(json!({"channel": "chat"})).await.unwrap_err();
    assert_eq!(bad.error, "Helios.BadRequest");
    assert!(
        !first_headers(&hook).contains_key("x-helios-signature"),
        "no secret, no signature"
    );
}

fn first_headers(hook: &Hook) -> HeaderMap {
    hook.seen.lock().unwrap()[0].0.clone()
}

#[tokio::test]
async fn the_circuit_opens_after_consecutive_failures_and_lets_a_trial_through_after_its_cool_down()
{
    let (url, hook) = serve().await;
    let clock = Arc::new(helios_ports::ManualClock::new(chrono::Utc::now()));
    let opened = Arc::new(Mutex::new(Vec::new()));
    let seen = opened.clone();
    let n = notifier_at(&url, None, 2_000, clock.clone())
        .with_circuit_observer(move |channel| seen.lock().unwrap().push(channel.to_string()));
    *hook.answer.lock().unwrap() = (500, 0);
    for _ in 0..BREAKER_FAILURES {
        assert_eq!(
            n.notify(&request("chat")).await.unwrap_err().error,
            "Helios.Retryable"
        );
    }
    let posts = hook.seen.lock().unwrap().len();
    assert_eq!(
        n.open_circuits(),
        ["chat"],
        "the health names the open channel"
    );
    let open = n.notify(&request("chat")).await.unwrap_err();
    assert_eq!(open.error, "Helios.CircuitOpen");
    assert_eq!(
        hook.seen.lock().unwrap().len(),
        posts,
        "an open circuit does not post"
    );
    // On the notifier's clock, not the wall's: after the cool-down one trial goes through,
    // and a success closes the circuit.
    clock.advance(helios_app::notify::BREAKER_COOL_DOWN - Duration::from_secs(1));
    assert_eq!(
        n.notify(&request("chat")).await.unwrap_err().error,
        "Helios.CircuitOpen"
    );
    clock.advance(Duration::from_secs(2));
    *hook.answer.lock().unwrap() = (200, 0);
    assert_eq!(n.notify(&request("chat")).await.unwrap(), 200);
    assert!(n.open_circuits().is_empty(), "a success closes it");
    assert_eq!(hook.seen.lock().unwrap().len(), posts + 1);
    assert_eq!(n.notify(&request("chat")).await.unwrap(), 200);
}

/// A mailer that keeps what it was asked to send, or fails as told.
#[derive(Default)]
struct Mails {
    sent: Mutex<Vec<(String, String, String)>>,
    fail: Mutex<Option<helios_ports::PortError>>,
}

#[async_trait::async_trait]
impl helios_ports::Mailer for Mails {
    async fn mail(
        &self,
        topic_arn: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), helios_ports::PortError> {
        if let Some(e) = self.fail.lock().unwrap().take() {
            return Err(e);
        }
        self.sent
            .lock()
            .unwrap()
            .push((topic_arn.into(), subject.into(), body.into()));
        Ok(())
    }
}

#[test]
fn channels_are_webhooks_or_mail_topics_and_errors_name_the_channel() {
    let c = Notifier::channels_from_json(
        r#"{"chat": {"url": "https://hooks.example/x", "secret": "s"}, "email": {"sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:helios-notifications"}}"#,
    )
    .unwrap();
    assert_eq!(c.webhooks["chat"].url, "https://hooks.example/x");
    assert_eq!(
        c.mail["email"].sns_topic_arn,
        "arn:aws:sns:eu-west-1:123456789012:helios-notifications"
    );
    let e = Notifier::channels_from_json(r#"{"chat": {"uri": "https://x"}}"#).unwrap_err();
    assert!(e.contains("channel `chat` (webhook)"), "{e}");
    let e = Notifier::channels_from_json(r#"{"email": {"sns_topic_arn": "a", "to": "b"}}"#)
        .unwrap_err();
    assert!(
        e.contains("channel `email` (mail)") && e.contains("to"),
        "{e}"
    );
    let e = Notifier::channels_from_json("[]").unwrap_err();
    assert!(e.contains("not a JSON object"), "{e}");
}

#[tokio::test]
async fn a_mail_channel_publishes_the_decision_as_a_mail() {
    let channels = Notifier::channels_from_json(
        r#"{"email": {"sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:helios-notifications"}}"#,
    )
    .unwrap();
    let mails = Arc::new(Mails::default());
    let n = Notifier::new(
        channels.clone(),
        http(),
        Arc::new(helios_ports::SystemClock),
    )
    .with_mailer(mails.clone());
    let out = n
        .handle(serde_json::to_value(request("email")).unwrap())
        .await
        .unwrap();
    assert_eq!(out, json!({"channel": "email", "status": 200}));
    let sent = mails.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let (topic, subject, body) = &sent[0];
    assert_eq!(
        topic,
        "arn:aws:sns:eu-west-1:123456789012:helios-notifications"
    );
    assert_eq!(subject, "[critical] CI failing on acme/web main");
    assert!(body.contains("3 failed runs on main within 1h"), "{body}");
    assert!(body.contains("decision: dec_1"), "{body}");

    // SNS unavailable: the workflow retries.
    *mails.fail.lock().unwrap() = Some(helios_ports::PortError::unavailable("SNS", "timed out"));
    let e = n.notify(&request("email")).await.unwrap_err();
    assert_eq!(e.error, "Helios.Retryable", "{}", e.cause);

    // Without SNS (helios dev), a mail channel says why it cannot send.
    let local = Notifier::new(channels, http(), Arc::new(helios_ports::SystemClock));
    let e = local.notify(&request("email")).await.unwrap_err();
    assert_eq!(e.error, "Helios.ChannelUnavailable", "{}", e.cause);
}
