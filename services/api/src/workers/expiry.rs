//! The expiry sweep's loop; each batch is [`gangway_app::expiry::expire_due_links`].

use chrono::Utc;
use gangway_app::expiry::expire_due_links;
use gangway_app::App;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sweeps every `interval` until cancelled.
pub async fn run_expiry_sweeper(app: App, interval: Duration, cancel: CancellationToken) {
    const BATCH: i64 = 500;
    loop {
        loop {
            match expire_due_links(&app, Utc::now(), BATCH).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "expiry sweep failed; will retry");
                    break;
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
