//! The event store and the relay: events appended, events published, and how long publishing
//! took.

use chrono::{DateTime, Utc};

pub const EVENTS_APPENDED: &str = "gangway_events_appended_total";
pub const RELAY_PUBLISHED: &str = "gangway_relay_published_events_total";
pub const RELAY_LAG: &str = "gangway_relay_lag_seconds";
pub const RELAY_LEADING: &str = "gangway_relay_leading";
pub const RELAY_HELD_BACK: &str = "gangway_relay_held_back_seconds";

pub(crate) fn describe() {
    metrics::describe_counter!(
        EVENTS_APPENDED,
        "Events appended to the event store by this process (counted when their transaction commits), by event type."
    );
    metrics::describe_counter!(
        RELAY_PUBLISHED,
        "Events the relay published to JetStream and JetStream acknowledged."
    );
    metrics::describe_histogram!(
        RELAY_LAG,
        metrics::Unit::Seconds,
        "Time from an event's insert into the event store (so including the wait for its transaction to commit) to JetStream's acknowledgement of its publish."
    );
    metrics::describe_gauge!(
        RELAY_HELD_BACK,
        metrics::Unit::Seconds,
        "How long the oldest committed event has waited to be published because an older transaction is still open somewhere in the cluster (0: none waits); set by the leading relay about every second while idle."
    );
    metrics::describe_gauge!(
        RELAY_LEADING,
        "1 while this process's relay holds the publishing lock, else 0 (one replica publishes at a time)."
    );
}

/// Events of a committed append, by type.
pub fn appended<'a>(event_types: impl IntoIterator<Item = &'a str>) {
    for event_type in event_types {
        metrics::counter!(EVENTS_APPENDED, "event_type" => event_type.to_owned()).increment(1);
    }
}

/// A batch JetStream acknowledged: when each of its events was recorded.
pub fn published(recorded_at: impl ExactSizeIterator<Item = DateTime<Utc>>) {
    metrics::counter!(RELAY_PUBLISHED).increment(recorded_at.len() as u64);
    let lag = metrics::histogram!(RELAY_LAG);
    for at in recorded_at {
        lag.record(crate::seconds_since(at));
    }
}

/// Whether this process's relay is the one publishing.
pub fn leading(is_leading: bool) {
    metrics::gauge!(RELAY_LEADING).set(if is_leading { 1.0 } else { 0.0 });
}

/// How long committed events have waited behind an open transaction elsewhere.
pub fn held_back(waited: std::time::Duration) {
    metrics::gauge!(RELAY_HELD_BACK).set(waited.as_secs_f64());
}
