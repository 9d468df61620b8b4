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
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .is_some();
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let none = env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
    endpoint && !disabled && !none
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
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_timeout(export_timeout())
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("traces are not exported: the OTLP exporter cannot be built: {e}");
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
