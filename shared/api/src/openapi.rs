//! Checks answers against the OpenAPI description ([`crate::OPENAPI`]): that the status is
//! one the operation documents, and that the body validates against the schema documented
//! for it (JSON Schema 2020-12, formats asserted). `helios dev` runs every answer through
//! it when `HELIOS_OPENAPI_CHECK` names a file (the end-to-end tests set it), and request
//! samples are checked against the request schemas the same way.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

/// The OpenAPI description, and a validator per schema once it was needed.
pub struct Conformance {
    spec: Value,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

impl Default for Conformance {
    fn default() -> Self {
        Self::new()
    }
}

/// `s` as a JSON pointer token.
fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl Conformance {
    pub fn new() -> Conformance {
        Conformance {
            spec: serde_json::from_str(crate::OPENAPI).unwrap_or(Value::Null),
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The object at `pointer`, following a `$ref` to another place of the document.
    fn at(&self, pointer: &str) -> Option<(String, &Value)> {
        let v = self.spec.pointer(pointer)?;
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let p = r.strip_prefix('#')?.to_string();
                let target = self.spec.pointer(&p)?;
                Some((p, target))
            }
            None => Some((pointer.to_string(), v)),
        }
    }

    /// Validates `body` against the schema at `pointer`.
    fn validate(&self, pointer: &str, body: &Value) -> Result<(), String> {
        let validator = {
            let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(pointer) {
                Some(v) => v.clone(),
                None => {
                    // The whole document is the root, so the schema's `$ref`s resolve in it;
                    // its other keys are no keywords of JSON Schema.
                    let mut root = self.spec.clone();
                    // A JSON pointer in a URI fragment: what a fragment may not hold, encoded.
                    let fragment: String = pointer
                        .chars()
                        .map(|c| match c {
                            '{' => "%7B".to_string(),
                            '}' => "%7D".to_string(),
                            '%' => "%25".to_string(),
                            ' ' => "%20".to_string(),
                            c => c.to_string(),
                        })
                        .collect();
                    root["$ref"] = Value::String(format!("#{fragment}"));
                    root["$schema"] =
                        Value::String("https://json-schema.org/draft/2020-12/schema".into());
                    let v = jsonschema::options()
                        .should_validate_formats(true)
                        .build(&root)
                        .map_err(|e| format!("the schema at {pointer} does not compile: {e}"))?;
                    let v = std::sync::Arc::new(v);
                    cache.insert(pointer.to_string(), v.clone());
                    v
                }
            }
        };
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Whether the answer `status`, `content_type`, `body` to `method` on the route
    /// `template` (`None`: no route matched, so a problem) is one the document describes.
    pub fn check_response(
        &self,
        method: &str,
        template: Option<&str>,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        let media = content_type.map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        let Some(template) = template else {
            if media.as_deref() != Some("application/problem+json") {
                return Err(format!(
                    "{status} with no route is not a problem: {media:?}"
                ));
            }
            let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
            return self.validate("/components/schemas/Problem", &v);
        };
        let op_method = if method == "HEAD" { "get" } else { method };
        let op = format!(
            "/paths/{}/{}",
            token(template),
            op_method.to_ascii_lowercase()
        );
        if self.spec.pointer(&op).is_none() {
            // A method the path does not answer: a 405 problem, which no operation documents.
            if status != 405 || media.as_deref() != Some("application/problem+json") {
                return Err(format!(
                    "{method} {template} is no operation, yet answered {status} {media:?}"
                ));
            }
            let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
            return self.validate("/components/schemas/Problem", &v);
        }
        let responses = format!("{op}/responses");
        let (resp_ptr, resp) = self
            .at(&format!("{responses}/{status}"))
            .or_else(|| self.at(&format!("{responses}/default")))
            .ok_or_else(|| format!("{method} {template} documents no {status} answer"))?;
        if method == "HEAD" || body.is_empty() {
            return Ok(());
        }
        let media = media.ok_or_else(|| {
            format!("{method} {template} {status}: a body without a content type")
        })?;
        let content = resp
            .get("content")
            .and_then(|c| c.get(&media))
            .ok_or_else(|| format!("{method} {template} {status}: `{media}` is not documented"))?;
        if content.get("schema").is_none() {
            return Ok(());
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{method} {template} {status}: the body is not JSON: {e}"))?;
        self.validate(&format!("{resp_ptr}/content/{}/schema", token(&media)), &v)
            .map_err(|e| format!("{method} {template} {status}: {e}"))
    }

    /// Whether the document has the operation `method template`.
    pub fn has_operation(&self, method: &str, template: &str) -> bool {
        let op = format!("/paths/{}/{}", token(template), method.to_ascii_lowercase());
        self.spec.pointer(&op).is_some()
    }

    /// Whether `body` is a request body the operation `method template` documents for
    /// `content_type`.
    pub fn check_request(
        &self,
        method: &str,
        template: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<(), String> {
        let op = format!("/paths/{}/{}", token(template), method.to_ascii_lowercase());
        let (p, rb) = self
            .at(&format!("{op}/requestBody"))
            .ok_or_else(|| format!("{method} {template} takes no body"))?;
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if rb.get("content").and_then(|c| c.get(&media)).is_none() {
            return Err(format!("{method} {template}: `{media}` is not documented"));
        }
        self.validate(&format!("{p}/content/{}/schema", token(&media)), body)
            .map_err(|e| format!("{method} {template}: {e}"))
    }
}

/// `router` with every answer checked against the description; each one that is not
/// described is logged and appended as a line to `log` (the end-to-end tests fail on any).
pub fn checked(router: axum::Router, log: std::path::PathBuf) -> axum::Router {
    let conformance = std::sync::Arc::new(Conformance::new());
    // Made now, empty: that it exists says the check is on.
    if let Err(e) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        tracing::error!(log = %log.display(), error = %e, "the OpenAPI check cannot write its log");
    }
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let (conformance, log) = (conformance.clone(), log.clone());
            async move {
                let method = req.method().as_str().to_string();
                let target = req.uri().to_string();
                let template = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_string());
                let report = |e: &str| {
                    tracing::error!(%method, %target, error = %e, "an answer the OpenAPI description does not describe");
                    use std::io::Write as _;
                    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&log) {
                        let _ = writeln!(f, "{method} {target}: {e}");
                    }
                };
                let resp = next.run(req).await;
                let (parts, body) = resp.into_parts();
                // A stream does not end: its status is checked, and it passes on unread.
                let streaming = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
                if streaming {
                    if let Err(e) = conformance.check_response(
                        &method,
                        template.as_deref(),
                        parts.status.as_u16(),
                        Some("text/event-stream"),
                        b"",
                    ) {
                        report(&e);
                    }
                    return axum::response::Response::from_parts(parts, body);
                }
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                let content_type = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                if let Err(e) = conformance.check_response(
                    &method,
                    template.as_deref(),
                    parts.status.as_u16(),
                    content_type,
                    &bytes,
                ) {
                    report(&e);
                }
                axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_checked_against_their_operation() {
        let c = Conformance::new();
        let list = json!({"events": [], "next": null});
        let bytes = serde_json::to_vec(&list).unwrap();
        c.check_response(
            "GET",
            Some("/v1/events"),
            200,
            Some("application/json"),
            &bytes,
        )
        .unwrap();
        // The wrong shape, an undocumented status, an undocumented type: each named.
        let wrong = serde_json::to_vec(&json!({"events": {}})).unwrap();
        let e = c
            .check_response(
                "GET",
                Some("/v1/events"),
                200,
                Some("application/json"),
                &wrong,
            )
            .unwrap_err();
        assert!(e.contains("/events"), "{e}");
        assert!(c
            .check_response(
                "GET",
                Some("/v1/events"),
                418,
                Some("application/json"),
                &bytes
            )
            .is_err());
        assert!(c
            .check_response("GET", Some("/v1/events"), 200, Some("text/html"), &bytes)
            .is_err());
        // A problem, through the shared response.
        let problem = crate::Problem::not_found("x").into_response_for(Some("/v1/events/x"));
        c.check_response(
            "GET",
            Some("/v1/events/{id}"),
            404,
            Some("application/problem+json"),
            problem.body(),
        )
        .unwrap();
        let bad_time = serde_json::to_vec(&json!({"since": "yesterday", "until": "2026-12-02T00:00:00Z", "bucket": "1h", "buckets": []})).unwrap();
        assert!(c
            .check_response(
                "GET",
                Some("/v1/stats"),
                200,
                Some("application/json"),
                &bad_time
            )
            .unwrap_err()
            .contains("date-time"));
    }

    #[test]
    fn request_bodies_are_checked_against_their_operation() {
        let c = Conformance::new();
        let one = json!({"id": "1", "source": "app", "type": "t", "time": "2026-12-02T00:00:00Z", "data": {}});
        c.check_request("POST", "/v1/events", "application/json", &one)
            .unwrap();
        c.check_request(
            "POST",
            "/v1/events",
            "application/json",
            &json!({"events": [one]}),
        )
        .unwrap();
        assert!(c
            .check_request(
                "POST",
                "/v1/events",
                "application/json",
                &json!({"id": "1", "source": "app"})
            )
            .is_err());
    }
}
