//! The relay: the one publisher from the event store to JetStream.
//!
//! It reads committed events in commit order ([`read_committed_after`]), publishes each with
//! `Nats-Msg-Id` = event id, waits for JetStream's acks, then moves its checkpoint. A Postgres
//! advisory lock, held by the relay's own connection, makes sure only one relay publishes at a
//! time; when that connection dies the lock goes with it and another replica takes over.

mod horizon;
mod status;

pub use horizon::{held_back, oldest_transaction, Blocker};
pub use status::{relay_status, RelayStatus};

use gangway_bus::{Bus, BusError};
use gangway_event_store::{
    first_unreadable_after, read_committed_after, CommitCursor, RecordedEvent, StoreError, UnreadableEvent,
};
use gangway_retry::Schedule;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Advisory lock key space for relays: the lock key is this plus a hash of the relay's name.
const LOCK_NAMESPACE: i32 = 0x6777_7972; // "gwyr"

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("relay database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Bus(#[from] BusError),
}

#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Checkpoint and lock name; relays with the same name take turns.
    pub name: String,
    /// How often to look for events appended by other processes.
    pub poll_interval: Duration,
    /// Most events published per step.
    pub batch_size: i64,
    /// How long committed events may wait behind another open transaction before the relay
    /// names that transaction in a warning.
    pub stall_warning: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            poll_interval: Duration::from_millis(10),
            batch_size: 500,
            stall_warning: Duration::from_secs(5),
        }
    }
}

pub struct Relay {
    connect: PgConnectOptions,
    bus: Bus,
    wake: Arc<Notify>,
    config: RelayConfig,
    leading: Arc<AtomicBool>,
}

/// A relay that holds the publishing lock. Dropping it (or losing its connection) releases it.
pub struct LeadingRelay<'a> {
    relay: &'a Relay,
    conn: PgConnection,
    cursor: CommitCursor,
    /// The cursor as last written to `relay_checkpoints`, and when.
    saved: (CommitCursor, Instant),
    /// When the horizon was last looked at, and when a stall was last reported.
    horizon_checked: Instant,
    stall_reported: Option<Instant>,
}

/// How soon a relay looks again after a wake-up whose events it could not publish yet, doubling
/// up to [`HELD_BACK_MAX`], for as long as one poll interval.
const HELD_BACK_RETRY: Duration = Duration::from_millis(1);

/// The longest wait between two looks at held-back events: once the transaction holding them
/// ends, however long it took, they go out within this.
const HELD_BACK_MAX: Duration = Duration::from_millis(100);

/// How often an idle leading relay checks whether events wait behind another transaction.
const HORIZON_CHECK: Duration = Duration::from_secs(1);

/// How often a stall that goes on is reported again.
const STALL_REPEAT: Duration = Duration::from_secs(30);

/// How often a busy relay writes its checkpoint. A restarted relay publishes again what came after
/// it; JetStream drops those repeats within its duplicate window (10 minutes), and consumers skip
/// events they have applied.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// How often a relay that is not leading (or stopped) tries to take the lead.
const LEAD_RETRY: Schedule = Schedule::constant(Duration::from_millis(500));

impl Relay {
    /// `wake` is signalled by appends in this process (see `EventStore::appended_signal`).
    pub fn new(connect: PgConnectOptions, bus: Bus, wake: Arc<Notify>, config: RelayConfig) -> Self {
        Self {
            connect,
            bus,
            wake,
            config,
            leading: Arc::default(),
        }
    }

    /// Whether this relay holds the publishing lock now, kept up to date by [`Relay::run`].
    pub fn leading(&self) -> Arc<AtomicBool> {
        self.leading.clone()
    }

    fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Relaxed);
        gangway_telemetry::store::leading(leading);
    }

    /// Tries once to become the publishing relay; `None` while another relay holds the lock.
    pub async fn try_lead(&self) -> Result<Option<LeadingRelay<'_>>, RelayError> {
        let mut conn = PgConnection::connect_with(&self.connect).await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LOCK_NAMESPACE)
            .bind(&self.config.name)
            .fetch_one(&mut conn)
            .await?;
        if !locked {
            conn.close().await.ok();
            return Ok(None);
        }
        // The checkpoint trails what was published by up to CHECKPOINT_INTERVAL; what is sent
        // again is dropped by JetStream (same Nats-Msg-Id) or skipped by consumers. Resuming from
        // the stream's last message instead would be wrong: after a broken connection, a message
        // can be lost while later ones of the same batch were stored.
        let cursor = load_checkpoint(&mut conn, &self.config.name).await?;
        tracing::info!(relay = %self.config.name, ?cursor, "relay is leading");
        Ok(Some(LeadingRelay {
            relay: self,
            conn,
            cursor,
            saved: (cursor, Instant::now()),
            horizon_checked: Instant::now(),
            stall_reported: None,
        }))
    }

    /// Runs until cancelled: waits for the lock, publishes, and starts over after any error.
    pub async fn run(&self, cancel: CancellationToken) {
        self.set_leading(false);
        while !cancel.is_cancelled() {
            match self.try_lead().await {
                Ok(Some(mut leading)) => {
                    self.set_leading(true);
                    if let Err(error) = leading.run(&cancel).await {
                        tracing::warn!(%error, "relay stopped leading; retrying");
                    }
                    self.set_leading(false);
                }
                Ok(None) => tracing::debug!("another relay is publishing"),
                Err(error) => tracing::warn!(%error, "relay could not start; retrying"),
            }
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(LEAD_RETRY.delay(1).unwrap_or_default()) => {}
            }
        }
    }
}

impl LeadingRelay<'_> {
    pub fn cursor(&self) -> CommitCursor {
        self.cursor
    }

    /// Publishes the next batch of committed events and moves the cursor past them (the
    /// checkpoint follows within [`CHECKPOINT_INTERVAL`], or call [`LeadingRelay::save`]).
    /// Returns how many were published.
    pub async fn step(&mut self) -> Result<usize, RelayError> {
        let limit = self.relay.config.batch_size;
        let batch = match read_committed_after(&mut self.conn, self.cursor, limit).await {
            Ok(batch) => batch,
            Err(StoreError::Database(error)) if is_decode_error(&error) => {
                let Some((readable, unreadable)) =
                    first_unreadable_after(&mut self.conn, self.cursor, limit).await?
                else {
                    return Err(StoreError::Database(error).into());
                };
                if readable == 0 {
                    self.set_aside(&unreadable).await?;
                    return Ok(1);
                }
                // The events before it are published as usual; the next step meets it first.
                read_committed_after(&mut self.conn, self.cursor, readable as i64).await?
            }
            Err(error) => return Err(error.into()),
        };
        let Some(last) = batch.last().map(RecordedEvent::cursor) else {
            return Ok(0);
        };
        // Pipeline the publishes, then wait for every ack, in order.
        let mut acks = Vec::with_capacity(batch.len());
        for event in &batch {
            acks.push(self.relay.bus.publish(event).await?);
        }
        for ack in acks {
            ack.await.map_err(|e| BusError::JetStream(e.to_string()))?;
        }
        gangway_telemetry::store::published(batch.iter().map(|e| e.recorded_at));
        self.cursor = last;
        Ok(batch.len())
    }

    /// Moves past an event no reader could parse, recording it as the relay's dead letter:
    /// publishing it would stop every consumer at it, and not moving past it would stop the
    /// relay, for every organization.
    async fn set_aside(&mut self, event: &UnreadableEvent) -> Result<(), RelayError> {
        tracing::error!(
            event_id = %event.event_id,
            event_type = %event.event_type,
            stream_id = %event.stream_id,
            organization_id = %event.organization_id,
            error = %event.error,
            "an event cannot be read; it is not published and is kept as the relay's dead letter"
        );
        gangway_dead_letters::record_unpublishable(&mut self.conn, event).await?;
        self.cursor = event.cursor;
        self.save().await
    }

    /// Writes the checkpoint if it moved since the last write.
    pub async fn save(&mut self) -> Result<(), RelayError> {
        if self.saved.0 != self.cursor {
            save_checkpoint(&mut self.conn, &self.relay.config.name, self.cursor).await?;
        }
        self.saved = (self.cursor, Instant::now());
        Ok(())
    }

    async fn run(&mut self, cancel: &CancellationToken) -> Result<(), RelayError> {
        let poll = self.relay.config.poll_interval;
        // After a wake-up that published nothing, the events it announced are held back by
        // another open transaction (the horizon): look again soon and then at most every
        // `HELD_BACK_MAX`, for as long as one poll interval, rather than only at the next poll.
        // (The next wait, and when the wake-up came.)
        let mut held_back: Option<(Duration, Instant)> = None;
        while !cancel.is_cancelled() {
            let published = self.step().await?;
            if self.saved.1.elapsed() >= CHECKPOINT_INTERVAL {
                self.save().await?;
            }
            if published > 0 {
                held_back = None;
                continue;
            }
            if self.horizon_checked.elapsed() >= HORIZON_CHECK {
                self.check_horizon().await?;
            }
            let wait = held_back.map_or(poll, |(wait, _)| wait);
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = self.relay.wake.notified() => {
                    held_back = Some((HELD_BACK_RETRY.min(poll), Instant::now()));
                }
                _ = tokio::time::sleep(wait) => {
                    held_back = held_back
                        .map(|(wait, since)| ((wait * 2).min(HELD_BACK_MAX), since))
                        .filter(|(_, since)| since.elapsed() < poll);
                }
            }
        }
        self.save().await
    }
}

impl LeadingRelay<'_> {
    /// Reports (as a gauge, and past `stall_warning` as a warning naming the transaction) how long
    /// committed events have waited behind another open transaction.
    async fn check_horizon(&mut self) -> Result<(), RelayError> {
        self.horizon_checked = Instant::now();
        let waited = held_back(&mut self.conn, self.cursor).await?.unwrap_or_default();
        gangway_telemetry::store::held_back(waited);
        if waited < self.relay.config.stall_warning {
            self.stall_reported = None;
            return Ok(());
        }
        if self.stall_reported.is_some_and(|at| at.elapsed() < STALL_REPEAT) {
            return Ok(());
        }
        self.stall_reported = Some(Instant::now());
        match oldest_transaction(&mut self.conn).await? {
            Some(blocker) => tracing::warn!(
                waited_seconds = waited.as_secs_f64(),
                pid = blocker.pid,
                database = blocker.database.as_deref().unwrap_or("?"),
                application = blocker.application.as_deref().unwrap_or(""),
                state = blocker.state.as_deref().unwrap_or("?"),
                age_seconds = blocker.age_seconds,
                query = blocker.query.as_deref().unwrap_or(""),
                "publishing waits for an open transaction elsewhere in the cluster"
            ),
            None => tracing::warn!(
                waited_seconds = waited.as_secs_f64(),
                "publishing waits for an open transaction elsewhere in the cluster"
            ),
        }
        Ok(())
    }
}

async fn load_checkpoint(conn: &mut PgConnection, name: &str) -> Result<CommitCursor, RelayError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM relay_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|(transaction_id, position)| CommitCursor {
            transaction_id,
            position,
        })
        .unwrap_or_default())
}

async fn save_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    cursor: CommitCursor,
) -> Result<(), RelayError> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (name, transaction_id, position, updated_at) \
         VALUES ($1, $2::text::xid8, $3, now()) \
         ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, \
             position = EXCLUDED.position, updated_at = now()",
    )
    .bind(name)
    .bind(cursor.transaction_id.to_string())
    .bind(cursor.position)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a read failed on turning a row into an event (not on the database or the network).
fn is_decode_error(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))
}
