//! The deployment at a glance, read from Postgres: the relay (leader, position, what waits and
//! why), each projection's position, the webhook queue and parked endpoints, dead letters, and a
//! running replay. `gangway status` prints it; the operator console shows it.

use crate::delivery_log::{queue_depth, QueueDepth};
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
pub struct SystemStatus {
    pub relay: RelayStatus,
    pub projections: Vec<Projection>,
    pub webhook_queue: QueueDepth,
    pub parked_endpoints: Vec<ParkedEndpoint>,
    /// Unresolved dead letters (and events held behind them) by consumer.
    pub dead_letters: BTreeMap<String, i64>,
    pub replay: Option<Replay>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    pub name: String,
    pub event_position: i64,
    pub updated_seconds_ago: Option<f64>,
    /// Events after its checkpoint (counted up to 1,000,000).
    pub events_behind: i64,
    pub oldest_unapplied_seconds: Option<f64>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ParkedEndpoint {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub consecutive_failures: i32,
    pub parked_for_seconds: Option<f64>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub applied: i64,
    pub total: i64,
    pub elapsed_seconds: f64,
    /// No report for 10 seconds without finishing: the replay died (its transaction rolled back).
    pub running: bool,
    pub finished: bool,
    #[sqlx(skip)]
    pub events_per_second: f64,
    #[sqlx(skip)]
    pub eta_seconds: Option<f64>,
}

/// The deployment at a glance, read from Postgres.
pub async fn system_status(pool: &PgPool) -> anyhow::Result<SystemStatus> {
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
    Ok(SystemStatus {
        relay,
        projections,
        webhook_queue,
        parked_endpoints,
        dead_letters,
        replay,
    })
}
