//! Per-key token buckets: a key may make `rate` requests a second, in bursts of up to one
//! second's worth. Over the limit, a request is answered 429 with `Retry-After`.
//!
//! Buckets live in the process: exact in `helios dev`; in Lambda each warm instance holds its
//! own, and API Gateway's route throttling bounds the total.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimiter {
    default_rate: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `default_rate` requests a second for keys without a rate of their own.
    pub fn new(default_rate: u32) -> RateLimiter {
        RateLimiter {
            default_rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; `Err(seconds)` says when one will be there.
    pub fn check(&self, key: &str, rate: Option<u32>) -> Result<(), u64> {
        self.check_at(key, rate, Instant::now())
    }

    fn check_at(&self, key: &str, rate: Option<u32>, now: Instant) -> Result<(), u64> {
        let rate = f64::from(rate.unwrap_or(self.default_rate).max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_one_seconds_worth_then_refill_at_the_rate() {
        let l = RateLimiter::new(1000);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.check_at("k", Some(5), t0).is_ok());
        }
        assert_eq!(
            l.check_at("k", Some(5), t0),
            Err(1),
            "the sixth request in the same instant is refused"
        );
        assert!(
            l.check_at("other", Some(5), t0).is_ok(),
            "keys have their own buckets"
        );
        assert!(
            l.check_at("k", Some(5), t0 + Duration::from_millis(200))
                .is_ok(),
            "one token back after 1/rate s"
        );
        assert!(l
            .check_at("k", Some(5), t0 + Duration::from_millis(200))
            .is_err());
    }
}
