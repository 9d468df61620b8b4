//! `notify`: the task function of the `decision` workflow that tells a channel about a
//! decision. A channel is a webhook endpoint; the post is
//!
//! - **Slack-compatible** (`format: "slack"`, the default): `text` and `blocks`, which Slack's
//!   incoming webhooks and the many tools that copy them accept, plus a `helios` object with
//!   the decision's fields; or plain JSON (`format: "json"`): the request itself;
//! - **signed** when the channel has a secret: `X-Helios-Signature: t=<unix seconds>,v1=<hex>`,
//!   the HMAC-SHA256 of `<t>.<body>`, so the receiver can check who sent it and when;
//! - **bounded**: a timeout per endpoint, and a circuit breaker per endpoint that fails fast
//!   (`Helios.CircuitOpen`) after consecutive failures, then lets one trial through after a
//!   cool-down.
//!
//! Failures carry the error names the workflow retries on: `Helios.Retryable` (timeouts,
//! connection errors, 429 and 5xx), `Helios.CircuitOpen`; and the ones it does not:
//! `Helios.EndpointRejected` (other 4xx), `Helios.UnknownChannel`, `Helios.BadRequest`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

/// How a channel is reached.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// Signs each post when set.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub format: Format,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5_000
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Slack,
    Json,
}

/// What the workflow asks for: one channel, one decision.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Request {
    pub channel: String,
    pub decision_id: String,
    #[serde(default)]
    pub severity: Option<String>,
    pub title: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub escalation: bool,
}

/// A failed notification, named for the workflow's `Retry` and `Catch`.
pub use helios_ports::TaskFailure as Failure;

/// After this many failures in a row an endpoint's circuit opens…
pub const BREAKER_FAILURES: u32 = 5;
/// …for this long, after which one trial goes through.
pub const BREAKER_COOL_DOWN: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

pub struct Notifier {
    client: reqwest::Client,
    channels: HashMap<String, Endpoint>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

/// The signature header's value for `body` sent at `unix` seconds.
pub fn signature(secret: &str, unix: u64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body posted for `req`.
pub fn payload(req: &Request, format: Format) -> Value {
    match format {
        Format::Json => json!(req),
        Format::Slack => {
            let severity = req.severity.as_deref().unwrap_or("info");
            let prefix = if req.escalation { "ESCALATION " } else { "" };
            let text = format!("{prefix}[{severity}] {}: {}", req.title, req.text);
            json!({
                "text": text,
                "blocks": [{
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": format!("*{prefix}{}*\n{}", req.title, req.text)},
                }, {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": format!("severity {severity} · decision {}", req.decision_id)}],
                }],
                "helios": req,
            })
        }
    }
}

impl Notifier {
    pub fn new(channels: HashMap<String, Endpoint>) -> Result<Notifier, reqwest::Error> {
        Ok(Notifier {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            channels,
            breakers: Mutex::new(HashMap::new()),
        })
    }

    /// Channels from JSON: `{"chat": {"url": "https://…", "secret": "…"}, …}`.
    pub fn channels_from_json(text: &str) -> Result<HashMap<String, Endpoint>, String> {
        serde_json::from_str(text).map_err(|e| format!("the channels are not valid: {e}"))
    }

    /// Handles the workflow's payload (a JSON [`Request`]).
    pub async fn handle(&self, payload: Value) -> Result<Value, Failure> {
        let req: Request = serde_json::from_value(payload)
            .map_err(|e| Failure::new("Helios.BadRequest", format!("not a notify request: {e}")))?;
        let status = self.notify(&req).await?;
        Ok(json!({"channel": req.channel, "status": status}))
    }

    /// Posts `req` to its channel; the HTTP status on success.
    pub async fn notify(&self, req: &Request) -> Result<u16, Failure> {
        let endpoint = self.channels.get(&req.channel).ok_or_else(|| {
            Failure::new(
                "Helios.UnknownChannel",
                format!("no channel `{}` is configured", req.channel),
            )
        })?;
        self.admit(&endpoint.url)?;
        let body = serde_json::to_vec(&payload(req, endpoint.format))
            .map_err(|e| Failure::new("Helios.BadRequest", e.to_string()))?;
        let mut post = self
            .client
            .post(&endpoint.url)
            .timeout(Duration::from_millis(endpoint.timeout_ms))
            .header("content-type", "application/json")
            .header("x-helios-decision", &req.decision_id);
        if let Some(secret) = &endpoint.secret {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            post = post.header("x-helios-signature", signature(secret, unix, &body));
        }
        let outcome = match post.body(body).send().await {
            Ok(r) => {
                let s = r.status();
                if s.is_success() {
                    Ok(s.as_u16())
                } else if s.as_u16() == 429 || s.is_server_error() {
                    Err(Failure::new(
                        "Helios.Retryable",
                        format!("{} answered {s}", endpoint.url),
                    ))
                } else {
                    Err(Failure::new(
                        "Helios.EndpointRejected",
                        format!("{} answered {s}", endpoint.url),
                    ))
                }
            }
            Err(e) if e.is_timeout() => Err(Failure::new(
                "Helios.Retryable",
                format!(
                    "{} did not answer within {} ms",
                    endpoint.url, endpoint.timeout_ms
                ),
            )),
            Err(e) => Err(Failure::new(
                "Helios.Retryable",
                format!("{}: {e}", endpoint.url),
            )),
        };
        self.record(&endpoint.url, outcome.is_ok());
        outcome
    }

    /// Fails fast while the endpoint's circuit is open; lets one trial through after it.
    fn admit(&self, url: &str) -> Result<(), Failure> {
        let Ok(mut breakers) = self.breakers.lock() else {
            return Ok(());
        };
        let b = breakers.entry(url.to_string()).or_default();
        match b.open_until {
            Some(until) if Instant::now() < until => Err(Failure::new(
                "Helios.CircuitOpen",
                format!(
                    "{url} failed {} times in a row; not trying again for {} s",
                    b.failures,
                    until.saturating_duration_since(Instant::now()).as_secs()
                ),
            )),
            Some(_) => {
                // Half open: this call is the trial; another failure opens the circuit again.
                b.open_until = None;
                b.failures = BREAKER_FAILURES - 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record(&self, url: &str, ok: bool) {
        let Ok(mut breakers) = self.breakers.lock() else {
            return;
        };
        let b = breakers.entry(url.to_string()).or_default();
        if ok {
            *b = Breaker::default();
        } else {
            b.failures += 1;
            if b.failures >= BREAKER_FAILURES {
                b.open_until = Some(Instant::now() + BREAKER_COOL_DOWN);
                tracing::warn!(url, failures = b.failures, "circuit open");
            }
        }
    }
}
