//! `gangway redeliver`: webhook messages back in the delivery queue, through the same re-queue the
//! api's retry and recovery use. The running dispatcher sends them again under their original
//! `webhook-id`, so receivers that de-duplicate see each once.

use crate::{parse_time, progress};
use chrono::{DateTime, Utc};
use clap::Args;
use gangway_app::messages::{Requeue, Requeued};
use gangway_domain::catalog::EventType;
use gangway_domain::organization::OrganizationEvent;
use gangway_domain::webhook::EndpointEvent;
use gangway_domain::{EndpointId, OrganizationId, StreamEvent};
use sqlx::PgPool;
use uuid::Uuid;

const BATCH: i64 = 500;

#[derive(Args, Clone, Debug)]
pub struct RedeliverArgs {
    /// Messages recorded at or after this time: RFC 3339, a date, or a duration ago (2h, 7d).
    #[arg(long, value_parser = parse_time)]
    pub since: DateTime<Utc>,
    /// Messages recorded before this time (default: now).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// Only this outgoing event type, e.g. `phone_number.connected`.
    #[arg(long)]
    pub event_type: Option<String>,
    /// Only messages to this webhook endpoint.
    #[arg(long)]
    pub endpoint: Option<Uuid>,
    /// Only messages of this organization.
    #[arg(long)]
    pub org: Option<Uuid>,
    /// Only messages whose retries ran out.
    #[arg(long)]
    pub failed_only: bool,
    /// Count the matching messages and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Whether `id` starts a stream of `stream_type` in the event store.
async fn stream_exists(pool: &PgPool, id: Uuid, stream_type: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND stream_version = 1 AND stream_type = $2)",
    )
    .bind(id)
    .bind(stream_type)
    .fetch_one(pool)
    .await?)
}

async fn requeue_from(pool: &PgPool, args: RedeliverArgs) -> anyhow::Result<Requeue> {
    if let Some(until) = args.until.filter(|until| *until <= args.since) {
        anyhow::bail!("--until {until} must be after --since {}", args.since);
    }
    let event_type = args
        .event_type
        .as_deref()
        .map(|raw| {
            EventType::parse(raw).map_err(|message| anyhow::anyhow!("--event-type '{raw}': {message}"))
        })
        .transpose()?;
    if let Some(org) = args.org {
        if !stream_exists(pool, org, OrganizationEvent::STREAM_TYPE).await? {
            anyhow::bail!("--org {org}: no such organization");
        }
    }
    if let Some(endpoint) = args.endpoint {
        if !stream_exists(pool, endpoint, EndpointEvent::STREAM_TYPE).await? {
            anyhow::bail!("--endpoint {endpoint}: no such webhook endpoint");
        }
    }
    Ok(Requeue {
        organization: args.org.map(OrganizationId::from_uuid),
        message: None,
        endpoint: args.endpoint.map(EndpointId::from_uuid),
        event_type,
        failed_only: args.failed_only,
        created_from: Some(args.since),
        // A fixed end, so messages recorded while this runs are not walked into.
        created_before: Some(args.until.unwrap_or_else(Utc::now)),
    })
}

pub async fn run(pool: &PgPool, args: RedeliverArgs) -> anyhow::Result<()> {
    let dry_run = args.dry_run;
    let requeue = requeue_from(pool, args).await?;
    let total = requeue.count(pool).await?;
    if dry_run {
        println!("{total} webhook messages match; nothing changed (dry run)");
        return Ok(());
    }
    let bar = progress::bar(total as u64, "messages");
    let mut done = Requeued::default();
    loop {
        let batch = requeue.run_batch(pool, done.last, BATCH).await?;
        if batch.matched == 0 {
            break;
        }
        done.matched += batch.matched;
        done.requeued += batch.requeued;
        done.last = batch.last;
        bar.set_length(bar.length().unwrap_or(0).max(done.matched));
        bar.set_position(done.matched);
    }
    bar.finish_and_clear();
    println!(
        "{} webhook messages queued for delivery with their original webhook-id: {} had been \
         delivered or had failed, {} were waiting for a retry and are due now",
        done.matched,
        done.requeued,
        done.matched - done.requeued
    );
    Ok(())
}
