use crate::{NewEvent, RecordedEvent, StoreError, StreamRef};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};
use std::collections::HashMap;
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

/// The rows the append statements return: what the database decided for each event.
pub type Returned = (Uuid, i64, i64, i64, DateTime<Utc>);
pub type AppendQuery<'q> = QueryAs<'q, Postgres, Returned, PgArguments>;

/// The events of `appends` as the twelve column arrays both append statements take ($1-$12).
struct Columns<'a> {
    stream_types: Vec<&'a str>,
    stream_ids: Vec<Uuid>,
    expected: Vec<i64>,
    offsets: Vec<i64>,
    ids: Vec<Uuid>,
    types: Vec<&'a str>,
    schemas: Vec<i16>,
    payloads: Vec<&'a serde_json::Value>,
    orgs: Vec<Uuid>,
    causes: Vec<Option<Uuid>>,
    correlations: Vec<Uuid>,
    occurred: Vec<DateTime<Utc>>,
}

impl<'a> Columns<'a> {
    fn of(appends: &'a [StreamAppend]) -> Self {
        let n: usize = appends.iter().map(|a| a.events.len()).sum();
        let mut c = Columns {
            stream_types: Vec::with_capacity(n),
            stream_ids: Vec::with_capacity(n),
            expected: Vec::with_capacity(n),
            offsets: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            types: Vec::with_capacity(n),
            schemas: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            orgs: Vec::with_capacity(n),
            causes: Vec::with_capacity(n),
            correlations: Vec::with_capacity(n),
            occurred: Vec::with_capacity(n),
        };
        for append in appends {
            for (offset, e) in (1i64..).zip(&append.events) {
                c.stream_types.push(append.stream.stream_type.as_str());
                c.stream_ids.push(append.stream.stream_id);
                c.expected.push(append.expected.as_version());
                c.offsets.push(offset);
                c.ids.push(e.event_id);
                c.types.push(e.event_type.as_str());
                c.schemas.push(e.schema_version);
                c.payloads.push(&e.payload);
                c.orgs.push(e.metadata.organization_id.as_uuid());
                c.causes.push(e.metadata.causation_id);
                c.correlations.push(e.metadata.correlation_id);
                c.occurred.push(e.metadata.occurred_at);
            }
        }
        c
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn bind<'q>(&'q self, query: AppendQuery<'q>) -> AppendQuery<'q> {
        query
            .bind(&self.stream_types)
            .bind(&self.stream_ids)
            .bind(&self.expected)
            .bind(&self.offsets)
            .bind(&self.ids)
            .bind(&self.types)
            .bind(&self.schemas)
            .bind(&self.payloads)
            .bind(&self.orgs)
            .bind(&self.causes)
            .bind(&self.correlations)
            .bind(&self.occurred)
    }
}

/// Runs the append statement on `db`. Outside a transaction, call it with one stream only: the
/// statement is then atomic on its own, which saves the BEGIN and COMMIT round trips.
pub(crate) async fn append_events(
    db: impl PgExecutor<'_>,
    appends: Vec<StreamAppend>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let columns = Columns::of(&appends);
    if columns.len() == 0 {
        return Ok(Vec::new());
    }
    let result = columns
        .bind(sqlx::query_as::<_, Returned>(APPEND_SQL))
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
    let n = columns.len();
    drop(columns);
    if rows.len() != n {
        let missing = appends
            .iter()
            .find(|a| a.events.iter().any(|e| !rows.iter().any(|r| r.0 == e.event_id)))
            .unwrap_or(&appends[0]);
        return Err(conflict(missing));
    }
    Ok(records(appends, &rows))
}

/// The SQLSTATE of `gangway_refuse_statement()` (see its migration).
const REFUSED: &str = "GW409";

/// Work that must commit together with an append, done by the append's own statement, so that a
/// command takes one round trip with no `BEGIN` and no `COMMIT`: data-modifying CTEs, and a
/// condition over them that decides whether the events are appended.
pub struct Prelude<'a> {
    /// `name AS (...)[, name AS (...)]`, their parameters numbered from `$13` (the append's
    /// twelve come first); empty for none.
    pub ctes: &'a str,
    /// An SQL boolean over the CTEs, e.g. `EXISTS (SELECT 1 FROM claim)`.
    pub condition: &'a str,
}

impl Prelude<'_> {
    /// No other writes: the events alone, always appended.
    pub const NONE: Prelude<'static> = Prelude {
        ctes: "",
        condition: "true",
    };
}

/// Appends with `prelude` in one statement outside any transaction, all or nothing; `bind` adds
/// the prelude's parameters. `None` when the prelude's condition was false or a stream was not at
/// the version its append expects: then the statement failed as a whole, and nothing it wrote (its
/// CTEs' claims included) is kept. A stream that moved on concurrently, past the statement's
/// snapshot, is a [`StoreError::Conflict`].
///
/// A stream's expected version holds when it is the stream's last version, written by a
/// transaction no newer than ours (as in [`APPEND_SQL`]).
pub(crate) async fn append_with(
    db: impl PgExecutor<'_>,
    prelude: Prelude<'_>,
    bind: impl for<'q> FnOnce(AppendQuery<'q>) -> AppendQuery<'q>,
    appends: &[StreamAppend],
) -> Result<Option<Vec<Returned>>, StoreError> {
    // The CTEs' writes happen whatever the insert does; `gangway_refuse_statement()` fails the
    // statement, so that they are undone when the events are not appended.
    let sql = format!(
        "WITH {ctes}{separator}expected_versions AS ( \
             SELECT NOT EXISTS ( \
                 SELECT 1 FROM unnest($2::uuid[], $3::bigint[]) AS s(stream_id, expected) \
                 WHERE s.expected > 0 AND NOT EXISTS ( \
                     SELECT 1 FROM events p \
                     WHERE p.stream_id = s.stream_id AND p.stream_version = s.expected \
                       AND p.transaction_id <= pg_current_xact_id())) AS ok), \
         appended AS ( \
             INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, \
                                 schema_version, payload, organization_id, causation_id, \
                                 correlation_id, occurred_at) \
             SELECT e.event_id, e.stream_type, e.stream_id, e.expected + e.stream_offset, e.event_type, \
                    e.schema_version, e.payload, e.organization_id, e.causation_id, \
                    e.correlation_id, e.occurred_at \
             FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::bigint[], $5::uuid[], $6::text[], \
                         $7::smallint[], $8::jsonb[], $9::uuid[], $10::uuid[], $11::uuid[], \
                         $12::timestamptz[]) \
                  WITH ORDINALITY AS e(stream_type, stream_id, expected, stream_offset, event_id, \
                                       event_type, schema_version, payload, organization_id, \
                                       causation_id, correlation_id, occurred_at, ord) \
             WHERE CASE WHEN (SELECT ok FROM expected_versions) AND {condition} THEN true \
                        ELSE gangway_refuse_statement() END \
             ORDER BY e.ord \
             RETURNING event_id, position, transaction_id::text::bigint, stream_version, recorded_at) \
         SELECT * FROM appended",
        ctes = prelude.ctes,
        separator = if prelude.ctes.is_empty() { "" } else { ", " },
        condition = prelude.condition,
    );
    let columns = Columns::of(appends);
    let n = columns.len();
    let rows = match bind(columns.bind(sqlx::query_as::<_, Returned>(&sql)))
        .fetch_all(db)
        .await
    {
        Ok(rows) => rows,
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(REFUSED) => return Ok(None),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("events_stream_version_unique") => {
            return Err(conflict(&appends[0]));
        }
        Err(e) => return Err(e.into()),
    };
    debug_assert_eq!(rows.len(), n, "an append that is not refused appends every event");
    Ok(Some(rows))
}

/// The records of `appends`, completed with what the database returned for each event.
pub(crate) fn records(appends: Vec<StreamAppend>, rows: &[Returned]) -> Vec<RecordedEvent> {
    let mut recorded = Vec::with_capacity(rows.len());
    for append in appends {
        for e in append.events {
            let row = rows
                .iter()
                .find(|r| r.0 == e.event_id)
                .expect("every appended event is returned");
            recorded.push(complete(&append.stream, e, row));
        }
    }
    recorded
}

/// Runs the append statement for independent single-stream appends at once, outside any
/// transaction, and tells each append's outcome: its records, or its conflict when the guard
/// dropped its rows (its stream had moved on; the others are in). When the statement as a whole
/// fails (two of them racing for one version, or the database), the appends come back, for the
/// caller to write one by one.
pub(crate) async fn append_each(
    db: &PgPool,
    appends: Vec<StreamAppend>,
) -> Result<Vec<Result<Vec<RecordedEvent>, StoreError>>, Vec<StreamAppend>> {
    let columns = Columns::of(&appends);
    let result = columns
        .bind(sqlx::query_as::<_, Returned>(APPEND_SQL))
        .fetch_all(db)
        .await;
    drop(columns);
    let Ok(rows) = result else {
        return Err(appends);
    };
    let returned: HashMap<Uuid, Returned> = rows.into_iter().map(|row| (row.0, row)).collect();
    let outcomes = appends
        .into_iter()
        .map(|append| {
            if !append.events.iter().all(|e| returned.contains_key(&e.event_id)) {
                return Err(conflict(&append));
            }
            let StreamAppend { stream, events, .. } = append;
            Ok(events
                .into_iter()
                .map(|e| {
                    let row = returned[&e.event_id];
                    complete(&stream, e, &row)
                })
                .collect())
        })
        .collect();
    Ok(outcomes)
}

/// `e` as recorded in `stream`, with what the database returned for it.
fn complete(stream: &StreamRef, e: NewEvent, row: &Returned) -> RecordedEvent {
    let &(_, position, transaction_id, stream_version, recorded_at) = row;
    RecordedEvent {
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
    }
}

fn conflict(append: &StreamAppend) -> StoreError {
    StoreError::Conflict {
        stream_id: append.stream.stream_id,
        expected: append.expected,
    }
}
