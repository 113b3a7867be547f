//! The projector: events handled, how far behind the events it applies are, and its backlog.

use chrono::{DateTime, Utc};

pub const EVENTS: &str = "gangway_projector_events_total";
pub const LAG: &str = "gangway_projector_lag_seconds";
pub const PENDING: &str = "gangway_projector_pending_events";

/// `outcome` values of [`EVENTS`].
pub const APPLIED: &str = "applied";
pub const ALREADY_APPLIED: &str = "already_applied";
pub const IGNORED: &str = "ignored";
pub const FAILED: &str = "failed";

pub(crate) fn describe() {
    metrics::describe_counter!(
        EVENTS,
        "Events the projector handled, by event type and outcome: applied (changed a read model), already_applied (a redelivery), ignored (no read model), failed (will be redelivered)."
    );
    metrics::describe_histogram!(
        LAG,
        metrics::Unit::Seconds,
        "Time from an event's recording in the event store to the projector committing it."
    );
    metrics::describe_gauge!(
        PENDING,
        "Events on JetStream the projector's durable consumer has not yet acknowledged (not delivered yet plus in flight), refreshed every GANGWAY_METRICS_REFRESH_MS."
    );
}

/// One event the projector handled; `recorded_at` is `None` when it failed.
pub fn handled(event_type: &str, outcome: &'static str, recorded_at: Option<DateTime<Utc>>) {
    metrics::counter!(EVENTS, "event_type" => event_type.to_owned(), "outcome" => outcome).increment(1);
    if let Some(at) = recorded_at {
        metrics::histogram!(LAG).record(crate::seconds_since(at));
    }
}

/// The consumer's backlog as JetStream last reported it.
pub fn pending(events: u64) {
    metrics::gauge!(PENDING).set(events as f64);
}
