//! The dashboard's files, built by `build.rs` from `dashboard/` and embedded in the binary,
//! served by `helios dev` at `/` beside the API, under a strict Content-Security-Policy:
//! scripts and styles from this origin only, nothing inline, no frames.

use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dashboard/index.html"));
const APP_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dashboard/app.js"));
const APP_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dashboard/app.css"));

/// Every file's policy: this origin's script, style and API; no inline script or style, no
/// plugin, no frame, no `<base>`, forms to this origin only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The routes of the dashboard's files (merged beside the API's router).
pub fn router() -> axum::Router {
    axum::Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/index.html",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        // The API is on this origin (in AWS, config.json names API Gateway's address).
        .route(
            "/config.json",
            get(|| async { asset("application/json", b"{}") }),
        )
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            (http::header::CONTENT_SECURITY_POLICY, CSP),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (http::header::REFERRER_POLICY, "no-referrer"),
            (http::header::X_FRAME_OPTIONS, "DENY"),
            // Small, and a new binary may bring new ones: always asked again (a 200 each time).
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
