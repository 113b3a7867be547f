//! The webhook queue's depth for `/metrics`, counted in Postgres every refresh interval (the
//! delivery path itself only bumps counters).

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Counts undelivered messages by state, over the partial index of pending messages.
pub async fn refresh_queue_depth(pool: &PgPool) -> Result<(), sqlx::Error> {
    let depth = gangway_app::delivery_log::queue_depth(pool).await?;
    gangway_telemetry::webhooks::queue(depth.due, depth.scheduled, depth.in_flight);
    Ok(())
}

/// Keeps the queue gauges current until cancelled. Every replica reports the same totals:
/// aggregate them with `max`, not `sum`.
pub async fn run_queue_gauge(pool: PgPool, every: Duration, cancel: CancellationToken) {
    while !cancel.is_cancelled() {
        if let Err(error) = refresh_queue_depth(&pool).await {
            tracing::debug!(%error, "counting the webhook queue failed");
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}
