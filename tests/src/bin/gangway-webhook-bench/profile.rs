//! Where a phase's time went, from what the dispatcher recorded: when messages were recorded
//! (`created_at`, the ingest transaction's start), when their attempt started, and how long the
//! HTTP call took (`latency_ms`, whole milliseconds).

use sqlx::PgPool;

#[derive(Debug, sqlx::FromRow)]
pub struct Profile {
    pub messages: i64,
    pub attempts: i64,
    /// From the first message recorded to the last.
    pub ingest_seconds: f64,
    /// Message recorded → its attempt started: ingest commit, wake-up, claim, signing key.
    pub wait_p50_ms: f64,
    pub wait_p99_ms: f64,
    pub http_p50_ms: f64,
    pub http_p99_ms: f64,
}

impl Profile {
    pub async fn read(pool: &PgPool) -> anyhow::Result<Self> {
        Ok(sqlx::query_as(
            "SELECT (SELECT count(*) FROM webhook_messages) AS messages, \
                    (SELECT count(*) FROM webhook_attempts) AS attempts, \
                    (SELECT coalesce(extract(epoch FROM max(created_at) - min(created_at)), 0)::float8 \
                     FROM webhook_messages) AS ingest_seconds, \
                    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms), 0) AS wait_p50_ms, \
                    coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY wait_ms), 0) AS wait_p99_ms, \
                    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY http_ms), 0) AS http_p50_ms, \
                    coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY http_ms), 0) AS http_p99_ms \
             FROM (SELECT extract(epoch FROM a.attempted_at - m.created_at)::float8 * 1000 AS wait_ms, \
                          a.latency_ms::float8 AS http_ms \
                   FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id) t",
        )
        .fetch_one(pool)
        .await?)
    }

    pub fn print(&self) {
        println!(
            "  dispatcher's record: {} messages, {} attempts; messages recorded over {:.2} s ({:.0}/s)",
            self.messages,
            self.attempts,
            self.ingest_seconds,
            self.messages as f64 / self.ingest_seconds.max(1e-3)
        );
        println!(
            "  recorded → attempt started p50 {:.1} ms, p99 {:.1} ms; HTTP attempt p50 {:.0} ms, p99 {:.0} ms",
            self.wait_p50_ms, self.wait_p99_ms, self.http_p50_ms, self.http_p99_ms
        );
    }
}
