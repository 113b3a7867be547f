//! The consumer's side of a retry an operator asked for.

use crate::DeadLetters;
use gangway_event_store::{read_events, RecordedEvent, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

impl DeadLetters {
    /// Until cancelled, every `every`: processes the streams whose retry was asked for, and
    /// refreshes the unresolved gauge.
    pub async fn run_retries<F, Fut, E>(&self, handle: F, every: Duration, cancel: CancellationToken)
    where
        F: Fn(RecordedEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        while !cancel.is_cancelled() {
            if let Err(error) = self.retry_requested(&handle).await {
                tracing::warn!(%error, "retrying dead letters failed; trying again later");
            }
            let _ = self.unresolved().await;
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Processes every stream whose retry was asked for; returns how many streams were released.
    pub async fn retry_requested<F, Fut, E>(&self, handle: &F) -> Result<usize, StoreError>
    where
        F: Fn(RecordedEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut released = 0;
        while let Some(stream_id) = self.claim_requested().await? {
            if self.retry_stream(stream_id, handle).await? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Takes one stream's retry request (replicas take different ones). A process that dies while
    /// retrying leaves the stream unresolved, to be retried again.
    async fn claim_requested(&self) -> Result<Option<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "UPDATE dead_letters SET retry_requested_at = NULL \
             WHERE id = (SELECT id FROM dead_letters \
                         WHERE consumer = $1 AND resolved_at IS NULL AND retry_requested_at IS NOT NULL \
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING stream_id",
        )
        .bind(&self.consumer)
        .fetch_optional(&self.pool)
        .await
    }

    /// Processes the stream's dead and held events in stream order; `true` once none is left.
    /// The first that fails again becomes the stream's dead letter and the rest stay held.
    async fn retry_stream<F, Fut, E>(&self, stream_id: Uuid, handle: &F) -> Result<bool, StoreError>
    where
        F: Fn(RecordedEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        loop {
            let waiting: Vec<(i64, Uuid)> = sqlx::query_as(
                "SELECT id, event_id FROM dead_letters \
                 WHERE consumer = $1 AND stream_id = $2 AND resolved_at IS NULL \
                 ORDER BY stream_version",
            )
            .bind(&self.consumer)
            .bind(stream_id)
            .fetch_all(&self.pool)
            .await?;
            if waiting.is_empty() {
                tracing::info!(%stream_id, "stream released from its dead letters");
                return Ok(true);
            }
            let ids: Vec<Uuid> = waiting.iter().map(|(_, event_id)| *event_id).collect();
            let mut events: HashMap<Uuid, RecordedEvent> = read_events(&self.pool, &ids)
                .await?
                .into_iter()
                .map(|event| (event.event_id, event))
                .collect();
            for (row, event_id) in waiting {
                let Some(event) = events.remove(&event_id) else {
                    self.still_failing(row, "the event is not in the event store")
                        .await?;
                    return Ok(false);
                };
                if let Err(error) = handle(event).await {
                    self.still_failing(row, &error.to_string()).await?;
                    return Ok(false);
                }
                self.resolve(row, stream_id).await?;
            }
        }
    }

    async fn resolve(&self, row: i64, stream_id: Uuid) -> Result<(), sqlx::Error> {
        let mut tx = self.stream_lock(stream_id).await?;
        sqlx::query("UPDATE dead_letters SET resolved_at = now() WHERE id = $1")
            .bind(row)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    async fn still_failing(&self, row: i64, error: &str) -> Result<(), sqlx::Error> {
        tracing::warn!(dead_letter = row, error, "a retried dead letter failed again");
        sqlx::query(
            "UPDATE dead_letters SET held = false, error = $2, deliveries = deliveries + 1 WHERE id = $1",
        )
        .bind(row)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
