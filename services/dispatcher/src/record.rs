//! Recording finished attempts: many at a time, in one transaction, so a busy dispatcher commits a
//! few times per batch rather than once per delivery.
//!
//! A delivery hands its outcome to the one recorder task and waits until it is written; whatever
//! arrives while a batch is being written forms the next batch. Until then the message keeps its
//! lease, so no other claim can take it.

use crate::attempt::{AttemptResult, Delivery};
use crate::schedule::RetrySchedule;
use chrono::{DateTime, Duration as Span, Utc};
use gangway_domain::delivery_health::{Attempts, Breaker, DeliveryHealth};
use gangway_domain::webhook::Endpoint;
use gangway_retry::Schedule;
use gangway_telemetry::webhooks::Outcome;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most attempts written in one transaction.
const BATCH: usize = 512;

/// How long the first attempt of a batch waits for others. At a steady stream of deliveries this
/// turns a transaction per attempt into one per few milliseconds; the webhook has already gone
/// out, so only the sender's slot and the message's lease wait.
const LINGER: Duration = Duration::from_millis(5);

/// A failed write is tried again after 50 ms, then 250 ms.
const WRITE_RETRIES: Schedule =
    Schedule::exponential(Duration::from_millis(50), 5.0, Duration::from_millis(250))
        .with_jitter(0.0)
        .with_max_retries(2);

/// One finished attempt, waiting to be recorded.
pub struct Finished {
    pub delivery: Delivery,
    pub endpoint: Endpoint,
    pub result: AttemptResult,
    /// Told once the attempt is recorded (or recording gave up: the lease then runs out and the
    /// message is tried again).
    pub done: oneshot::Sender<()>,
}

/// What recording decides about endpoint health, for the caller to act on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    pub circuit_failures: u32,
    pub circuit_open: Duration,
    pub disable_after: Duration,
}

/// An endpoint to disable after a batch, and why.
pub struct Disable {
    pub endpoint: Endpoint,
    pub reason: &'static str,
}

/// Writes batches until every sender is gone; `disable` is called for endpoints that answered
/// 410 Gone or kept failing too long.
pub async fn run<F, Fut>(
    pool: PgPool,
    schedule: RetrySchedule,
    rules: Rules,
    mut finished: mpsc::Receiver<Finished>,
    disable: F,
) where
    F: Fn(Disable) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut batch = Vec::with_capacity(BATCH);
    while finished.recv_many(&mut batch, BATCH).await > 0 {
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            tokio::select! {
                _ = &mut linger => break,
                more = finished.recv_many(&mut batch, room) => if more == 0 { break },
            }
        }
        let outcome = match write_with_retries(&pool, &schedule, rules, &batch).await {
            // One attempt that cannot be written must not hold back the others: write them one
            // by one, so only an unwritable one is left to its lease. A failure that is not
            // about the row (Postgres unreachable) leaves the rest to their leases too.
            Err(error) if batch.len() > 1 => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    attempts = batch.len(),
                    "writing attempts one by one"
                );
                let mut disables = Vec::new();
                for f in &batch {
                    match write(&pool, &schedule, rules, std::slice::from_ref(f)).await {
                        Ok(more) => disables.extend(more),
                        Err(error) => {
                            tracing::warn!(
                                error = format!("{error:#}"),
                                message = %f.delivery.message_id,
                                "recording a delivery attempt failed"
                            );
                            if !is_about_the_row(&error) {
                                break;
                            }
                        }
                    }
                }
                Ok(disables)
            }
            other => other,
        };
        match outcome {
            Ok(disables) => {
                for d in disables {
                    let endpoint = d.endpoint.id;
                    if let Err(error) = disable(d).await {
                        tracing::warn!(error = format!("{error:#}"), %endpoint, "disabling an endpoint failed");
                    }
                }
            }
            // The leases run out and the messages are tried again: at least once, never lost.
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                attempts = batch.len(),
                "recording delivery attempts failed"
            ),
        }
        for f in batch.drain(..) {
            let _ = f.done.send(());
        }
    }
}

/// Writes a batch; a failed write (a deadlock with another replica, a connection lost) is tried
/// again a few times before its messages are left to their leases.
async fn write_with_retries(
    pool: &PgPool,
    schedule: &RetrySchedule,
    rules: Rules,
    batch: &[Finished],
) -> anyhow::Result<Vec<Disable>> {
    WRITE_RETRIES
        .retry(|| write(pool, schedule, rules, batch), |_| true)
        .await
}

/// Whether Postgres refused what was written (rather than being unreachable or busy).
fn is_about_the_row(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<sqlx::Error>(),
        Some(sqlx::Error::Database(_))
    )
}

/// A message's state after an attempt.
fn next_state(schedule: &RetrySchedule, f: &Finished, now: DateTime<Utc>) -> (&'static str, DateTime<Utc>) {
    if f.result.succeeded() {
        return ("delivered", now);
    }
    match schedule.after(f.delivery.attempts.max(0) as u32) {
        Some(delay) => {
            let delay = f.result.retry_after.map_or(delay, |after| after.max(delay));
            ("pending", now + Span::from_std(delay).unwrap_or(Span::hours(1)))
        }
        None => ("failed", now),
    }
}

async fn write(
    pool: &PgPool,
    schedule: &RetrySchedule,
    rules: Rules,
    batch: &[Finished],
) -> anyhow::Result<Vec<Disable>> {
    let now = Utc::now();
    let n = batch.len();
    let (mut ids, mut at, mut codes, mut latencies) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut excerpts, mut errors, mut statuses, mut next) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut attempts: HashMap<Uuid, Attempts> = HashMap::new();
    for f in batch {
        let (status, next_attempt_at) = next_state(schedule, f, now);
        ids.push(f.delivery.message_id.as_uuid());
        at.push(f.result.attempted_at);
        codes.push(f.result.status_code.map(i32::from));
        latencies.push(i32::try_from(f.result.latency.as_millis()).unwrap_or(i32::MAX));
        excerpts.push(f.result.response_excerpt.clone());
        errors.push(f.result.error.clone());
        statuses.push(status);
        next.push(next_attempt_at);
        attempts
            .entry(f.delivery.endpoint_id.as_uuid())
            .or_default()
            .record(f.result.succeeded(), f.result.attempted_at);
    }
    let mut tx = pool.begin().await?;
    // The attempts and the messages' next state, in one statement. Planned for each batch: a
    // plan cached while the table was small joins by scanning it, and keeps doing so as it grows
    // until the next analyze (seen: 26 ms for 28 messages in a table of 17,000).
    sqlx::query(
        "WITH attempts AS ( \
             INSERT INTO webhook_attempts (message_id, attempted_at, status_code, latency_ms, response_excerpt, error) \
             SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::text[], $6::text[]) \
         ) \
         UPDATE webhook_messages m SET status = u.status, next_attempt_at = u.next_attempt_at, \
             leased_until = NULL, \
             delivered_at = CASE WHEN u.status = 'delivered' THEN $9 ELSE m.delivered_at END \
         FROM unnest($1::uuid[], $7::text[], $8::timestamptz[]) AS u(id, status, next_attempt_at) \
         WHERE m.id = u.id",
    )
    .bind(&ids)
    .bind(&at)
    .bind(&codes)
    .bind(&latencies)
    .bind(&excerpts)
    .bind(&errors)
    .bind(&statuses)
    .bind(&next)
    .bind(now)
    .persistent(false)
    .execute(&mut *tx)
    .await?;

    let breaker = Breaker {
        failures: rules.circuit_failures as i32,
        open_until: now + Span::from_std(rules.circuit_open).unwrap_or(Span::seconds(30)),
    };
    let health = update_health(&mut tx, &attempts, &breaker).await?;
    tx.commit().await?;

    let disable_after = Span::from_std(rules.disable_after).unwrap_or(Span::days(5));
    let mut disables: HashMap<Uuid, Disable> = HashMap::new();
    for (f, status) in batch.iter().zip(&statuses) {
        let endpoint_health = health.get(&f.delivery.endpoint_id.as_uuid());
        let outcome = match (*status, endpoint_health) {
            ("delivered", _) => Outcome::Success,
            ("failed", _) => Outcome::Failed,
            (_, Some(h)) if h.is_parked(now) => Outcome::Parked,
            _ => Outcome::Retry,
        };
        gangway_telemetry::webhooks::attempted(outcome, f.result.latency, f.delivery.occurred_at);
        let failing_too_long = endpoint_health.is_some_and(|h| h.failing_for(disable_after, now));
        let reason = if f.result.gone() {
            "the endpoint answered 410 Gone"
        } else if failing_too_long {
            "the endpoint kept failing"
        } else {
            continue;
        };
        disables
            .entry(f.delivery.endpoint_id.as_uuid())
            .or_insert_with(|| Disable {
                endpoint: f.endpoint.clone(),
                reason,
            });
    }
    Ok(disables.into_values().collect())
}

/// An endpoint's id and its stored health: failing since, consecutive failures, open until.
type HealthRow = (Uuid, Option<DateTime<Utc>>, i32, Option<DateTime<Utc>>);

/// Applies each endpoint's attempts to its health (see [`DeliveryHealth::after`]) and returns the
/// health of the endpoints it wrote. Only a row the batch can change is locked and written, so a
/// healthy endpoint's row is not locked by every batch; rows are locked in id order, so two
/// replicas lock them in the same order.
async fn update_health(
    tx: &mut sqlx::PgConnection,
    attempts: &HashMap<Uuid, Attempts>,
    breaker: &Breaker,
) -> anyhow::Result<HashMap<Uuid, DeliveryHealth>> {
    let ids: Vec<Uuid> = attempts.keys().copied().collect();
    let failing: Vec<Uuid> = attempts
        .iter()
        .filter(|(_, a)| a.failures > 0)
        .map(|(id, _)| *id)
        .collect();
    let rows: Vec<HealthRow> = sqlx::query_as(
        "SELECT id, failing_since, consecutive_failures, circuit_open_until FROM dispatch_endpoints \
         WHERE id = ANY($1) AND (id = ANY($2) OR failing_since IS NOT NULL \
             OR consecutive_failures > 0 OR circuit_open_until IS NOT NULL) \
         ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .bind(&failing)
    .fetch_all(&mut *tx)
    .await?;
    let health: HashMap<Uuid, DeliveryHealth> = rows
        .into_iter()
        .map(|(id, failing_since, consecutive_failures, circuit_open_until)| {
            let current = DeliveryHealth {
                failing_since,
                consecutive_failures,
                circuit_open_until,
            };
            (id, current.after(&attempts[&id], breaker))
        })
        .collect();
    if health.is_empty() {
        return Ok(health);
    }
    let (ids, rows): (Vec<Uuid>, Vec<DeliveryHealth>) = health.iter().map(|(id, h)| (*id, *h)).unzip();
    sqlx::query(
        "UPDATE dispatch_endpoints d SET failing_since = u.failing_since, \
             consecutive_failures = u.failures, circuit_open_until = u.open_until \
         FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::timestamptz[]) \
             AS u(id, failing_since, failures, open_until) \
         WHERE d.id = u.id",
    )
    .bind(&ids)
    .bind(rows.iter().map(|h| h.failing_since).collect::<Vec<_>>())
    .bind(rows.iter().map(|h| h.consecutive_failures).collect::<Vec<_>>())
    .bind(rows.iter().map(|h| h.circuit_open_until).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(health)
}
