//! Traces of the analytics plane: the `tracing` spans Helios opens along an event's way
//! (ingest, the outbox, publish, decide, the workflow start, each task, the
//! acknowledgement) exported as OpenTelemetry spans over OTLP/HTTP, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, in
//! `helios dev` and in every Lambda alike.
//!
//! Nothing here is in the path of a decision. Spans go to a bounded queue that a batch
//! processor on its own thread empties; when the receiver is slow or gone, the queue fills
//! and spans are dropped, never waited for, and each failed export is counted
//! ([`helios_ports::trace::exports`], `helios_trace_spans_exported_total{result}` on
//! `/metrics`). The protocol is
//! `http/protobuf`, which every collector takes (JSON's encoding would add its serde code to
//! every Lambda); the other `OTEL_*` settings of the specification apply (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_EXPORTER_OTLP_TIMEOUT`, …).
//! The endpoint is plain HTTP: a collector beside Helios (the OpenTelemetry Collector, or
//! the ADOT Lambda layer on `localhost:4318`) forwards to wherever traces are kept.

use std::sync::OnceLock;
use std::time::Duration;

use helios_ports::trace::{TraceContext, Tracer};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_opentelemetry::OpenTelemetrySpanExt;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether the environment asks for traces: an OTLP endpoint is set, and neither
/// `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` turns them off.
pub fn wanted() -> bool {
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let none = env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
    endpoint().is_some() && !disabled && !none
}

/// A variable of the environment that is set and not blank.
fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The traces' endpoint: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn endpoint() -> Option<String> {
    env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// Refuses an endpoint Helios cannot post to: spans go over plain HTTP to a collector beside it.
fn plain_http(endpoint: &str) -> Result<(), String> {
    if endpoint.trim().to_ascii_lowercase().starts_with("https:") {
        return Err(format!(
            "the OTLP endpoint {endpoint} is https; Helios posts spans over plain HTTP to a \
             collector beside it (the OpenTelemetry Collector, or the ADOT Lambda layer on \
             http://localhost:4318), which forwards them over TLS"
        ));
    }
    Ok(())
}

/// The exporter, counting what it exported and what failed.
#[derive(Debug)]
struct Counting<E>(E);

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.0.export(batch).await;
        helios_ports::trace::count_export(n, result.is_ok());
        result
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource)
    }
}

/// The span processor, counting each span it is handed.
#[derive(Debug)]
struct CountEnded<P>(P);

impl<P: opentelemetry_sdk::trace::SpanProcessor> opentelemetry_sdk::trace::SpanProcessor
    for CountEnded<P>
{
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx)
    }
    fn on_end(&self, span: SpanData) {
        helios_ports::trace::count_ended();
        self.0.on_end(span)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource)
    }
}

/// The layer that turns `tracing` spans into OpenTelemetry spans, with the exporter the
/// environment names; `service` names the process unless `OTEL_SERVICE_NAME` does. `None`
/// when traces are not wanted, or the exporter cannot be built (said on stderr: logging is
/// not up yet).
///
/// What it exports: Helios's own spans at `info` and above, with the warnings and errors
/// logged inside them as span events, whatever `RUST_LOG` lets through to the logs.
pub(crate) fn layer(
    service: &str,
) -> Option<Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>> {
    use tracing_subscriber::Layer as _;
    if !wanted() {
        return None;
    }
    let exporter = match exporter() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("traces are not exported: {e}");
            return None;
        }
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| service.into());
        resource = resource.with_service_name(name);
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CountEnded(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(Counting(exporter)).build(),
        ))
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("helios");
    if PROVIDER.set(provider).is_err() {
        return None;
    }
    helios_ports::trace::install(Box::new(Otel));
    let ours = tracing_subscriber::filter::filter_fn(|m| {
        m.target().starts_with("helios")
            && if m.is_span() {
                *m.level() <= tracing::Level::INFO
            } else {
                *m.level() <= tracing::Level::WARN
            }
    });
    Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(ours)
            .boxed(),
    )
}

/// The OTLP/HTTP exporter of the environment's endpoint, posting through [`Post`].
fn exporter() -> Result<opentelemetry_otlp::SpanExporter, String> {
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    plain_http(&endpoint().unwrap_or_default())?;
    let timeout = export_timeout();
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_timeout(timeout)
        .with_http_client(Post::new(timeout))
        .build()
        .map_err(|e| format!("the OTLP exporter cannot be built: {e}"))
}

/// The exporter's HTTP client: hyper's, which every Lambda links already for the AWS SDKs,
/// on a runtime of one thread of its own, started at the first export. The batch processor
/// exports from its own thread, outside any tokio runtime, and waits on the answer as on any
/// future; the runtime's thread keeps the connection to the collector open between exports.
#[derive(Debug)]
struct Post {
    timeout: Duration,
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

/// The largest answer a collector's is read to (as the SDK's own clients: 4 MiB).
const MAX_ANSWER: usize = 4 << 20;

impl Post {
    fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// The runtime and the client, made once per process.
    fn runtime() -> Result<&'static (tokio::runtime::Runtime, Client), String> {
        static RT: OnceLock<Result<(tokio::runtime::Runtime, Client), String>> = OnceLock::new();
        RT.get_or_init(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("helios-otlp")
                .enable_all()
                .build()
                .map_err(|e| format!("the OTLP client's thread cannot start: {e}"))?;
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build_http();
            Ok((rt, client))
        })
        .as_ref()
        .map_err(Clone::clone)
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Post {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        use http_body_util::BodyExt as _;
        let (rt, client) = Self::runtime()?;
        let call = client.request(request.map(http_body_util::Full::new));
        let timeout = self.timeout;
        let answer = rt.spawn(async move {
            let response = tokio::time::timeout(timeout, call)
                .await
                .map_err(|_| format!("no answer within {timeout:?}"))?
                .map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = tokio::time::timeout(
                timeout,
                http_body_util::Limited::new(body, MAX_ANSWER).collect(),
            )
            .await
            .map_err(|_| format!("the answer's body did not come within {timeout:?}"))?
            .map_err(|e| e.to_string())?
            .to_bytes();
            Ok::<_, String>(http::Response::from_parts(parts, body))
        });
        Ok(answer.await.map_err(|e| e.to_string())??)
    }
}

/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds); otherwise 10 s as the specification has it,
/// but 1 s in Lambda, which waits for the export at the end of each invocation: a collector
/// that hangs costs an invocation one second at most, and the spans.
fn export_timeout() -> Duration {
    let default = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    std::env::var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(default, Duration::from_millis)
}

/// Exports the spans ended so far and waits for it (at most the export timeout): a Lambda
/// calls it at the end of each invocation, before its environment may be frozen. Nothing
/// when traces are not exported.
pub async fn flush() {
    if let Some(p) = PROVIDER.get() {
        let p = p.clone();
        let _ = tokio::task::spawn_blocking(move || p.force_flush()).await;
    }
}

/// Exports what is left and stops the exporter: at the end of `helios dev`.
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.shutdown();
    }
}

/// The [`Tracer`] of an exporting process.
struct Otel;

impl Tracer for Otel {
    fn adopt(&self, span: &tracing::Span, parent: &TraceContext) -> Option<TraceContext> {
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id),
            SpanId::from_bytes(parent.span_id),
            if parent.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::default(),
        );
        span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
            .ok()?;
        self.context_of(span)
    }

    fn context_of(&self, span: &tracing::Span) -> Option<TraceContext> {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        sc.is_valid().then(|| TraceContext {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            sampled: sc.is_sampled(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::Tracer as _;
    use std::sync::{Arc, Mutex};

    /// A collector on 127.0.0.1 that keeps each request's path and body and answers 200.
    async fn collector() -> (String, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
        use http_body_util::BodyExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r: http::Request<_>| {
                        let kept = kept.clone();
                        async move {
                            let path = r.uri().path().to_string();
                            let body: hyper::body::Incoming = r.into_body();
                            let bytes = body.collect().await?.to_bytes().to_vec();
                            kept.lock().unwrap().push((path, bytes));
                            Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(
                                bytes::Bytes::new(),
                            )))
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        (url, got)
    }

    fn provider(endpoint: &str, timeout: Duration) -> SdkTracerProvider {
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_timeout(timeout)
            .with_http_client(Post::new(timeout))
            .build()
            .unwrap();
        SdkTracerProvider::builder()
            .with_span_processor(
                opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter).build(),
            )
            .build()
    }

    // What a Lambda does at the end of each invocation (`flush`): the batch processor's
    // thread posts through the client's own runtime while the function's runtime, of one
    // thread, waits for it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_flush_posts_the_spans_to_the_collector_as_protobuf() {
        let (url, got) = collector().await;
        let provider = provider(&url, Duration::from_secs(5));
        provider
            .tracer("test")
            .in_span("helios-span-under-test", |_| {});
        let p = provider.clone();
        let flushed = tokio::task::spawn_blocking(move || p.force_flush())
            .await
            .unwrap();
        assert!(flushed.is_ok(), "{flushed:?}");
        let got = got.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "one export");
        assert_eq!(got[0].0, "/v1/traces");
        let name = b"helios-span-under-test";
        assert!(
            got[0].1.windows(name.len()).any(|w| w == name),
            "the span's name is in the protobuf body"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_collector_that_never_answers_fails_the_export_within_the_timeout() {
        // Accepts connections and says nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                open.push(s);
            }
        });
        let provider = provider(&url, Duration::from_millis(300));
        provider.tracer("test").in_span("lost", |_| {});
        let started = std::time::Instant::now();
        let p = provider.clone();
        let flushed = tokio::task::spawn_blocking(move || p.force_flush())
            .await
            .unwrap();
        assert!(flushed.is_err(), "a silent collector fails the export");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the export gave up after {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_https_endpoint_is_refused_with_what_to_do() {
        let e = plain_http(" HTTPS://collector:4318").unwrap_err();
        assert!(
            e.contains("plain HTTP") && e.contains("localhost:4318"),
            "{e}"
        );
        assert!(plain_http("http://localhost:4318").is_ok());
    }
}
