//! Any bytes as the target of a request (`/path?query`), as hyper or API Gateway hands it
//! over: reading query parameters never panics, and a parameter read back is the value that
//! was percent-encoded into the query (the decoder once sliced a string inside a character:
//! `GET /v1/events?source=%aé` closed the connection).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Through http's parser, as a server builds the request.
    if let Ok(uri) = http::Uri::from_maybe_shared(bytes::Bytes::copy_from_slice(data)) {
        let req = http::Request::builder()
            .uri(uri)
            .body(bytes::Bytes::new())
            .expect("a parsed URI makes a request");
        for name in ["source", "type", "since", "until", "cursor", "limit", "token", "access_token", ""] {
            let _ = helios_api::query_param(&req, name);
        }
        let _ = helios_events::Format::from_hook(req.uri().path().trim_start_matches("/v1/hooks/"));
    }
    // Round trip: any text as a parameter value, percent-encoded, reads back as itself.
    if let Ok(text) = std::str::from_utf8(data) {
        let target = format!("/v1/events?source={}", urlencoding::encode(text));
        let uri = http::Uri::from_maybe_shared(bytes::Bytes::from(target))
            .expect("a percent-encoded query is a valid URI");
        let req = http::Request::builder().uri(uri).body(bytes::Bytes::new()).unwrap();
        assert_eq!(helios_api::query_param(&req, "source").as_deref(), Some(text));
    }
});
