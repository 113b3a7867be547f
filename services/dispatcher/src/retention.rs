//! The delivery log's retention: messages that are done (delivered, or failed for good) are
//! deleted with their attempts once older than the retention period, a batch at a time. Pending
//! messages are never deleted, however old. Replicas may sweep at the same time: each skips rows
//! another is deleting.

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows deleted per statement, so a sweep never holds many locks or a long transaction.
const BATCH: i64 = 1_000;

#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// How long a finished message is kept; `None` keeps it forever.
    pub keep: Option<Duration>,
    pub sweep_every: Duration,
}

/// Sweeps every `sweep_every` until cancelled.
pub async fn run(pool: PgPool, retention: Retention, cancel: CancellationToken) {
    let Some(keep) = retention.keep else { return };
    loop {
        match sweep(&pool, keep).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "webhook messages past retention deleted"),
            Err(error) => tracing::warn!(%error, "webhook retention sweep failed; trying again later"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(retention.sweep_every) => {}
        }
    }
}

/// Deletes the finished messages created before `now - keep` (their attempts go with them) and
/// returns how many.
pub async fn sweep(pool: &PgPool, keep: Duration) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(
            "DELETE FROM webhook_messages WHERE id IN ( \
                 SELECT id FROM webhook_messages \
                 WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1) \
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(keep.as_secs_f64())
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += batch;
        if batch < BATCH as u64 {
            return Ok(deleted);
        }
    }
}
