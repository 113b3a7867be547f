//! Retention of the receipts of Meta's notifications (`meta_webhook_receipts`). A receipt only
//! has to outlive Meta's redeliveries of its notification; kept forever, one row per inbound
//! message would grow without bound.

use gangway_config::runtime::{delete_older_than, sweep_every};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DELETE: &str = "DELETE FROM meta_webhook_receipts WHERE digest IN ( \
    SELECT digest FROM meta_webhook_receipts \
    WHERE received_at < now() - make_interval(secs => $1) \
    LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Deletes the receipts older than `keep` every `every` until cancelled.
pub async fn run_receipt_pruner(pool: PgPool, keep: Duration, every: Duration, cancel: CancellationToken) {
    sweep_every(every, "Meta webhook receipts", cancel, || {
        delete_older_than(&pool, DELETE, keep, 5_000)
    })
    .await;
}
