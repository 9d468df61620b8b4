//! The outbound HTTP adapter (`helios_ports::Outbound`): one reqwest client (rustls), the same
//! in Lambda and in `helios dev`, which follows no redirect (a webhook that moves answers 3xx,
//! and that is its answer).

use async_trait::async_trait;
use helios_ports::{Outbound, Post, PostError};

pub struct HttpClient(reqwest::Client);

impl HttpClient {
    pub fn new() -> Result<HttpClient, reqwest::Error> {
        Ok(HttpClient(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        ))
    }
}

#[async_trait]
impl Outbound for HttpClient {
    async fn post(&self, post: Post) -> Result<u16, PostError> {
        let mut req = self.0.post(&post.url).timeout(post.timeout);
        for (k, v) in &post.headers {
            req = req.header(k, v);
        }
        match req.body(post.body).send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) if e.is_timeout() => Err(PostError::Timeout(post.timeout)),
            Err(e) => Err(PostError::Failed(e.to_string())),
        }
    }
}
