//! Progress bars for long work. They draw on stderr, and only on a terminal, so piped output
//! and logs stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};

/// A bar counting `unit` (e.g. `events`) towards `len` (which may grow later).
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
    let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style)
}

/// A replay's progress in `replay_progress`, written once a second from a connection of its own
/// (the replay's transaction is not visible until it commits), for `gangway status`.
pub struct Report {
    counts: std::sync::Arc<(AtomicU64, AtomicU64)>,
    writer: tokio::task::JoinHandle<()>,
    pool: PgPool,
    started: chrono::DateTime<chrono::Utc>,
}

impl Report {
    pub fn start(pool: PgPool) -> Self {
        let counts = std::sync::Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let started = chrono::Utc::now();
        let writer = tokio::spawn({
            let (pool, counts) = (pool.clone(), counts.clone());
            async move {
                loop {
                    let (applied, total) =
                        (counts.0.load(Ordering::Relaxed), counts.1.load(Ordering::Relaxed));
                    // Progress is a courtesy: a failed report must not stop the replay.
                    let _ = write(&pool, started, applied, total).await;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        });
        Self {
            counts,
            writer,
            pool,
            started,
        }
    }

    pub fn update(&self, applied: u64, total: u64) {
        self.counts.0.store(applied, Ordering::Relaxed);
        self.counts.1.store(total, Ordering::Relaxed);
    }

    /// Stops reporting; a replay that completed is marked finished.
    pub async fn finish(self, completed: bool) {
        self.writer.abort();
        let (applied, total) = (
            self.counts.0.load(Ordering::Relaxed),
            self.counts.1.load(Ordering::Relaxed),
        );
        let _ = write(&self.pool, self.started, applied, total).await;
        if completed {
            let _ = sqlx::query("UPDATE replay_progress SET finished_at = now() WHERE name = 'replay'")
                .execute(&self.pool)
                .await;
        }
    }
}

async fn write(
    pool: &PgPool,
    started: chrono::DateTime<chrono::Utc>,
    applied: u64,
    total: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO replay_progress (name, started_at, applied, total, updated_at) \
         VALUES ('replay', $1, $2, $3, now()) \
         ON CONFLICT (name) DO UPDATE SET started_at = EXCLUDED.started_at, applied = EXCLUDED.applied, \
             total = EXCLUDED.total, updated_at = now(), finished_at = NULL",
    )
    .bind(started)
    .bind(i64::try_from(applied).unwrap_or(i64::MAX))
    .bind(i64::try_from(total).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(())
}
