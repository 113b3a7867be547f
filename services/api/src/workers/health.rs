//! The phone health monitor's loop: claims the numbers due for a check and checks a few at a
//! time. Each check is [`gangway_app::health::check_phone`].

use futures::StreamExt;
use gangway_app::health::{check_phone, claim_due, CheckOutcome};
use gangway_app::App;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Numbers checked at once: Meta's rate limits are per app, so stay gentle.
const CONCURRENT_CHECKS: usize = 4;

/// Checks every connected number about once per `every`, until `cancel`.
pub async fn run_health_monitor(app: App, every: Duration, cancel: CancellationToken) {
    const BATCH: i64 = 200;
    let tick = every.min(Duration::from_secs(30));
    loop {
        match claim_due(&app, every, BATCH).await {
            Ok(due) => {
                futures::stream::iter(due)
                    .for_each_concurrent(CONCURRENT_CHECKS, |(org, id)| {
                        let app = &app;
                        async move {
                            match check_phone(app, org, id).await {
                                Ok(CheckOutcome::Inconclusive(why)) => {
                                    tracing::warn!(phone = %id, %why, "health check inconclusive")
                                }
                                Ok(_) => {}
                                Err(error) => tracing::warn!(phone = %id, %error, "health check failed"),
                            }
                        }
                    })
                    .await
            }
            Err(error) => tracing::warn!(%error, "health monitor could not list numbers; will retry"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}
