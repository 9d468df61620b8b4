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
//! A mail channel (`{"sns_topic_arn": "arn:aws:sns:…"}`) publishes the decision as a mail to
//! an SNS topic whose email subscriptions deliver it (terraform makes one, channel `email`).
//!
//! Failures carry the error names the workflow retries on: `Helios.Retryable` (timeouts,
//! connection errors, 429 and 5xx), `Helios.CircuitOpen`; and the ones it does not:
//! `Helios.EndpointRejected` (other 4xx), `Helios.UnknownChannel`, `Helios.BadRequest`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

/// A mail channel: an SNS topic whose subscriptions are mail addresses.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MailChannel {
    pub sns_topic_arn: String,
}

/// Every configured channel by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channels {
    pub webhooks: HashMap<String, Endpoint>,
    pub mail: HashMap<String, MailChannel>,
}

impl From<HashMap<String, Endpoint>> for Channels {
    fn from(webhooks: HashMap<String, Endpoint>) -> Channels {
        Channels {
            webhooks,
            mail: HashMap::new(),
        }
    }
}

/// How a webhook channel is reached.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
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
    open_until: Option<chrono::DateTime<chrono::Utc>>,
}

pub struct Notifier {
    http: Arc<dyn helios_ports::Outbound>,
    clock: Arc<dyn helios_ports::Clock>,
    channels: HashMap<String, Endpoint>,
    mail: HashMap<String, MailChannel>,
    mailer: Option<Arc<dyn helios_ports::Mailer>>,
    breakers: Mutex<HashMap<String, Breaker>>,
    /// Told the name of each channel whose circuit opens (the metrics).
    on_open: Option<CircuitObserver>,
}

/// What is told the name of a channel whose circuit opens.
type CircuitObserver = Arc<dyn Fn(&str) + Send + Sync>;

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

/// The mail of a decision: subject and text.
pub fn mail(req: &Request) -> (String, String) {
    let severity = req.severity.as_deref().unwrap_or("info");
    let prefix = if req.escalation { "ESCALATION " } else { "" };
    let subject = format!("{prefix}[{severity}] {}", req.title);
    let body = format!(
        "{}\n\n{}\n\nseverity: {severity}\ndecision: {}\n",
        req.title, req.text, req.decision_id
    );
    (subject, body)
}

impl Notifier {
    /// Posts to the webhook channels through `http`; signs with the time of `clock`, which
    /// the circuit breakers count on too.
    pub fn new(
        channels: impl Into<Channels>,
        http: Arc<dyn helios_ports::Outbound>,
        clock: Arc<dyn helios_ports::Clock>,
    ) -> Notifier {
        let channels = channels.into();
        Notifier {
            http,
            clock,
            channels: channels.webhooks,
            mail: channels.mail,
            mailer: None,
            breakers: Mutex::new(HashMap::new()),
            on_open: None,
        }
    }

    /// Sends the mail channels' mails through `mailer` (SNS in AWS).
    pub fn with_mailer(mut self, mailer: Arc<dyn helios_ports::Mailer>) -> Notifier {
        self.mailer = Some(mailer);
        self
    }

    /// Channels from JSON: `{"chat": {"url": "https://…", "secret": "…"}, "email":
    /// {"sns_topic_arn": "arn:aws:sns:…"}, …}`; an error names the channel and the field.
    pub fn channels_from_json(text: &str) -> Result<Channels, String> {
        let all: serde_json::Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| format!("the channels are not a JSON object: {e}"))?;
        let mut channels = Channels::default();
        for (name, spec) in all {
            if spec.get("sns_topic_arn").is_some() {
                let m = serde_json::from_value(spec)
                    .map_err(|e| format!("channel `{name}` (mail): {e}"))?;
                channels.mail.insert(name, m);
            } else {
                let e = serde_json::from_value(spec)
                    .map_err(|e| format!("channel `{name}` (webhook): {e}"))?;
                channels.webhooks.insert(name, e);
            }
        }
        Ok(channels)
    }

    /// Whether some channel is a mail channel (then the function needs a mailer).
    pub fn has_mail_channels(&self) -> bool {
        !self.mail.is_empty()
    }

    /// Handles the workflow's payload (a JSON [`Request`]).
    pub async fn handle(&self, payload: Value) -> Result<Value, Failure> {
        let req: Request = serde_json::from_value(payload).map_err(|e| {
            Failure::new(
                helios_ports::TaskError::BadRequest.name(),
                format!("not a notify request: {e}"),
            )
        })?;
        let status = self.notify(&req).await?;
        Ok(json!({"channel": req.channel, "status": status}))
    }

    /// Posts `req` to its channel; the HTTP status on success (200 for a mail handed to
    /// SNS).
    pub async fn notify(&self, req: &Request) -> Result<u16, Failure> {
        if let Some(m) = self.mail.get(&req.channel) {
            return self.send_mail(m, req).await;
        }
        let endpoint = self.channels.get(&req.channel).ok_or_else(|| {
            Failure::new(
                helios_ports::TaskError::UnknownChannel.name(),
                format!("no channel `{}` is configured", req.channel),
            )
        })?;
        self.admit(&endpoint.url)?;
        let body = serde_json::to_vec(&payload(req, endpoint.format))
            .map_err(|e| Failure::new(helios_ports::TaskError::BadRequest.name(), e.to_string()))?;
        let timeout = Duration::from_millis(endpoint.timeout_ms);
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("x-helios-decision".to_string(), req.decision_id.clone()),
        ];
        if let Some(secret) = &endpoint.secret {
            let unix = u64::try_from(self.clock.now().timestamp()).unwrap_or_default();
            headers.push((
                "x-helios-signature".to_string(),
                signature(secret, unix, &body),
            ));
        }
        let post = helios_ports::Post {
            url: endpoint.url.clone(),
            headers,
            body,
            timeout,
        };
        let outcome = match self.http.post(post).await {
            Ok(s) if (200..300).contains(&s) => Ok(s),
            Ok(s) if s == 429 || s >= 500 => Err(Failure::new(
                helios_ports::TaskError::Retryable.name(),
                format!("{} answered {s}", endpoint.url),
            )),
            Ok(s) => Err(Failure::new(
                helios_ports::TaskError::EndpointRejected.name(),
                format!("{} answered {s}", endpoint.url),
            )),
            Err(helios_ports::PostError::Timeout(_)) => Err(Failure::new(
                helios_ports::TaskError::Retryable.name(),
                format!(
                    "{} did not answer within {} ms",
                    endpoint.url, endpoint.timeout_ms
                ),
            )),
            Err(e) => Err(Failure::new(
                helios_ports::TaskError::Retryable.name(),
                format!("{}: {e}", endpoint.url),
            )),
        };
        self.record(&endpoint.url, outcome.is_ok());
        outcome
    }

    async fn send_mail(&self, m: &MailChannel, req: &Request) -> Result<u16, Failure> {
        let mailer = self.mailer.as_ref().ok_or_else(|| {
            Failure::new(
                helios_ports::TaskError::ChannelUnavailable.name(),
                format!(
                    "channel `{}` is a mail channel, and mail goes through SNS in AWS only",
                    req.channel
                ),
            )
        })?;
        let (subject, body) = mail(req);
        mailer
            .mail(&m.sns_topic_arn, &subject, &body)
            .await
            .map_err(|e| {
                let retryable = e.is_retryable();
                Failure::new(
                    if retryable {
                        helios_ports::TaskError::Retryable.name()
                    } else {
                        helios_ports::TaskError::EndpointRejected.name()
                    },
                    format!("mail to {}: {e}", m.sns_topic_arn),
                )
            })?;
        Ok(200)
    }

    /// Tells `f` the name of each channel whose endpoint's circuit opens.
    pub fn with_circuit_observer(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Notifier {
        self.on_open = Some(Arc::new(f));
        self
    }

    /// The channels whose endpoint's circuit is open now, by name (a URL may hold a secret).
    pub fn open_circuits(&self) -> Vec<String> {
        let now = self.clock.now();
        let Ok(breakers) = self.breakers.lock() else {
            return Vec::new();
        };
        let mut open: Vec<String> = self
            .channels
            .iter()
            .filter(|(_, e)| {
                breakers
                    .get(&e.url)
                    .and_then(|b| b.open_until)
                    .is_some_and(|until| now < until)
            })
            .map(|(name, _)| name.clone())
            .collect();
        open.sort_unstable();
        open
    }

    /// Fails fast while the endpoint's circuit is open; lets one trial through after it.
    fn admit(&self, url: &str) -> Result<(), Failure> {
        let Ok(mut breakers) = self.breakers.lock() else {
            return Ok(());
        };
        let b = breakers.entry(url.to_string()).or_default();
        let now = self.clock.now();
        match b.open_until {
            Some(until) if now < until => Err(Failure::new(
                helios_ports::TaskError::CircuitOpen.name(),
                format!(
                    "{url} failed {} times in a row; not trying again for {} s",
                    b.failures,
                    (until - now).num_seconds()
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
                b.open_until = chrono::Duration::from_std(BREAKER_COOL_DOWN)
                    .ok()
                    .map(|d| self.clock.now() + d);
                let names: Vec<&str> = self
                    .channels
                    .iter()
                    .filter(|(_, e)| e.url == url)
                    .map(|(name, _)| name.as_str())
                    .collect();
                tracing::warn!(channels = ?names, failures = b.failures, "circuit open");
                if let Some(f) = &self.on_open {
                    names.iter().for_each(|name| f(name));
                }
            }
        }
    }
}
