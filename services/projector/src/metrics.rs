//! What the projector reports at `/metrics`: each event handled, the onboarding funnel, and its
//! backlog on JetStream.

use async_nats::jetstream;
use gangway_bus::Bus;
use gangway_event_store::RecordedEvent;
use gangway_projections::Applied;
use gangway_telemetry::{funnel, projector};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Records one handled event: `applied` is `None` when handling failed (it will be redelivered).
///
/// The funnel counts an event once across redeliveries and replicas: when it changed the read
/// model, or, on its first delivery, when the model already had it (another replica folded it in
/// while applying a later event of the same link). A redelivery of an applied event is not
/// counted again, nor is a republished one: so an event lost from JetStream and republished
/// after a later event folded it in is never counted.
pub fn observe(event: &RecordedEvent, applied: Option<Applied>, first_delivery: bool) {
    let outcome = match applied {
        Some(Applied::Applied) => projector::APPLIED,
        Some(Applied::AlreadyApplied) => projector::ALREADY_APPLIED,
        Some(Applied::Ignored) => projector::IGNORED,
        None => projector::FAILED,
    };
    projector::handled(&event.event_type, outcome, applied.map(|_| event.recorded_at));
    let counts = match applied {
        Some(Applied::Applied) => true,
        Some(Applied::AlreadyApplied) => first_delivery,
        Some(Applied::Ignored) | None => false,
    };
    if counts {
        funnel::observe(&event.event_type, &event.payload);
    }
}

/// Whether JetStream delivers this event for the first time: neither a redelivery nor a copy
/// sent again by `gangway republish`.
pub fn first_delivery(message: &jetstream::Message) -> bool {
    !gangway_bus::is_republished(message) && message.info().map_or(true, |info| info.delivered <= 1)
}

/// Keeps the backlog gauge, and the progress of a `gangway replay` (which has no `/metrics` of
/// its own), current until cancelled.
pub async fn refresh_backlog(
    bus: Bus,
    pool: PgPool,
    consumer: String,
    every: Duration,
    cancel: CancellationToken,
) {
    while !cancel.is_cancelled() {
        let replay: Result<Option<(i64, i64, bool)>, _> = sqlx::query_as(
            "SELECT applied, total, finished_at IS NULL AND updated_at > now() - interval '10 seconds' \
             FROM replay_progress WHERE name = 'replay'",
        )
        .fetch_optional(&pool)
        .await;
        match replay {
            Ok(Some((applied, total, running))) => projector::replay(applied, total, running),
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "reading the replay's progress failed"),
        }
        let info = match bus.projector_consumer(&consumer).await {
            Ok(mut durable) => durable.info().await.cloned().map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match info {
            Ok(info) => projector::pending(info.num_pending + info.num_ack_pending as u64),
            Err(error) => tracing::debug!(%error, "reading the projector consumer's backlog failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}
