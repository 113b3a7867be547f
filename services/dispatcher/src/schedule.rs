//! When a failed delivery is tried again.

use gangway_retry::Schedule;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RetrySchedule {
    pub initial: Duration,
    pub multiplier: f64,
    pub max: Duration,
    pub max_attempts: u32,
}

impl RetrySchedule {
    /// The delay before the next attempt after `attempts` failed ones, or `None` when the message
    /// has used up its attempts. The delay grows exponentially and is jittered by ±20%.
    pub fn after(&self, attempts: u32) -> Option<Duration> {
        Schedule::exponential(self.initial, self.multiplier, self.max)
            .with_max_retries(self.max_attempts.saturating_sub(1))
            .delay(attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> RetrySchedule {
        RetrySchedule {
            initial: Duration::from_secs(5),
            multiplier: 4.0,
            max: Duration::from_secs(10 * 3600),
            max_attempts: 10,
        }
    }

    #[test]
    fn delays_grow_are_jittered_and_stop_after_the_last_attempt() {
        let s = schedule();
        let first = s.after(1).unwrap().as_secs_f64();
        assert!((4.0..=6.0).contains(&first), "{first}");
        let third = s.after(3).unwrap().as_secs_f64();
        assert!((64.0..=96.0).contains(&third), "{third}");
        let capped = s.after(9).unwrap().as_secs_f64();
        assert!(capped <= 10.0 * 3600.0 * 1.2, "{capped}");
        assert_eq!(s.after(10), None);
    }

    #[test]
    fn the_default_schedule_spans_about_a_day() {
        let s = schedule();
        let nominal: f64 = (1..10).map(|n| (5.0 * 4f64.powi(n - 1)).min(36_000.0)).sum();
        assert!((20.0 * 3600.0..=36.0 * 3600.0).contains(&nominal), "{nominal}");
        assert!(s.after(9).is_some());
    }
}
