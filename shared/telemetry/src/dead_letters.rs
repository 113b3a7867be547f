//! Events the projector or the dispatcher gave up on (see `gangway-dead-letters`).

pub const DEAD_LETTERS: &str = "gangway_dead_letters_total";
pub const UNRESOLVED: &str = "gangway_dead_letters_unresolved";

pub(crate) fn describe() {
    metrics::describe_counter!(
        DEAD_LETTERS,
        "Events a consumer could not process within GANGWAY_MAX_DELIVERIES deliveries and set aside as dead letters, by consumer (projector, dispatcher)."
    );
    metrics::describe_gauge!(
        UNRESOLVED,
        "Dead letters (and the events held behind them) not yet resolved by a retry, by consumer; refreshed every GANGWAY_METRICS_REFRESH_MS."
    );
}

/// One event set aside by `consumer`.
pub fn buried(consumer: &'static str) {
    metrics::counter!(DEAD_LETTERS, "consumer" => consumer).increment(1);
}

/// How many of `consumer`'s dead letters wait for a retry.
pub fn unresolved(consumer: &'static str, count: i64) {
    metrics::gauge!(UNRESOLVED, "consumer" => consumer).set(count as f64);
}
