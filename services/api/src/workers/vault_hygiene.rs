//! The loop that destroys secrets past their retention; each round is
//! [`gangway_app::vault_hygiene::destroy_released_secrets`].

use chrono::Utc;
use gangway_app::vault_hygiene::destroy_released_secrets;
use gangway_app::App;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Sweeps every `every` until cancelled.
pub async fn run_vault_sweeper(
    app: App,
    retention: chrono::Duration,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        if let Err(error) = destroy_released_secrets(&app, Utc::now(), retention).await {
            tracing::warn!(%error, "destroying released secrets failed; trying again later");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
