//! The Postgres event store: append with optimistic concurrency, read a stream, and read every
//! committed event in commit order (for the relay and for replays).

mod append;
mod coalesce;
mod fold;
mod model;
mod read;

pub use append::{AppendQuery, AppendTransaction, ExpectedVersion, Prelude, StreamAppend, APPEND_SQL};
pub use fold::{evolve_recorded, fold_owned, fold_recorded, load, load_any, Loaded};
pub use model::{CommitCursor, EventMetadata, NewEvent, RecordedEvent, StreamRef};
pub use read::{
    first_unreadable_after, read_committed_after, read_events, read_stream_after, read_types_after,
    UnreadableEvent, EVENT_COLUMNS,
};

use coalesce::Coalescer;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// The migrations for every table Gangway owns (event store, credentials, read models).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the version the writer expected: someone else appended first.
    #[error("stream {stream_id} is not at the expected version {expected:?}")]
    Conflict {
        stream_id: Uuid,
        expected: ExpectedVersion,
    },
    #[error(transparent)]
    Codec(#[from] gangway_domain::EventCodecError),
    #[error("event store database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Handle to the event store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: PgPool,
    appended: Arc<Notify>,
    /// Shared by the clones, so that their concurrent single-stream appends share statements.
    coalescer: Arc<Coalescer>,
}

impl EventStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            coalescer: Arc::new(Coalescer::new(pool.clone())),
            pool,
            appended: Arc::new(Notify::new()),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Signalled after every commit that appended events through this handle, so an in-process
    /// relay publishes at once instead of waiting for its next poll.
    pub fn appended_signal(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// Starts a transaction that can append to several streams atomically.
    pub async fn begin(&self) -> Result<AppendTransaction, StoreError> {
        Ok(AppendTransaction::new(
            self.pool.begin().await?,
            self.appended.clone(),
        ))
    }

    /// Appends events to one stream, atomically, outside any transaction. Concurrent calls share
    /// statements (see [`coalesce`]); each gets its own outcome.
    #[tracing::instrument(skip(self, events), fields(stream = %stream.stream_id, count = events.len()))]
    pub async fn append(
        &self,
        stream: &StreamRef,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let append = StreamAppend {
            stream: stream.clone(),
            expected,
            events,
        };
        let recorded = self.coalescer.append(append).await?;
        if !recorded.is_empty() {
            self.appended.notify_one();
        }
        gangway_telemetry::store::appended(recorded.iter().map(|e| e.event_type.as_str()));
        Ok(recorded)
    }

    /// Appends together with `prelude`'s writes in one statement outside any transaction, all or
    /// nothing, so the command takes one round trip (see [`Prelude`]); `bind` adds the prelude's
    /// parameters. `None` when the prelude's condition was false or a stream was not at its
    /// expected version: nothing of the statement kept, its CTEs' writes included.
    pub async fn append_with(
        &self,
        prelude: Prelude<'_>,
        bind: impl for<'q> FnOnce(AppendQuery<'q>) -> AppendQuery<'q>,
        appends: Vec<StreamAppend>,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let Some(rows) = append::append_with(&self.pool, prelude, bind, &appends).await? else {
            return Ok(None);
        };
        let recorded = append::records(appends, &rows);
        if !recorded.is_empty() {
            self.appended.notify_one();
        }
        gangway_telemetry::store::appended(recorded.iter().map(|e| e.event_type.as_str()));
        Ok(Some(recorded))
    }

    /// Creates new streams (and extends others at their expected versions) in one statement
    /// outside any transaction: one round trip, all or nothing, however many streams.
    pub async fn append_new_streams(
        &self,
        appends: Vec<StreamAppend>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Without a condition, only a stream past its expected version stops the statement.
        let extended = appends
            .iter()
            .find(|a| a.expected != ExpectedVersion::NoStream)
            .map(|a| (a.stream.stream_id, a.expected));
        match (
            self.append_with(Prelude::NONE, |query| query, appends).await?,
            extended,
        ) {
            (Some(recorded), _) => Ok(recorded),
            (None, Some((stream_id, expected))) => Err(StoreError::Conflict { stream_id, expected }),
            (None, None) => Err(StoreError::Database(sqlx::Error::Protocol(
                "an unconditional append of new streams appended nothing".into(),
            ))),
        }
    }

    /// Every event of one stream, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        read::read_stream(&self.pool, stream_id, 0).await
    }
}
