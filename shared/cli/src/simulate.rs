//! `helios simulate`: realistic traffic, in every format Helios takes, at a chosen rate,
//! against any Helios (`helios dev`, or a deployment's API). What it sends:
//!
//! - GitHub (`/v1/hooks/github`, signed with the webhook secret): pushes to main, each built
//!   by CI a few seconds later (`ci.build.finished`, the native envelope) except a share whose
//!   build never comes (`--missing`) or reports another branch (`--mismatched`), so the
//!   reconciliation of `rules/ci.yaml` has something to find; and `workflow_run` completions,
//!   one in five a failure;
//! - CI of feature branches (native), passing and failing;
//! - AWS (`/v1/hooks/eventbridge`): CloudWatch alarms going into ALARM and back to OK;
//! - GCP (`/v1/hooks/pubsub`, with its push token): Cloud Storage object notifications;
//! - Azure (`/v1/hooks/eventgrid`, with its token): blobs created, and now and then an alert;
//! - CloudEvents (`/v1/hooks/cloudevents`): payments that succeed or fail;
//! - native deploys: `deploy.started`, then `deploy.finished` (some failed, some never);
//! - a heartbeat of `svc/checkout` every 5 s, which stops after `--heartbeat-stops-after`.
//!
//! Every request is a real one, one event each, as its source sends it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use helios_events::sample::{Credentials, PreparedRequest, Sample, SampleAuth, SampleRequest};
use serde_json::{json, Value};

#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub client: crate::ClientArgs,
    #[command(flatten)]
    pub traffic: Traffic,
    /// Stop after this many seconds (default: until interrupted).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

/// What the traffic is made of.
#[derive(Args, Debug, Clone)]
pub struct Traffic {
    /// Events per second, from 10 to 1,000.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(10..=1000))]
    pub rate: u32,
    /// The share of pushes to main whose CI build never comes.
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    pub missing: f64,
    /// The share of pushes to main whose CI build reports another branch.
    #[arg(long, default_value_t = 0.05, value_parser = share)]
    pub mismatched: f64,
    /// Seconds after which the heartbeat stops (`never` keeps it going).
    #[arg(long, default_value = "10", value_name = "SECONDS|never")]
    pub heartbeat_stops_after: String,
    /// The seed of the random choices: the same seed, the same traffic.
    #[arg(long)]
    pub seed: Option<u64>,
}

fn share(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| format!("a share is a number from 0 to 1, not {s:?}"))
}

impl Traffic {
    fn heartbeat_stops_after(&self) -> anyhow::Result<Option<Duration>> {
        match self.heartbeat_stops_after.as_str() {
            "never" => Ok(None),
            s => s
                .parse::<f64>()
                .ok()
                .and_then(|v| Duration::try_from_secs_f64(v).ok())
                .map(Some)
                .ok_or_else(|| {
                    anyhow::anyhow!("--heartbeat-stops-after takes seconds or `never`, not {s:?}")
                }),
        }
    }
}

const REPOS: [&str; 3] = ["acme/web", "acme/api", "acme/mobile"];
const ALARMS: [&str; 3] = ["api-5xx", "checkout-latency", "queue-depth"];
const SERVICES: [&str; 3] = ["web", "api", "billing"];

/// The traffic, made one request at a time.
pub struct Simulator {
    rng: fastrand::Rng,
    traffic: Traffic,
    heartbeat_stops: Option<Duration>,
    n: u64,
    /// Requests due later (CI builds after their push, deploys after their start), by when.
    later: BTreeMap<(Duration, u64), Sample>,
    next_heartbeat: Duration,
}

impl Simulator {
    pub fn new(traffic: Traffic) -> anyhow::Result<Simulator> {
        let heartbeat_stops = traffic.heartbeat_stops_after()?;
        Ok(Simulator {
            rng: traffic
                .seed
                .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            traffic,
            heartbeat_stops,
            n: 0,
            later: BTreeMap::new(),
            next_heartbeat: Duration::ZERO,
        })
    }

    /// The requests due at `at` (time since the start), about `count` of them: those that
    /// follow earlier ones (builds, finished deploys, the heartbeat) first, then new ones.
    pub fn due(&mut self, at: Duration, count: usize) -> Vec<Sample> {
        let mut out = Vec::with_capacity(count + 2);
        while let Some(entry) = self.later.first_entry() {
            if entry.key().0 > at {
                break;
            }
            out.push(entry.remove());
        }
        if self.heartbeat_stops.is_none_or(|stop| at < stop) && at >= self.next_heartbeat {
            out.push(self.heartbeat(at));
            self.next_heartbeat = at + Duration::from_secs(5);
        }
        for _ in out.len()..count {
            let s = self.one(at);
            out.push(s);
        }
        out
    }

    fn id(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}-{}-{:08x}", self.n, self.rng.u32(..))
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.rng.u32(..16), 16).unwrap_or('0'))
            .collect()
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.usize(..from.len())]
    }

    fn after(&mut self, at: Duration, seconds: std::ops::Range<u64>, s: Sample) {
        let when =
            at + Duration::from_millis(self.rng.u64(seconds.start * 1000..seconds.end * 1000));
        self.n += 1;
        self.later.insert((when, self.n), s);
    }

    fn one(&mut self, at: Duration) -> Sample {
        match self.rng.u32(..100) {
            0..=11 => self.push(at),
            12..=24 => self.workflow_run(),
            25..=36 => self.ci_build(None),
            37..=51 => self.alarm(),
            52..=61 => self.gcs_object(),
            62..=71 => self.blob_or_alert(),
            72..=86 => self.payment(),
            _ => self.deploy(at),
        }
    }

    fn push(&mut self, at: Duration) -> Sample {
        let repo = self.pick(&REPOS);
        let commit = self.hex(40);
        let roll = self.rng.f64();
        if roll >= self.traffic.missing {
            let branch = if roll < self.traffic.missing + self.traffic.mismatched {
                "master"
            } else {
                "main"
            };
            let build = self.ci_build(Some((repo, branch, &commit)));
            self.after(at, 2..8, build);
        }
        let delivery = self.id("delivery");
        github(
            "push",
            &delivery,
            json!({
                "ref": "refs/heads/main", "before": self.hex(40), "after": commit,
                "created": false, "deleted": false, "forced": false,
                "commits": [{"id": commit, "message": "Make it faster", "timestamp": now(),
                             "author": {"name": "Dana", "username": "dana"}}],
                "head_commit": {"id": commit, "message": "Make it faster", "timestamp": now()},
                "repository": {"id": 70112, "name": repo.split('/').nth(1).unwrap_or(repo), "full_name": repo, "private": true},
                "pusher": {"name": "dana"}, "sender": {"login": "dana", "id": 5123}
            }),
        )
    }

    fn workflow_run(&mut self) -> Sample {
        let repo = self.pick(&REPOS);
        let failed = self.rng.u32(..5) == 0;
        let sha = self.hex(40);
        let delivery = self.id("delivery");
        let run_id = self.rng.u64(10_000_000_000..20_000_000_000);
        github(
            "workflow_run",
            &delivery,
            json!({
                "action": "completed",
                "workflow_run": {
                    "id": run_id, "name": "CI", "head_branch": "main", "head_sha": sha,
                    "run_number": self.n, "event": "push", "status": "completed",
                    "conclusion": if failed { "failure" } else { "success" },
                    "created_at": now(), "updated_at": now(), "run_attempt": 1, "run_started_at": now(),
                    "head_commit": {"id": sha, "message": "Make it faster"},
                    "actor": {"login": "dana", "id": 5123}
                },
                "repository": {"id": 70112, "name": repo.split('/').nth(1).unwrap_or(repo), "full_name": repo},
                "sender": {"login": "dana", "id": 5123}
            }),
        )
    }

    /// A CI build: of a push to main (`of`), or of a feature branch.
    fn ci_build(&mut self, of: Option<(&str, &str, &str)>) -> Sample {
        let (repo, branch, commit) = match of {
            Some((r, b, c)) => (r.to_string(), b.to_string(), c.to_string()),
            None => {
                let r = self.pick(&REPOS).to_string();
                let b = format!("feature/{}", self.hex(4));
                (r, b, self.hex(40))
            }
        };
        let failed = of.is_none() && self.rng.u32(..4) == 0;
        let id = self.id("build");
        native(json!({
            "id": id, "source": "ci/buildkite", "type": "ci.build.finished", "time": now(),
            "subject": repo,
            "data": {"branch": branch, "commit": commit, "state": if failed { "failed" } else { "passed" },
                     "duration_s": self.rng.u32(60..900)}
        }))
    }

    fn alarm(&mut self) -> Sample {
        let alarm = self.pick(&ALARMS);
        let firing = self.rng.u32(..3) == 0;
        let (value, previous) = if firing {
            ("ALARM", "OK")
        } else {
            ("OK", "ALARM")
        };
        let id = self.id("eb");
        api_key_hook(
            "eventbridge",
            "application/json",
            json!({
                "version": "0", "id": id, "detail-type": "CloudWatch Alarm State Change",
                "source": "aws.cloudwatch", "account": "123456789012", "time": now(),
                "region": "eu-west-1",
                "resources": [format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{alarm}")],
                "detail": {"alarmName": alarm,
                           "state": {"value": value, "reason": format!("Threshold crossed for {alarm}")},
                           "previousState": {"value": previous}}
            }),
        )
    }

    fn gcs_object(&mut self) -> Sample {
        use base64::Engine as _;
        let name = format!("reports/{}.csv", self.hex(8));
        let data = json!({"kind": "storage#object", "name": name, "bucket": "acme-uploads",
                          "contentType": "text/csv", "size": self.rng.u32(1000..100_000).to_string()});
        let message_id = self.rng.u64(..).to_string();
        Sample {
            description: "simulated Pub/Sub push".into(),
            auth: SampleAuth::PubsubToken,
            request: request(
                "/v1/hooks/pubsub",
                "application/json",
                json!({
                    "message": {
                        "attributes": {"bucketId": "acme-uploads", "eventType": "OBJECT_FINALIZE", "objectId": name},
                        "data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
                        "messageId": message_id, "publishTime": now()
                    },
                    "subscription": "projects/acme-prod/subscriptions/helios-push"
                }),
            ),
            expect: Value::Null,
        }
    }

    fn blob_or_alert(&mut self) -> Sample {
        let id = self.id("eg");
        let event = if self.rng.u32(..10) == 0 {
            json!({"topic": "/subscriptions/5b4b650e/resourceGroups/acme/providers/Microsoft.Insights/components/checkout",
                   "subject": "checkout-availability", "eventType": "Microsoft.Insights.AlertFired",
                   "id": id, "eventTime": now(), "dataVersion": "1", "metadataVersion": "1",
                   "data": {"alarmName": "checkout-availability", "severity": "Sev2"}})
        } else {
            let blob = self.hex(8);
            json!({"topic": "/subscriptions/5b4b650e/resourceGroups/acme/providers/Microsoft.Storage/storageAccounts/acmeuploads",
                   "subject": format!("/blobServices/default/containers/reports/blobs/{blob}.csv"),
                   "eventType": "Microsoft.Storage.BlobCreated", "id": id, "eventTime": now(),
                   "dataVersion": "", "metadataVersion": "1",
                   "data": {"api": "PutBlob", "contentType": "text/csv", "contentLength": self.rng.u32(1000..100_000),
                            "blobType": "BlockBlob"}})
        };
        Sample {
            description: "simulated Event Grid delivery".into(),
            auth: SampleAuth::EventgridToken,
            request: request("/v1/hooks/eventgrid", "application/json", json!([event])),
            expect: Value::Null,
        }
    }

    fn payment(&mut self) -> Sample {
        let order = format!("order-{}", self.rng.u32(10_000..99_999));
        let failed = self.rng.u32(..6) == 0;
        let id = self.id("ce");
        api_key_hook(
            "cloudevents",
            "application/cloudevents+json; charset=utf-8",
            json!({
                "specversion": "1.0", "id": id, "time": now(), "subject": order,
                "type": if failed { "com.acme.orders.payment.failed" } else { "com.acme.orders.payment.succeeded" },
                "source": "https://orders.acme.example/payments", "datacontenttype": "application/json",
                "data": {"order": order, "amount": self.rng.u32(5..500), "currency": "EUR"}
            }),
        )
    }

    fn deploy(&mut self, at: Duration) -> Sample {
        let service = self.pick(&SERVICES);
        let environment = if self.rng.bool() {
            "production"
        } else {
            "staging"
        };
        let id = self.id("deploy");
        let roll = self.rng.u32(..20);
        if roll != 0 {
            let status = if roll <= 2 { "failed" } else { "succeeded" };
            let finished = native(json!({
                "id": format!("{id}-finished"), "source": "deployer", "type": "deploy.finished",
                "time": now(), "subject": service,
                "data": {"environment": environment, "status": status}
            }));
            self.after(at, 3..10, finished);
        }
        native(json!({
            "id": format!("{id}-started"), "source": "deployer", "type": "deploy.started",
            "time": now(), "subject": service, "data": {"environment": environment}
        }))
    }

    fn heartbeat(&mut self, _at: Duration) -> Sample {
        let id = self.id("beat");
        native(json!({
            "id": id, "source": "svc/checkout", "type": "heartbeat", "time": now(),
            // Every 5 s, stating a period of 10 s (the starter rules' `every_from`).
            "subject": "checkout", "data": {"every": "10s"}
        }))
    }
}

fn now() -> String {
    helios_events::format_time(&chrono::Utc::now())
}

fn request(path: &str, content_type: &str, body: Value) -> SampleRequest {
    SampleRequest {
        method: "POST".into(),
        path: path.into(),
        headers: [("content-type".to_string(), content_type.to_string())].into(),
        body: Some(body),
        body_text: None,
    }
}

fn native(event: Value) -> Sample {
    Sample {
        description: "simulated native event".into(),
        auth: SampleAuth::ApiKey,
        request: request("/v1/events", "application/json", event),
        expect: Value::Null,
    }
}

fn api_key_hook(source: &str, content_type: &str, body: Value) -> Sample {
    Sample {
        description: format!("simulated {source} delivery"),
        auth: SampleAuth::ApiKey,
        request: request(&format!("/v1/hooks/{source}"), content_type, body),
        expect: Value::Null,
    }
}

fn github(event: &str, delivery: &str, body: Value) -> Sample {
    let mut r = request("/v1/hooks/github", "application/json", body);
    r.headers.insert("x-github-event".into(), event.into());
    r.headers
        .insert("x-github-delivery".into(), delivery.into());
    r.headers.insert(
        "user-agent".into(),
        "GitHub-Hookshot/helios-simulate".into(),
    );
    Sample {
        description: format!("simulated GitHub {event}"),
        auth: SampleAuth::GithubSignature,
        request: r,
        expect: Value::Null,
    }
}

/// What was sent, and how it was answered.
#[derive(Default, Debug)]
pub struct Tally {
    pub sent: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub failed: u64,
}

/// Sends the traffic to `endpoint` until `stop` resolves (or `duration` passes).
pub async fn run_traffic(
    endpoint: &str,
    creds: Credentials,
    traffic: Traffic,
    duration: Option<Duration>,
    quiet: bool,
) -> anyhow::Result<Tally> {
    let mut sim = Simulator::new(traffic.clone())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .context("building the HTTP client")?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<u16, String>>();
    // At most this many requests in flight; beyond, the tick waits (the rate falls behind
    // rather than pile up).
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(128));
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut made: u64 = 0;
    let mut tally = Tally::default();
    let mut last_report = Instant::now();
    let mut reported = 0;
    loop {
        tick.tick().await;
        let at = start.elapsed();
        if duration.is_some_and(|d| at >= d) {
            break;
        }
        let owed = (at.as_secs_f64() * f64::from(traffic.rate)) as u64;
        let due = sim.due(at, owed.saturating_sub(made) as usize);
        made += due.len() as u64;
        for sample in due {
            let prepared: PreparedRequest = sample
                .prepare(&creds)
                .map_err(|e| anyhow::anyhow!("cannot send {}: {e}", sample.description))?;
            let permit = in_flight
                .clone()
                .acquire_owned()
                .await
                .context("the request limit closed")?;
            let (client, endpoint, tx) = (client.clone(), endpoint.to_string(), tx.clone());
            tokio::spawn(async move {
                let r = crate::send::send(&client, &endpoint, &prepared)
                    .await
                    .map(|(status, _)| status)
                    .map_err(|e| e.to_string());
                let _ = tx.send(r);
                drop(permit);
            });
        }
        while let Ok(r) = rx.try_recv() {
            tally.sent += 1;
            match r {
                Ok(status) => *tally.by_status.entry(status).or_default() += 1,
                Err(e) => {
                    if tally.failed == 0 {
                        eprintln!("simulate: {e}");
                    }
                    tally.failed += 1;
                }
            }
        }
        if !quiet && last_report.elapsed() >= Duration::from_secs(5) {
            let per_second = (tally.sent - reported) as f64 / last_report.elapsed().as_secs_f64();
            println!(
                "simulate: {} sent ({per_second:.0}/s), answers {:?}, not answered {}",
                tally.sent, tally.by_status, tally.failed
            );
            last_report = Instant::now();
            reported = tally.sent;
        }
    }
    // What is still in flight is answered before the tally is final.
    drop(tx);
    while let Some(r) = rx.recv().await {
        tally.sent += 1;
        match r {
            Ok(status) => *tally.by_status.entry(status).or_default() += 1,
            Err(_) => tally.failed += 1,
        }
    }
    Ok(tally)
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<std::process::ExitCode> {
    let creds = crate::send::credentials_for(args.client.api_key.clone(), &args.client.data_dir);
    println!(
        "simulate: {} events/s to {} ({})",
        args.traffic.rate,
        args.client.endpoint,
        args.duration
            .map_or("until interrupted".to_string(), |d| format!("for {d} s"))
    );
    let duration = args
        .duration
        .map(|d| {
            Duration::try_from_secs_f64(d)
                .map_err(|_| anyhow::anyhow!("--duration takes a positive number of seconds"))
        })
        .transpose()?;
    let endpoint = args.client.endpoint.clone();
    let traffic = args.traffic.clone();
    let tally = tokio::select! {
        t = run_traffic(&endpoint, creds, traffic, duration, false) => t?,
        _ = tokio::signal::ctrl_c() => {
            println!("simulate: interrupted");
            return Ok(std::process::ExitCode::SUCCESS);
        }
    };
    println!(
        "simulate: {} sent, answers {:?}, not answered {}",
        tally.sent, tally.by_status, tally.failed
    );
    let refused: u64 = tally
        .by_status
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    Ok(if refused + tally.failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(seed: u64) -> Traffic {
        Traffic {
            rate: 100,
            missing: 0.1,
            mismatched: 0.05,
            heartbeat_stops_after: "20".into(),
            seed: Some(seed),
        }
    }

    #[test]
    fn every_format_is_in_the_traffic_and_every_request_can_be_prepared() {
        let mut sim = Simulator::new(traffic(7)).unwrap();
        let creds = Credentials {
            api_key: Some("hk_simulate_0123456789abcdef".into()),
            secrets: helios_events::SourceSecrets {
                github: Some("gh".into()),
                pubsub: Some("ps".into()),
                eventgrid: Some("eg".into()),
            },
        };
        let mut paths = std::collections::BTreeSet::new();
        for s in 0..30 {
            for sample in sim.due(Duration::from_secs(s), 20) {
                let r = sample.prepare(&creds).unwrap();
                paths.insert(r.path);
            }
        }
        for p in [
            "/v1/events",
            "/v1/hooks/github",
            "/v1/hooks/eventbridge",
            "/v1/hooks/pubsub",
            "/v1/hooks/eventgrid",
            "/v1/hooks/cloudevents",
        ] {
            assert!(paths.contains(p), "{p} in {paths:?}");
        }
    }

    #[test]
    fn the_heartbeat_stops_and_builds_follow_their_pushes() {
        let mut sim = Simulator::new(traffic(11)).unwrap();
        let mut beats = Vec::new();
        let mut builds_of_main = 0;
        let mut pushes = 0;
        for s in 0..60 {
            for sample in sim.due(Duration::from_secs(s), 10) {
                let body = sample.request.body.clone().unwrap_or_default();
                if body["type"] == "heartbeat" {
                    beats.push(s);
                }
                if sample
                    .request
                    .headers
                    .get("x-github-event")
                    .map(String::as_str)
                    == Some("push")
                {
                    pushes += 1;
                }
                if body["type"] == "ci.build.finished"
                    && !body["data"]["branch"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("feature/")
                {
                    builds_of_main += 1;
                }
            }
        }
        assert!(
            !beats.is_empty() && beats.iter().all(|s| *s < 20),
            "{beats:?}"
        );
        assert!(pushes > 20, "{pushes}");
        // Most pushes are built; about a tenth never are (the last few are still due).
        assert!(
            builds_of_main < pushes && builds_of_main * 10 > pushes * 7,
            "{builds_of_main} of {pushes}"
        );
    }

    #[test]
    fn the_same_seed_makes_the_same_traffic() {
        let bodies = |seed| {
            let mut sim = Simulator::new(traffic(seed)).unwrap();
            (0..5)
                .flat_map(|s| sim.due(Duration::from_secs(s), 5))
                .map(|s| {
                    s.request.body.map(|mut b| {
                        // Times are the clock's.
                        strip_times(&mut b);
                        b
                    })
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(bodies(3), bodies(3));
        assert_ne!(bodies(3), bodies(4));
    }

    fn strip_times(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k.to_ascii_lowercase().contains("time") || k.ends_with("_at") {
                        *x = Value::Null;
                    } else {
                        strip_times(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(strip_times),
            _ => {}
        }
    }
}
