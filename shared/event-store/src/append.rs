use crate::{NewEvent, RecordedEvent, StoreError, StreamRef};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, Transaction};
use std::sync::Arc;
use tokio::sync::Notify;

/// The version a writer expects a stream to be at before its append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(i64),
}

impl ExpectedVersion {
    fn as_version(self) -> i64 {
        match self {
            Self::NoStream => 0,
            Self::Exact(v) => v,
        }
    }
}

/// A transaction that appends to one or more streams and commits them together.
pub struct AppendTransaction {
    tx: Transaction<'static, Postgres>,
    appended: Arc<Notify>,
    wrote: bool,
}

// One statement appends a whole batch. It inserts versions expected+1.. and only if the stream
// is exactly at `expected`: the EXISTS guard catches a stream that is behind, and the unique
// (stream_id, stream_version) constraint catches one that is ahead, including a concurrent writer
// that has not committed yet (the insert waits for it, then fails or proceeds).
//
// The guard also requires the previous event's transaction id to be no newer than ours. Readers
// order events by transaction id; a transaction that got its id early, then read a version that a
// newer transaction committed, would otherwise be published before the version it builds on. It
// gets a conflict instead, and its retry runs under a fresh, newer transaction id.
const APPEND_SQL: &str = r#"
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version,
                    payload, organization_id, causation_id, correlation_id, occurred_at)
SELECT e.event_id, $1, $2, $3 + e.ord, e.event_type, e.schema_version,
       e.payload, e.organization_id, e.causation_id, e.correlation_id, e.occurred_at
FROM unnest($4::uuid[], $5::text[], $6::smallint[], $7::jsonb[], $8::uuid[], $9::uuid[],
            $10::uuid[], $11::timestamptz[])
     WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, organization_id,
                          causation_id, correlation_id, occurred_at, ord)
WHERE $3 = 0 OR EXISTS (SELECT 1 FROM events WHERE stream_id = $2 AND stream_version = $3
                                       AND transaction_id <= pg_current_xact_id())
ORDER BY e.ord
RETURNING position, transaction_id::text::bigint, stream_version, recorded_at
"#;

impl AppendTransaction {
    pub(crate) fn new(tx: Transaction<'static, Postgres>, appended: Arc<Notify>) -> Self {
        Self {
            tx,
            appended,
            wrote: false,
        }
    }

    /// Appends events to one stream inside this transaction.
    pub async fn append(
        &mut self,
        stream: &StreamRef,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let recorded = append_events(&mut *self.tx, stream, expected, events).await?;
        self.wrote |= !recorded.is_empty();
        Ok(recorded)
    }

    /// The underlying connection, for writes that must commit together with the events
    /// (credentials, uniqueness claims, vault entries).
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        if self.wrote {
            self.appended.notify_one();
        }
        Ok(())
    }
}

/// Runs the append statement on `db`. On its own (outside a transaction) the single statement is
/// atomic, which saves the BEGIN and COMMIT round trips for single-stream appends.
pub(crate) async fn append_events(
    db: impl PgExecutor<'_>,
    stream: &StreamRef,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let n = events.len();
    let mut ids = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut schemas = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut orgs = Vec::with_capacity(n);
    let mut causes = Vec::with_capacity(n);
    let mut correlations = Vec::with_capacity(n);
    let mut occurred = Vec::with_capacity(n);
    for e in &events {
        ids.push(e.event_id);
        types.push(e.event_type.as_str());
        schemas.push(e.schema_version);
        payloads.push(&e.payload);
        orgs.push(e.metadata.organization_id);
        causes.push(e.metadata.causation_id);
        correlations.push(e.metadata.correlation_id);
        occurred.push(e.metadata.occurred_at);
    }
    // Only what the database decides comes back; the rest of each record is what was sent.
    let result = sqlx::query_as::<_, (i64, i64, i64, DateTime<Utc>)>(APPEND_SQL)
        .bind(&stream.stream_type)
        .bind(stream.stream_id)
        .bind(expected.as_version())
        .bind(&ids)
        .bind(&types)
        .bind(&schemas)
        .bind(&payloads)
        .bind(&orgs)
        .bind(&causes)
        .bind(&correlations)
        .bind(&occurred)
        .fetch_all(db)
        .await
        .map(|rows| {
            rows.into_iter()
                .zip(events)
                .map(
                    |((position, transaction_id, stream_version, recorded_at), e)| RecordedEvent {
                        position,
                        transaction_id,
                        event_id: e.event_id,
                        stream_type: stream.stream_type.clone(),
                        stream_id: stream.stream_id,
                        stream_version,
                        event_type: e.event_type,
                        schema_version: e.schema_version,
                        payload: e.payload,
                        organization_id: e.metadata.organization_id,
                        causation_id: e.metadata.causation_id,
                        correlation_id: e.metadata.correlation_id,
                        occurred_at: e.metadata.occurred_at,
                        recorded_at,
                    },
                )
                .collect::<Vec<_>>()
        });
    let conflict = || StoreError::Conflict {
        stream_id: stream.stream_id,
        expected,
    };
    match result {
        Ok(rows) if rows.len() == n => Ok(rows),
        Ok(_) => Err(conflict()),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("events_stream_version_unique") => {
            Err(conflict())
        }
        Err(e) => Err(e.into()),
    }
}
