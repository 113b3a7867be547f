//! The dispatcher: delivery attempts by outcome, their latency, event-to-delivery lag, messages
//! recorded, and the queue of messages still to deliver.

use chrono::{DateTime, Utc};
use std::time::Duration;

pub const DELIVERIES: &str = "gangway_webhook_deliveries_total";
pub const DELIVERY_DURATION: &str = "gangway_webhook_delivery_duration_seconds";
pub const DELIVERY_LAG: &str = "gangway_webhook_delivery_lag_seconds";
pub const MESSAGES_RECORDED: &str = "gangway_webhook_messages_recorded_total";
pub const MESSAGES_PENDING: &str = "gangway_webhook_messages_pending";
pub const CLAIM_DURATION: &str = "gangway_webhook_claim_duration_seconds";

/// What one delivery attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered 2xx.
    Success,
    /// It failed; the message is scheduled again with backoff.
    Retry,
    /// It failed and the endpoint's breaker opened: its backlog waits before one probe.
    Parked,
    /// It failed and that was the last attempt: the message is marked failed (give up).
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Success, Self::Retry, Self::Parked, Self::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retry => "retry",
            Self::Parked => "parked",
            Self::Failed => "failed",
        }
    }
}

/// `state` values of [`MESSAGES_PENDING`].
pub const DUE: &str = "due";
pub const SCHEDULED: &str = "scheduled";
pub const IN_FLIGHT: &str = "in_flight";

pub(crate) fn describe() {
    metrics::describe_counter!(
        DELIVERIES,
        "Webhook delivery attempts recorded, by outcome: success, retry (scheduled again), parked (the endpoint's breaker opened), failed (last attempt; given up)."
    );
    metrics::describe_histogram!(
        DELIVERY_DURATION,
        metrics::Unit::Seconds,
        "Duration of one webhook delivery attempt (connect, send, response), by outcome."
    );
    metrics::describe_histogram!(
        DELIVERY_LAG,
        metrics::Unit::Seconds,
        "Time from an event's occurrence to the successful delivery of its webhook, retries included."
    );
    metrics::describe_counter!(
        MESSAGES_RECORDED,
        "Webhook messages recorded: one per (event, subscribed endpoint), redeliveries of an event not counted."
    );
    metrics::describe_histogram!(
        CLAIM_DURATION,
        metrics::Unit::Seconds,
        "Duration of one claim of due webhook messages (the query that leases a batch); it should not grow with the backlog."
    );
    metrics::describe_gauge!(
        MESSAGES_PENDING,
        "Webhook messages not yet delivered or given up, across all dispatcher replicas, by state: due (waiting for a slot, or for its endpoint's breaker), scheduled (a retry waiting out its backoff), in_flight (leased by a replica). Refreshed every GANGWAY_METRICS_REFRESH_MS."
    );
}

/// Every outcome starts at 0, so rates exist before the first of each.
pub fn register() {
    for outcome in Outcome::ALL {
        metrics::counter!(DELIVERIES, "outcome" => outcome.as_str()).absolute(0);
    }
    metrics::counter!(MESSAGES_RECORDED).absolute(0);
}

/// One recorded attempt of a message about an event that occurred at `occurred_at`.
pub fn attempted(outcome: Outcome, duration: Duration, occurred_at: DateTime<Utc>) {
    metrics::counter!(DELIVERIES, "outcome" => outcome.as_str()).increment(1);
    metrics::histogram!(DELIVERY_DURATION, "outcome" => outcome.as_str()).record(duration.as_secs_f64());
    if outcome == Outcome::Success {
        metrics::histogram!(DELIVERY_LAG).record(crate::seconds_since(occurred_at));
    }
}

/// Messages newly recorded for one event.
pub fn recorded(messages: u64) {
    if messages > 0 {
        metrics::counter!(MESSAGES_RECORDED).increment(messages);
    }
}

/// One claim of due messages, however many it took.
pub fn claimed(duration: Duration) {
    metrics::histogram!(CLAIM_DURATION).record(duration.as_secs_f64());
}

/// The queue as last counted in Postgres.
pub fn queue(due: i64, scheduled: i64, in_flight: i64) {
    for (state, count) in [(DUE, due), (SCHEDULED, scheduled), (IN_FLIGHT, in_flight)] {
        metrics::gauge!(MESSAGES_PENDING, "state" => state).set(count as f64);
    }
}
