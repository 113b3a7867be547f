//! The delivery loop: claim due messages in short transactions, send them concurrently (bounded
//! overall and per endpoint), record every attempt, and schedule retries. No transaction or row
//! lock is held during an HTTP call: a claimed message carries a lease instead, and a message
//! whose lease ran out (its replica died) is due again.

use crate::attempt::{AttemptResult, Delivery, Sender};
use crate::keys::Keys;
use crate::schedule::RetrySchedule;
use chrono::{Duration as Span, SubsecRound, Utc};
use gangway_domain::webhook::{Endpoint, EndpointEvent};
use gangway_event_store::{
    read_stream_after, EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamRef,
};
use gangway_telemetry::webhooks::Outcome;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub concurrency: usize,
    pub endpoint_concurrency: usize,
    pub attempt_timeout: Duration,
    pub schedule: RetrySchedule,
    pub circuit_failures: u32,
    pub circuit_open: Duration,
    pub disable_after: Duration,
    pub poll_interval: Duration,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: Uuid,
    organization_id: Uuid,
    endpoint_id: Uuid,
    event_id: Uuid,
    event_type: String,
    body: String,
    occurred_at: chrono::DateTime<Utc>,
    attempts: i32,
    document: serde_json::Value,
}

pub struct Deliverer {
    pool: PgPool,
    store: EventStore,
    sender: Sender,
    keys: Keys,
    config: DeliveryConfig,
    /// Woken when new messages were recorded.
    pub wake: Arc<Notify>,
    in_flight: Mutex<HashMap<Uuid, usize>>,
}

impl Deliverer {
    pub fn new(pool: PgPool, store: EventStore, sender: Sender, keys: Keys, config: DeliveryConfig) -> Self {
        Self {
            pool,
            store,
            sender,
            keys,
            config,
            wake: Arc::new(Notify::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Delivers until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        while !cancel.is_cancelled() {
            let free = slots.available_permits();
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                self.claim(free.min(500)).await
            };
            let claimed = match claimed {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claiming due webhook messages failed; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                }
                continue;
            }
            for (delivery, endpoint) in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let this = self.clone();
                tokio::spawn(async move {
                    this.deliver(delivery, endpoint).await;
                    drop(permit);
                });
            }
        }
        // Let attempts under way finish and record their outcome.
        let _ = slots.acquire_many(self.config.concurrency.max(1) as u32).await;
    }

    /// Claims due messages of endpoints that are enabled, not parked, and below their
    /// concurrency cap here, taking at most the cap per endpoint so one endpoint's backlog
    /// cannot fill every slot.
    async fn claim(&self, limit: usize) -> Result<Vec<(Delivery, Endpoint)>, sqlx::Error> {
        // What this replica already has in flight per endpoint: each endpoint gets at most the
        // rest of its cap.
        let (busy, busy_counts): (Vec<Uuid>, Vec<i32>) = {
            let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.iter().map(|(id, n)| (*id, *n as i32)).unzip()
        };
        // Covers one attempt and its recording; after a crash the message is due again then.
        let lease = self.config.attempt_timeout + Duration::from_secs(5);
        let rows: Vec<ClaimedRow> = sqlx::query_as(
                "WITH ranked AS ( \
                     SELECT m.id, m.endpoint_id, m.next_attempt_at, \
                            row_number() OVER (PARTITION BY m.endpoint_id ORDER BY m.next_attempt_at) AS rank \
                     FROM webhook_messages m JOIN dispatch_endpoints e ON e.id = m.endpoint_id \
                     WHERE m.status = 'pending' AND m.next_attempt_at <= now() \
                       AND (m.leased_until IS NULL OR m.leased_until < now()) \
                       AND e.enabled AND (e.circuit_open_until IS NULL OR e.circuit_open_until <= now()) \
                 ), busy AS ( \
                     SELECT * FROM unnest($3::uuid[], $5::int[]) AS b(endpoint_id, in_flight) \
                 ), picked AS ( \
                     SELECT r.id FROM ranked r LEFT JOIN busy b ON b.endpoint_id = r.endpoint_id \
                     WHERE r.rank <= $4 - COALESCE(b.in_flight, 0) \
                     ORDER BY r.rank, r.next_attempt_at LIMIT $1 \
                 ) \
                 UPDATE webhook_messages m SET leased_until = now() + make_interval(secs => $2), \
                     attempts = m.attempts + 1 \
                 FROM picked, dispatch_endpoints e \
                 WHERE m.id = picked.id AND e.id = m.endpoint_id AND m.status = 'pending' \
                   AND (m.leased_until IS NULL OR m.leased_until < now()) \
                 RETURNING m.id, m.organization_id, m.endpoint_id, m.event_id, m.event_type, m.body, \
                     m.occurred_at, m.attempts, e.document",
            )
            .bind(limit as i64)
            .bind(lease.as_secs_f64())
            .bind(&busy)
            .bind(self.config.endpoint_concurrency as i64)
            .bind(&busy_counts)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for row in rows {
            let Ok(endpoint) = serde_json::from_value::<Endpoint>(row.document) else {
                tracing::error!(endpoint_id = %row.endpoint_id, "unreadable endpoint document");
                continue;
            };
            *in_flight.entry(row.endpoint_id).or_default() += 1;
            let delivery = Delivery {
                message_id: row.id,
                organization_id: row.organization_id,
                endpoint_id: row.endpoint_id,
                event_id: row.event_id,
                event_type: row.event_type,
                body: row.body,
                occurred_at: row.occurred_at,
                attempts: row.attempts,
            };
            claimed.push((delivery, endpoint));
        }
        Ok(claimed)
    }

    async fn deliver(&self, delivery: Delivery, endpoint: Endpoint) {
        let result = match self.keys.signing_keys(&endpoint).await {
            Ok(keys) => self.sender.send(&delivery, &endpoint, &keys).await,
            Err(error) => AttemptResult {
                attempted_at: Utc::now(),
                latency: Duration::ZERO,
                status_code: None,
                response_excerpt: None,
                error: Some(format!("the endpoint's secret could not be read: {error}")),
                retry_after: None,
            },
        };
        if let Err(error) = self.record(&delivery, &endpoint, &result).await {
            // The lease runs out and the message is tried again: at least once, never lost.
            tracing::warn!(%error, message = %delivery.message_id, "recording a delivery attempt failed");
        }
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = in_flight.get_mut(&delivery.endpoint_id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    in_flight.remove(&delivery.endpoint_id);
                }
            }
        }
        // A slot is free: the loop may claim the endpoint's next message now.
        self.wake.notify_one();
    }

    async fn record(
        &self,
        delivery: &Delivery,
        endpoint: &Endpoint,
        result: &AttemptResult,
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        let (status, next_attempt_at) = if result.succeeded() {
            ("delivered", now)
        } else {
            match self.config.schedule.after(delivery.attempts.max(0) as u32) {
                Some(delay) => {
                    let delay = result.retry_after.map_or(delay, |after| after.max(delay));
                    ("pending", now + Span::from_std(delay).unwrap_or(Span::hours(1)))
                }
                None => ("failed", now),
            }
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (message_id, attempted_at, status_code, latency_ms, response_excerpt, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(delivery.message_id)
        .bind(result.attempted_at)
        .bind(result.status_code.map(i32::from))
        .bind(i32::try_from(result.latency.as_millis()).unwrap_or(i32::MAX))
        .bind(&result.response_excerpt)
        .bind(&result.error)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_messages SET status = $2, next_attempt_at = $3, leased_until = NULL, \
                 delivered_at = CASE WHEN $2 = 'delivered' THEN $4 ELSE delivered_at END \
             WHERE id = $1",
        )
        .bind(delivery.message_id)
        .bind(status)
        .bind(next_attempt_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // When the endpoint started failing, and whether this failure parked its backlog.
        let failing: Option<(chrono::DateTime<Utc>, bool)> = if result.succeeded() {
            // Only an unhealthy endpoint's row is written: a healthy one's is not locked by every
            // success, so deliveries to one endpoint do not queue behind each other's commits.
            sqlx::query(
                "UPDATE dispatch_endpoints SET failing_since = NULL, consecutive_failures = 0, \
                     circuit_open_until = NULL \
                 WHERE id = $1 AND (failing_since IS NOT NULL OR consecutive_failures > 0 \
                     OR circuit_open_until IS NOT NULL)",
            )
            .bind(delivery.endpoint_id)
            .execute(&mut *tx)
            .await?;
            None
        } else {
            sqlx::query_as(
                "UPDATE dispatch_endpoints SET failing_since = COALESCE(failing_since, $2), \
                     consecutive_failures = consecutive_failures + 1, \
                     circuit_open_until = CASE WHEN consecutive_failures + 1 >= $3 THEN $4 \
                                          ELSE circuit_open_until END \
                 WHERE id = $1 RETURNING failing_since, consecutive_failures >= $3",
            )
            .bind(delivery.endpoint_id)
            .bind(result.attempted_at)
            .bind(self.config.circuit_failures.max(1) as i32)
            .bind(now + Span::from_std(self.config.circuit_open).unwrap_or(Span::seconds(30)))
            .fetch_optional(&mut *tx)
            .await?
        };
        tx.commit().await?;
        let outcome = match (status, failing) {
            ("delivered", _) => Outcome::Success,
            ("failed", _) => Outcome::Failed,
            (_, Some((_, true))) => Outcome::Parked,
            _ => Outcome::Retry,
        };
        gangway_telemetry::webhooks::attempted(outcome, result.latency, delivery.occurred_at);
        let failing_since = failing.map(|(since, _)| since);

        let failing_too_long = failing_since.is_some_and(|since| {
            now - since >= Span::from_std(self.config.disable_after).unwrap_or(Span::days(5))
        });
        if result.gone() {
            self.disable(endpoint, "the endpoint answered 410 Gone").await?;
        } else if failing_too_long {
            self.disable(endpoint, "the endpoint kept failing").await?;
        }
        Ok(())
    }

    /// Appends `webhook_endpoint.disabled`; the dispatcher's own view follows when the event comes
    /// back on the stream, and until then the endpoint is excluded here.
    async fn disable(&self, endpoint: &Endpoint, reason: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE dispatch_endpoints SET enabled = false WHERE id = $1")
            .bind(endpoint.id.as_uuid())
            .execute(&self.pool)
            .await?;
        let events = read_stream_after(&self.pool, endpoint.id.as_uuid(), 0).await?;
        let (id, org) = (endpoint.id, endpoint.organization_id);
        let mut current = None;
        for recorded in &events {
            current = Endpoint::evolve(
                current,
                id,
                org,
                &recorded.decode::<EndpointEvent>()?,
                recorded.occurred_at,
            );
        }
        if current.is_none_or(|e| e.status != gangway_domain::webhook::EndpointStatus::Enabled) {
            return Ok(());
        }
        tracing::warn!(endpoint = %id, reason, "disabling webhook endpoint");
        let event = EndpointEvent::Disabled {
            reason: reason.into(),
        };
        let meta = EventMetadata {
            organization_id: org.as_uuid(),
            causation_id: None,
            correlation_id: Uuid::now_v7(),
            occurred_at: Utc::now().trunc_subsecs(6),
        };
        let version = events.last().map_or(0, |e| e.stream_version);
        let result = self
            .store
            .append(
                &StreamRef::of::<EndpointEvent>(id.as_uuid()),
                ExpectedVersion::Exact(version),
                vec![NewEvent::from_domain(&event, meta)?],
            )
            .await;
        match result {
            Ok(_) | Err(gangway_event_store::StoreError::Conflict { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
