//! The HTTP edge every Helios function shares, whether it runs behind API Gateway (through
//! `lambda_http`) or in `helios dev` (through axum): requests and responses are plain
//! `http` types with a `Bytes` body; errors are RFC 9457 problem+json, built here and
//! nowhere else; API keys are checked here, hashed, with a role each and a rate limit.

pub mod auth;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod problem;
pub mod ratelimit;

pub use auth::{ApiKeyAuth, IssueError, IssuedKey};
pub use problem::Problem;
pub use ratelimit::RateLimiter;

use bytes::Bytes;

/// A request as the handlers take it.
pub type Request = http::Request<Bytes>;
/// A response as the handlers give it.
pub type Response = http::Response<Bytes>;

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

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
}
