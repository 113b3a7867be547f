//! Every retry schedule Gangway uses: Meta's Graph API calls, webhook deliveries, writing
//! delivery outcomes, the relay taking over the lead. One vocabulary (an exponential schedule
//! with a cap, jitter and a limit), and one place that knows the crate underneath.
//!
//! That crate is `backoff`, as the design names it. It carries "unmaintained" advisories
//! (RUSTSEC-2025-0012, and RUSTSEC-2024-0384 for its `instant` dependency): nothing outside this
//! file names it, so it can be swapped here alone.

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;
use std::future::Future;
use std::time::Duration;

/// When to try again: the first retry after `initial`, each next one `multiplier` times later, at
/// most `max_interval` apart, each delay moved at random by up to `jitter` of itself; given up
/// after `max_retries` retries or `max_elapsed` in all, whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub initial: Duration,
    pub multiplier: f64,
    pub max_interval: Duration,
    pub jitter: f64,
    pub max_retries: Option<u32>,
    pub max_elapsed: Option<Duration>,
}

impl Schedule {
    /// Exponential with ±20% jitter, without end until limited.
    pub const fn exponential(initial: Duration, multiplier: f64, max_interval: Duration) -> Self {
        Self {
            initial,
            multiplier,
            max_interval,
            jitter: 0.2,
            max_retries: None,
            max_elapsed: None,
        }
    }

    /// The same wait every time.
    pub const fn constant(interval: Duration) -> Self {
        Self {
            initial: interval,
            multiplier: 1.0,
            max_interval: interval,
            jitter: 0.0,
            max_retries: None,
            max_elapsed: None,
        }
    }

    pub const fn with_jitter(self, jitter: f64) -> Self {
        Self { jitter, ..self }
    }

    pub const fn with_max_retries(self, max_retries: u32) -> Self {
        Self {
            max_retries: Some(max_retries),
            ..self
        }
    }

    pub const fn with_max_elapsed(self, max_elapsed: Duration) -> Self {
        Self {
            max_elapsed: Some(max_elapsed),
            ..self
        }
    }

    /// The wait before retry number `retry` (1 is the first), or `None` past `max_retries`. For
    /// schedules kept outside a loop (a message's next attempt, stored in Postgres).
    pub fn delay(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || self.max_retries.is_some_and(|max| retry > max) {
            return None;
        }
        let exponent = (retry - 1).min(64) as i32;
        let nominal = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        let interval = Duration::from_secs_f64(nominal.min(self.max_interval.as_secs_f64()));
        let mut one = ExponentialBackoff {
            current_interval: interval,
            initial_interval: interval,
            randomization_factor: self.jitter,
            multiplier: 1.0,
            max_interval: self.max_interval,
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        };
        one.next_backoff()
    }

    /// The waits of successive retries, as long as the schedule allows.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + '_ {
        (1..).map_while(|retry| self.delay(retry))
    }

    /// Runs `operation` until it succeeds, fails with an error `is_transient` does not retry, or
    /// the schedule ends (then the last error is returned).
    pub async fn retry<T, E, Fut>(
        &self,
        mut operation: impl FnMut() -> Fut,
        is_transient: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let policy = ExponentialBackoff {
            current_interval: self.initial,
            initial_interval: self.initial,
            randomization_factor: self.jitter,
            multiplier: self.multiplier,
            max_interval: self.max_interval,
            max_elapsed_time: self.max_elapsed,
            ..ExponentialBackoff::default()
        };
        let max_retries = self.max_retries;
        let mut retries = 0u32;
        backoff::future::retry(policy, || {
            let attempt = operation();
            let is_transient = &is_transient;
            let allowed = max_retries.is_none_or(|max| retries < max);
            retries += 1;
            async move {
                match attempt.await {
                    Err(error) if allowed && is_transient(&error) => Err(backoff::Error::transient(error)),
                    other => other.map_err(backoff::Error::permanent),
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn delays_grow_are_capped_jittered_and_end() {
        let schedule =
            Schedule::exponential(Duration::from_secs(5), 4.0, Duration::from_secs(3600)).with_max_retries(9);
        let first = schedule.delay(1).unwrap().as_secs_f64();
        assert!((4.0..=6.0).contains(&first), "{first}");
        let third = schedule.delay(3).unwrap().as_secs_f64();
        assert!((64.0..=96.0).contains(&third), "{third}");
        assert!(schedule.delay(9).unwrap() <= Duration::from_secs(3600 * 12 / 10));
        assert_eq!(schedule.delay(10), None);
        assert_eq!(schedule.delays().count(), 9);
    }

    #[test]
    fn a_schedule_without_jitter_is_exact() {
        let schedule = Schedule::exponential(Duration::from_millis(50), 5.0, Duration::from_millis(250))
            .with_jitter(0.0)
            .with_max_retries(2);
        let delays: Vec<_> = schedule.delays().collect();
        assert_eq!(delays, [Duration::from_millis(50), Duration::from_millis(250)]);
        assert_eq!(
            Schedule::constant(Duration::from_millis(500)).delay(7),
            Some(Duration::from_millis(500))
        );
    }

    #[tokio::test]
    async fn retry_stops_at_success_at_a_permanent_error_and_at_the_limit() {
        let schedule = Schedule::constant(Duration::from_millis(10)).with_max_retries(3);
        let calls = Cell::new(0);
        let succeeded: Result<u32, &str> = schedule
            .retry(
                || {
                    calls.set(calls.get() + 1);
                    let n = calls.get();
                    async move {
                        if n < 3 {
                            Err("busy")
                        } else {
                            Ok(n)
                        }
                    }
                },
                |_| true,
            )
            .await;
        assert_eq!(succeeded, Ok(3));
        calls.set(0);
        let permanent: Result<u32, &str> = schedule
            .retry(
                || {
                    calls.set(calls.get() + 1);
                    async { Err("refused") }
                },
                |e| *e != "refused",
            )
            .await;
        assert_eq!((permanent, calls.get()), (Err("refused"), 1));
        calls.set(0);
        let exhausted: Result<u32, &str> = schedule
            .retry(
                || {
                    calls.set(calls.get() + 1);
                    async { Err("busy") }
                },
                |_| true,
            )
            .await;
        assert_eq!(
            (exhausted, calls.get()),
            (Err("busy"), 4),
            "the first try and 3 retries"
        );
    }
}
