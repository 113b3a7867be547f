//! Where a relay stands, for `gangway status`: who leads, how far it has published, what waits.

use crate::horizon::{held_back, oldest_transaction, Blocker};
use crate::{load_checkpoint, RelayError, LOCK_NAMESPACE};
use serde::Serialize;
use sqlx::PgConnection;

/// Unpublished events are counted up to this many.
const COUNT_CAP: i64 = 1_000_000;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayStatus {
    pub name: String,
    /// The backend holding the publishing lock (the leading api replica's relay connection).
    pub leader: Option<Leader>,
    pub checkpoint_position: i64,
    pub checkpoint_age_seconds: Option<f64>,
    pub latest_position: Option<i64>,
    /// Committed events after the checkpoint, in commit order (counted up to 1,000,000).
    pub unpublished_events: i64,
    pub oldest_unpublished_seconds: Option<f64>,
    /// How long committed events have waited behind an open transaction, and which one.
    pub held_back_seconds: Option<f64>,
    pub blocker: Option<Blocker>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Leader {
    pub pid: i32,
    pub application: Option<String>,
    pub client: Option<String>,
    pub connected_seconds: Option<f64>,
}

pub async fn relay_status(conn: &mut PgConnection, name: &str) -> Result<RelayStatus, RelayError> {
    let leader: Option<Leader> = sqlx::query_as(
        "SELECT a.pid, nullif(a.application_name, '') AS application, host(a.client_addr) AS client, \
                EXTRACT(EPOCH FROM clock_timestamp() - a.backend_start)::float8 AS connected_seconds \
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
            AND l.classid::bigint = $1 AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)",
    )
    .bind(i64::from(LOCK_NAMESPACE))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let cursor = load_checkpoint(conn, name).await?;
    let checkpoint_age: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM clock_timestamp() - updated_at)::float8 FROM relay_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let latest: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&mut *conn)
        .await?;
    let (unpublished, oldest): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM clock_timestamp() - min(recorded_at))::float8 FROM ( \
             SELECT recorded_at FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2) \
             ORDER BY transaction_id, position LIMIT $3) unpublished",
    )
    .bind(cursor.transaction_id.to_string())
    .bind(cursor.position)
    .bind(COUNT_CAP)
    .fetch_one(&mut *conn)
    .await?;
    let held = held_back(conn, cursor).await?;
    let blocker = match held {
        Some(_) => oldest_transaction(conn).await?,
        None => None,
    };
    Ok(RelayStatus {
        name: name.to_owned(),
        leader,
        checkpoint_position: cursor.position,
        checkpoint_age_seconds: checkpoint_age,
        latest_position: latest,
        unpublished_events: unpublished,
        oldest_unpublished_seconds: oldest,
        held_back_seconds: held.map(|d| d.as_secs_f64()),
        blocker,
    })
}
