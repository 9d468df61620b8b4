//! `helios send FILE|-`: posts events to a running Helios, local or deployed.
//!
//! The input may be a sample of `events/` (a request with its headers and how it
//! authenticates), one body in any supported format (the route is chosen from its shape, or
//! by `--format`), or JSON lines of native events (sent in batches of 100).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Args;
use helios_events::sample::{Credentials, PreparedRequest, Sample};
use helios_events::{Format, SourceSecrets};
use serde_json::Value;

#[derive(Args, Debug)]
pub struct SendArgs {
    /// A JSON file, or `-` for stdin.
    pub input: String,
    #[command(flatten)]
    pub client: crate::ClientArgs,
    /// The format of a plain body, when its shape does not tell.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    if s == "native" {
        return Ok(Format::Native);
    }
    Format::from_hook(s).ok_or_else(|| {
        format!(
            "unknown format `{s}` (native, github, eventbridge, pubsub, eventgrid, cloudevents)"
        )
    })
}

pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let text = if args.input == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input))?
    };
    let creds = credentials(&args);
    let requests = build_requests(&text, args.format, &creds)?;
    let client = reqwest::Client::new();
    let mut ok = true;
    for r in requests {
        let (status, body) = send(&client, &args.client.endpoint, &r).await?;
        println!("{}", body.trim_end());
        ok &= (200..300).contains(&status);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The API key to use: the one given, else the admin key `helios dev` kept in `data_dir`.
pub fn api_key(given: Option<String>, data_dir: &std::path::Path) -> Option<String> {
    given.or_else(|| {
        std::fs::read_to_string(data_dir.join(crate::dev::ADMIN_KEY_FILE))
            .ok()
            .map(|s| s.trim().to_string())
    })
}

fn credentials(args: &SendArgs) -> Credentials {
    credentials_for(args.client.api_key.clone(), &args.client.data_dir)
}

/// The API key (given, else the one `helios dev` kept in `data_dir`) and the source secrets
/// (the environment first, then what `helios dev` keeps; read only: never created here).
pub fn credentials_for(api_key_given: Option<String>, data_dir: &std::path::Path) -> Credentials {
    let api_key = api_key(api_key_given, data_dir);
    let file: Value = std::fs::read_to_string(data_dir.join("secrets.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let pick = |var: &str, key: &str| {
        std::env::var(var)
            .ok()
            .or_else(|| file[key].as_str().map(str::to_string))
    };
    Credentials {
        api_key,
        secrets: SourceSecrets {
            github: pick("HELIOS_GITHUB_SECRET", "github"),
            pubsub: pick("HELIOS_PUBSUB_TOKEN", "pubsub"),
            eventgrid: pick("HELIOS_EVENTGRID_TOKEN", "eventgrid"),
        },
    }
}

/// The requests that send `text`.
pub fn build_requests(
    text: &str,
    format: Option<Format>,
    creds: &Credentials,
) -> anyhow::Result<Vec<PreparedRequest>> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) if Sample::looks_like_sample(&v) => {
            let sample: Sample = serde_json::from_value(v).context("reading the sample")?;
            Ok(vec![sample.prepare(creds).map_err(anyhow::Error::msg)?])
        }
        Ok(v) => {
            let format = format.unwrap_or_else(|| detect(&v));
            Ok(vec![plain(format, text.as_bytes().to_vec(), &v, creds)?])
        }
        Err(whole) => {
            // JSON lines of native events.
            let mut events = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let v: Value = serde_json::from_str(line).with_context(|| {
                    format!(
                        "the input is neither one JSON document ({whole}) nor JSON lines: line {}",
                        i + 1
                    )
                })?;
                events.push(v);
            }
            if events.is_empty() {
                bail!("the input holds no event");
            }
            events
                .chunks(100)
                .map(|chunk| {
                    let body = serde_json::json!({ "events": chunk });
                    plain(Format::Native, serde_json::to_vec(&body)?, &body, creds)
                })
                .collect()
        }
    }
}

/// The format a body's shape says it is in.
pub fn detect(v: &Value) -> Format {
    let first = match v {
        Value::Array(a) => a.first().unwrap_or(&Value::Null),
        other => other,
    };
    if first.get("specversion").is_some() {
        Format::Cloudevents
    } else if first.get("detail-type").is_some() {
        Format::Eventbridge
    } else if v.get("message").is_some() && v.get("subscription").is_some() {
        Format::Pubsub
    } else if first.get("eventType").is_some() {
        Format::Eventgrid
    } else {
        Format::Native
    }
}

fn plain(
    format: Format,
    body: Vec<u8>,
    v: &Value,
    creds: &Credentials,
) -> anyhow::Result<PreparedRequest> {
    let mut headers = Vec::new();
    let mut query = None;
    let content_type = match (format, v) {
        (Format::Cloudevents, Value::Array(_)) => "application/cloudevents-batch+json",
        (Format::Cloudevents, _) => "application/cloudevents+json",
        _ => "application/json",
    };
    headers.push(("content-type".to_string(), content_type.to_string()));
    let token = |t: &Option<String>, var: &str| -> anyhow::Result<String> {
        t.clone().with_context(|| format!("the {format} hook needs its token: set {var} or run next to the data folder of helios dev"))
    };
    match format {
        Format::Github => bail!("a GitHub delivery needs its headers (X-GitHub-Event, X-GitHub-Delivery): send a sample file of events/github/"),
        Format::Pubsub => query = Some(format!("token={}", token(&creds.secrets.pubsub, "HELIOS_PUBSUB_TOKEN")?)),
        Format::Eventgrid => query = Some(format!("token={}", token(&creds.secrets.eventgrid, "HELIOS_EVENTGRID_TOKEN")?)),
        _ => {
            let key = creds.api_key.clone().context("no API key: pass --api-key, set HELIOS_API_KEY, or run next to the data folder of helios dev")?;
            headers.push(("x-api-key".to_string(), key));
        }
    }
    let path = match format {
        Format::Native => "/v1/events".to_string(),
        f => format!("/v1/hooks/{f}"),
    };
    Ok(PreparedRequest {
        method: "POST".into(),
        path,
        query,
        headers,
        body,
    })
}

/// Sends one request; returns the status and the body.
pub async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    r: &PreparedRequest,
) -> anyhow::Result<(u16, String)> {
    let mut url = format!("{}{}", endpoint.trim_end_matches('/'), r.path);
    if let Some(q) = &r.query {
        url.push('?');
        url.push_str(q);
    }
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).context("bad method")?;
    let mut req = client.request(method, &url).body(r.body.clone());
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}: is helios dev running?"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Ok((
        status,
        if body.is_empty() {
            format!("{{\"status\":{status}}}")
        } else {
            body
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_detected() {
        assert_eq!(
            detect(&serde_json::json!({"specversion": "1.0"})),
            Format::Cloudevents
        );
        assert_eq!(
            detect(&serde_json::json!([{"specversion": "1.0"}])),
            Format::Cloudevents
        );
        assert_eq!(
            detect(&serde_json::json!({"detail-type": "x"})),
            Format::Eventbridge
        );
        assert_eq!(
            detect(&serde_json::json!({"message": {}, "subscription": "s"})),
            Format::Pubsub
        );
        assert_eq!(
            detect(&serde_json::json!([{"eventType": "x"}])),
            Format::Eventgrid
        );
        assert_eq!(detect(&serde_json::json!({"id": "1"})), Format::Native);
    }

    #[test]
    fn json_lines_go_in_batches_of_100() {
        let lines: String = (0..250).map(|i| format!("{{\"id\":\"{i}\"}}\n")).collect();
        let creds = Credentials {
            api_key: Some("k".repeat(20)),
            secrets: Default::default(),
        };
        let reqs = build_requests(&lines, None, &creds).unwrap();
        assert_eq!(reqs.len(), 3);
        let last: Value = serde_json::from_slice(&reqs[2].body).unwrap();
        assert_eq!(last["events"].as_array().unwrap().len(), 50);
        assert!(reqs[0].headers.iter().any(|(k, _)| k == "x-api-key"));
    }
}
