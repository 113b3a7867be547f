//! `gangway status`: the deployment at a glance, read from Postgres: the relay (leader, position,
//! what waits and why), each projection's position, the webhook queue and parked endpoints, dead
//! letters, and a running replay.

use crate::Outcome;
use gangway_app::delivery_log::{queue_depth, QueueDepth};
use gangway_relay::{relay_status, RelayStatus};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The relay the api runs (`RelayConfig::default`).
const RELAY: &str = "default";
/// Events behind a projection are counted up to this many.
const COUNT_CAP: i64 = 1_000_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    relay: RelayStatus,
    projections: Vec<Projection>,
    webhook_queue: QueueDepth,
    parked_endpoints: Vec<ParkedEndpoint>,
    /// Unresolved dead letters (and events held behind them) by consumer.
    dead_letters: BTreeMap<String, i64>,
    replay: Option<Replay>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Projection {
    name: String,
    event_position: i64,
    updated_seconds_ago: Option<f64>,
    /// Events after its checkpoint (counted up to 1,000,000).
    events_behind: i64,
    oldest_unapplied_seconds: Option<f64>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct ParkedEndpoint {
    id: Uuid,
    organization_id: Uuid,
    consecutive_failures: i32,
    parked_for_seconds: Option<f64>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Replay {
    applied: i64,
    total: i64,
    elapsed_seconds: f64,
    /// No report for 10 seconds without finishing: the replay died (its transaction rolled back).
    running: bool,
    finished: bool,
    #[sqlx(skip)]
    events_per_second: f64,
    #[sqlx(skip)]
    eta_seconds: Option<f64>,
}

pub async fn run(pool: &PgPool, json: bool, stall_seconds: f64) -> anyhow::Result<Outcome> {
    let status = gather(pool).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status);
    }
    let attention = status.relay.leader.is_none()
        || status.relay.held_back_seconds.unwrap_or(0.0) > stall_seconds
        || status.dead_letters.values().any(|n| *n > 0);
    Ok(if attention {
        Outcome::NeedsAttention
    } else {
        Outcome::Done
    })
}

async fn gather(pool: &PgPool) -> anyhow::Result<Status> {
    let mut conn = pool.acquire().await?;
    let relay = relay_status(&mut conn, RELAY).await?;
    let projections = sqlx::query_as(
        "SELECT c.name, c.event_position, \
                EXTRACT(EPOCH FROM clock_timestamp() - c.updated_at)::float8 AS updated_seconds_ago, \
                behind.events AS events_behind, behind.oldest AS oldest_unapplied_seconds \
           FROM projection_checkpoints c, LATERAL ( \
                SELECT count(*) AS events, \
                       EXTRACT(EPOCH FROM clock_timestamp() - min(recorded_at))::float8 AS oldest \
                  FROM (SELECT recorded_at FROM events WHERE position > c.event_position \
                        ORDER BY position LIMIT $1) after) behind \
          ORDER BY c.name",
    )
    .bind(COUNT_CAP)
    .fetch_all(&mut *conn)
    .await?;
    let webhook_queue = queue_depth(&mut *conn).await?;
    let parked_endpoints = sqlx::query_as(
        "SELECT id, organization_id, consecutive_failures, \
                EXTRACT(EPOCH FROM circuit_open_until - clock_timestamp())::float8 AS parked_for_seconds \
           FROM dispatch_endpoints WHERE circuit_open_until > now() ORDER BY circuit_open_until",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut dead_letters = BTreeMap::new();
    for letter in gangway_dead_letters::list(pool, false).await? {
        *dead_letters.entry(letter.consumer).or_insert(0) += 1;
    }
    let replay: Option<Replay> = sqlx::query_as(
        "SELECT applied, total, \
                EXTRACT(EPOCH FROM coalesce(finished_at, updated_at) - started_at)::float8 AS elapsed_seconds, \
                finished_at IS NULL AND updated_at > now() - interval '10 seconds' AS running, \
                finished_at IS NOT NULL AS finished \
           FROM replay_progress WHERE name = 'replay'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let replay = replay.map(|mut replay| {
        replay.events_per_second = replay.applied as f64 / replay.elapsed_seconds.max(0.001);
        replay.eta_seconds = (replay.running && replay.events_per_second > 0.0)
            .then(|| (replay.total - replay.applied).max(0) as f64 / replay.events_per_second);
        replay
    });
    Ok(Status {
        relay,
        projections,
        webhook_queue,
        parked_endpoints,
        dead_letters,
        replay,
    })
}

fn seconds(value: Option<f64>) -> String {
    value.map_or("-".into(), |s| format!("{s:.1} s"))
}

fn print_text(status: &Status) {
    let relay = &status.relay;
    match &relay.leader {
        Some(leader) => println!(
            "relay       leading: pid {} ({}{})",
            leader.pid,
            leader.application.as_deref().unwrap_or("?"),
            leader
                .client
                .as_deref()
                .map(|c| format!(" from {c}"))
                .unwrap_or_default()
        ),
        None => println!("relay       NOT LEADING: no api process holds the publishing lock"),
    }
    println!(
        "            position {} of {}, {} unpublished (oldest {})",
        relay.checkpoint_position,
        relay.latest_position.unwrap_or(0),
        relay.unpublished_events,
        seconds(relay.oldest_unpublished_seconds)
    );
    if let Some(held) = relay.held_back_seconds {
        println!("            held back {held:.1} s by an open transaction:");
        if let Some(b) = &relay.blocker {
            println!(
                "            pid {} in {} ({}), {}, open {:.1} s: {}",
                b.pid,
                b.database.as_deref().unwrap_or("?"),
                b.application.as_deref().unwrap_or("?"),
                b.state.as_deref().unwrap_or("?"),
                b.age_seconds,
                b.query.as_deref().unwrap_or("")
            );
        }
    }
    for p in &status.projections {
        println!(
            "projection  {}: position {}, {} events behind (oldest {}), checkpoint {} ago",
            p.name,
            p.event_position,
            p.events_behind,
            seconds(p.oldest_unapplied_seconds),
            seconds(p.updated_seconds_ago)
        );
    }
    let q = &status.webhook_queue;
    println!(
        "webhooks    {} due, {} scheduled for retry, {} in flight; {} endpoint(s) parked",
        q.due,
        q.scheduled,
        q.in_flight,
        status.parked_endpoints.len()
    );
    for e in &status.parked_endpoints {
        println!(
            "            parked {} (organization {}): {} failures in a row, probe in {}",
            e.id,
            e.organization_id,
            e.consecutive_failures,
            seconds(e.parked_for_seconds)
        );
    }
    if status.dead_letters.is_empty() {
        println!("dead letters none");
    }
    for (consumer, count) in &status.dead_letters {
        println!("dead letters {consumer}: {count} unresolved (gangway dead-letters list)");
    }
    if let Some(r) = &status.replay {
        let state = match (r.running, r.finished) {
            (_, true) => "finished",
            (true, _) => "running",
            _ => "stopped without finishing",
        };
        println!(
            "replay      {state}: {} of {} events, {:.0} events/s, ETA {}",
            r.applied,
            r.total,
            r.events_per_second,
            seconds(r.eta_seconds)
        );
    }
}
