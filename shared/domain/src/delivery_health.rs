//! An endpoint's delivery health: the circuit breaker that parks an endpoint after consecutive
//! failures, and how long it has been failing (which disables it after days). Pure: the
//! dispatcher reads the current health, applies a batch of attempts here, and writes the result.

use chrono::{DateTime, Duration, Utc};

/// What the dispatcher keeps about an endpoint's recent deliveries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryHealth {
    /// The first failure since the endpoint last succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    /// While set and in the future, no message is sent to the endpoint.
    pub circuit_open_until: Option<DateTime<Utc>>,
}

/// One batch of attempts at one endpoint, in the order they finished: only what happened after
/// the last success counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    pub succeeded: bool,
    pub failures: i32,
    pub failures_since: Option<DateTime<Utc>>,
}

impl Attempts {
    pub fn record(&mut self, succeeded: bool, at: DateTime<Utc>) {
        if succeeded {
            *self = Self {
                succeeded: true,
                ..Self::default()
            };
        } else {
            self.failures += 1;
            self.failures_since.get_or_insert(at);
        }
    }
}

/// When the circuit opens: after `failures` consecutive failures, until `open_until`.
#[derive(Clone, Copy, Debug)]
pub struct Breaker {
    pub failures: i32,
    pub open_until: DateTime<Utc>,
}

impl DeliveryHealth {
    /// Whether a batch can change this health (a healthy endpoint that only succeeded keeps it,
    /// so its row need not be written).
    pub fn is_changed_by(&self, attempts: &Attempts) -> bool {
        attempts.failures > 0 || *self != Self::default()
    }

    /// The health after a batch of attempts. A success resets the count; the failures after it
    /// (or, without one, every failure so far) count towards the breaker.
    pub fn after(&self, attempts: &Attempts, breaker: &Breaker) -> Self {
        let consecutive_failures = if attempts.succeeded {
            attempts.failures
        } else {
            self.consecutive_failures + attempts.failures
        };
        let failing_since = match (attempts.failures, attempts.succeeded) {
            (0, _) => None,
            (_, true) => attempts.failures_since,
            (_, false) => self.failing_since.or(attempts.failures_since),
        };
        let circuit_open_until = if attempts.failures > 0 && consecutive_failures >= breaker.failures.max(1) {
            Some(breaker.open_until)
        } else if attempts.succeeded {
            None
        } else {
            self.circuit_open_until
        };
        Self {
            failing_since,
            consecutive_failures,
            circuit_open_until,
        }
    }

    /// Whether the circuit is open at `now`.
    pub fn is_parked(&self, now: DateTime<Utc>) -> bool {
        self.circuit_open_until.is_some_and(|until| until > now)
    }

    /// Whether the endpoint has failed without a success for at least `span`.
    pub fn failing_for(&self, span: Duration, now: DateTime<Utc>) -> bool {
        self.failing_since.is_some_and(|since| now - since >= span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(outcomes: &[bool], start: DateTime<Utc>) -> Attempts {
        let mut attempts = Attempts::default();
        for (i, succeeded) in outcomes.iter().enumerate() {
            attempts.record(*succeeded, start + Duration::seconds(i as i64));
        }
        attempts
    }

    #[test]
    fn the_circuit_opens_after_five_consecutive_failures_across_batches() {
        let now = Utc::now();
        let breaker = Breaker {
            failures: 5,
            open_until: now + Duration::seconds(30),
        };
        let healthy = DeliveryHealth::default();
        let three = healthy.after(&batch(&[false, false, false], now), &breaker);
        assert_eq!(three.consecutive_failures, 3);
        assert_eq!(three.failing_since, Some(now));
        assert!(!three.is_parked(now));
        let later = now + Duration::minutes(1);
        let five = three.after(&batch(&[false, false], later), &breaker);
        assert_eq!(five.consecutive_failures, 5);
        assert_eq!(five.failing_since, Some(now), "failing since the first failure");
        assert!(five.is_parked(now));
    }

    #[test]
    fn a_success_resets_and_only_the_failures_after_it_count() {
        let now = Utc::now();
        let breaker = Breaker {
            failures: 5,
            open_until: now + Duration::seconds(30),
        };
        let failing = DeliveryHealth {
            failing_since: Some(now - Duration::days(1)),
            consecutive_failures: 4,
            circuit_open_until: Some(now - Duration::seconds(1)),
        };
        let recovered = failing.after(&batch(&[false, true], now), &breaker);
        assert_eq!(recovered, DeliveryHealth::default());
        let again = failing.after(&batch(&[true, false], now), &breaker);
        assert_eq!(again.consecutive_failures, 1);
        assert_eq!(again.failing_since, Some(now + Duration::seconds(1)));
        assert_eq!(again.circuit_open_until, None);
    }

    #[test]
    fn an_endpoint_failing_for_days_is_known_and_a_healthy_one_needs_no_write() {
        let now = Utc::now();
        let failing = DeliveryHealth {
            failing_since: Some(now - Duration::days(5)),
            consecutive_failures: 40,
            circuit_open_until: None,
        };
        assert!(failing.failing_for(Duration::days(5), now));
        assert!(!failing.failing_for(Duration::days(6), now));
        assert!(!DeliveryHealth::default().is_changed_by(&batch(&[true, true], now)));
        assert!(DeliveryHealth::default().is_changed_by(&batch(&[true, false], now)));
        assert!(failing.is_changed_by(&batch(&[true], now)));
    }
}
