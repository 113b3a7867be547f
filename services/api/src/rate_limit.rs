//! Requests per API key: a token bucket per key (GCRA, from `governor`) in each api process, so
//! one integrator cannot crowd out the others. The limit is per process: with N replicas behind
//! a load balancer a key gets up to N times it.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

type KeyHash = Vec<u8>;
type Limiter =
    RateLimiter<KeyHash, DefaultKeyedStateStore<KeyHash>, DefaultClock, StateInformationMiddleware>;

/// The per-key limiter; `None` inside when limits are off.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Option<Arc<Limiter>>,
    per_second: u32,
    checks: Arc<AtomicU64>,
}

/// A request over its key's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Requests per second the key may make.
    pub limit: u32,
    /// When the next request is allowed.
    pub retry_after: Duration,
}

impl RateLimits {
    /// `per_second` requests a second with bursts of `burst`; 0 turns limits off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            let quota = Quota::per_second(rate).allow_burst(burst);
            Arc::new(RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>())
        });
        Self {
            limiter,
            per_second,
            checks: Arc::default(),
        }
    }

    /// Counts one request of the key with this hash.
    pub fn check(&self, key_hash: &[u8]) -> Result<(), Limited> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Keys idle long enough to be back at a full bucket are forgotten now and then.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&key_hash.to_vec())
            .map(|_| ())
            .map_err(|not_until| Limited {
                limit: self.per_second,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_other_keys_are_not_affected() {
        let limits = RateLimits::new(10, 20);
        for _ in 0..20 {
            assert_eq!(limits.check(b"greedy"), Ok(()));
        }
        let limited = limits.check(b"greedy").unwrap_err();
        assert_eq!(limited.limit, 10);
        assert!(limited.retry_after > Duration::ZERO && limited.retry_after <= Duration::from_millis(100));
        assert_eq!(limits.check(b"polite"), Ok(()));
        let off = RateLimits::new(0, 0);
        assert!((0..1_000).all(|_| off.check(b"anyone").is_ok()));
    }
}
