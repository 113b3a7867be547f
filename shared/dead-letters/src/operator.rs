//! What operators see and ask for (`gangway dead-letters list|retry`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// One row as `gangway dead-letters list` shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: i64,
    pub consumer: String,
    pub event_id: Uuid,
    pub event_type: String,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub organization_id: Uuid,
    /// Waits behind an earlier event of its stream rather than having failed itself.
    pub held: bool,
    pub error: Option<String>,
    pub deliveries: i64,
    pub created_at: DateTime<Utc>,
    pub retry_requested_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Unresolved dead letters (and held events) in the order they were set aside; with `resolved`,
/// the resolved ones too.
pub async fn list(pool: &PgPool, resolved: bool) -> Result<Vec<DeadLetter>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, consumer, event_id, event_type, stream_id, stream_version, organization_id, \
                held, error, deliveries, created_at, retry_requested_at, resolved_at \
           FROM dead_letters WHERE $1 OR resolved_at IS NULL ORDER BY id",
    )
    .bind(resolved)
    .fetch_all(pool)
    .await
}

/// Which dead letters a retry is asked for.
#[derive(Clone, Copy, Debug)]
pub enum RetryScope {
    One(i64),
    All,
}

/// Asks the consumers to process the chosen dead letters again (each with the events held behind
/// it); returns how many were asked for. A held row's id asks for the dead letter it waits behind.
pub async fn request_retry(pool: &PgPool, scope: RetryScope) -> Result<u64, sqlx::Error> {
    let id = match scope {
        RetryScope::One(id) => Some(id),
        RetryScope::All => None,
    };
    let asked = sqlx::query(
        "UPDATE dead_letters d SET retry_requested_at = now() \
          WHERE resolved_at IS NULL AND NOT held \
            AND ($1::bigint IS NULL OR EXISTS ( \
                SELECT 1 FROM dead_letters chosen \
                 WHERE chosen.id = $1 AND chosen.resolved_at IS NULL \
                   AND chosen.consumer = d.consumer AND chosen.stream_id = d.stream_id))",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(asked)
}
