//! The projector: events handled, how far behind the events it applies are, and its backlog.

use chrono::{DateTime, Utc};

pub const EVENTS: &str = "gangway_projector_events_total";
pub const LAG: &str = "gangway_projector_lag_seconds";
pub const PENDING: &str = "gangway_projector_pending_events";
pub const REPLAY_APPLIED: &str = "gangway_replay_applied_events";
pub const REPLAY_TOTAL: &str = "gangway_replay_total_events";
pub const REPLAY_RUNNING: &str = "gangway_replay_running";

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
        REPLAY_APPLIED,
        "Events the last (or running) gangway replay has rebuilt the read models from; with gangway_replay_total_events, its progress (rate() gives events/s)."
    );
    metrics::describe_gauge!(
        REPLAY_TOTAL,
        "Events in the store when the last (or running) gangway replay started."
    );
    metrics::describe_gauge!(
        REPLAY_RUNNING,
        "1 while a gangway replay reports progress, else 0."
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

/// The progress a `gangway replay` last reported.
pub fn replay(applied: i64, total: i64, running: bool) {
    metrics::gauge!(REPLAY_APPLIED).set(applied as f64);
    metrics::gauge!(REPLAY_TOTAL).set(total as f64);
    metrics::gauge!(REPLAY_RUNNING).set(if running { 1.0 } else { 0.0 });
}
