//! The HTTP edge every Helios function shares, whether it runs behind API Gateway (through
//! `lambda_runtime`, from the HTTP API event) or in `helios dev` (through axum): requests and responses are plain
//! `http` types with a `Bytes` body; errors are RFC 9457 problem+json, built here and
//! nowhere else; API keys are checked here, hashed, with a role each and a rate limit.

pub mod ack;
pub mod auth;
pub mod ingest;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "openapi-check")]
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod query;
pub mod ratelimit;
pub mod router;
pub mod rules;
pub mod schemas;
pub mod slo;
pub mod socket;
pub mod stream;

pub use auth::{ApiKeyAuth, IssueError, IssuedKey};

/// The OpenAPI 3.1 description of the HTTP API, served at `/v1/openapi.json`; its paths are
/// the router's [`router::ROUTES`] (checked both ways in `router`'s tests).
pub const OPENAPI: &str = include_str!("../openapi/openapi.json");
pub use problem::Problem;
pub use ratelimit::RateLimiter;

use bytes::Bytes;

/// A request as the handlers take it.
pub type Request = http::Request<Bytes>;
/// A response as the handlers give it.
pub type Response = http::Response<Bytes>;

/// The address of the client that sent a request, as the server saw it (the peer of the
/// connection in `helios dev`, the source IP of the API Gateway request context in Lambda).
/// Unauthenticated failures are limited per client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    /// The client of `req`, or `None` when the server did not say.
    pub fn of(req: &Request) -> Option<std::net::IpAddr> {
        req.extensions().get::<ClientAddr>().map(|c| c.0)
    }
}

/// Unauthenticated requests a client address may make a second before it is answered 429;
/// kept apart from every key's and every hook's own budget.
pub const UNAUTHENTICATED_PER_SECOND: u32 = 10;

/// How long an HTTP Lambda caches its API key lookups: a revoked key stops working
/// within this.
pub const LAMBDA_KEY_CACHE: std::time::Duration = std::time::Duration::from_secs(5);

/// The rate (requests per second) of a key without its own, in an HTTP Lambda.
pub const LAMBDA_DEFAULT_RATE: u32 = 100;

/// The API key check of an HTTP Lambda, over its store ([`LAMBDA_KEY_CACHE`]).
pub fn lambda_key_auth(
    store: &std::sync::Arc<dyn helios_store::Store>,
) -> std::sync::Arc<ApiKeyAuth> {
    std::sync::Arc::new(ApiKeyAuth::new(store.clone(), LAMBDA_KEY_CACHE))
}

/// The rate limiter of an HTTP Lambda ([`LAMBDA_DEFAULT_RATE`]).
pub fn lambda_limiter() -> std::sync::Arc<RateLimiter> {
    std::sync::Arc::new(RateLimiter::new(LAMBDA_DEFAULT_RATE))
}

/// What to answer a request whose authentication failed with `p` (a 401): `p` itself, or
/// 429 once the client address has spent its budget of unauthenticated requests. Either way
/// the failure is charged to the client, never to a key's or a hook's own budget.
pub fn unauthenticated(limiter: &RateLimiter, req: &Request, p: Problem) -> Problem {
    let client = ClientAddr::of(req).map_or_else(|| "unknown".to_string(), |a| a.to_string());
    match limiter.check(
        &format!("unauthenticated:{client}"),
        Some(UNAUTHENTICATED_PER_SECOND),
    ) {
        Ok(()) => p,
        Err(retry_after) => Problem::rate_limited(retry_after),
    }
}

/// The key of `req` if it may act as `role`, within its rate: the preamble of every route
/// that takes an API key. An unauthenticated request counts against its client address.
pub async fn authorize(
    auth: &ApiKeyAuth,
    limiter: &RateLimiter,
    req: &Request,
    role: helios_store::Role,
) -> Result<helios_store::ApiKey, Problem> {
    let key = match auth.require(req.headers(), role).await {
        Ok(key) => key,
        Err(p) if p.status == 401 => return Err(unauthenticated(limiter, req, p)),
        Err(p) => return Err(p),
    };
    limiter
        .check(&key.id, key.rate_per_second)
        .map_err(Problem::rate_limited)?;
    Ok(key)
}

/// The answer of a handler's `route`: its response, or its problem with the request path as
/// the problem's instance.
pub fn answer(path: &str, routed: Result<Response, Problem>) -> Response {
    routed.unwrap_or_else(|p| p.into_response_for(Some(path)))
}

/// A JSON response.
pub fn json(status: u16, body: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(bytes))
        .unwrap_or_else(|_| Problem::internal("could not build the response").into_response())
}

/// The value of one query parameter, percent-decoded; `Err` when it is not valid UTF-8.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let q = req.uri().query()?;
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// Percent-decodes a query value; a `%` not followed by two hex digits is kept as it is,
/// and bytes that do not form UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_bytes(s).0).into_owned()
}

/// The bytes `s` percent-decodes to, and whether every `%` began two hex digits (a `%` that
/// does not is kept as it is). Works on bytes, never on string offsets, so no input can split
/// a character.
pub(crate) fn percent_bytes(s: &str) -> (Vec<u8>, bool) {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut well_formed = true;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
            well_formed = false;
        }
        out.push(b[i]);
        i += 1;
    }
    (out, well_formed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        let req = http::Request::builder()
            .uri("/v1/events?since=2026-11-20T09%3A00%3A00%2B01%3A00&type=a+b&x")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(
            query_param(&req, "since").unwrap(),
            "2026-11-20T09:00:00+01:00"
        );
        assert_eq!(query_param(&req, "type").unwrap(), "a b");
        assert_eq!(query_param(&req, "x").unwrap(), "");
        assert_eq!(query_param(&req, "missing"), None);
        let odd = http::Request::builder()
            .uri("/?a=%zz%4")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(query_param(&odd, "a").unwrap(), "%zz%4");
    }

    #[test]
    fn a_percent_before_a_multibyte_character_is_kept_not_split() {
        // `GET /v1/events?source=%aé` closed the connection: the decoder sliced the string
        // at a byte offset inside `é`.
        for (raw, want) in [
            ("%aé", "%aé"),
            ("%é", "%é"),
            ("%éé", "%éé"),
            ("a%2", "a%2"),
            ("%", "%"),
            ("%41%42", "AB"),
            ("%c3%a9", "é"),
            ("%ff", "\u{fffd}"),
        ] {
            assert_eq!(percent_decode(raw), want, "{raw}");
        }
        // Through a request, where the server hands the raw bytes of the query over.
        let uri = http::Uri::from_maybe_shared(Bytes::from_static(b"/v1/events?source=%a\xc3\xa9"))
            .expect("http accepts UTF-8 bytes in a query, as hyper hands them over");
        let req = http::Request::builder()
            .uri(uri)
            .body(Bytes::new())
            .unwrap();
        assert_eq!(query_param(&req, "source").unwrap(), "%aé");
    }
}
