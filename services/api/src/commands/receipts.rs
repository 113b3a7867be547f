//! Retention of the receipts of Meta's notifications (`meta_webhook_receipts`). A receipt only
//! has to outlive Meta's redeliveries of its notification; kept forever, one row per inbound
//! message would grow without bound.

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 5_000;

/// Deletes the receipts older than `keep`, a batch per statement; returns how many.
pub async fn prune_receipts(pool: &PgPool, keep: Duration) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(
            "DELETE FROM meta_webhook_receipts WHERE digest IN ( \
                 SELECT digest FROM meta_webhook_receipts \
                 WHERE received_at < now() - make_interval(secs => $1) \
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

/// Prunes every `every` until cancelled.
pub async fn run_receipt_pruner(pool: PgPool, keep: Duration, every: Duration, cancel: CancellationToken) {
    loop {
        match prune_receipts(&pool, keep).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "Meta webhook receipts past retention deleted"),
            Err(error) => tracing::warn!(%error, "pruning Meta webhook receipts failed; will retry"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
