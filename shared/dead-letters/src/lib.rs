//! Poison events. A JetStream consumer (the projector, the dispatcher) that keeps failing on one
//! event sets it aside here after its delivery limit instead of retrying it forever, and goes on
//! with the events of other streams. Later events of the same stream are held behind it (never
//! applied out of order, never dropped) until an operator, once the cause is fixed, asks for a
//! retry (`gangway dead-letters retry`); the consumer then processes the dead event and the held
//! ones in stream order, with its own step for one event.
//!
//! Only failures that a redelivery cannot fix count: a lost connection, a restarting database or a
//! deadlock is retried forever, so an outage never turns good events into dead letters.

mod classify;
mod operator;
mod retry;

pub use classify::is_transient;
pub use operator::{list, request_retry, DeadLetter, RetryScope};

use gangway_event_store::RecordedEvent;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The `consumer` of the events the relay could not read, and so never published.
pub const RELAY: &str = "relay";

/// Records an event the relay cannot read and moves past (see [`RELAY`]): no consumer ever sees
/// it, and the operators find it with the other dead letters. Safe to repeat.
pub async fn record_unpublishable(
    db: impl sqlx::PgExecutor<'_>,
    event: &gangway_event_store::UnreadableEvent,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dead_letters \
           (consumer, event_id, stream_id, stream_version, event_type, organization_id, held, error) \
         VALUES ($1, $2, $3, $4, $5, $6, false, $7) \
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(RELAY)
    .bind(event.event_id)
    .bind(event.stream_id)
    .bind(event.stream_version)
    .bind(&event.event_type)
    .bind(event.organization_id)
    .bind(&event.error)
    .execute(db)
    .await?;
    Ok(())
}

/// Deliveries of one event before a consumer sets it aside (`GANGWAY_MAX_DELIVERIES`).
pub const DEFAULT_MAX_DELIVERIES: u64 = 10;

/// One consumer's dead letters.
#[derive(Clone, Debug)]
pub struct DeadLetters {
    pool: PgPool,
    /// The consumer's durable name, as its rows are kept.
    consumer: String,
    /// `projector` or `dispatcher`, the metrics' label.
    kind: &'static str,
    max_deliveries: u64,
}

impl DeadLetters {
    pub fn new(pool: PgPool, consumer: impl Into<String>, kind: &'static str, max_deliveries: u64) -> Self {
        Self {
            pool,
            consumer: consumer.into(),
            kind,
            max_deliveries: max_deliveries.max(1),
        }
    }

    /// Whether a failure at the `delivered`-th delivery (1 for the first) sets the event aside.
    pub fn gives_up(&self, delivered: u64, error: &(dyn std::error::Error + 'static)) -> bool {
        delivered >= self.max_deliveries && !is_transient(error)
    }

    /// Of `streams`, those with an unresolved dead letter of this consumer.
    pub async fn blocked_streams(&self, streams: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT DISTINCT stream_id FROM dead_letters \
             WHERE consumer = $1 AND stream_id = ANY($2) AND resolved_at IS NULL",
        )
        .bind(&self.consumer)
        .bind(streams)
        .fetch_all(&self.pool)
        .await
    }

    /// Whether `event` must wait behind a dead letter of its stream; if so it is held (recorded
    /// to be processed by the stream's retry) and the consumer acknowledges it.
    pub async fn held_back(&self, event: &RecordedEvent) -> Result<bool, sqlx::Error> {
        let blocked = self.blocked_streams(&[event.stream_id]).await?;
        if blocked.is_empty() {
            return Ok(false);
        }
        self.hold(event).await
    }

    /// Holds `event` behind its stream's dead letter. `false` when the stream was released
    /// meanwhile: process the event as usual.
    pub async fn hold(&self, event: &RecordedEvent) -> Result<bool, sqlx::Error> {
        let mut tx = self.stream_lock(event.stream_id).await?;
        if !self.has_unresolved(&mut tx, event.stream_id).await? {
            return Ok(false);
        }
        self.bind_event(
            sqlx::query(
                "INSERT INTO dead_letters \
                   (consumer, event_id, stream_id, stream_version, event_type, organization_id, held) \
                 VALUES ($1, $2, $3, $4, $5, $6, true) \
                 ON CONFLICT (consumer, event_id) DO NOTHING",
            ),
            event,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::warn!(event_id = %event.event_id, stream_id = %event.stream_id, "event held behind a dead letter of its stream");
        Ok(true)
    }

    /// Sets `event` aside as dead after `deliveries` failed deliveries.
    pub async fn bury(&self, event: &RecordedEvent, error: &str, deliveries: u64) -> Result<(), sqlx::Error> {
        let mut tx = self.stream_lock(event.stream_id).await?;
        self.bind_event(
            sqlx::query(
                "INSERT INTO dead_letters \
                   (consumer, event_id, stream_id, stream_version, event_type, organization_id, held, \
                    error, deliveries) \
                 VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8) \
                 ON CONFLICT (consumer, event_id) DO UPDATE SET \
                   held = false, error = EXCLUDED.error, deliveries = EXCLUDED.deliveries, \
                   resolved_at = NULL, retry_requested_at = NULL",
            ),
            event,
        )
        .bind(error)
        .bind(i64::try_from(deliveries).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        gangway_telemetry::dead_letters::buried(self.kind);
        tracing::error!(
            event_id = %event.event_id,
            event_type = %event.event_type,
            stream_id = %event.stream_id,
            deliveries,
            error,
            "event set aside as a dead letter; its stream waits for `gangway dead-letters retry`"
        );
        Ok(())
    }

    /// This consumer's unresolved rows (dead and held).
    pub async fn unresolved(&self) -> Result<i64, sqlx::Error> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM dead_letters WHERE consumer = $1 AND resolved_at IS NULL",
        )
        .bind(&self.consumer)
        .fetch_one(&self.pool)
        .await?;
        gangway_telemetry::dead_letters::unresolved(self.kind, count);
        Ok(count)
    }

    /// Binds `$1` to `$6` of a row: this consumer and the event's identity.
    fn bind_event<'q>(
        &'q self,
        query: Query<'q, Postgres, PgArguments>,
        event: &'q RecordedEvent,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(&self.consumer)
            .bind(event.event_id)
            .bind(event.stream_id)
            .bind(event.stream_version)
            .bind(&event.event_type)
            .bind(event.organization_id.as_uuid())
    }

    /// A transaction holding the lock that orders holding an event against releasing its stream.
    async fn stream_lock(&self, stream_id: Uuid) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("dead-letters:{}:{stream_id}", self.consumer))
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn has_unresolved(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        stream_id: Uuid,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM dead_letters \
             WHERE consumer = $1 AND stream_id = $2 AND resolved_at IS NULL)",
        )
        .bind(&self.consumer)
        .bind(stream_id)
        .fetch_one(&mut **tx)
        .await
    }
}
