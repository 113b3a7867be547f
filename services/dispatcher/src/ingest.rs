//! Recording webhook messages: one per (outgoing event, subscribed endpoint), idempotently, before
//! the events are acknowledged.
//!
//! Several events are recorded in one transaction, their messages in one statement. A message
//! the deliverer has room for is recorded leased, with its first attempt counted, and handed to a
//! sender, which records the attempt's outcome only once it learns that this batch committed the
//! message. On the events' first delivery the sender does not wait for the record's flush: it
//! sends while the statement runs. Nothing is lost either way: an event whose messages could not
//! be recorded is not acknowledged, so it comes again, and its messages go again under the same
//! `webhook-id`, recorded first this time.

use crate::attempt::Delivery;
use crate::outgoing::outgoing;
use chrono::{DateTime, Utc};
use gangway_domain::catalog::EventType;
use gangway_domain::webhook::{Endpoint, EndpointEvent, EndpointStatus};
use gangway_domain::{EndpointId, MessageId, OrganizationId, StreamEvent};
use gangway_event_store::{fold_recorded, read_stream_after, Loaded, RecordedEvent};
use sqlx::{PgConnection, PgPool};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

/// How a sender that started before its message was recorded learns whether this batch recorded
/// it (`true`) or not (`false`, or dropped: the batch failed).
pub type Recorded = oneshot::Sender<bool>;

/// What a batch of events led to.
#[derive(Debug, PartialEq, Eq)]
pub struct Ingested {
    /// Messages recorded now (0 when they already were: a redelivery).
    pub messages: u64,
    /// Of those, the ones already being sent.
    pub started: u64,
}

/// An endpoint as routing sees it: its document, and whether its backlog is parked.
struct Route {
    endpoint: Endpoint,
    parked: bool,
}

/// A message to record, and how to tell its sender, if it was started.
struct Pending {
    delivery: Delivery,
    started: Option<Recorded>,
}

/// What one statement recorded, not yet told to the senders: that waits for the commit.
struct Written {
    messages: u64,
    tell: Vec<(Recorded, bool)>,
}

impl Written {
    fn tell(self) -> Ingested {
        let mut started = 0;
        for (sender, recorded) in self.tell {
            started += u64::from(recorded);
            let _ = sender.send(recorded);
        }
        Ingested {
            messages: self.messages,
            started,
        }
    }
}

/// Handles one event in one transaction. Safe to repeat.
pub async fn ingest(pool: &PgPool, event: &RecordedEvent) -> anyhow::Result<u64> {
    let none = |_: &Delivery, _: &Endpoint| None;
    Ok(
        ingest_batch(pool, std::slice::from_ref(event), Duration::ZERO, none)
            .await?
            .messages,
    )
}

/// Handles `events` in order, all or nothing. Safe to repeat. `start` is offered each new
/// message to an endpoint that is not parked, as its first attempt, and may start sending it at
/// once; if it does, the message is recorded with a lease of `lease`, and the sender is told
/// through the returned [`Recorded`] once the record is committed.
pub async fn ingest_batch(
    pool: &PgPool,
    events: &[RecordedEvent],
    lease: Duration,
    start: impl FnMut(&Delivery, &Endpoint) -> Option<Recorded>,
) -> anyhow::Result<Ingested> {
    let written = if events.iter().any(|e| e.stream_type == EndpointEvent::STREAM_TYPE) {
        // Endpoint changes and the messages routed by them commit together.
        let mut tx = pool.begin().await?;
        let written = record(&mut tx, events, lease, start).await?;
        tx.commit().await?;
        written
    } else {
        // The only write is one insert, atomic by itself: no BEGIN and COMMIT round trips on the
        // way to a delivery. (Each read sees committed state either way.)
        let mut conn = pool.acquire().await?;
        record(&mut conn, events, lease, start).await?
    };
    Ok(written.tell())
}

async fn record(
    conn: &mut PgConnection,
    events: &[RecordedEvent],
    lease: Duration,
    mut start: impl FnMut(&Delivery, &Endpoint) -> Option<Recorded>,
) -> anyhow::Result<Written> {
    let mut routes: HashMap<OrganizationId, Vec<Route>> = HashMap::new();
    let mut pending = Vec::new();
    let mut seen = HashSet::new();
    for event in events {
        if event.stream_type == EndpointEvent::STREAM_TYPE {
            refresh_endpoint(&mut *conn, event.stream_id).await?;
            // Later events of this batch route by the new state.
            routes.remove(&event.organization_id);
        } else if seen.insert(event.event_id) {
            // An event twice in one batch (a redelivery) is routed, and sent, once.
            messages(&mut *conn, event, &mut routes, &mut pending, &mut start).await?;
        }
    }
    insert(conn, pending, lease).await
}

/// Brings the endpoints of `orgs` up to date with the store. Relayed
/// messages arrive on a stream of their own, possibly ahead of the endpoint events committed
/// before them; after this, they are routed by every endpoint change committed before they were
/// received, as events of the same stream are.
pub async fn bring_endpoints_up_to_date(
    pool: &PgPool,
    orgs: impl IntoIterator<Item = OrganizationId>,
) -> anyhow::Result<()> {
    let mut orgs: Vec<Uuid> = orgs.into_iter().map(|org| org.as_uuid()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    // The stream type is written into the statement, so that one cached plan can use the
    // partial index on endpoint streams; as a parameter, every call would be planned again.
    let behind: Vec<Uuid> = sqlx::query_scalar(&format!(
        "SELECT e.stream_id FROM events e \
         WHERE e.stream_type = '{}' AND e.organization_id = ANY($1) \
         GROUP BY e.stream_id \
         HAVING max(e.stream_version) > COALESCE( \
             (SELECT d.stream_version FROM dispatch_endpoints d WHERE d.id = e.stream_id), 0)",
        EndpointEvent::STREAM_TYPE
    ))
    .bind(&orgs)
    .fetch_all(pool)
    .await?;
    if behind.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for stream_id in behind {
        refresh_endpoint(&mut tx, stream_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn refresh_endpoint(conn: &mut PgConnection, stream_id: Uuid) -> anyhow::Result<()> {
    // Fold the whole stream from the store: correct whatever order the events arrived in.
    let events = read_stream_after(&mut *conn, stream_id, 0).await?;
    let Some(Loaded {
        state: endpoint,
        version,
    }) = fold_recorded::<Endpoint>(&events)?
    else {
        return Ok(());
    };
    let document = serde_json::to_value(&endpoint)?;
    sqlx::query(
        "INSERT INTO dispatch_endpoints (id, organization_id, stream_version, document, enabled) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET stream_version = EXCLUDED.stream_version, \
             document = EXCLUDED.document, enabled = EXCLUDED.enabled, \
             -- Re-enabling gives the endpoint a fresh start.
             failing_since = CASE WHEN EXCLUDED.enabled AND NOT dispatch_endpoints.enabled THEN NULL \
                                  ELSE dispatch_endpoints.failing_since END, \
             circuit_open_until = CASE WHEN EXCLUDED.enabled AND NOT dispatch_endpoints.enabled THEN NULL \
                                  ELSE dispatch_endpoints.circuit_open_until END \
         WHERE dispatch_endpoints.stream_version < EXCLUDED.stream_version",
    )
    .bind(endpoint.id.as_uuid())
    .bind(endpoint.organization_id.as_uuid())
    .bind(version)
    .bind(document)
    .bind(endpoint.status == EndpointStatus::Enabled)
    .execute(conn)
    .await?;
    Ok(())
}

/// The message id, and so the `webhook-id`: derived, so recording it again is a no-op.
pub fn message_id(event_id: Uuid, endpoint: EndpointId, event_type: EventType) -> MessageId {
    MessageId::from_uuid(Uuid::new_v5(
        &event_id,
        format!("{endpoint}:{event_type}").as_bytes(),
    ))
}

/// The messages of one event, added to `pending`.
async fn messages(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    routes: &mut HashMap<OrganizationId, Vec<Route>>,
    pending: &mut Vec<Pending>,
    start: &mut impl FnMut(&Delivery, &Endpoint) -> Option<Recorded>,
) -> anyhow::Result<()> {
    let outgoing = outgoing(&mut *conn, event).await?;
    if outgoing.is_empty() {
        return Ok(());
    }
    let org = event.organization_id;
    if let Entry::Vacant(vacant) = routes.entry(event.organization_id) {
        let rows: Vec<(serde_json::Value, bool)> = sqlx::query_as(
            "SELECT document, circuit_open_until IS NOT NULL AND circuit_open_until > now() \
             FROM dispatch_endpoints WHERE organization_id = $1 AND enabled",
        )
        .bind(org.as_uuid())
        .fetch_all(&mut *conn)
        .await?;
        let found = rows
            .into_iter()
            .filter_map(|(document, parked)| {
                let endpoint = serde_json::from_value(document).ok()?;
                Some(Route { endpoint, parked })
            })
            .collect();
        vacant.insert(found);
    }
    let endpoints = &routes[&event.organization_id];
    for out in &outgoing {
        let body = out.body(org, event.occurred_at);
        for route in endpoints
            .iter()
            .filter(|r| r.endpoint.wants(out.event_type, out.waba))
        {
            let endpoint = &route.endpoint;
            let delivery = Delivery {
                message_id: message_id(event.event_id, endpoint.id, out.event_type),
                organization_id: org,
                endpoint_id: endpoint.id,
                event_id: event.event_id,
                event_type: out.event_type,
                body: body.clone(),
                occurred_at: event.occurred_at,
                attempts: 1,
            };
            let started = if route.parked {
                None
            } else {
                start(&delivery, endpoint)
            };
            pending.push(Pending { delivery, started });
        }
    }
    Ok(())
}

/// Records `pending` in one statement; those being sent are recorded leased, with their first
/// attempt counted. Whether each was recorded now (and not before) is told once committed.
async fn insert(conn: &mut PgConnection, pending: Vec<Pending>, lease: Duration) -> anyhow::Result<Written> {
    if pending.is_empty() {
        return Ok(Written {
            messages: 0,
            tell: Vec::new(),
        });
    }
    let n = pending.len();
    let (mut ids, mut orgs, mut endpoints, mut events) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut types, mut bodies, mut occurred, mut leased) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::<DateTime<Utc>>::with_capacity(n),
        Vec::with_capacity(n),
    );
    for p in &pending {
        let d = &p.delivery;
        ids.push(d.message_id.as_uuid());
        orgs.push(d.organization_id.as_uuid());
        endpoints.push(d.endpoint_id.as_uuid());
        events.push(d.event_id);
        types.push(d.event_type.as_str());
        bodies.push(d.body.as_str());
        occurred.push(d.occurred_at);
        leased.push(p.started.is_some());
    }
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO webhook_messages (id, organization_id, endpoint_id, event_id, event_type, body, \
             occurred_at, attempts, leased_until) \
         SELECT id, organization_id, endpoint_id, event_id, event_type, body, occurred_at, \
             CASE WHEN leased THEN 1 ELSE 0 END, \
             CASE WHEN leased THEN now() + make_interval(secs => $9) END \
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], \
                     $7::timestamptz[], $8::bool[]) \
             AS t(id, organization_id, endpoint_id, event_id, event_type, body, occurred_at, leased) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .bind(&orgs)
    .bind(&endpoints)
    .bind(&events)
    .bind(&types)
    .bind(&bodies)
    .bind(&occurred)
    .bind(&leased)
    .bind(lease.as_secs_f64())
    .fetch_all(&mut *conn)
    .await?;
    let messages = inserted.len() as u64;
    let inserted: HashSet<Uuid> = inserted.into_iter().collect();
    // A message recorded before (a redelivery) keeps its own record and schedule: the copy sent
    // now records no outcome.
    let tell = pending
        .into_iter()
        .filter_map(|p| {
            let recorded = inserted.contains(&p.delivery.message_id.as_uuid());
            Some((p.started?, recorded))
        })
        .collect();
    Ok(Written { messages, tell })
}
