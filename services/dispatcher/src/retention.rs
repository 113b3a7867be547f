//! The delivery log's retention: messages that are done (delivered, or failed for good) are
//! deleted with their attempts once older than the retention period. Pending messages are never
//! deleted, however old.

use gangway_config::runtime::{delete_older_than, sweep_every};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Attempts go with their message (`ON DELETE CASCADE`).
const DELETE: &str = "DELETE FROM webhook_messages WHERE id IN ( \
    SELECT id FROM webhook_messages \
    WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1) \
    LIMIT $2 FOR UPDATE SKIP LOCKED)";

#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// How long a finished message is kept; `None` keeps it forever.
    pub keep: Option<Duration>,
    pub sweep_every: Duration,
}

/// Sweeps every `sweep_every` until cancelled.
pub async fn run(pool: PgPool, retention: Retention, cancel: CancellationToken) {
    let Some(keep) = retention.keep else { return };
    sweep_every(retention.sweep_every, "webhook messages", cancel, || {
        delete_older_than(&pool, DELETE, keep, 1_000)
    })
    .await;
}
