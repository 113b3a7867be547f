//! The relay's horizon. It publishes only events of transactions older than every transaction
//! still open in the whole cluster (so that none can commit behind its cursor), which means one
//! long transaction anywhere, in any database of the cluster, holds every later event back.
//! These find out whether that is happening and who is doing it.

use gangway_event_store::CommitCursor;
use serde::Serialize;
use sqlx::PgConnection;
use std::time::Duration;

/// The open transaction the relay's horizon waits for.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Blocker {
    pub pid: i32,
    pub database: Option<String>,
    pub application: Option<String>,
    pub state: Option<String>,
    pub age_seconds: f64,
    /// The first characters of its current (or last) statement.
    pub query: Option<String>,
}

/// How long committed events after `cursor` have waited behind the horizon: the age of the oldest
/// one that is visible but not yet publishable. `None` when nothing waits.
pub async fn held_back(
    conn: &mut PgConnection,
    cursor: CommitCursor,
) -> Result<Option<Duration>, sqlx::Error> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM clock_timestamp() - min(recorded_at))::float8 FROM events \
         WHERE (transaction_id, position) > ($1::text::xid8, $2) \
           AND transaction_id >= pg_snapshot_xmin(pg_current_snapshot())",
    )
    .bind(cursor.transaction_id.to_string())
    .bind(cursor.position)
    .fetch_one(conn)
    .await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// The oldest transaction of the cluster that holds a transaction id (the one the horizon waits
/// for), other than this connection's. Its statement is visible to superusers and members of
/// `pg_read_all_stats`; to others Postgres shows `<insufficient privilege>`.
pub async fn oldest_transaction(conn: &mut PgConnection) -> Result<Option<Blocker>, sqlx::Error> {
    sqlx::query_as(
        "SELECT pid, datname::text AS database, nullif(application_name, '') AS application, state, \
                coalesce(EXTRACT(EPOCH FROM clock_timestamp() - xact_start)::float8, 0) AS age_seconds, \
                left(query, 120) AS query \
           FROM pg_stat_activity \
          WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
          ORDER BY age(backend_xid) DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await
}
