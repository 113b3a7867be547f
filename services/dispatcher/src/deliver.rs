//! The delivery loop: claim due messages in short transactions, send them concurrently (bounded
//! overall and per endpoint), record every attempt, and schedule retries. No transaction or row
//! lock is held during an HTTP call: a claimed message carries a lease instead, and a message
//! whose lease ran out (its replica died) is due again.
//!
//! Messages reach a sender two ways: claimed here when due, or taken by ingest as it records them,
//! leased (see [`Deliverer::start_leased`]).

use crate::attempt::{AttemptResult, Delivery, Sender};
use crate::ingest::Recorded;
use crate::keys::Keys;
use crate::record::{self, Disable, Finished, Rules};
use crate::schedule::RetrySchedule;
use chrono::{SubsecRound, Utc};
use gangway_domain::catalog::EventType;
use gangway_domain::webhook::{Endpoint, EndpointCommand, EndpointEvent};
use gangway_domain::{Aggregate, DomainError, EndpointId, MessageId, OrganizationId};
use gangway_event_store::{load, EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamRef};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
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

impl DeliveryConfig {
    /// How long a claimed message is held: one attempt and its recording. After a crash the
    /// message is due again then.
    pub fn lease(&self) -> Duration {
        self.attempt_timeout + Duration::from_secs(5)
    }
}

/// How many messages a claim asks of each endpoint it visits when the batch allows: every visit
/// steps over the index entries of the endpoint's messages delivered since the last vacuum, so in
/// a deep backlog a few visits that take many messages each cost far less than many that take one.
const ENDPOINT_SHARE: usize = 16;

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

/// A place for one delivery to `endpoint`: a slot of the overall bound and of the endpoint's cap.
/// Dropping it unused gives both back.
pub struct Reservation {
    deliverer: Arc<Deliverer>,
    endpoint_id: Uuid,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.deliverer.release(self.endpoint_id);
        drop(self.permit.take());
    }
}

pub struct Deliverer {
    /// Ingest and its leases: synchronous commits.
    pool: PgPool,
    /// Claims and attempt outcomes: commits that need not wait for the disk. Losing one in a
    /// Postgres crash only means a message is sent again (at least once), never lost.
    fast_pool: PgPool,
    store: EventStore,
    sender: Sender,
    keys: Keys,
    config: DeliveryConfig,
    /// Woken when messages may be waiting for a claim: by this process, and by other processes'
    /// wake-ups (a message retried or recovered through the api).
    wake: Arc<Notify>,
    /// Whether a slot coming free may let a claim find work: the last claim took messages or
    /// found an endpoint at its cap, the slots were all taken, or ingest left messages unleased.
    /// When it is not set, a finished delivery does not wake the loop for a claim that would find
    /// nothing (due retries are still found every poll interval).
    backlog: AtomicBool,
    slots: Arc<Semaphore>,
    in_flight: Mutex<HashMap<Uuid, usize>>,
    finished: mpsc::Sender<Finished>,
    recorder: Mutex<Option<mpsc::Receiver<Finished>>>,
}

impl Deliverer {
    pub fn new(
        pool: PgPool,
        fast_pool: PgPool,
        store: EventStore,
        sender: Sender,
        keys: Keys,
        config: DeliveryConfig,
    ) -> Self {
        let concurrency = config.concurrency.max(1);
        let (finished, recorder) = mpsc::channel(concurrency);
        Self {
            pool,
            fast_pool,
            store,
            sender,
            keys,
            config,
            wake: Arc::new(Notify::new()),
            backlog: AtomicBool::new(true),
            slots: Arc::new(Semaphore::new(concurrency)),
            in_flight: Mutex::new(HashMap::new()),
            finished,
            recorder: Mutex::new(Some(recorder)),
        }
    }

    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// What wakes the claim loop before its next poll.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Delivers until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let recorder = self.recorder.lock().unwrap_or_else(|e| e.into_inner()).take();
        let recording = recorder.map(|finished| {
            let this = self.clone();
            let rules = Rules {
                circuit_failures: self.config.circuit_failures,
                circuit_open: self.config.circuit_open,
                disable_after: self.config.disable_after,
            };
            tokio::spawn(record::run(
                self.fast_pool.clone(),
                self.config.schedule.clone(),
                rules,
                finished,
                move |d: Disable| {
                    let this = this.clone();
                    async move { this.disable(&d.endpoint, d.reason).await }
                },
            ))
        });
        while !cancel.is_cancelled() {
            let free = self.slots.available_permits();
            let claimed = if free == 0 {
                self.backlog.store(true, Ordering::SeqCst);
                Ok(Vec::new())
            } else {
                let started = std::time::Instant::now();
                let claimed = self.claim(free.min(500)).await;
                gangway_telemetry::webhooks::claimed(started.elapsed());
                claimed
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
                let Ok(permit) = self.slots.clone().acquire_owned().await else {
                    break;
                };
                let reservation = Reservation {
                    deliverer: self.clone(),
                    endpoint_id: delivery.endpoint_id.as_uuid(),
                    permit: Some(permit),
                };
                self.clone().start(delivery, endpoint, reservation);
            }
        }
        // Let attempts under way finish and record their outcome.
        let _ = self
            .slots
            .acquire_many(self.config.concurrency.max(1) as u32)
            .await;
        if let Some(recording) = recording {
            recording.abort();
        }
    }

    /// Takes a message ingest is recording, leased, if the overall bound and the endpoint's cap
    /// allow one more delivery now. With `at_once` it is sent while the record is written, and
    /// the outcome recorded only if ingest then tells, through the returned sender, that it
    /// recorded the message; otherwise it is sent once ingest tells so.
    pub fn start_leased(
        self: &Arc<Self>,
        delivery: &Delivery,
        endpoint: &Endpoint,
        at_once: bool,
    ) -> Option<Recorded> {
        let reservation = self.reserve(endpoint.id.as_uuid())?;
        let (tell, recorded) = oneshot::channel();
        let (this, delivery, endpoint) = (self.clone(), delivery.clone(), endpoint.clone());
        tokio::spawn(async move {
            if at_once {
                this.deliver(delivery, endpoint, Some(recorded)).await;
            } else if recorded.await == Ok(true) {
                this.deliver(delivery, endpoint, None).await;
            }
            drop(reservation);
        });
        Some(tell)
    }

    /// A place for a delivery to this endpoint now, if the overall bound and the endpoint's cap
    /// allow one.
    fn reserve(self: &Arc<Self>, endpoint_id: Uuid) -> Option<Reservation> {
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let busy = in_flight.entry(endpoint_id).or_default();
        if *busy >= self.config.endpoint_concurrency {
            return None;
        }
        *busy += 1;
        Some(Reservation {
            deliverer: self.clone(),
            endpoint_id,
            permit: Some(permit),
        })
    }

    fn release(&self, endpoint_id: Uuid) {
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = in_flight.get_mut(&endpoint_id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    in_flight.remove(&endpoint_id);
                }
            }
        }
        // A slot is free: the loop may claim the endpoint's next message now.
        if self.backlog.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// Messages were recorded that no sender took: the loop claims them.
    pub fn messages_waiting(&self) {
        self.backlog.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Sends a claimed message in its own task; the reservation is given back once its outcome
    /// is recorded.
    fn start(self: Arc<Self>, delivery: Delivery, endpoint: Endpoint, reservation: Reservation) {
        tokio::spawn(async move {
            self.deliver(delivery, endpoint, None).await;
            drop(reservation);
        });
    }

    /// Claims due messages of endpoints that are enabled, not parked, and below their
    /// concurrency cap here, taking at most the cap per endpoint so one endpoint's backlog
    /// cannot fill every slot.
    ///
    /// The endpoints come from the dispatch queue (see its migration), oldest due first, locked
    /// so that messages recorded meanwhile wait for this claim and put the endpoint back in the
    /// queue after it. Each contributes its oldest due messages up to its free cap and its share
    /// of the batch, first messages of every endpoint before second ones; then each visited
    /// endpoint goes to the back of the queue if it may have more due, or on to its next retry
    /// or lease expiry if it has none. The cost follows the endpoints served and the messages
    /// taken, not the size of the backlog.
    async fn claim(&self, limit: usize) -> Result<Vec<(Delivery, Endpoint)>, sqlx::Error> {
        let capped = {
            let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.values().any(|n| *n >= self.config.endpoint_concurrency)
        };
        let mut tx = self.fast_pool.begin().await?;
        let due: Vec<Uuid> = sqlx::query_scalar(
            "SELECT q.endpoint_id FROM dispatch_queue q JOIN dispatch_endpoints e ON e.id = q.endpoint_id \
             WHERE q.due_at <= now() AND e.enabled \
               AND (e.circuit_open_until IS NULL OR e.circuit_open_until <= now()) \
             ORDER BY q.due_at LIMIT $1 FOR UPDATE OF q SKIP LOCKED",
        )
        .bind(limit.div_ceil(ENDPOINT_SHARE) as i64)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            tx.commit().await?;
            self.backlog.store(capped, Ordering::SeqCst);
            return Ok(Vec::new());
        }
        // Each endpoint is asked for at most the rest of its cap and its share of the batch, and
        // what is asked is held in `in_flight` until the claim returns, so that ingest cannot
        // reserve the same places meanwhile; what was not found is given back below.
        let asked = self.hold_places(&due, limit.div_ceil(due.len()));
        // `= ANY` of an array makes the update look the picked rows up by key.
        let rows = sqlx::query_as::<_, ClaimedRow>(
            "WITH asked AS ( \
                 SELECT endpoint_id, asked FROM unnest($3::uuid[], $4::int[]) AS a(endpoint_id, asked) \
             ), candidates AS ( \
                 SELECT a.endpoint_id, c.id, c.next_attempt_at, \
                        row_number() OVER (PARTITION BY a.endpoint_id ORDER BY c.next_attempt_at) AS rank \
                 FROM asked a CROSS JOIN LATERAL ( \
                     SELECT m.id, m.next_attempt_at FROM webhook_messages m \
                     WHERE m.endpoint_id = a.endpoint_id AND m.status = 'pending' \
                       AND m.next_attempt_at <= now() \
                       AND (m.leased_until IS NULL OR m.leased_until < now()) \
                     ORDER BY m.next_attempt_at LIMIT a.asked \
                 ) c \
             ), picked AS ( \
                 SELECT endpoint_id, id FROM candidates ORDER BY rank, next_attempt_at LIMIT $1 \
             ), served AS ( \
                 SELECT a.endpoint_id, a.asked, \
                        (SELECT count(*) FROM candidates c WHERE c.endpoint_id = a.endpoint_id) AS found, \
                        (SELECT count(*) FROM picked p WHERE p.endpoint_id = a.endpoint_id) AS taken \
                 FROM asked a \
             ), requeued AS ( \
                 UPDATE dispatch_queue q SET due_at = CASE \
                     WHEN s.found >= s.asked OR s.taken < s.found THEN now() \
                     ELSE COALESCE(LEAST( \
                         (SELECT m.next_attempt_at FROM webhook_messages m \
                          WHERE m.endpoint_id = s.endpoint_id AND m.status = 'pending' \
                            AND m.next_attempt_at > now() ORDER BY m.next_attempt_at LIMIT 1), \
                         (SELECT min(m.leased_until) FROM webhook_messages m \
                          WHERE m.endpoint_id = s.endpoint_id AND m.status = 'pending' \
                            AND m.next_attempt_at <= now() AND m.leased_until >= now()), \
                         CASE WHEN s.taken > 0 THEN now() + make_interval(secs => $2) END \
                     ), 'infinity') END \
                 FROM served s WHERE q.endpoint_id = s.endpoint_id \
             ) \
             UPDATE webhook_messages m SET leased_until = now() + make_interval(secs => $2), \
                 attempts = m.attempts + 1 \
             FROM dispatch_endpoints e \
             WHERE m.id = ANY(ARRAY(SELECT id FROM picked)) AND e.id = m.endpoint_id \
               AND m.status = 'pending' AND (m.leased_until IS NULL OR m.leased_until < now()) \
             RETURNING m.id, m.organization_id, m.endpoint_id, m.event_id, m.event_type, m.body, \
                 m.occurred_at, m.attempts, e.document",
        )
        .bind(limit as i64)
        .bind(self.config.lease().as_secs_f64())
        .bind(&due)
        .bind(&asked)
        .fetch_all(&mut *tx)
        .await;
        let rows = match rows {
            Ok(rows) => tx.commit().await.map(|()| rows),
            Err(error) => Err(error),
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                self.give_back(&due, &asked, &HashMap::new());
                return Err(error);
            }
        };
        // Set before the claim's slots can come free; ingest's `messages_waiting` may set it again
        // meanwhile, and its wake-up is kept until the loop waits.
        self.backlog.store(capped || !rows.is_empty(), Ordering::SeqCst);
        let mut claimed = Vec::with_capacity(rows.len());
        let mut used: HashMap<Uuid, i32> = HashMap::new();
        for row in rows {
            let Ok(endpoint) = serde_json::from_value::<Endpoint>(row.document) else {
                tracing::error!(endpoint_id = %row.endpoint_id, "unreadable endpoint document");
                continue;
            };
            let Some(event_type) = EventType::parse_sent(&row.event_type) else {
                tracing::error!(message_id = %row.id, event_type = row.event_type, "unknown event type");
                continue;
            };
            *used.entry(row.endpoint_id).or_default() += 1;
            let delivery = Delivery {
                message_id: MessageId::from_uuid(row.id),
                organization_id: OrganizationId::from_uuid(row.organization_id),
                endpoint_id: EndpointId::from_uuid(row.endpoint_id),
                event_id: row.event_id,
                event_type,
                body: row.body,
                occurred_at: row.occurred_at,
                attempts: row.attempts,
            };
            claimed.push((delivery, endpoint));
        }
        self.give_back(&due, &asked, &used);
        Ok(claimed)
    }

    /// For each of `endpoints`, the places a claim may take (the rest of its cap, at most
    /// `share`), added to its in-flight count at once.
    fn hold_places(&self, endpoints: &[Uuid], share: usize) -> Vec<i32> {
        let cap = self.config.endpoint_concurrency;
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        endpoints
            .iter()
            .map(|id| {
                let busy = in_flight.entry(*id).or_default();
                let places = cap.saturating_sub(*busy).min(share);
                *busy += places;
                places as i32
            })
            .collect()
    }

    /// Returns the places [`Deliverer::hold_places`] held that the claim did not fill.
    fn give_back(&self, endpoints: &[Uuid], held: &[i32], used: &HashMap<Uuid, i32>) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for (id, held) in endpoints.iter().zip(held) {
            let unused = (held - used.get(id).copied().unwrap_or(0)).max(0) as usize;
            if let Some(n) = in_flight.get_mut(id) {
                *n = n.saturating_sub(unused);
                if *n == 0 {
                    in_flight.remove(id);
                }
            }
        }
    }

    /// Sends `delivery` and records the outcome; for a message sent while ingest recorded it,
    /// only once `recorded` says ingest did (else its record, if any, is another's to keep).
    async fn deliver(
        &self,
        delivery: Delivery,
        endpoint: Endpoint,
        recorded: Option<oneshot::Receiver<bool>>,
    ) {
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
        if let Some(recorded) = recorded {
            if recorded.await != Ok(true) {
                return;
            }
        }
        let (done, recorded) = oneshot::channel();
        let finished = Finished {
            delivery,
            endpoint,
            result,
            done,
        };
        // Recorded with others; if that fails the lease runs out and the message is tried again.
        if self.finished.send(finished).await.is_ok() {
            let _ = recorded.await;
        }
    }

    /// Appends `webhook_endpoint.disabled`; the dispatcher's own view follows when the event comes
    /// back on the stream, and until then the endpoint is excluded here.
    async fn disable(&self, endpoint: &Endpoint, reason: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE dispatch_endpoints SET enabled = false WHERE id = $1")
            .bind(endpoint.id.as_uuid())
            .execute(&self.pool)
            .await?;
        let (id, org) = (endpoint.id, endpoint.organization_id);
        let Some(current) = load::<Endpoint>(&self.pool, org, id).await? else {
            return Ok(());
        };
        let disable = EndpointCommand::Disable {
            reason: reason.into(),
        };
        let events = match Endpoint::decide(Some(&current.state), &disable) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) | Err(DomainError::NotFound(_)) => return Ok(()), // already disabled, or deleted
            Err(other) => return Err(other.into()),
        };
        tracing::warn!(endpoint = %id, reason, "disabling webhook endpoint");
        let meta = EventMetadata {
            organization_id: org,
            causation_id: None,
            correlation_id: Uuid::now_v7(),
            occurred_at: Utc::now().trunc_subsecs(6),
        };
        let events = events
            .iter()
            .map(|e| NewEvent::from_domain(e, meta.clone()))
            .collect::<Result<_, _>>()?;
        let result = self
            .store
            .append(
                &StreamRef::of::<EndpointEvent>(id.as_uuid()),
                ExpectedVersion::Exact(current.version),
                events,
            )
            .await;
        match result {
            Ok(_) | Err(gangway_event_store::StoreError::Conflict { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
