//! Retention of receipts: of Meta's notifications (`meta_webhook_receipts`), which only have to
//! outlive Meta's redeliveries of a notification, of `Idempotency-Key`s, kept 24 hours, and of
//! console sessions past their expiry.
//! Kept forever, either would grow without bound.

use gangway_config::runtime::{delete_older_than, sweep_every};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DELETE: &str = "DELETE FROM meta_webhook_receipts WHERE digest IN ( \
    SELECT digest FROM meta_webhook_receipts \
    WHERE received_at < now() - make_interval(secs => $1) \
    LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Deletes `Idempotency-Key`s past their 24 hours, with their stored answers, and expired
/// console sessions, every `every` until cancelled.
pub async fn run_idempotency_pruner(pool: PgPool, every: Duration, cancel: CancellationToken) {
    sweep_every(every, "idempotency keys and console sessions", cancel, || async {
        let keys = gangway_app::idempotency::forget_expired(&pool).await?;
        Ok(keys + gangway_app::console_sessions::forget_expired_sessions(&pool).await?)
    })
    .await;
}

/// Deletes the receipts older than `keep` every `every` until cancelled.
pub async fn run_receipt_pruner(pool: PgPool, keep: Duration, every: Duration, cancel: CancellationToken) {
    sweep_every(every, "Meta webhook receipts", cancel, || {
        delete_older_than(&pool, DELETE, keep, 5_000)
    })
    .await;
}
