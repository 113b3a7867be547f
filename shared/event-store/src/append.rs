use crate::{NewEvent, RecordedEvent, StoreError, StreamRef};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, Transaction};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

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

/// Events for one stream, appended only if the stream is at `expected`.
#[derive(Clone, Debug)]
pub struct StreamAppend {
    pub stream: StreamRef,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// A transaction that appends to one or more streams and commits them together.
pub struct AppendTransaction {
    tx: Transaction<'static, Postgres>,
    appended: Arc<Notify>,
    wrote: bool,
    failed: bool,
    /// Types of the events appended so far, counted in metrics once they commit.
    event_types: Vec<String>,
}

// One statement appends every event of a command, across streams. Each row inserts version
// expected+offset of its stream, and only if that stream is exactly at `expected`: the EXISTS guard
// drops the rows of a stream that is behind, and the unique (stream_id, stream_version) constraint
// rejects one that is ahead, including a concurrent writer that has not committed yet (the insert
// waits for it, then fails or proceeds).
//
// The guard also requires the previous event's transaction id to be no newer than ours. Readers
// order events by transaction id; a transaction that got its id early, then read a version that a
// newer transaction committed, would otherwise be published before the version it builds on. It
// gets a conflict instead, and its retry runs under a fresh, newer transaction id.
/// Public for tools that run the statement outside this crate (the benchmark runs it in pgbench).
pub const APPEND_SQL: &str = r#"
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version,
                    payload, organization_id, causation_id, correlation_id, occurred_at)
SELECT e.event_id, e.stream_type, e.stream_id, e.expected + e.stream_offset, e.event_type,
       e.schema_version, e.payload, e.organization_id, e.causation_id, e.correlation_id,
       e.occurred_at
FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::bigint[], $5::uuid[], $6::text[],
            $7::smallint[], $8::jsonb[], $9::uuid[], $10::uuid[], $11::uuid[], $12::timestamptz[])
     WITH ORDINALITY AS e(stream_type, stream_id, expected, stream_offset, event_id, event_type,
                          schema_version, payload, organization_id, causation_id, correlation_id,
                          occurred_at, ord)
WHERE e.expected = 0
   OR EXISTS (SELECT 1 FROM events p
              WHERE p.stream_id = e.stream_id AND p.stream_version = e.expected
                AND p.transaction_id <= pg_current_xact_id())
ORDER BY e.ord
RETURNING event_id, position, transaction_id::text::bigint, stream_version, recorded_at
"#;

impl AppendTransaction {
    pub(crate) fn new(tx: Transaction<'static, Postgres>, appended: Arc<Notify>) -> Self {
        Self {
            tx,
            appended,
            wrote: false,
            failed: false,
            event_types: Vec::new(),
        }
    }

    /// Appends events to one stream inside this transaction.
    pub async fn append(
        &mut self,
        stream: &StreamRef,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.append_all(vec![StreamAppend {
            stream: stream.clone(),
            expected,
            events,
        }])
        .await
    }

    /// Appends to several streams in one statement; all or none of them.
    ///
    /// After a conflict the transaction must not be committed (some streams' rows may be in), so
    /// [`AppendTransaction::commit`] then refuses.
    pub async fn append_all(&mut self, appends: Vec<StreamAppend>) -> Result<Vec<RecordedEvent>, StoreError> {
        let result = append_events(&mut *self.tx, appends).await;
        match &result {
            Ok(recorded) => {
                self.wrote |= !recorded.is_empty();
                self.event_types
                    .extend(recorded.iter().map(|e| e.event_type.clone()));
            }
            Err(_) => self.failed = true,
        }
        result
    }

    /// The underlying connection, for writes that must commit together with the events
    /// (credentials, uniqueness claims, vault entries).
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        if self.failed {
            return Err(sqlx::Error::Protocol(
                "an append in this transaction failed; it was rolled back".into(),
            )
            .into());
        }
        self.tx.commit().await?;
        if self.wrote {
            self.appended.notify_one();
        }
        gangway_telemetry::store::appended(self.event_types.iter().map(String::as_str));
        Ok(())
    }
}

/// Runs the append statement on `db`. Outside a transaction, call it with one stream only: the
/// statement is then atomic on its own, which saves the BEGIN and COMMIT round trips.
pub(crate) async fn append_events(
    db: impl PgExecutor<'_>,
    appends: Vec<StreamAppend>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let n: usize = appends.iter().map(|a| a.events.len()).sum();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut stream_types = Vec::with_capacity(n);
    let mut stream_ids = Vec::with_capacity(n);
    let mut expected = Vec::with_capacity(n);
    let mut offsets = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut schemas = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut orgs = Vec::with_capacity(n);
    let mut causes = Vec::with_capacity(n);
    let mut correlations = Vec::with_capacity(n);
    let mut occurred = Vec::with_capacity(n);
    for append in &appends {
        for (offset, e) in (1i64..).zip(&append.events) {
            stream_types.push(append.stream.stream_type.as_str());
            stream_ids.push(append.stream.stream_id);
            expected.push(append.expected.as_version());
            offsets.push(offset);
            ids.push(e.event_id);
            types.push(e.event_type.as_str());
            schemas.push(e.schema_version);
            payloads.push(&e.payload);
            orgs.push(e.metadata.organization_id.as_uuid());
            causes.push(e.metadata.causation_id);
            correlations.push(e.metadata.correlation_id);
            occurred.push(e.metadata.occurred_at);
        }
    }
    // Only what the database decides comes back; the rest of each record is what was sent.
    let result = sqlx::query_as::<_, (Uuid, i64, i64, i64, DateTime<Utc>)>(APPEND_SQL)
        .bind(&stream_types)
        .bind(&stream_ids)
        .bind(&expected)
        .bind(&offsets)
        .bind(&ids)
        .bind(&types)
        .bind(&schemas)
        .bind(&payloads)
        .bind(&orgs)
        .bind(&causes)
        .bind(&correlations)
        .bind(&occurred)
        .fetch_all(db)
        .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("events_stream_version_unique") => {
            // The stream the constraint names is not reported portably; name the first one.
            return Err(conflict(&appends[0]));
        }
        Err(e) => return Err(e.into()),
    };
    if rows.len() != n {
        let missing = appends
            .iter()
            .find(|a| a.events.iter().any(|e| !rows.iter().any(|r| r.0 == e.event_id)))
            .unwrap_or(&appends[0]);
        return Err(conflict(missing));
    }
    let mut recorded = Vec::with_capacity(n);
    for append in appends {
        for e in append.events {
            let &(_, position, transaction_id, stream_version, recorded_at) = rows
                .iter()
                .find(|r| r.0 == e.event_id)
                .expect("every appended event is returned");
            recorded.push(RecordedEvent {
                position,
                transaction_id,
                event_id: e.event_id,
                stream_type: append.stream.stream_type.clone(),
                stream_id: append.stream.stream_id,
                stream_version,
                event_type: e.event_type,
                schema_version: e.schema_version,
                payload: e.payload,
                organization_id: e.metadata.organization_id,
                causation_id: e.metadata.causation_id,
                correlation_id: e.metadata.correlation_id,
                occurred_at: e.metadata.occurred_at,
                recorded_at,
            });
        }
    }
    Ok(recorded)
}

fn conflict(append: &StreamAppend) -> StoreError {
    StoreError::Conflict {
        stream_id: append.stream.stream_id,
        expected: append.expected,
    }
}
