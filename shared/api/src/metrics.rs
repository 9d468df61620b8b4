//! Prometheus metrics of `helios dev` (issue 18, first slice): `GET /metrics` in
//! Prometheus's text exposition format, with a read key (Prometheus sends it as `authorization:
//! credentials`). Observing never stands in the way of a request: the router's layer counts
//! each answer after it is made, and a scrape that cannot read the health says so in
//! `helios_health_up` rather than failing.
//!
//! - `helios_http_requests_total{route, method, status}`: every answer, by the route's
//!   template (`/v1/events/{id}`, `unmatched` for no route);
//! - `helios_http_request_duration_seconds{route, method}`: how long each took;
//! - `helios_outbox_backlog`, `helios_queue_messages{queue, state}`: facts waiting to be
//!   published, and the messages of each queue and dead-letter queue (`visible`,
//!   `in_flight`);
//! - `helios_executions{status}`: the workflow executions by status (`RUNNING` ones include
//!   those waiting for an acknowledgement or a deadline);
//! - `helios_refused_requests{problem}`: the requests refused since the start, by problem
//!   type;
//! - `helios_expectations_open`, `helios_circuit_breakers_open`: expectations being watched,
//!   and notify channels whose circuit is open, now;
//! - `helios_store_commit_duration_seconds{store}`: each of the store's transactions, its
//!   work and its commit (`helios.db`, `local.db`, or `postgres`);
//! - `helios_decisions_by_rule_total{rule}`, `helios_decisions_by_severity_total{severity}`,
//!   `helios_workflow_outcomes_total{kind}`: since the process started, read from the
//!   store's counts at each scrape;
//! - `helios_near_misses_total{rule}`: the rules that nearly fired in the decisions this
//!   process made, counted as it makes them;
//! - `helios_trace_spans_ended_total`, `helios_trace_spans_exported_total{result}`: spans
//!   handed to the OTLP exporter, and those sent (`ok`) or dropped because the endpoint
//!   failed (`failed`), when traces are exported; the rest wait in its queue or were dropped
//!   when it was full;
//! - `helios_archived_rows_total{table}`, `helios_archive_failed_runs_total`: facts,
//!   decisions and outcomes written to the Parquet archive, and archive runs that failed.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::Value;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answer {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteMethod {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueState {
    queue: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProblemType {
    problem: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabel {
    store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabel {
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

type Seconds = Family<RouteMethod, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The metrics of one process.
pub struct Metrics {
    registry: Registry,
    requests: Family<Answer, Counter>,
    latency: Seconds,
    outbox: Gauge,
    queues: Family<QueueState, Gauge>,
    executions: Family<Status, Gauge>,
    refused: Family<ProblemType, Gauge>,
    health_up: Gauge,
    decisions_by_rule: Family<RuleLabel, Counter>,
    decisions_by_severity: Family<SeverityLabel, Counter>,
    outcomes: Family<KindLabel, Counter>,
    near_misses: Family<RuleLabel, Counter>,
    expectations_open: Gauge,
    breakers_open: Gauge,
    commits: Family<StoreLabel, Histogram>,
    trace_spans: Family<ResultLabel, Counter>,
    trace_spans_ended: Counter,
    archived: Family<TableLabel, Counter>,
    archive_failures: Counter,
    /// Since when the decision and outcome counters count.
    started: chrono::DateTime<chrono::Utc>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("helios");
        let requests = Family::<Answer, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP answers by route template, method and status",
            requests.clone(),
        );
        let latency: Seconds = Family::new_with_constructor(latency_buckets);
        registry.register(
            "http_request_duration_seconds",
            "How long HTTP answers took, by route template and method",
            latency.clone(),
        );
        let outbox = Gauge::default();
        registry.register(
            "outbox_backlog",
            "Facts recorded and not yet published",
            outbox.clone(),
        );
        let queues = Family::<QueueState, Gauge>::default();
        registry.register(
            "queue_messages",
            "Messages of each queue and dead-letter queue, visible or in flight",
            queues.clone(),
        );
        let executions = Family::<Status, Gauge>::default();
        registry.register(
            "executions",
            "Workflow executions by status",
            executions.clone(),
        );
        let refused = Family::<ProblemType, Gauge>::default();
        registry.register(
            "refused_requests",
            "Requests refused since the process started, by problem type",
            refused.clone(),
        );
        let health_up = Gauge::default();
        registry.register(
            "health_up",
            "1 when the last scrape could read the queues, the outbox and the executions",
            health_up.clone(),
        );
        let decisions_by_rule = Family::<RuleLabel, Counter>::default();
        registry.register(
            "decisions_by_rule",
            "Decisions made since the process started, by each rule that fired (`none`: no rule fired)",
            decisions_by_rule.clone(),
        );
        let decisions_by_severity = Family::<SeverityLabel, Counter>::default();
        registry.register(
            "decisions_by_severity",
            "Decisions made since the process started, by severity",
            decisions_by_severity.clone(),
        );
        let outcomes = Family::<KindLabel, Counter>::default();
        registry.register(
            "workflow_outcomes",
            "What the decisions' workflows reported since the process started, by kind (`escalated` for an outcome that escalated)",
            outcomes.clone(),
        );
        let near_misses = Family::<RuleLabel, Counter>::default();
        registry.register(
            "near_misses",
            "Decisions made by this process in which a rule nearly fired (one check stood in the way), by that rule",
            near_misses.clone(),
        );
        let expectations_open = Gauge::default();
        registry.register(
            "expectations_open",
            "Expectations open now (heartbeats, sequences and reconciliations being watched)",
            expectations_open.clone(),
        );
        let breakers_open = Gauge::default();
        registry.register(
            "circuit_breakers_open",
            "Notify channels whose endpoint's circuit is open now",
            breakers_open.clone(),
        );
        let commits: Family<StoreLabel, Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 16)));
        registry.register(
            "store_commit_duration_seconds",
            "How long each of the store's transactions took, its work and its commit, by store (the embedded store's files, or postgres)",
            commits.clone(),
        );
        let trace_spans = Family::<ResultLabel, Counter>::default();
        registry.register(
            "trace_spans_exported",
            "Spans sent to the OTLP endpoint since the process started, by result (`ok`, or `failed`: the receiver refused, was gone or too slow; the spans were dropped, nothing else waited)",
            trace_spans.clone(),
        );
        let trace_spans_ended = Counter::default();
        registry.register(
            "trace_spans_ended",
            "Spans ended and handed to the OTLP exporter's queue since the process started (those neither exported nor failed are waiting, or were dropped because the queue was full)",
            trace_spans_ended.clone(),
        );
        let archived = Family::<TableLabel, Counter>::default();
        registry.register(
            "archived_rows",
            "Rows written to the Parquet archive since the process started, by stream (`facts`, `decisions`, `outcomes`)",
            archived.clone(),
        );
        let archive_failures = Counter::default();
        registry.register(
            "archive_failed_runs",
            "Archive runs that failed since the process started (a full disk); the next run starts where it stopped",
            archive_failures.clone(),
        );
        Metrics {
            archived,
            archive_failures,
            trace_spans_ended,
            trace_spans,
            commits,
            expectations_open,
            breakers_open,
            near_misses,
            decisions_by_rule,
            decisions_by_severity,
            outcomes,
            started: chrono::Utc::now(),
            registry,
            requests,
            latency,
            outbox,
            queues,
            executions,
            refused,
            health_up,
        }
    }

    /// Times one of the store's transactions (`helios_ports::observe::on_commit`).
    pub fn committed(&self, store: &str, took: std::time::Duration) {
        self.commits
            .get_or_create(&StoreLabel {
                store: store.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts the rules that nearly fired in a decision this process made.
    pub fn near_missed(&self, rules: &[String]) {
        for rule in rules {
            self.near_misses
                .get_or_create(&RuleLabel { rule: rule.clone() })
                .inc();
        }
    }

    /// Counts one answer.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&Answer {
                route: route.to_string(),
                method: method.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteMethod {
                route: route.to_string(),
                method: method.to_string(),
            })
            .observe(seconds);
    }

    /// Sets the gauges from a health snapshot (`GET /healthz`'s answer), or marks the
    /// health down when it could not be read.
    pub fn set_health(&self, health: Result<&Value, &str>) {
        let Ok(h) = health else {
            self.health_up.set(0);
            return;
        };
        self.health_up.set(1);
        let backlog = &h["backlog"];
        self.outbox
            .set(backlog["outbox"].as_i64().unwrap_or_default());
        if let Some(queues) = backlog["queues"].as_object() {
            for (queue, depth) in queues {
                for state in ["visible", "in_flight"] {
                    self.queues
                        .get_or_create(&QueueState {
                            queue: queue.clone(),
                            state: state.to_string(),
                        })
                        .set(depth[state].as_i64().unwrap_or_default());
                }
            }
        }
        if let Some(counts) = h["executions"].as_object() {
            for (status, n) in counts {
                if let Some(n) = n.as_i64() {
                    self.executions
                        .get_or_create(&Status {
                            status: status.clone(),
                        })
                        .set(n);
                }
            }
        }
        self.expectations_open
            .set(h["expectations"]["open"].as_i64().unwrap_or_default());
        self.breakers_open
            .set(h["breakers"]["open"].as_i64().unwrap_or_default());
        if let Some(refused) = h["refused"].as_object() {
            for (problem, n) in refused {
                if let Some(n) = n.as_i64() {
                    self.refused
                        .get_or_create(&ProblemType {
                            problem: problem.clone(),
                        })
                        .set(n);
                }
            }
        }
    }

    /// Brings the decision and outcome counters up to the store's counts since the process
    /// started (`GET /v1/stats`'s series `rule`, `severity` and `outcome`).
    pub async fn set_decisions(
        &self,
        store: &dyn helios_store::ReadModel,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), helios_store::StoreError> {
        let until = now + chrono::Duration::seconds(1);
        let span = (until - self.started).num_seconds().max(1);
        let rows = store
            .stats(&helios_store::StatsQuery {
                since: self.started,
                until,
                // At most two buckets, whatever the span.
                bucket_seconds: span,
            })
            .await?;
        let mut totals: std::collections::HashMap<(&str, &str), u64> = Default::default();
        for r in &rows {
            *totals
                .entry((r.series.as_str(), r.key.as_str()))
                .or_default() += r.count.max(0) as u64;
        }
        for ((series, key), total) in totals {
            let counter = match series {
                "rule" => self.decisions_by_rule.get_or_create(&RuleLabel {
                    rule: if key.is_empty() {
                        "none".into()
                    } else {
                        key.to_string()
                    },
                }),
                "severity" => self.decisions_by_severity.get_or_create(&SeverityLabel {
                    severity: key.to_string(),
                }),
                "outcome" => self.outcomes.get_or_create(&KindLabel {
                    kind: key.to_string(),
                }),
                _ => continue,
            };
            catch_up(&counter, total);
        }
        Ok(())
    }

    /// Every metric in Prometheus's text exposition format (0.0.4), which every scraper
    /// and `promtool check metrics` read.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let (archived, archive_failures) = helios_ports::observe::archive_counts();
        for (table, total) in helios_ports::observe::ARCHIVE_STREAMS.iter().zip(archived) {
            let c = self.archived.get_or_create(&TableLabel {
                table: table.to_string(),
            });
            catch_up(&c, total);
        }
        catch_up(&self.archive_failures, archive_failures);
        let (ended, ok, failed) = helios_ports::trace::exports();
        catch_up(&self.trace_spans_ended, ended);
        for (result, total) in [("ok", ok), ("failed", failed)] {
            let c = self.trace_spans.get_or_create(&ResultLabel {
                result: result.into(),
            });
            catch_up(&c, total);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(classic(&out))
    }
}

/// Brings a counter up to `total`, a count kept elsewhere since the process started.
fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// The classic text format of an OpenMetrics text: a counter's `HELP` and `TYPE` name its
/// samples' name (`x_total`, where OpenMetrics names the family `x`), and no `# EOF`.
fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let named = ["# HELP ", "# TYPE "].into_iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(named.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// `GET /metrics`: the metrics, the gauges read from the health at each scrape; a read key.
pub struct MetricsApi {
    pub metrics: Arc<Metrics>,
    pub health: Option<Arc<dyn crate::stream::Health>>,
    /// Where the decision and outcome counters are read from.
    pub store: Arc<dyn helios_store::ReadModel>,
    pub clock: Arc<dyn helios_ports::Clock>,
    pub auth: Arc<crate::ApiKeyAuth>,
    pub limiter: Arc<crate::RateLimiter>,
}

#[async_trait::async_trait]
impl crate::router::Handle for MetricsApi {
    async fn handle(&self, req: crate::Request) -> crate::Response {
        let path = req.uri().path().to_string();
        let answer = async {
            crate::authorize(&self.auth, &self.limiter, &req, helios_store::Role::Read).await?;
            if let Some(h) = &self.health {
                match h.health().await {
                    Ok(v) => self.metrics.set_health(Ok(&v)),
                    Err(e) => {
                        tracing::warn!(error = %e, "the metrics' health could not be read");
                        self.metrics.set_health(Err(&e));
                    }
                }
            }
            if let Err(e) = self
                .metrics
                .set_decisions(self.store.as_ref(), self.clock.now())
                .await
            {
                // The counters keep their last values; the store's trouble shows elsewhere.
                tracing::warn!(error = %e, "the decision counters could not be read");
            }
            let text = self.metrics.render().map_err(|e| {
                crate::Problem::internal(format!("the metrics could not be written: {e}"))
            })?;
            Ok(http::Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
                .body(bytes::Bytes::from(text))
                .unwrap_or_else(|_| {
                    crate::Problem::internal("could not build the response").into_response()
                }))
        }
        .await;
        crate::answer(&path, answer)
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `router` with every answer counted by the template of its route ([`template_of`]; the
/// label is `unmatched` for a path of no route, so that a scan of made-up paths cannot grow
/// the metrics without bound).
pub fn counted(router: axum::Router, metrics: Arc<Metrics>) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let metrics = metrics.clone();
            async move {
                let route = template_of(req.uri().path()).unwrap_or("unmatched");
                let method = match req.method().as_str() {
                    m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m,
                    _ => "other",
                }
                .to_string();
                let started = Instant::now();
                let resp = next.run(req).await;
                metrics.observe(
                    route,
                    &method,
                    resp.status().as_u16(),
                    started.elapsed().as_secs_f64(),
                );
                resp
            }
        },
    ))
}

/// The template of the route `path` is on (`/v1/events/{id}` for `/v1/events/evt_1`), if any.
pub fn template_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    crate::router::ROUTES
        .iter()
        .map(|r| r.path)
        .find(|template| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segments.len()
                && t.iter().zip(&segments).all(|(t, s)| {
                    if t.starts_with('{') {
                        !s.is_empty()
                    } else {
                        t == s
                    }
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_counted_by_their_route_template() {
        assert_eq!(template_of("/v1/events"), Some("/v1/events"));
        assert_eq!(template_of("/v1/events/evt_1"), Some("/v1/events/{id}"));
        assert_eq!(
            template_of("/v1/schemas/ci%2Fx/build/versions/3"),
            Some("/v1/schemas/{source}/{type}/versions/{version}")
        );
        assert_eq!(template_of("/v1/eventsfoo"), None);
        assert_eq!(template_of("/v1/events/"), None);
        assert_eq!(template_of("/wp-login.php"), None);
    }

    #[test]
    fn answers_and_health_are_rendered_as_openmetrics() {
        let m = Metrics::new();
        m.observe("/v1/events", "POST", 202, 0.004);
        m.observe("/v1/events", "POST", 202, 0.002);
        m.observe("unmatched", "GET", 404, 0.0001);
        m.set_health(Ok(&serde_json::json!({
            "backlog": {"outbox": 3, "queues": {"decide": {"visible": 2, "in_flight": 1}}},
            "executions": {"RUNNING": 4},
            "refused": {"unauthenticated": 5},
        })));
        let text = m.render().unwrap();
        for line in [
            r#"helios_http_requests_total{route="/v1/events",method="POST",status="202"} 2"#,
            r#"helios_http_request_duration_seconds_count{route="/v1/events",method="POST"} 2"#,
            "helios_outbox_backlog 3",
            r#"helios_queue_messages{queue="decide",state="in_flight"} 1"#,
            r#"helios_executions{status="RUNNING"} 4"#,
            r#"helios_refused_requests{problem="unauthenticated"} 5"#,
            "helios_health_up 1",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(text.contains("# TYPE helios_http_requests_total counter\n"));
        assert!(!text.contains("# EOF"));
        m.set_health(Err("down"));
        assert!(m.render().unwrap().contains("helios_health_up 0"));
    }
}
