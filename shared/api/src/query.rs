//! The query handler: the read-only API. It reads the store and writes nothing, ever.
//!
//! - `GET /v1/events` (filters, cursor pagination) and `GET /v1/events/{id}` (the canonical
//!   event and where its raw payload is);
//! - `GET /v1/decisions` (filters `event`, `subject`, `rule`, `severity`, `since`, `until`; cursor
//!   pagination) and `GET /v1/decisions/{id}` (the decision with its trace, the sentence that
//!   explains it, and the outcomes its workflows recorded);
//! - `GET /v1/timeline?subject=S` (`since`, `until`, `limit`): the events, decisions and
//!   outcomes of one subject, in time order;
//! - `GET /v1/stats` (`since`, `until`, `bucket`): counts of events by source and type, of
//!   decisions by rule and severity, and of outcomes, per time bucket;
//! - `GET /v1/near-misses` (`since`, `until`, `rule`, `examples`): per rule, how often it
//!   nearly fired and which single check stood in the way, with the values found and example
//!   decisions (what `helios rules tune` prints);
//! - `GET /v1/slo`: the service level objectives over rolling windows, with burn rates and
//!   alerts ([`crate::slo`]);
//! - `GET /v1/session`: the key's id, name and role (what the dashboard may offer);
//! - `GET /v1/executions` (`machine`, `status`, `limit`, `cursor`) and
//!   `GET /v1/executions/{name}`: workflow executions with their status and history.

use std::sync::Arc;

use crate::{query_param, ApiKeyAuth, Problem, RateLimiter, Request, Response};
use base64::Engine;
use helios_ports::{Clock, Executions};
use helios_store::{
    DecisionQuery, FactQuery, NearMissQuery, NearMissRow, ReadModel, Role, StatsQuery,
};
use serde_json::{json, Value};

/// The most events one page may hold.
pub const MAX_LIMIT: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 100;

pub struct Query {
    /// The store's read side only ([`helios_store::read_only`]).
    pub store: Arc<dyn ReadModel>,
    pub auth: Arc<ApiKeyAuth>,
    /// Per-key rate limits (shared with ingest where both run in one process).
    pub limiter: Arc<RateLimiter>,
    pub clock: Arc<dyn Clock>,
    /// Where executions are read from; `None` where workflows are off.
    pub executions: Option<Arc<dyn Executions>>,
    /// The service level objectives of `GET /v1/slo`.
    pub slo: Arc<crate::slo::Objectives>,
    /// The loaded rule set, whose expectations a timeline replays over its subject's events
    /// (the waits each opened, and whether they were met); `None` where there is none.
    pub rules: Option<Arc<helios_rules::RuleSet>>,
}

/// The most buckets one stats answer may hold.
pub const MAX_BUCKETS: i64 = 1000;

/// Whether the query function serves `path`.
pub fn serves(path: &str) -> bool {
    // A collection or one of its items: `/v1/eventsfoo` is neither.
    let collection = |c: &str| {
        path.strip_prefix(c)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    collection("/v1/events")
        || collection("/v1/decisions")
        || collection("/v1/schemas")
        || path == "/v1/quarantine"
        || collection("/v1/executions")
        || path == "/v1/timeline"
        || path == "/v1/stats"
        || path == "/v1/near-misses"
        || path == "/v1/slo"
        || path == "/v1/session"
        || path == "/v1/openapi.json"
}

impl Query {
    pub async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        crate::answer(&path, self.route(&req).await)
    }

    async fn route(&self, req: &Request) -> Result<Response, Problem> {
        let path = req.uri().path();
        if !serves(path) {
            return Err(Problem::not_found(format!("no route {path}")));
        }
        if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
            return Err(Problem::method_not_allowed("GET"));
        }
        // The description of the API is public: it holds no data.
        if path == "/v1/openapi.json" {
            return Ok(http::Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(bytes::Bytes::from_static(crate::OPENAPI.as_bytes()))
                .unwrap_or_else(|_| {
                    Problem::internal("could not build the response").into_response()
                }));
        }
        // Read routes are limited as ingest is: per key once authenticated, and the
        // failures of unauthenticated requests per client address.
        let key = crate::authorize(&self.auth, &self.limiter, req, Role::Read).await?;
        // Who the key is: the dashboard shows its name and offers what its role may do.
        if path == "/v1/session" {
            return Ok(crate::json(
                200,
                &json!({"id": key.id, "name": key.name, "role": key.role}),
            ));
        }
        if path == "/v1/timeline" {
            return self.timeline(req).await;
        }
        if path == "/v1/stats" {
            return self.stats(req).await;
        }
        if path == "/v1/near-misses" {
            return self.near_misses(req).await;
        }
        if path == "/v1/slo" {
            return self.slo().await;
        }
        if path == "/v1/schemas" || path == "/v1/schemas/" {
            return self.list_subjects().await;
        }
        if path == "/v1/quarantine" {
            return self.list_held(req).await;
        }
        if path.starts_with("/v1/schemas/") {
            return self.subject(req, path).await;
        }
        if let Some(rest) = path.strip_prefix("/v1/executions") {
            return match rest.trim_start_matches('/') {
                "" => self.list_executions(req).await,
                name => self.get_execution(name).await,
            };
        }
        let (events, rest) = match path.strip_prefix("/v1/events") {
            Some(rest) => (true, rest),
            None => (
                false,
                path.strip_prefix("/v1/decisions").unwrap_or_default(),
            ),
        };
        match (events, rest) {
            (true, "" | "/") => self.list(req).await,
            (true, id) => self.get(id.trim_start_matches('/')).await,
            (false, "" | "/") => self.list_decisions(req).await,
            (false, id) => self.get_decision(id.trim_start_matches('/')).await,
        }
    }

    /// `GET /v1/schemas`: every subject, its newest version, mode, policy and how many
    /// recorded facts did not fit its newest version.
    async fn list_subjects(&self) -> Result<Response, Problem> {
        let subjects = self.store.subjects().await?;
        let mut out = Vec::with_capacity(subjects.len());
        for s in subjects {
            let settings = helios_app::registry::settings_or_default(s.settings)?;
            out.push(json!({
                "source": s.source,
                "type": s.event_type,
                "latest": s.latest,
                "settings": crate::schemas::settings_json(&settings),
                "violations": s.latest_violations,
            }));
        }
        Ok(crate::json(200, &json!({ "subjects": out })))
    }

    /// `GET /v1/schemas/{source}/{type}` (the subject), `…/versions/{n|latest}` (one
    /// version, with its schema) and `…/diff?from=&to=` (how one version differs from
    /// another; by default the newest from the one before).
    async fn subject(&self, req: &Request, path: &str) -> Result<Response, Problem> {
        use helios_app::registry::Which;
        let (source, event_type, rest) = crate::schemas::subject_route(path)
            .ok_or_else(|| Problem::not_found(format!("no route {path}")))?;
        let versions = self.store.schema_versions(&source, &event_type).await?;
        let pick = |w: Which| w.pick(&versions);
        let which = |name: &str, text: &str| {
            Which::parse(text).ok_or_else(|| {
                Problem::bad_request(
                    "invalid-parameter",
                    format!("`{name}` is a version number (1, 2, …) or `latest`, found {text:?}"),
                )
            })
        };
        let subject = format!("{source} {event_type}");
        if rest.is_empty() {
            let stored = self.store.subject_settings(&source, &event_type).await?;
            if versions.is_empty() && stored.is_none() {
                return Err(Problem::not_found(format!("no subject {subject}")));
            }
            let settings = helios_app::registry::settings_or_default(stored)?;
            let counts = self.store.schema_violations(&source, &event_type).await?;
            let listed: Vec<Value> = versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v.version,
                        "id": v.id,
                        "registered_at": helios_events::format_time(&v.registered_at),
                        "violations": counts.iter().find(|(n, _)| *n == v.version).map_or(0, |(_, c)| *c),
                    })
                })
                .collect();
            return Ok(crate::json(
                200,
                &json!({
                    "source": source,
                    "type": event_type,
                    "settings": crate::schemas::settings_json(&settings),
                    "versions": listed,
                }),
            ));
        }
        if let Some(n) = rest.strip_prefix("versions/") {
            let v = pick(which("version", n)?)
                .ok_or_else(|| Problem::not_found(format!("{subject} has no version {n}")))?;
            return Ok(crate::json(200, &version_json(v)));
        }
        if rest == "diff" {
            let latest = versions
                .last()
                .ok_or_else(|| Problem::not_found(format!("{subject} has no schema")))?;
            let from = match query_param(req, "from") {
                Some(t) => which("from", &t)?,
                None => Which::Number(latest.version.saturating_sub(1).max(1)),
            };
            let to = match query_param(req, "to") {
                Some(t) => which("to", &t)?,
                None => Which::Latest,
            };
            let missing = |w: Which| {
                Problem::not_found(match w {
                    Which::Latest => format!("{subject} has no schema"),
                    Which::Number(n) => format!("{subject} has no version {n}"),
                })
            };
            let a = pick(from).ok_or_else(|| missing(from))?;
            let b = pick(to).ok_or_else(|| missing(to))?;
            return Ok(crate::json(
                200,
                &json!({
                    "source": source,
                    "type": event_type,
                    "from": {"version": a.version, "id": a.id},
                    "to": {"version": b.version, "id": b.id},
                    "changes": helios_schemas::diff(&a.schema, &b.schema),
                }),
            ));
        }
        Err(Problem::not_found(format!("no route {path}")))
    }

    /// `GET /v1/quarantine?status=held|released|dropped|all`: held facts (by default those
    /// still held), in the order they were recorded.
    async fn list_held(&self, req: &Request) -> Result<Response, Problem> {
        use helios_store::HoldStatus;
        let page = Page::read(req)?;
        if page.newest_first {
            return Err(Problem::bad_request(
                "invalid-parameter",
                "the quarantine is listed oldest first",
            ));
        }
        let status = match query_param(req, "status").as_deref() {
            None => Some(HoldStatus::Held),
            Some("all") => None,
            Some(s) => Some(HoldStatus::parse(s).ok_or_else(|| {
                Problem::bad_request(
                    "invalid-parameter",
                    format!(
                        "`status` is held (the default), released, dropped or all, found {s:?}"
                    ),
                )
            })?),
        };
        let mut held = self.store.held(status, page.after, page.limit + 1).await?;
        let next = (held.len() > page.limit).then(|| {
            held.truncate(page.limit);
            held.last().map(|h| page.cursor(h.seq))
        });
        Ok(crate::json(
            200,
            &json!({"held": held, "next": next.flatten()}),
        ))
    }

    async fn list(&self, req: &Request) -> Result<Response, Problem> {
        let p = Page::read(req)?;
        let q = FactQuery {
            source: query_param(req, "source"),
            event_type: query_param(req, "type"),
            subject: query_param(req, "subject"),
            since: p.since,
            until: p.until,
            after: p.after,
            limit: p.limit,
            newest_first: p.newest_first,
        };
        let page = self.store.list_facts(&q).await?;
        let events: Vec<_> = page.facts.iter().map(|f| &f.event).collect();
        Ok(crate::json(
            200,
            &json!({ "events": events, "next": page.next.map(|s| p.cursor(s)) }),
        ))
    }

    async fn list_decisions(&self, req: &Request) -> Result<Response, Problem> {
        let p = Page::read(req)?;
        let q = DecisionQuery {
            event_id: query_param(req, "event"),
            subject: query_param(req, "subject"),
            rule: query_param(req, "rule"),
            severity: query_param(req, "severity"),
            since: p.since,
            until: p.until,
            after: p.after,
            limit: p.limit,
            newest_first: p.newest_first,
        };
        let page = self.store.list_decisions(&q).await?;
        let decisions: Vec<_> = page
            .decisions
            .iter()
            .map(crate::stream::decision_summary)
            .collect();
        Ok(crate::json(
            200,
            &json!({ "decisions": decisions, "next": page.next.map(|s| p.cursor(s)) }),
        ))
    }

    async fn timeline(&self, req: &Request) -> Result<Response, Problem> {
        let subject = query_param(req, "subject").ok_or_else(|| {
            Problem::bad_request(
                "invalid-parameter",
                "`subject` is required: whose timeline?",
            )
        })?;
        let p = Page::read(req)?;
        let facts = self
            .store
            .list_facts(&FactQuery {
                subject: Some(subject.clone()),
                since: p.since,
                until: p.until,
                limit: p.limit,
                ..Default::default()
            })
            .await?;
        let decisions = self
            .store
            .list_decisions(&DecisionQuery {
                subject: Some(subject.clone()),
                since: p.since,
                until: p.until,
                limit: p.limit,
                ..Default::default()
            })
            .await?;
        let mut items: Vec<(chrono::DateTime<chrono::Utc>, serde_json::Value)> = Vec::new();
        for f in &facts.facts {
            let e = &f.event;
            items.push((e.time, json!({"at": e.time, "kind": "event", "id": e.helios_id, "source": e.source, "type": e.event_type})));
        }
        for d in &decisions.decisions {
            let d = &d.decision;
            items.push((
                d.decided_at,
                json!({
                    "at": d.decided_at, "kind": "decision", "id": d.id, "event": d.event_id,
                    "rules": d.rules, "severity": d.severity, "explanation": explanation(&d.body),
                }),
            ));
        }
        // The waits the expectations opened on these events, replayed with the loaded rule
        // set: what was expected of the subject at each moment, and whether it came.
        if let Some(rules) = &self.rules {
            let events: Vec<serde_json::Value> = facts
                .facts
                .iter()
                .filter_map(|f| serde_json::to_value(&f.event).ok())
                .collect();
            for span in rules.open_spans(&events) {
                let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms);
                let Some(opened) = at(span.opened_ms) else {
                    continue;
                };
                items.push((
                    opened,
                    json!({
                        "at": opened, "kind": "expectation", "expectation": span.expectation,
                        "expectation_kind": span.kind, "key": span.key, "event": span.event,
                        "deadline": at(span.deadline_ms), "met_at": span.met_ms.and_then(at),
                    }),
                ));
            }
        }
        // The outcomes of every decision of the page, in one query.
        let ids: Vec<String> = decisions
            .decisions
            .iter()
            .map(|d| d.decision.id.clone())
            .collect();
        for o in self.store.outcomes_of(&ids).await? {
            items.push((o.recorded_at, json!({
                "at": o.recorded_at, "kind": o.kind, "decision": o.decision_id, "execution": o.execution,
            })));
        }
        // Time order; at the same instant an event comes before the wait it opened and its
        // decision, and those before what its workflow did.
        let rank = |v: &serde_json::Value| match v["kind"].as_str() {
            Some("event") => 0,
            Some("expectation") => 1,
            Some("decision") => 2,
            _ => 3,
        };
        items.sort_by(|a, b| a.0.cmp(&b.0).then(rank(&a.1).cmp(&rank(&b.1))));
        Ok(crate::json(
            200,
            &json!({
                "subject": subject,
                "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
                "truncated": facts.next.is_some() || decisions.next.is_some(),
            }),
        ))
    }

    async fn get_decision(&self, id: &str) -> Result<Response, Problem> {
        let stored = self
            .store
            .get_decision(id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no decision has the id `{id}`")))?;
        let (advice, outcomes): (Vec<_>, Vec<_>) = self
            .store
            .list_outcomes(id)
            .await?
            .into_iter()
            .partition(|o| o.kind == "advice");
        let d = &stored.decision;
        Ok(crate::json(
            200,
            &json!({
                "decision": d.body,
                "explanation": explanation(&d.body),
                "outcomes": outcomes.iter().map(|o| json!({
                    "execution": o.execution, "kind": o.kind, "recorded_at": o.recorded_at, "outcome": redacted(&o.body),
                })).collect::<Vec<_>>(),
                // Advisory notes beside the decision (never part of it).
                "advice": advice.iter().map(|o| json!({
                    "execution": o.execution, "recorded_at": o.recorded_at, "advisory": true,
                    "summary": o.body.get("summary"), "confidence": o.body.get("confidence"),
                    "method": o.body.get("method"), "similar": o.body.get("similar"),
                })).collect::<Vec<_>>(),
            }),
        ))
    }

    async fn stats(&self, req: &Request) -> Result<Response, Problem> {
        let p = Page::read(req)?;
        let until = p.until.unwrap_or_else(|| self.clock.now());
        // A day before `until`, but never before year 1, which no store can hold.
        let since = p.since.unwrap_or_else(|| {
            (until - chrono::Duration::hours(24)).max(helios_events::earliest_time())
        });
        let bucket_text = query_param(req, "bucket").unwrap_or_else(|| "1h".into());
        let bucket = helios_rules::duration::Span::parse(&bucket_text)
            .map_err(|e| Problem::bad_request("invalid-parameter", format!("`bucket`: {e}")))?;
        let width = i64::try_from(bucket.seconds()).unwrap_or(i64::MAX);
        if since >= until {
            return Err(Problem::bad_request(
                "invalid-parameter",
                "`since` must be before `until`",
            ));
        }
        let first = since.timestamp().div_euclid(width) * width;
        let width_ms = width.saturating_mul(1000);
        let count = (until.timestamp_millis() - first * 1000 + width_ms - 1) / width_ms;
        if count > MAX_BUCKETS {
            return Err(Problem::bad_request(
                "invalid-parameter",
                format!(
                    "{count} buckets of {bucket} from `since` to `until`; at most {MAX_BUCKETS}: widen `bucket` or narrow the range"
                ),
            ));
        }
        let rows = self
            .store
            .stats(&StatsQuery {
                since,
                until,
                bucket_seconds: width,
            })
            .await?;
        let mut buckets: Vec<serde_json::Value> = (0..count)
            .map(|i| {
                let start = chrono::DateTime::from_timestamp(first + i * width, 0).unwrap_or(since);
                json!({
                    "start": helios_events::format_time(&start),
                    "events": {"total": 0, "by_source": {}, "by_type": {}},
                    "decisions": {"total": 0, "by_rule": {}, "by_severity": {}, "near_misses_by_rule": {}},
                    "outcomes": {},
                })
            })
            .collect();
        for r in rows {
            let Some(b) = usize::try_from((r.bucket - first) / width)
                .ok()
                .and_then(|i| buckets.get_mut(i))
            else {
                continue;
            };
            let (group, field, total) = match r.series.as_str() {
                "source" => ("events", Some("by_source"), true),
                "type" => ("events", Some("by_type"), false),
                "severity" => ("decisions", Some("by_severity"), true),
                "rule" => ("decisions", Some("by_rule"), false),
                "near_miss" => ("decisions", Some("near_misses_by_rule"), false),
                _ => ("outcomes", None, false),
            };
            if total {
                let t = &mut b[group]["total"];
                *t = json!(t.as_i64().unwrap_or_default() + r.count);
            }
            if r.series == "rule" && r.key.is_empty() {
                continue; // counted in the total, under no rule
            }
            let target = match field {
                Some(f) => &mut b[group][f],
                None => &mut b[group],
            };
            target[r.key.as_str()] = json!(r.count);
        }
        Ok(crate::json(
            200,
            &json!({
                "since": helios_events::format_time(&since),
                "until": helios_events::format_time(&until),
                "bucket": bucket.to_string(),
                "buckets": buckets,
            }),
        ))
    }

    async fn slo(&self) -> Result<Response, Problem> {
        let now = self.clock.now();
        let counted = self.store.slo_counts(&self.slo.query(now)).await?;
        let counts: Vec<(String, helios_store::SloCounts)> = self
            .slo
            .windows()
            .into_iter()
            .map(|(name, _)| name)
            .zip(counted)
            .collect();
        Ok(crate::json(
            200,
            &self.slo.report(&helios_events::format_time(&now), &counts),
        ))
    }

    async fn near_misses(&self, req: &Request) -> Result<Response, Problem> {
        let p = Page::read(req)?;
        let until = p.until.unwrap_or_else(|| self.clock.now());
        // A week before `until`: tuning reads more than a day.
        let since = p.since.unwrap_or_else(|| {
            (until - chrono::Duration::days(7)).max(helios_events::earliest_time())
        });
        if since >= until {
            return Err(Problem::bad_request(
                "invalid-parameter",
                "`since` must be before `until`",
            ));
        }
        let examples = match query_param(req, "examples") {
            None => 3,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_EXAMPLES)
                .ok_or_else(|| {
                    Problem::bad_request(
                        "invalid-parameter",
                        format!(
                            "`examples` must be a whole number from 0 to {MAX_EXAMPLES}, found {s:?}"
                        ),
                    )
                })?,
        };
        let rule = query_param(req, "rule").filter(|r| !r.is_empty());
        let rows = self
            .store
            .near_misses(&NearMissQuery {
                since,
                until,
                rule: rule.clone(),
                examples,
            })
            .await?;
        // How often each rule fired, and how many decisions there were, in the same range.
        let counts = self
            .store
            .stats(&StatsQuery {
                since,
                until,
                bucket_seconds: (until - since).num_seconds().max(1),
            })
            .await?;
        let mut fired = std::collections::BTreeMap::<String, i64>::new();
        let mut decisions = 0;
        for r in counts {
            match r.series.as_str() {
                "rule" if !r.key.is_empty() => *fired.entry(r.key).or_default() += r.count,
                "severity" => decisions += r.count,
                _ => {}
            }
        }
        Ok(crate::json(
            200,
            &json!({
                "since": helios_events::format_time(&since),
                "until": helios_events::format_time(&until),
                "decisions": decisions,
                "rules": near_miss_report(rows, &fired),
            }),
        ))
    }

    fn executions(&self) -> Result<&Arc<dyn Executions>, Problem> {
        self.executions.as_ref().ok_or_else(|| {
            Problem::not_found("this deployment runs no workflows, so it has no executions")
        })
    }

    async fn list_executions(&self, req: &Request) -> Result<Response, Problem> {
        let p = Page::read(req)?;
        let filter = helios_ports::ExecutionFilter {
            machine: query_param(req, "machine"),
            status: query_param(req, "status").map(|s| s.to_ascii_uppercase()),
        };
        let offset = usize::try_from(p.after.unwrap_or_default()).unwrap_or_default();
        let (page, more) = self
            .executions()?
            .list_page(&filter, offset, p.limit)
            .await
            .map_err(|e| Problem::unavailable(format!("executions cannot be read: {e}")))?;
        let next = more.then(|| encode_cursor((offset + p.limit) as i64));
        Ok(crate::json(200, &json!({"executions": page, "next": next})))
    }

    async fn get_execution(&self, name: &str) -> Result<Response, Problem> {
        let found = self
            .executions()?
            .describe_execution(name)
            .await
            .map_err(|e| Problem::unavailable(format!("executions cannot be read: {e}")))?;
        match found {
            Some(e) => Ok(crate::json(200, &e)),
            None => Err(Problem::not_found(format!(
                "no execution is named `{name}`"
            ))),
        }
    }

    async fn get(&self, id: &str) -> Result<Response, Problem> {
        let fact = self
            .store
            .get_fact(id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no event has the id `{id}`")))?;
        Ok(crate::json(
            200,
            &json!({
                "event": fact.event,
                // The archive's key, not where the server keeps it: a reader of the API
                // has no business with the server's paths or bucket names.
                "raw": {"key": fact.raw.key, "index": fact.raw.index},
            }),
        ))
    }
}

/// An outcome as the API shows it: without the task token of a workflow waiting for an
/// acknowledgement, which is a credential (whoever holds it can resume the workflow with
/// `SendTaskSuccess`); the ack route finds it in the store itself.
fn redacted(body: &serde_json::Value) -> serde_json::Value {
    let mut body = body.clone();
    if let Some(o) = body.as_object_mut() {
        for key in ["task_token", "taskToken"] {
            if let Some(v) = o.get_mut(key) {
                *v = json!("(redacted)");
            }
        }
    }
    body
}

pub(crate) use helios_app::live::explanation;

/// The paging and time parameters every listing takes.
/// The most example decisions `GET /v1/near-misses` gives per value found.
pub const MAX_EXAMPLES: usize = 20;
/// The values found listed per check; the near misses of the others are counted.
pub const MAX_FOUND: usize = 10;

/// The near misses grouped by rule, then by the check in the way, then by the value found:
/// the most frequent first at each level.
pub fn near_miss_report(
    rows: Vec<NearMissRow>,
    fired: &std::collections::BTreeMap<String, i64>,
) -> Vec<Value> {
    // (rule) -> (kind, field, op, wanted) -> rows, in the order first seen.
    type Checks = Vec<(Value, Vec<NearMissRow>)>;
    let mut rules: Vec<(String, Checks)> = Vec::new();
    for r in rows {
        let check = json!({"kind": r.kind, "field": r.field, "op": r.op, "wanted": r.wanted});
        let checks = match rules.iter_mut().position(|(id, _)| *id == r.rule) {
            Some(i) => &mut rules[i].1,
            None => {
                rules.push((r.rule.clone(), Vec::new()));
                let last = rules.len() - 1;
                &mut rules[last].1
            }
        };
        match checks.iter_mut().find(|(c, _)| *c == check) {
            Some((_, found)) => found.push(r),
            None => checks.push((check, vec![r])),
        }
    }
    let total = |found: &[NearMissRow]| found.iter().map(|r| r.count).sum::<i64>();
    let mut out: Vec<(i64, String, Value)> = rules
        .into_iter()
        .map(|(rule, mut checks)| {
            checks.sort_by_key(|c| std::cmp::Reverse(total(&c.1)));
            let near: i64 = checks.iter().map(|(_, f)| total(f)).sum();
            let checks: Vec<Value> = checks
                .into_iter()
                .map(|(mut check, mut found)| {
                    found.sort_by_key(|r| std::cmp::Reverse(r.count));
                    let n = total(&found);
                    let omitted = total(found.get(MAX_FOUND..).unwrap_or_default());
                    found.truncate(MAX_FOUND);
                    check["near_misses"] = json!(n);
                    check["found"] = found
                        .into_iter()
                        .map(|r| {
                            json!({
                                "value": r.found,
                                "count": r.count,
                                "because": r.because,
                                "examples": r.examples.into_iter()
                                    .map(|(d, e)| json!({"decision": d, "event": e}))
                                    .collect::<Vec<_>>(),
                            })
                        })
                        .collect();
                    check["found_omitted"] = json!(omitted);
                    check
                })
                .collect();
            let value = json!({
                "rule": rule,
                "fired": fired.get(&rule).copied().unwrap_or_default(),
                "near_misses": near,
                "checks": checks,
            });
            (near, rule, value)
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, v)| v).collect()
}

struct Page {
    limit: usize,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
    after: Option<i64>,
    /// `order=newest`: the newest first.
    newest_first: bool,
}

impl Page {
    fn read(req: &Request) -> Result<Page, Problem> {
        let limit = match query_param(req, "limit") {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Problem::bad_request(
                        "invalid-parameter",
                        format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}, found {s:?}"
                        ),
                    )
                })?,
        };
        let time = |name: &str| -> Result<_, Problem> {
            query_param(req, name)
                .map(|s| {
                    helios_events::parse_time(&s).map_err(|p| {
                        Problem::bad_request("invalid-parameter", format!("`{name}` {p}"))
                    })
                })
                .transpose()
        };
        let newest_first = match query_param(req, "order").as_deref() {
            None | Some("oldest") => false,
            Some("newest") => true,
            Some(other) => {
                return Err(Problem::bad_request(
                    "invalid-parameter",
                    format!("`order` is `oldest` (the default) or `newest`, found {other:?}"),
                ))
            }
        };
        let after = match query_param(req, "cursor") {
            None => None,
            Some(c) => {
                let (seq, newest) = decode_cursor(&c)?;
                if newest != newest_first {
                    return Err(Problem::bad_request(
                        "invalid-parameter",
                        "`cursor` was given out for the other `order`: ask with the `order` of the page it came from",
                    ));
                }
                Some(seq)
            }
        };
        Ok(Page {
            limit,
            since: time("since")?,
            until: time("until")?,
            after,
            newest_first,
        })
    }

    /// The cursor of the page after this one, in this page's order.
    fn cursor(&self, seq: i64) -> String {
        if self.newest_first {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("before:{seq}"))
        } else {
            encode_cursor(seq)
        }
    }
}

/// One schema version as the API shows it.
fn version_json(v: &helios_store::SchemaVersion) -> Value {
    json!({
        "source": v.source,
        "type": v.event_type,
        "version": v.version,
        "id": v.id,
        "registered_at": helios_events::format_time(&v.registered_at),
        "schema": v.schema,
    })
}

/// Cursors are opaque to clients: the position after which the next page starts.
pub fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

/// A cursor's position, and whether it was given out for the newest first.
fn decode_cursor(c: &str) -> Result<(i64, bool), Problem> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (n, newest) = match s.strip_prefix("before:") {
                Some(n) => (n.to_string(), true),
                None => (s.strip_prefix("seq:")?.to_string(), false),
            };
            Some((n.parse().ok()?, newest))
        })
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-parameter",
                "`cursor` is not a cursor this API gave out",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::serves;

    #[test]
    fn near_misses_are_grouped_most_frequent_first_and_rare_values_are_counted() {
        use helios_store::NearMissRow;
        use serde_json::json;
        let row = |rule: &str, field: &str, found: usize, count: i64| NearMissRow {
            rule: rule.into(),
            kind: "match".into(),
            field: Some(field.into()),
            op: None,
            wanted: json!(["main"]),
            found: json!(format!("v{found}")),
            count,
            because: format!("{field} was v{found}"),
            examples: vec![(format!("dec_{found}"), format!("e{found}"))],
        };
        // `a` nearly fires on one value of one field; `b` on twelve values of another and on
        // one of a third: `b` has more near misses and comes first.
        let mut rows = vec![row("a", "data.x", 0, 5)];
        rows.extend((0..12).map(|i| row("b", "data.y", i, i as i64 + 1)));
        rows.push(row("b", "data.z", 0, 100));
        let fired = [("b".to_string(), 2)].into_iter().collect();
        let report = super::near_miss_report(rows, &fired);
        let ids: Vec<_> = report.iter().map(|r| r["rule"].clone()).collect();
        assert_eq!(ids, [json!("b"), json!("a")]);
        let b = &report[0];
        assert_eq!(b["near_misses"], 100 + (1..=12).sum::<i64>());
        assert_eq!(
            (b["fired"].clone(), report[1]["fired"].clone()),
            (json!(2), json!(0))
        );
        assert_eq!(
            b["checks"][0]["field"], "data.z",
            "the most near misses first"
        );
        let y = &b["checks"][1];
        assert_eq!(y["near_misses"], (1..=12).sum::<i64>());
        let counts: Vec<_> = y["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["count"].clone())
            .collect();
        assert_eq!(counts, (3..=12).rev().map(|n| json!(n)).collect::<Vec<_>>());
        assert_eq!(
            y["found_omitted"],
            1 + 2,
            "the two rarest values are counted, not listed"
        );
        assert_eq!(
            y["found"][0]["examples"][0],
            json!({"decision": "dec_11", "event": "e11"})
        );
    }

    #[test]
    fn a_route_is_a_collection_or_one_of_its_items_not_a_name_that_starts_alike() {
        for p in [
            "/v1/events",
            "/v1/events/evt_1",
            "/v1/decisions/dec_1",
            "/v1/executions",
            "/v1/stats",
        ] {
            assert!(serves(p), "{p}");
        }
        for p in [
            "/v1/eventsfoo",
            "/v1/decisionsx/1",
            "/v1/executionsy",
            "/v1/stats/x",
            "/v1",
        ] {
            assert!(!serves(p), "{p}");
        }
    }
}
