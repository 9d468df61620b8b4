//! Request samples: the files in `events/`, each one HTTP request as a source would send it,
//! with how it authenticates and what Helios must answer. The tests replay them, and
//! `helios send` sends them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One sample file.
#[derive(Clone, Debug, Deserialize)]
pub struct Sample {
    pub description: String,
    /// How the request authenticates: `api-key`, `github-signature`, `pubsub-token`,
    /// `eventgrid-token` or `none` (the sample carries whatever it carries).
    pub auth: SampleAuth,
    pub request: SampleRequest,
    /// What Helios must answer.
    pub expect: Value,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SampleAuth {
    ApiKey,
    GithubSignature,
    PubsubToken,
    EventgridToken,
    None,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SampleRequest {
    #[serde(default = "post")]
    pub method: String,
    /// Path, with a query string when the sample needs one.
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, sent compact.
    #[serde(default)]
    pub body: Option<Value>,
    /// A body sent byte for byte (malformed JSON, form posts, …).
    #[serde(default)]
    pub body_text: Option<String>,
}

fn post() -> String {
    "POST".into()
}

/// What a sender knows: the API key and the source secrets.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub api_key: Option<String>,
    pub secrets: crate::SourceSecrets,
}

/// A sample made ready to send.
#[derive(Clone, Debug)]
pub struct PreparedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Sample {
    /// Reads a sample from its JSON text.
    pub fn parse(text: &str) -> Result<Sample, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Tells a sample file apart from a plain body: samples have `request` and `expect`.
    pub fn looks_like_sample(v: &Value) -> bool {
        v.get("request").is_some_and(Value::is_object) && v.get("expect").is_some()
    }

    /// The request to send, authenticated as the sample says with `creds`.
    pub fn prepare(&self, creds: &Credentials) -> Result<PreparedRequest, String> {
        let r = &self.request;
        let body = match (&r.body_text, &r.body) {
            (Some(t), _) => t.clone().into_bytes(),
            (None, Some(v)) => serde_json::to_vec(v).map_err(|e| e.to_string())?,
            (None, None) => Vec::new(),
        };
        let (path, mut query) = match r.path.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (r.path.clone(), None),
        };
        let mut headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut add_token = |token: &Option<String>, what: &str| -> Result<(), String> {
            let t = token
                .as_deref()
                .ok_or_else(|| format!("this sample needs the {what} token"))?;
            let pair = format!("token={}", urlencoding::encode(t));
            query = Some(match query.take() {
                Some(q) => format!("{q}&{pair}"),
                None => pair,
            });
            Ok(())
        };
        match self.auth {
            SampleAuth::ApiKey => {
                let k = creds
                    .api_key
                    .as_deref()
                    .ok_or("this sample needs an API key")?;
                headers.push(("x-api-key".into(), k.into()));
            }
            SampleAuth::GithubSignature => {
                let s = creds
                    .secrets
                    .github
                    .as_deref()
                    .ok_or("this sample needs the github webhook secret")?;
                headers.push((
                    "x-hub-signature-256".into(),
                    crate::github_signature(s, &body),
                ));
            }
            SampleAuth::PubsubToken => add_token(&creds.secrets.pubsub, "pubsub")?,
            SampleAuth::EventgridToken => add_token(&creds.secrets.eventgrid, "eventgrid")?,
            SampleAuth::None => {}
        }
        Ok(PreparedRequest {
            method: r.method.clone(),
            path,
            query,
            headers,
            body,
        })
    }
}

/// Why a prepared sample could not be normalised.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The sample itself is not a request Helios serves (path, method or header).
    #[error("{0}")]
    Request(String),
    #[error(transparent)]
    Normalise(#[from] crate::NormaliseError),
}

impl PreparedRequest {
    /// The format of the ingest route the sample is sent to: `/v1/events` or a hook.
    pub fn format(&self) -> Option<crate::Format> {
        if self.path == "/v1/events" {
            return Some(crate::Format::Native);
        }
        self.path
            .strip_prefix("/v1/hooks/")
            .and_then(crate::Format::from_hook)
    }

    /// Normalises the request in-process, as `ingest` would on its route.
    pub fn normalise(&self, ctx: &crate::Context<'_>) -> Result<crate::Normalised, ReplayError> {
        let format = self
            .format()
            .ok_or_else(|| ReplayError::Request(format!("{} is not an ingest route", self.path)))?;
        let method = http::Method::from_bytes(self.method.as_bytes()).map_err(|_| {
            ReplayError::Request(format!("`{}` is not an HTTP method", self.method))
        })?;
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| ReplayError::Request(format!("`{k}` is not a header name")))?;
            let value = http::HeaderValue::from_str(v).map_err(|_| {
                ReplayError::Request(format!("the value of `{k}` is not a header value"))
            })?;
            headers.append(name, value);
        }
        let req = crate::Request {
            method: &method,
            headers: &headers,
            query: self.query.as_deref(),
            body: &self.body,
        };
        Ok(crate::normalise(format, &req, ctx)?)
    }
}
