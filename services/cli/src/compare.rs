//! `gangway replay --compare`: rebuild the read models from the event store into temporary tables
//! and report how the live ones differ, changing nothing.
//!
//! The rebuild runs the projector's own [`gangway_projections::apply_all`] on a connection of its own
//! where every read model table is shadowed by a temporary copy (`CREATE TEMP TABLE rm_x (LIKE
//! rm_x)`: Postgres looks a table name up in the session's temporary schema first). Events are
//! applied in short read-only transactions: Postgres lets those write temporary tables only, so
//! the rebuild cannot touch a live table even by mistake, and it never holds back the relay (which
//! waits for transactions older than the events it publishes) for longer than one batch.

use crate::{progress, Outcome};
use anyhow::Context;
use gangway_event_store::{read_committed_after, CommitCursor};
use gangway_projections::{apply_all, READ_MODEL_TABLES};
use serde_json::{Map, Value};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

const BATCH: i64 = 1_000;

/// How long to give the projector before differences that may be lag are checked again.
const SETTLE: Duration = Duration::from_secs(1);

/// How a live row differs from the rebuilt one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Same stream version, different content: the live row is wrong.
    Changed,
    /// The rebuild has the row, the live read model does not.
    Missing,
    /// The live read model has a row no stream produces.
    Extra,
    /// The live row reflects an older stream version (the projector is behind).
    Behind,
    /// The live row reflects a newer version than the events read (appended during the compare).
    Ahead,
}

impl Kind {
    fn parse(raw: &str) -> Self {
        match raw {
            "missing" => Self::Missing,
            "extra" => Self::Extra,
            "behind" => Self::Behind,
            "ahead" => Self::Ahead,
            _ => Self::Changed,
        }
    }

    /// The kind's name in `--json` output.
    fn name(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Missing => "missing",
            Self::Extra => "extra",
            Self::Behind => "behind",
            Self::Ahead => "ahead",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Missing => "missing from the live read model",
            Self::Extra => "in the live read model only",
            Self::Behind => "behind the event store",
            Self::Ahead => "ahead of the events read",
        }
    }
}

/// One differing row, for the listing.
#[derive(Clone, Debug)]
pub struct Difference {
    pub table: &'static str,
    pub id: Uuid,
    pub kind: Kind,
    pub live_version: Option<i64>,
    pub rebuilt_version: Option<i64>,
    /// For a changed row: the columns (and document fields) that differ.
    pub fields: Vec<String>,
}

/// Every table's differences: counts by kind, and the first rows.
#[derive(Debug, Default)]
pub struct Report {
    pub events: u64,
    pub counts: BTreeMap<&'static str, BTreeMap<Kind, i64>>,
    pub rows: Vec<Difference>,
}

impl Report {
    pub fn total(&self) -> i64 {
        self.counts.values().flat_map(|k| k.values()).sum()
    }
}

/// How the report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub async fn run(pool: &PgPool, show: usize, format: Format) -> anyhow::Result<Outcome> {
    // A connection of its own, closed at the end: its temporary tables never serve anyone else.
    let mut conn = pool.acquire().await?.detach();
    let result = compare(&mut conn, show).await;
    conn.close().await.ok();
    let report = result?;
    match format {
        Format::Text => print(&report),
        Format::Json => println!("{}", as_json(&report)),
    }
    Ok(if report.total() == 0 {
        Outcome::Done
    } else {
        Outcome::NeedsAttention
    })
}

async fn compare(conn: &mut PgConnection, show: usize) -> anyhow::Result<Report> {
    let live = shadow_read_models(conn).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut *conn)
        .await?;
    let bar = progress::bar(total as u64, "events");
    let mut cursor = CommitCursor::default();
    let mut events = catch_up(conn, &mut cursor, |n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let mut report = differences(conn, &live, show).await?;
    if report
        .counts
        .values()
        .flat_map(|k| k.keys())
        .any(|k| *k != Kind::Changed)
    {
        // Rows behind or ahead may be the projector's lag or events appended meanwhile: give it
        // a moment, take in what was appended, and look again.
        tokio::time::sleep(SETTLE).await;
        events += catch_up(conn, &mut cursor, |_| {}).await?;
        report = differences(conn, &live, show).await?;
    }
    report.events = events;
    Ok(report)
}

/// Creates a temporary copy of every read model table and returns the live tables' qualified
/// names. Checks that unqualified names now resolve to the copies.
async fn shadow_read_models(conn: &mut PgConnection) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut live = Vec::with_capacity(READ_MODEL_TABLES.len());
    for table in READ_MODEL_TABLES {
        let qualified: Option<String> = sqlx::query_scalar(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
        let qualified = qualified.with_context(|| format!("read model table {table} does not exist"))?;
        sqlx::query(&format!(
            "CREATE TEMPORARY TABLE {table} (LIKE {qualified} INCLUDING ALL)"
        ))
        .execute(&mut *conn)
        .await
        .with_context(|| format!("creating a temporary copy of {table}"))?;
        let temporary: bool = sqlx::query_scalar(
            "SELECT n.oid = pg_my_temp_schema() FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
        anyhow::ensure!(
            temporary,
            "{table} does not resolve to its temporary copy (is pg_temp placed late in search_path?)"
        );
        live.push((table, qualified));
    }
    Ok(live)
}

/// Applies every committed event after `cursor` to the temporary tables, one read-only
/// transaction per batch. Returns how many events were applied.
async fn catch_up(
    conn: &mut PgConnection,
    cursor: &mut CommitCursor,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    let mut applied = 0u64;
    loop {
        let mut tx = conn.begin().await?;
        sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
        let batch = read_committed_after(&mut *tx, *cursor, BATCH).await?;
        let Some(last) = batch.last() else {
            tx.rollback().await?;
            return Ok(applied);
        };
        apply_all(&mut tx, &batch).await.with_context(|| {
            let first = batch.first().map(|e| e.event_id.to_string()).unwrap_or_default();
            format!("rebuilding from the batch starting at event {first}")
        })?;
        tx.commit().await?;
        *cursor = last.cursor();
        applied += batch.len() as u64;
        progress(applied);
    }
}

async fn differences(
    conn: &mut PgConnection,
    live: &[(&'static str, String)],
    show: usize,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for &(table, ref qualified) in live {
        let diff = format!(
            "SELECT coalesce(l.id, r.id) AS id, l.stream_version AS live_version, \
                 r.stream_version AS rebuilt_version, to_jsonb(l) AS live, to_jsonb(r) AS rebuilt, \
                 CASE WHEN l.id IS NULL THEN 'missing' WHEN r.id IS NULL THEN 'extra' \
                      WHEN l.stream_version < r.stream_version THEN 'behind' \
                      WHEN l.stream_version > r.stream_version THEN 'ahead' \
                      ELSE 'changed' END AS kind \
             FROM {qualified} l FULL JOIN pg_temp.{table} r ON r.id = l.id \
             WHERE to_jsonb(l) IS DISTINCT FROM to_jsonb(r)"
        );
        let counts: Vec<(String, i64)> =
            sqlx::query_as(&format!("SELECT kind, count(*) FROM ({diff}) d GROUP BY kind"))
                .fetch_all(&mut *conn)
                .await?;
        if counts.is_empty() {
            continue;
        }
        let counts: BTreeMap<Kind, i64> = counts.into_iter().map(|(k, n)| (Kind::parse(&k), n)).collect();
        report.counts.insert(table, counts);
        let room = show.saturating_sub(report.rows.len());
        if room == 0 {
            continue;
        }
        type Row = (
            Uuid,
            Option<i64>,
            Option<i64>,
            Option<Value>,
            Option<Value>,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(&format!("{diff} ORDER BY 1 LIMIT $1"))
            .bind(room as i64)
            .fetch_all(&mut *conn)
            .await?;
        for (id, live_version, rebuilt_version, live, rebuilt, kind) in rows {
            let kind = Kind::parse(&kind);
            let fields = match (&live, &rebuilt) {
                (Some(Value::Object(l)), Some(Value::Object(r))) => changed_fields(l, r),
                _ => Vec::new(),
            };
            report.rows.push(Difference {
                table,
                id,
                kind,
                live_version,
                rebuilt_version,
                fields,
            });
        }
    }
    Ok(report)
}

/// The columns that differ between two rows; for the `document` column, the document's fields.
fn changed_fields(live: &Map<String, Value>, rebuilt: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = live.keys().chain(rebuilt.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut fields = Vec::new();
    for key in keys {
        let (l, r) = (live.get(key), rebuilt.get(key));
        if l == r {
            continue;
        }
        match (l, r) {
            (Some(Value::Object(l)), Some(Value::Object(r))) if key == "document" => {
                fields.extend(changed_fields(l, r).into_iter().map(|f| format!("document.{f}")));
            }
            _ => fields.push(key.clone()),
        }
    }
    fields
}

fn print(report: &Report) {
    let total = report.total();
    if total == 0 {
        println!(
            "read models match the event store ({} events, {} tables)",
            report.events,
            READ_MODEL_TABLES.len()
        );
        return;
    }
    for (table, counts) in &report.counts {
        let parts: Vec<String> = counts
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.describe()))
            .collect();
        println!("{table}: {}", parts.join(", "));
        for row in report.rows.iter().filter(|r| r.table == *table) {
            let versions = format!(
                "live version {}, rebuilt {}",
                version(row.live_version),
                version(row.rebuilt_version)
            );
            if row.fields.is_empty() {
                println!("  {} {} ({versions})", row.id, row.kind.describe());
            } else {
                println!(
                    "  {} {}: {} ({versions})",
                    row.id,
                    row.kind.describe(),
                    row.fields.join(", ")
                );
            }
        }
    }
    if total > report.rows.len() as i64 {
        println!(
            "(listed {} of {total} rows; --show N lists more)",
            report.rows.len()
        );
    }
    println!(
        "read models differ from the event store ({} events) in {total} rows; \
         `gangway replay` rebuilds them",
        report.events
    );
}

/// The report for scripts: `matches`, the counts by table and kind, and the listed rows.
fn as_json(report: &Report) -> serde_json::Value {
    let tables: serde_json::Map<String, serde_json::Value> = report
        .counts
        .iter()
        .map(|(table, counts)| {
            let counts: serde_json::Map<String, serde_json::Value> = counts
                .iter()
                .map(|(kind, n)| (kind.name().to_owned(), (*n).into()))
                .collect();
            ((*table).to_owned(), counts.into())
        })
        .collect();
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "table": row.table,
                "id": row.id,
                "kind": row.kind.name(),
                "liveVersion": row.live_version,
                "rebuiltVersion": row.rebuilt_version,
                "fields": row.fields,
            })
        })
        .collect();
    serde_json::json!({
        "matches": report.total() == 0,
        "events": report.events,
        "differingRows": report.total(),
        "tables": tables,
        "rows": rows,
    })
}

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "none".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_name_columns_and_document_fields() {
        let live = json!({"id": 1, "status": "completed", "stream_version": 3,
            "document": {"status": "completed", "usedAt": null, "spec": {"name": "a"}}});
        let rebuilt = json!({"id": 1, "status": "pending", "stream_version": 3,
            "document": {"status": "pending", "usedAt": null, "spec": {"name": "b"}, "extra": 1}});
        let (Value::Object(l), Value::Object(r)) = (live, rebuilt) else {
            unreachable!()
        };
        assert_eq!(
            changed_fields(&l, &r),
            ["document.extra", "document.spec", "document.status", "status"]
        );
    }
}
