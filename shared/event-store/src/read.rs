use crate::{CommitCursor, RecordedEvent, StoreError};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The columns a [`RecordedEvent`] is read from, for queries that find a stream by a join.
pub const EVENT_COLUMNS: &str = "position, transaction_id::text::bigint AS transaction_id, event_id, \
    stream_type, stream_id, stream_version, event_type, schema_version, payload, organization_id, \
    causation_id, correlation_id, occurred_at, recorded_at";

/// Events of one stream with a version above `after_version`, oldest first.
pub(crate) async fn read_stream(
    db: impl PgExecutor<'_>,
    stream_id: Uuid,
    after_version: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
         ORDER BY stream_version"
    );
    Ok(sqlx::query_as(&sql)
        .bind(stream_id)
        .bind(after_version)
        .fetch_all(db)
        .await?)
}

/// Up to `limit` committed events after `cursor`, in commit order.
///
/// Only transactions older than the oldest transaction still in progress are read
/// (`pg_snapshot_xmin`): an event whose transaction is still open, and so every event of a later
/// transaction that might commit before it, waits for the next call. That is what prevents the gap
/// problem: a reader never moves its cursor past an event that has yet to become visible.
///
/// The order names the table's columns: the bare names would mean the output columns, where the
/// transaction id is cast to bigint, which no index serves, so every call would sort the whole
/// rest of the store.
pub async fn read_committed_after(
    db: impl PgExecutor<'_>,
    cursor: CommitCursor,
    limit: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events \
         WHERE (transaction_id, position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.transaction_id, events.position \
         LIMIT $3"
    );
    Ok(sqlx::query_as(&sql)
        .bind(cursor.transaction_id.to_string())
        .bind(cursor.position)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

/// A committed event whose payload this process cannot parse (e.g. nested deeper than the JSON
/// parser allows): what is known of it without its payload.
#[derive(Clone, Debug)]
pub struct UnreadableEvent {
    pub cursor: CommitCursor,
    pub event_id: Uuid,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub event_type: String,
    pub organization_id: Uuid,
    pub error: String,
}

/// Of the (up to `limit`) committed events after `cursor`, the first whose payload does not
/// parse, with how many events before it do. For a reader whose batch failed to decode: it can
/// deal with the events before that one, then with that one alone.
pub async fn first_unreadable_after(
    db: impl PgExecutor<'_>,
    cursor: CommitCursor,
    limit: i64,
) -> Result<Option<(usize, UnreadableEvent)>, StoreError> {
    type Row = (i64, i64, Uuid, Uuid, i64, String, Uuid, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position, event_id, stream_id, stream_version, \
                event_type, organization_id, payload::text FROM events \
         WHERE (transaction_id, position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.transaction_id, events.position \
         LIMIT $3",
    )
    .bind(cursor.transaction_id.to_string())
    .bind(cursor.position)
    .bind(limit)
    .fetch_all(db)
    .await?;
    for (index, row) in rows.into_iter().enumerate() {
        let (transaction_id, position, event_id, stream_id, stream_version, event_type, org, payload) = row;
        if let Err(error) = serde_json::from_str::<serde_json::Value>(&payload) {
            let cursor = CommitCursor {
                transaction_id,
                position,
            };
            return Ok(Some((
                index,
                UnreadableEvent {
                    cursor,
                    event_id,
                    stream_id,
                    stream_version,
                    event_type,
                    organization_id: org,
                    error: format!("the payload does not parse: {error}"),
                },
            )));
        }
    }
    Ok(None)
}

/// Events of one stream after `after_version`, for readers that found a gap.
pub async fn read_stream_after(
    db: impl PgExecutor<'_>,
    stream_id: Uuid,
    after_version: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    read_stream(db, stream_id, after_version).await
}

/// The events with these ids, in the order they were appended.
pub async fn read_events(
    db: impl PgExecutor<'_>,
    event_ids: &[Uuid],
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1) ORDER BY position");
    Ok(sqlx::query_as(&sql).bind(event_ids).fetch_all(db).await?)
}

/// Up to `limit` events of `event_types` after global position `after`, in position order.
pub async fn read_types_after(
    db: impl PgExecutor<'_>,
    after: i64,
    event_types: &[&str],
    limit: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 AND event_type = ANY($2) \
         ORDER BY position LIMIT $3"
    );
    Ok(sqlx::query_as(&sql)
        .bind(after)
        .bind(event_types)
        .bind(limit)
        .fetch_all(db)
        .await?)
}
