//! RFC 9457 problem details, the one shape of every Helios HTTP error.
//! <https://www.rfc-editor.org/rfc/rfc9457>

use bytes::Bytes;
use serde_json::{json, Map, Value};

/// The type of the problem a response answers with (its slug), kept in the response's
/// extensions so that layers can count refusals without reading bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProblemType(pub &'static str);

/// A problem to answer with.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub status: u16,
    /// A short stable name; the problem type is `urn:helios:problem:<slug>`.
    pub slug: &'static str,
    pub title: &'static str,
    /// What exactly was wrong with this request: the field, header or limit at fault.
    pub detail: String,
    /// Extension members (`retry_after`, …).
    pub extensions: Map<String, Value>,
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
}

impl Problem {
    pub fn new(
        status: u16,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            slug,
            title,
            detail: detail.into(),
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Problem {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_extension(mut self, name: &str, value: Value) -> Problem {
        self.extensions.insert(name.to_string(), value);
        self
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Problem {
        Problem::new(401, "unauthenticated", "Authentication required", detail)
            .with_header("www-authenticate", "Bearer realm=\"helios\"")
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, "forbidden", "Not allowed for this key", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "not-found", "Not found", detail)
    }

    pub fn method_not_allowed(allowed: &str) -> Problem {
        Problem::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            format!("this route accepts {allowed}"),
        )
        .with_header("allow", allowed)
    }

    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(400, slug, "Bad request", detail)
    }

    pub fn too_large(size: usize, limit: usize) -> Problem {
        Problem::new(
            413,
            "body-too-large",
            "Request body too large",
            format!("the body is {size} bytes, over the limit of {limit} bytes"),
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Problem {
        Problem::new(
            429,
            "rate-limited",
            "Too many requests",
            format!("this key is over its rate limit; retry in {retry_after_secs} s"),
        )
        .with_header("retry-after", retry_after_secs.to_string())
    }

    /// A dependency failed; nothing was stored and the request may be retried as it is.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(503, "unavailable", "Temporarily unavailable", detail)
            .with_header("retry-after", "1")
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(500, "internal", "Internal error", detail)
    }

    pub fn body(&self, instance: Option<&str>) -> Value {
        let mut v = json!({
            "type": format!("urn:helios:problem:{}", self.slug),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        if let (Some(obj), Some(i)) = (v.as_object_mut(), instance) {
            obj.insert("instance".into(), Value::String(i.to_string()));
        }
        if let Some(obj) = v.as_object_mut() {
            for (k, val) in &self.extensions {
                obj.insert(k.clone(), val.clone());
            }
        }
        v
    }

    pub fn into_response(self) -> crate::Response {
        self.into_response_for(None)
    }

    /// The response, with the request path as the problem instance.
    pub fn into_response_for(self, instance: Option<&str>) -> crate::Response {
        let body = serde_json::to_vec(&self.body(instance)).unwrap_or_default();
        let mut b = http::Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, "application/problem+json")
            .extension(ProblemType(self.slug));
        for (k, v) in &self.headers {
            b = b.header(*k, v.as_str());
        }
        b.body(Bytes::from(body)).unwrap_or_else(|_| {
            let mut r = http::Response::new(Bytes::from_static(b"{\"status\":500}"));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

impl From<helios_events::NormaliseError> for Problem {
    fn from(e: helios_events::NormaliseError) -> Problem {
        let title = match e.status() {
            401 => "Authentication required",
            403 => "Forbidden",
            413 => "Request body too large",
            415 => "Unsupported media type",
            _ => "Bad request",
        };
        Problem::new(e.status(), e.slug(), title, e.to_string())
    }
}

impl From<helios_store::StoreError> for Problem {
    fn from(e: helios_store::StoreError) -> Problem {
        tracing::error!(error = %e, "store failed");
        match e {
            helios_store::StoreError::Unavailable(_) => {
                Problem::unavailable("the store is unavailable; nothing was stored, retry")
            }
            _ => Problem::internal("the store failed; nothing was stored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_response_is_rfc9457_json() {
        let r = Problem::rate_limited(2).into_response_for(Some("/v1/events"));
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert_eq!(r.headers()["retry-after"], "2");
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["type"], "urn:helios:problem:rate-limited");
        assert_eq!(v["status"], 429);
        assert_eq!(v["instance"], "/v1/events");
        assert!(v["detail"].as_str().unwrap().contains("retry in 2 s"));
    }
}
