//! Process plumbing every binary shares: the database pool, retention sweeps and shutdown on
//! signals.

use crate::InfraConfig;
use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The process's Postgres pool, of at most `max_connections`.
pub async fn connect_database(infra: &InfraConfig, max_connections: u32) -> anyhow::Result<PgPool> {
    let url = &infra.database_url;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_millis(infra.database_acquire_timeout_ms.max(1)))
        // A dead connection surfaces as an error on use, which callers handle anyway; pinging
        // before every checkout would double the round trips of a one-statement append.
        .test_before_acquire(false)
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to Postgres at {}", redact_url(url)))
}

/// Deletes rows past retention, a batch per statement so a sweep never holds many locks or a long
/// transaction; returns how many. `delete` takes the cut-off age in seconds as `$1` and the batch
/// size as `$2` (select with `FOR UPDATE SKIP LOCKED`, so replicas can sweep at once).
pub async fn delete_older_than(
    pool: &PgPool,
    delete: &'static str,
    keep: Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let n = sqlx::query(delete)
            .bind(keep.as_secs_f64())
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += n;
        if n < batch as u64 {
            return Ok(deleted);
        }
    }
}

/// Runs `sweep` now and then every `every` until cancelled, logging how many `what` it deleted.
pub async fn sweep_every<F, Fut>(every: Duration, what: &'static str, cancel: CancellationToken, mut sweep: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    loop {
        match sweep().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, what, "deleted past retention"),
            Err(error) => tracing::warn!(%error, what, "retention sweep failed; trying again later"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// A URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        ctrl_c.await.ok();
        tracing::info!("shutting down");
        token.cancel();
    });
}
