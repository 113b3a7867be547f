use crate::{apply, ProjectionError, READ_MODEL_TABLES};
use gangway_event_store::{read_committed_after, CommitCursor};
use serde_json::Value;
use sqlx::{PgPool, Row};

const REPLAY_BATCH: i64 = 1_000;

/// Progress of a replay, reported after each batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayProgress {
    pub applied: u64,
    pub total: u64,
}

/// Rebuilds every read model from the event store, in commit order, in one transaction: readers
/// see the old models until the new ones are complete (rows are deleted, not truncated, so reads
/// do not wait). While it runs, the projector waits on the rows it touches, and the relay, which
/// only publishes transactions older than every open one, pauses. Returns how many events were read.
pub async fn replay(pool: &PgPool, mut progress: impl FnMut(ReplayProgress)) -> Result<u64, ProjectionError> {
    let mut tx = pool.begin().await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    let total = u64::try_from(total).unwrap_or(0);
    for table in READ_MODEL_TABLES {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut cursor = CommitCursor::default();
    let mut applied = 0u64;
    loop {
        let batch = read_committed_after(&mut *tx, cursor, REPLAY_BATCH).await?;
        let Some(last) = batch.last() else { break };
        cursor = last.cursor();
        for event in &batch {
            apply(&mut tx, event).await?;
        }
        applied += batch.len() as u64;
        progress(ReplayProgress {
            applied,
            total: total.max(applied),
        });
    }
    tx.commit().await?;
    Ok(applied)
}

/// Every read model's rows as JSON, ordered by id: two snapshots are equal exactly when the read
/// models hold the same data.
pub async fn snapshot(pool: &PgPool) -> Result<Value, ProjectionError> {
    let mut tables = serde_json::Map::new();
    for table in READ_MODEL_TABLES {
        let sql = format!("SELECT coalesce(json_agg(t ORDER BY t.id), '[]'::json) AS rows FROM {table} t");
        let row = sqlx::query(&sql).fetch_one(pool).await?;
        let rows: Value = row.try_get("rows")?;
        tables.insert(table.to_owned(), rows);
    }
    Ok(Value::Object(tables))
}
