//! Following one event across the planes: the W3C trace context
//! (<https://www.w3.org/TR/trace-context/>) that ingest starts or continues, that the facts
//! carry through the outbox, that messages carry as their `traceparent` attribute and
//! workflow executions in their input, and that a decision keeps.
//!
//! The context always exists, so that log lines and decisions name their trace whether or
//! not spans are exported. Exporting them is the analytics plane's business: a process that
//! exports (OpenTelemetry over OTLP) installs a [`Tracer`] at start, and [`follow`] then
//! makes a `tracing` span the child of a context that came from elsewhere. Without one, the
//! context is passed on with a fresh span id, and nothing else happens.

use std::fmt;
use std::sync::OnceLock;

/// The message attribute, execution-input field and HTTP header that carry the context.
pub const TRACEPARENT: &str = "traceparent";

/// One span's place in a trace: the trace id, the span id, and whether it is sampled.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceContext {
    /// A new trace, sampled.
    pub fn root() -> TraceContext {
        let bits = uuid::Uuid::new_v4().into_bytes();
        TraceContext {
            trace_id: bits,
            span_id: new_span_id(),
            sampled: true,
        }
    }

    /// A span of the same trace, as a child of this one would be: what is passed on when
    /// no exporter names the span.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            span_id: new_span_id(),
            ..*self
        }
    }

    /// Parses a `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`). A later version is
    /// read as version 00 reads it (its first four fields), as the specification asks.
    /// `None` for anything else, all-zero ids included: the caller starts a new trace.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let value = value.trim();
        let mut parts = value.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        let rest = parts.next();
        if version.len() != 2 || !is_lower_hex(version) || version == "ff" {
            return None;
        }
        // Version 00 has exactly four fields; a later one may have more.
        if version == "00" && rest.is_some() {
            return None;
        }
        if trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        if !is_lower_hex(trace) || !is_lower_hex(span) || !is_lower_hex(flags) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        hex_into(trace, &mut trace_id)?;
        hex_into(span, &mut span_id)?;
        let mut f = [0u8; 1];
        hex_into(flags, &mut f)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            sampled: f[0] & 1 == 1,
        })
    }

    /// The context of an AWS X-Ray trace header (`Root=1-<8 hex>-<24 hex>;Parent=<16
    /// hex>;Sampled=1`, as Lambda gives it in `_X_AMZN_TRACE_ID`): the same trace, so that
    /// the spans Helios exports join the trace X-Ray shows. Without `Parent`, a new span id.
    pub fn from_xray(header: &str) -> Option<TraceContext> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = true;
        for part in header.split(';') {
            let (k, v) = part.trim().split_once('=')?;
            match k {
                "Root" => root = Some(v),
                "Parent" => parent = Some(v),
                "Sampled" => sampled = v != "0",
                _ => {}
            }
        }
        let mut fields = root?.split('-');
        if fields.next()? != "1" {
            return None;
        }
        let time = fields.next()?;
        let unique = fields.next()?;
        if time.len() != 8 || unique.len() != 24 || fields.next().is_some() {
            return None;
        }
        let mut trace_id = [0u8; 16];
        hex_into(&format!("{time}{unique}"), &mut trace_id)?;
        let span_id = match parent {
            Some(p) if p.len() == 16 => {
                let mut s = [0u8; 8];
                hex_into(p, &mut s)?;
                s
            }
            _ => new_span_id(),
        };
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceContext {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// The trace id, 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id, 16 lower-case hex digits.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }
}

/// `00-<trace id>-<span id>-<flags>`.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{}",
            self.trace_id_hex(),
            self.span_id_hex(),
            if self.sampled { "01" } else { "00" }
        )
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({self})")
    }
}

/// What exports spans: makes a span the child of a context from elsewhere, and tells a
/// span's own context.
pub trait Tracer: Send + Sync {
    /// Makes `span` (not yet entered) a child of `parent`; its own context, when it has one.
    fn adopt(&self, span: &tracing::Span, parent: &TraceContext) -> Option<TraceContext>;
    /// The context of `span`, when it is exported.
    fn context_of(&self, span: &tracing::Span) -> Option<TraceContext>;
}

static TRACER: OnceLock<Box<dyn Tracer>> = OnceLock::new();

/// Installs the tracer of this process; the first call wins (`false` for a later one).
pub fn install(tracer: Box<dyn Tracer>) -> bool {
    TRACER.set(tracer).is_ok()
}

/// Whether spans are exported in this process.
pub fn exporting() -> bool {
    TRACER.get().is_some()
}

/// Makes `span` the child of `parent` and gives the context its own children carry: the
/// span's, when spans are exported; otherwise `parent` with a fresh span id.
pub fn follow(span: &tracing::Span, parent: &TraceContext) -> TraceContext {
    TRACER
        .get()
        .and_then(|t| t.adopt(span, parent))
        .unwrap_or_else(|| parent.child())
}

/// The context a span's children carry: the span's own when exported, otherwise `fallback`
/// with a fresh span id.
pub fn context_of(span: &tracing::Span, fallback: &TraceContext) -> TraceContext {
    TRACER
        .get()
        .and_then(|t| t.context_of(span))
        .unwrap_or_else(|| fallback.child())
}

static ENDED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static EXPORTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts `spans` exported, or whose export failed (the receiver refused, was gone or did
/// not answer in time): the exporter tells, `/metrics` reads.
pub fn count_export(spans: u64, ok: bool) {
    use std::sync::atomic::Ordering;
    if ok {
        EXPORTED.fetch_add(spans, Ordering::Relaxed);
    } else {
        FAILED.fetch_add(spans, Ordering::Relaxed);
    }
}

/// Counts a span ended and handed to the exporter's queue.
pub fn count_ended() {
    ENDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// What became of the spans since the process started: ended, exported, failed. Those
/// ended and neither exported nor failed are waiting in the exporter's queue, or were
/// dropped because it was full.
pub fn exports() -> (u64, u64, u64) {
    use std::sync::atomic::Ordering;
    (
        ENDED.load(Ordering::Relaxed),
        EXPORTED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
    )
}

/// The context a delivery continues: its `traceparent`, when valid; otherwise a new trace.
pub fn continue_from(traceparent: Option<&str>) -> TraceContext {
    traceparent
        .and_then(TraceContext::parse)
        .unwrap_or_else(TraceContext::root)
}

fn new_span_id() -> [u8; 8] {
    let bits = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bits[..8]);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex_into(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_read_and_written_back_the_same() {
        let v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let c = TraceContext::parse(v).unwrap();
        assert_eq!(c.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.span_id_hex(), "00f067aa0ba902b7");
        assert!(c.sampled);
        assert_eq!(c.to_string(), v);
        let unsampled = TraceContext::parse(&v.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn invalid_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
        let fresh = continue_from(Some("garbage"));
        assert_ne!(fresh.trace_id, [0; 16]);
        // A later version is read by its first four fields.
        assert!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
                .is_some()
        );
    }

    #[test]
    fn an_xray_header_gives_the_same_trace_id() {
        let c = TraceContext::from_xray(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        )
        .unwrap();
        assert_eq!(c.trace_id_hex(), "5bef4de7ad49b0e87f6ef6c87fc2e700");
        assert_eq!(c.span_id_hex(), "9a9197af755a6419");
        assert!(c.sampled);
        let no_parent =
            TraceContext::from_xray("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=0").unwrap();
        assert_eq!(no_parent.trace_id, c.trace_id);
        assert!(!no_parent.sampled);
        assert_eq!(
            TraceContext::from_xray("Root=2-5bef4de7-ad49b0e87f6ef6c87fc2e700"),
            None
        );
        assert_eq!(TraceContext::from_xray("nonsense"), None);
    }

    #[test]
    fn without_a_tracer_a_child_keeps_the_trace_and_gets_its_own_span() {
        let root = TraceContext::root();
        let span = tracing::info_span!("x");
        let child = follow(&span, &root);
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert!(!exporting());
    }
}
