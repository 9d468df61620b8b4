//! The HTTP API's one router: its route table ([`ROUTES`]) and the axum [`router`] built from
//! it, which `helios dev` serves and each HTTP Lambda runs behind API Gateway
//! ([`crate::lambda::serve_router`]), with the same layers:
//!
//! - a request target (path and query string) that is not valid percent-encoded UTF-8 is a
//!   400 problem before any handler sees it;
//! - a body over the limit is a 413 problem, one that does not arrive in time a 408;
//! - a known path asked with a method it does not answer is a 405 problem with `Allow`, an
//!   unknown path a 404 problem;
//! - authentication, roles and rate limits are the handlers' (each route has its own role).
//!
//! terraform's API Gateway routes are checked against [`ROUTES`] (tests/deployment.rs), and
//! so is the OpenAPI description.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Problem, Request, Response};

/// Who serves a route: the function API Gateway sends it to in AWS, or only `helios dev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    Ingest,
    Query,
    Ack,
    /// Served by `helios dev` alone (its health check); API Gateway has no such route.
    Local,
    /// The loaded rule set (read, and tried on an event): the query function in AWS.
    Rules,
    /// What an operator does (health, dead letters, redrive, replay): the `ops` function in
    /// AWS.
    Ops,
    /// One-time sign-in links, served by `helios dev` alone (its tickets live in its memory;
    /// `helios demo` prints one).
    Session,
    /// The schema registry's writes and checks and the quarantine's releases: the ingest
    /// function in AWS (whose schema gate they change).
    Schemas,
    /// Prometheus metrics, served by `helios dev` alone (in AWS the same names go to
    /// CloudWatch as embedded metrics).
    Metrics,
    /// The live stream, served by `helios dev` alone (server-sent events); in AWS the
    /// dashboard's WebSocket API carries the same messages.
    Stream,
    /// The live feed over WebSocket on `helios dev` (in AWS, API Gateway's WebSocket API and
    /// the `push` function, not a route of the HTTP API).
    Socket,
}

impl Function {
    /// The function's name in terraform (`functions = { ingest = … }`).
    pub fn name(self) -> &'static str {
        match self {
            Function::Ingest => "ingest",
            Function::Query => "query",
            Function::Ack => "ack",
            Function::Local => "local",
            // The query function serves the rule set too (it has the rule set's layer).
            Function::Rules => "query",
            Function::Ops => "ops",
            Function::Session => "local",
            Function::Schemas => "ingest",
            Function::Metrics => "metrics",
            Function::Stream => "stream",
            Function::Socket => "push",
        }
    }
}

/// One route: a method and a path template (`{name}` is one path segment), as API Gateway
/// and OpenAPI write them.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
}

const fn route(method: &'static str, path: &'static str, function: Function) -> Route {
    Route {
        method,
        path,
        function,
    }
}

/// The webhook route, whose methods depend on the source.
const HOOKS: &str = "/v1/hooks/{source}";

/// Every route of the HTTP API. A `GET` route answers `HEAD` too.
pub const ROUTES: &[Route] = &[
    route("POST", "/v1/events", Function::Ingest),
    route("GET", "/v1/events", Function::Query),
    route("GET", "/v1/events/{id}", Function::Query),
    route("POST", HOOKS, Function::Ingest),
    route("OPTIONS", HOOKS, Function::Ingest),
    route("GET", "/v1/decisions", Function::Query),
    route("GET", "/v1/decisions/{id}", Function::Query),
    route("POST", "/v1/decisions/{id}/ack", Function::Ack),
    route("GET", "/v1/executions", Function::Query),
    route("GET", "/v1/executions/{name}", Function::Query),
    route("GET", "/v1/timeline", Function::Query),
    route("GET", "/v1/stats", Function::Query),
    route("GET", "/v1/near-misses", Function::Query),
    route("GET", "/v1/slo", Function::Query),
    route("GET", "/v1/session", Function::Query),
    route("GET", "/v1/rules", Function::Rules),
    route("POST", "/v1/rules/try", Function::Rules),
    route("GET", "/v1/openapi.json", Function::Query),
    route("GET", "/v1/schemas", Function::Query),
    route("GET", "/v1/schemas/{source}/{type}", Function::Query),
    route(
        "GET",
        "/v1/schemas/{source}/{type}/versions/{version}",
        Function::Query,
    ),
    route("GET", "/v1/schemas/{source}/{type}/diff", Function::Query),
    route(
        "POST",
        "/v1/schemas/{source}/{type}/versions",
        Function::Schemas,
    ),
    route(
        "POST",
        "/v1/schemas/{source}/{type}/check",
        Function::Schemas,
    ),
    route(
        "PUT",
        "/v1/schemas/{source}/{type}/settings",
        Function::Schemas,
    ),
    route("GET", "/v1/quarantine", Function::Query),
    route("POST", "/v1/quarantine/{id}/release", Function::Schemas),
    route("POST", "/v1/quarantine/{id}/drop", Function::Schemas),
    route("GET", "/v1/dead-letters", Function::Ops),
    route("POST", "/v1/dead-letters/{queue}/redrive", Function::Ops),
    route("POST", "/v1/replay", Function::Ops),
    route("GET", "/v1/health", Function::Ops),
    route("POST", "/v1/session/tickets", Function::Session),
    route("POST", "/v1/session/redeem", Function::Session),
    route("GET", "/v1/stream", Function::Stream),
    route("GET", "/v1/socket", Function::Socket),
    route("GET", "/healthz", Function::Local),
    route("GET", "/metrics", Function::Metrics),
];

/// The `Allow` header of `path` (a template of [`ROUTES`]): its methods, `HEAD` with `GET`.
pub fn allowed_methods(path: &str) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for r in ROUTES.iter().filter(|r| r.path == path) {
        methods.push(r.method);
        if r.method == "GET" {
            methods.push("HEAD");
        }
    }
    methods.sort_unstable();
    methods.dedup();
    methods.join(", ")
}

/// A handler of some routes: the request in, the response out, never an error (every
/// failure is a problem response).
#[async_trait]
pub trait Handle: Send + Sync {
    async fn handle(&self, req: Request) -> Response;
}

/// The handlers a process has; a route whose function has none here is not served (a
/// Lambda serves its own routes only).
#[derive(Clone, Default)]
pub struct Handlers {
    pub ingest: Option<Arc<dyn Handle>>,
    pub query: Option<Arc<dyn Handle>>,
    pub ack: Option<Arc<dyn Handle>>,
    pub local: Option<Arc<dyn Handle>>,
    pub rules: Option<Arc<dyn Handle>>,
    pub ops: Option<Arc<dyn Handle>>,
    pub session: Option<Arc<dyn Handle>>,
    pub schemas: Option<Arc<dyn Handle>>,
    pub metrics: Option<Arc<dyn Handle>>,
    pub stream: Option<Arc<crate::stream::Live>>,
    /// `GET /v1/socket`'s upgrade (`helios_api::socket::serve`, with the `socket` feature).
    pub socket: Option<Upgrade>,
}

/// A handler that answers with a connection upgrade, outside [`Handle`]'s request and body
/// limits.
pub type Upgrade = Arc<
    dyn Fn(
            axum::extract::Request,
        ) -> futures_util::future::BoxFuture<'static, axum::response::Response>
        + Send
        + Sync,
>;

impl Handlers {
    fn of(&self, f: Function) -> Option<&Arc<dyn Handle>> {
        match f {
            Function::Ingest => self.ingest.as_ref(),
            Function::Query => self.query.as_ref(),
            Function::Ack => self.ack.as_ref(),
            Function::Local => self.local.as_ref(),
            Function::Rules => self.rules.as_ref(),
            Function::Ops => self.ops.as_ref(),
            Function::Session => self.session.as_ref(),
            Function::Schemas => self.schemas.as_ref(),
            Function::Metrics => self.metrics.as_ref(),
            // Not a `Handle`: its answer is a body that does not end, or an upgrade
            // ([`router`] serves them).
            Function::Stream | Function::Socket => None,
        }
    }
}

/// The body limits of every route.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// The largest body read; a larger one is a 413.
    pub max_bytes: usize,
    /// How long a body may take to arrive; after it, a 408 (API Gateway hands a Lambda the
    /// whole body, so this matters to `helios dev` only).
    pub timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> BodyLimits {
        BodyLimits {
            max_bytes: helios_events::Limits::default().max_body_bytes,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The router of the routes `handlers` serve.
pub fn router(handlers: &Handlers, limits: BodyLimits) -> axum::Router {
    let mut r = axum::Router::new();
    let mut paths: Vec<&str> = ROUTES.iter().map(|r| r.path).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let mut methods = axum::routing::MethodRouter::new();
        for route in ROUTES.iter().filter(|r| r.path == path) {
            let Some(filter) = method_filter(route.method) else {
                continue;
            };
            if let (Function::Stream, Some(live)) = (route.function, &handlers.stream) {
                let live = live.clone();
                methods = methods.on(filter, move |req: axum::extract::Request| {
                    let live = live.clone();
                    async move {
                        let (parts, _) = req.into_parts();
                        if let Err(p) = check_target(&parts.uri) {
                            return into_axum(p.into_response_for(Some(parts.uri.path())));
                        }
                        live.open(http::Request::from_parts(parts, bytes::Bytes::new()))
                            .await
                    }
                });
                continue;
            }
            if let (Function::Socket, Some(upgrade)) = (route.function, &handlers.socket) {
                let upgrade = upgrade.clone();
                methods = methods.on(filter, move |req: axum::extract::Request| {
                    let upgrade = upgrade.clone();
                    async move {
                        if let Err(p) = check_target(req.uri()) {
                            return into_axum(p.into_response_for(Some(req.uri().path())));
                        }
                        upgrade(req).await
                    }
                });
                continue;
            }
            match handlers.of(route.function) {
                Some(h) => {
                    let h = h.clone();
                    methods = methods.on(filter, move |req: axum::extract::Request| {
                        let h = h.clone();
                        async move { serve(h.as_ref(), req, limits).await }
                    });
                }
                // A route of the API this process does not serve (`helios dev` without
                // workflows has no acknowledgements; a Lambda serves its own routes).
                None => {
                    let what = format!("{} {}", route.method, route.path);
                    methods = methods.on(filter, move |req: axum::extract::Request| {
                        let what = what.clone();
                        async move {
                            into_axum(
                                Problem::not_found(format!("{what} is not served here"))
                                    .into_response_for(Some(req.uri().path())),
                            )
                        }
                    });
                }
            }
        }
        if let Some(h) = (path == HOOKS)
            .then(|| handlers.of(Function::Ingest))
            .flatten()
        {
            // Which methods a hook answers depends on its source (OPTIONS is the validation
            // handshake of some): the ingest handler answers the others, with that `Allow`.
            let h = h.clone();
            methods = methods.fallback(move |req: axum::extract::Request| {
                let h = h.clone();
                async move { serve(h.as_ref(), req, limits).await }
            });
        } else {
            let allow = allowed_methods(path);
            methods = methods.fallback(move |req: axum::extract::Request| {
                let allow = allow.clone();
                async move {
                    into_axum(
                        Problem::method_not_allowed(&allow)
                            .into_response_for(Some(req.uri().path())),
                    )
                }
            });
        }
        r = r.route(path, methods);
    }
    r.fallback(|req: axum::extract::Request| async move {
        let path = req.uri().path().to_string();
        let problem = match check_target(req.uri()) {
            Err(p) => p,
            Ok(()) => Problem::not_found(format!("no route {path}")),
        };
        into_axum(problem.into_response_for(Some(&path)))
    })
}

fn method_filter(method: &str) -> Option<axum::routing::MethodFilter> {
    use axum::routing::MethodFilter;
    Some(match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "OPTIONS" => MethodFilter::OPTIONS,
        "PUT" => MethodFilter::PUT,
        "DELETE" => MethodFilter::DELETE,
        "PATCH" => MethodFilter::PATCH,
        _ => return None,
    })
}

/// Answers one request through `router` (a Lambda's, or a test's): the request and the
/// answer are plain `http` types with `Bytes` bodies.
pub async fn call(router: &axum::Router, req: Request) -> Response {
    use tower::ServiceExt as _;
    let (parts, body) = req.into_parts();
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(body));
    let resp = match router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => http::Response::from_parts(parts, bytes),
        Err(e) => Problem::internal(format!("the answer could not be read: {e}")).into_response(),
    }
}

/// Reads the body within the limits, checks the target, and hands the request to `h`.
async fn serve(
    h: &dyn Handle,
    req: axum::extract::Request,
    limits: BodyLimits,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if let Err(p) = check_target(&parts.uri) {
        return into_axum(p.into_response_for(Some(&path)));
    }
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > limits.max_bytes) {
        return into_axum(Problem::too_large(n, limits.max_bytes).into_response_for(Some(&path)));
    }
    let resp =
        match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes))
            .await
        {
            Err(_) => Problem::new(
                408,
                "request-timeout",
                "Request timeout",
                format!(
                    "the body did not arrive within {} s",
                    limits.timeout.as_secs_f64()
                ),
            )
            .with_header("connection", "close")
            .into_response_for(Some(&path)),
            Ok(Err(_)) => Problem::new(
                413,
                "body-too-large",
                "Request body too large",
                format!("the body is over the limit of {} bytes", limits.max_bytes),
            )
            .into_response_for(Some(&path)),
            Ok(Ok(bytes)) => h.handle(http::Request::from_parts(parts, bytes)).await,
        };
    into_axum(resp)
}

fn into_axum(resp: Response) -> axum::response::Response {
    let (parts, body) = resp.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// Whether the path and the query string of `uri` are valid percent-encoded UTF-8: every
/// `%` starts two hex digits, and the bytes they decode to, with the rest, are UTF-8. A
/// handler reads parameters from it afterwards without meeting a malformed one.
pub fn check_target(uri: &http::Uri) -> Result<(), Problem> {
    let bad = |what: &str, why: &str| {
        Problem::new(
            400,
            "invalid-request-target",
            "Bad Request",
            format!("the {what} is not valid percent-encoded UTF-8: {why}"),
        )
    };
    decode(uri.path()).map_err(|why| bad("path", why))?;
    if let Some(q) = uri.query() {
        decode(q).map_err(|why| bad("query string", why))?;
    }
    Ok(())
}

/// Whether `s` percent-decodes, every escape well formed, to UTF-8. A text without `%` is
/// UTF-8 already (it is a `&str`): nothing to decode on the common path.
fn decode(s: &str) -> Result<(), &'static str> {
    if !s.contains('%') {
        return Ok(());
    }
    let (bytes, well_formed) = crate::percent_bytes(s);
    if !well_formed {
        return Err("a `%` is not followed by two hex digits");
    }
    std::str::from_utf8(&bytes)
        .map(|_| ())
        .map_err(|_| "the decoded bytes are not UTF-8")
}

#[async_trait]
impl Handle for crate::ingest::IngestApi {
    async fn handle(&self, req: Request) -> Response {
        crate::ingest::IngestApi::handle(self, req).await
    }
}

#[async_trait]
impl Handle for crate::query::Query {
    async fn handle(&self, req: Request) -> Response {
        crate::query::Query::handle(self, req).await
    }
}

#[async_trait]
impl Handle for crate::ack::AckApi {
    async fn handle(&self, req: Request) -> Response {
        crate::ack::AckApi::handle(self, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    #[async_trait]
    impl Handle for Echo {
        async fn handle(&self, req: Request) -> Response {
            crate::json(
                200,
                &serde_json::json!({"path": req.uri().path(), "method": req.method().as_str()}),
            )
        }
    }

    fn get(router: &axum::Router, method: &str, target: &str) -> Response {
        let req = http::Request::builder()
            .method(method)
            .uri(target)
            .body(bytes::Bytes::new())
            .unwrap();
        futures_block_on(call(router, req))
    }

    fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn query_only() -> axum::Router {
        router(
            &Handlers {
                query: Some(Arc::new(Echo)),
                ..Default::default()
            },
            BodyLimits::default(),
        )
    }

    #[test]
    fn a_collection_is_not_a_name_that_starts_alike() {
        let r = query_only();
        assert_eq!(get(&r, "GET", "/v1/events").status(), 200);
        assert_eq!(get(&r, "GET", "/v1/events/e-1").status(), 200);
        assert_eq!(get(&r, "HEAD", "/v1/events").status(), 200);
        assert_eq!(get(&r, "GET", "/v1/eventsfoo").status(), 404);
        assert_eq!(get(&r, "GET", "/v1/events/a/b").status(), 404);
    }

    #[test]
    fn a_method_a_path_does_not_answer_is_a_405_with_allow() {
        let r = query_only();
        let resp = get(&r, "DELETE", "/v1/events");
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }

    #[test]
    fn a_lambda_serves_its_own_routes_only() {
        let r = query_only();
        // The ack route belongs to another function: a 404 here, and still a 405 for a
        // method the API does not answer on it.
        let resp = get(&r, "POST", "/v1/decisions/d-1/ack");
        assert_eq!(resp.status(), 404);
        let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("not served here"),
            "{body}"
        );
        assert_eq!(get(&r, "GET", "/v1/decisions/d-1/ack").status(), 405);
    }

    #[test]
    fn a_target_that_is_not_percent_encoded_utf8_is_a_400() {
        let r = query_only();
        for target in [
            "/v1/events?source=%E9",
            "/v1/events?source=%ZZ",
            "/v1/events?source=%",
            "/v1/events/%C3",
            "/v1/nothing%FF",
        ] {
            let resp = get(&r, "GET", target);
            assert_eq!(resp.status(), 400, "{target}");
            let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
            assert_eq!(
                body["type"]
                    .as_str()
                    .map(|t| t.ends_with("invalid-request-target")),
                Some(true),
                "{body}"
            );
        }
        for target in [
            "/v1/events?subject=caf%C3%A9",
            "/v1/events?subject=a+b&x",
            "/v1/events/caf%C3%A9",
        ] {
            assert_eq!(get(&r, "GET", target).status(), 200, "{target}");
        }
    }

    /// The OpenAPI description and the route table say the same: every route is an
    /// operation of the document, and every operation a route.
    #[test]
    fn the_openapi_paths_are_the_routes() {
        let spec: serde_json::Value = serde_json::from_str(crate::OPENAPI).unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                if ["get", "post", "put", "delete", "patch", "options", "head"]
                    .contains(&method.as_str())
                {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let routed: std::collections::BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        assert_eq!(
            documented, routed,
            "OpenAPI operations (left) and ROUTES (right) differ"
        );
    }

    #[test]
    fn every_route_is_a_template_of_segments() {
        for r in ROUTES {
            assert!(r.path.starts_with('/'), "{r:?}");
            assert!(method_filter(r.method).is_some(), "{r:?}");
        }
    }
}
