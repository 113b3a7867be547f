//! `gangway republish`: stored events back onto JetStream, as the relay publishes them
//! (`Nats-Msg-Id` = event id, and marked as republished), in commit order. JetStream drops an event it still holds within its
//! duplicate window; past it, consumers skip what they already applied.

use crate::progress;
use async_nats::jetstream::context::PublishAckFuture;
use gangway_bus::{Bus, BusError};
use gangway_event_store::RecordedEvent;
use sqlx::PgPool;

const BATCH: i64 = 500;

const COLUMNS: &str = "position, transaction_id::text::bigint AS transaction_id, event_id, \
    stream_type, stream_id, stream_version, event_type, schema_version, payload, organization_id, \
    causation_id, correlation_id, occurred_at, recorded_at";

/// The events at positions `from..=to`, then published.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Republished {
    pub events: u64,
    /// Stored by JetStream as new messages.
    pub stored: u64,
    /// Dropped by JetStream as duplicates of messages it still holds.
    pub duplicates: u64,
}

pub async fn run(pool: &PgPool, bus: &Bus, from: i64, to: Option<i64>) -> anyhow::Result<()> {
    let to = to.unwrap_or(i64::MAX);
    // The range's bounds in commit order, so the read below walks only that part of the
    // commit-order index.
    let (count, first_tx, last_tx): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT count(*), min(transaction_id)::text::bigint, max(transaction_id)::text::bigint \
         FROM events WHERE position BETWEEN $1 AND $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let (Some(first_tx), Some(last_tx)) = (first_tx, last_tx) else {
        println!("no stored events between positions {from} and {}", shown(to));
        return Ok(());
    };
    let bar = progress::bar(count as u64, "events");
    let mut done = Republished::default();
    let mut cursor = (first_tx, 0i64);
    loop {
        let batch: Vec<RecordedEvent> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events \
             WHERE position BETWEEN $1 AND $2 \
               AND (transaction_id, position) > ($3::text::xid8, $4) \
               AND transaction_id <= $5::text::xid8 \
             ORDER BY events.transaction_id, events.position LIMIT $6"
        ))
        .bind(from)
        .bind(to)
        .bind(cursor.0.to_string())
        .bind(cursor.1)
        .bind(last_tx.to_string())
        .bind(BATCH)
        .fetch_all(pool)
        .await?;
        let Some(last) = batch.last() else { break };
        cursor = (last.transaction_id, last.position);
        // As the relay does: pipeline the publishes, then wait for every ack.
        let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(batch.len());
        for event in &batch {
            acks.push(bus.republish(event).await?);
        }
        for ack in acks {
            let ack = ack.await.map_err(|e| BusError::JetStream(e.to_string()))?;
            if ack.duplicate {
                done.duplicates += 1;
            } else {
                done.stored += 1;
            }
        }
        done.events += batch.len() as u64;
        bar.set_length(bar.length().unwrap_or(0).max(done.events));
        bar.set_position(done.events);
    }
    bar.finish_and_clear();
    println!(
        "republished {} events (positions {from} to {}) to stream {}: {} stored, {} dropped by \
         JetStream as duplicates it still held",
        done.events,
        shown(to),
        bus.names().stream,
        done.stored,
        done.duplicates
    );
    Ok(())
}

fn shown(to: i64) -> String {
    if to == i64::MAX {
        "the last".into()
    } else {
        to.to_string()
    }
}
