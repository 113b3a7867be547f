//! Command handling: load state by folding streams, decide with the domain rules, append.

pub mod customers;
pub mod links;
pub mod organizations;

use chrono::{DateTime, SubsecRound, Utc};
use gangway_domain::customer::{Customer, CustomerEvent};
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::{CustomerId, LinkId, OrganizationId, StreamEvent};
use gangway_event_store::{read_stream_after, EventMetadata, NewEvent, RecordedEvent, StoreError};
use sqlx::PgExecutor;
use uuid::Uuid;

/// How often a command is retried when a concurrent writer got to its stream first.
const MAX_ATTEMPTS: usize = 5;

/// An entity's state and the stream version it was folded from.
pub struct Loaded<S> {
    pub state: S,
    pub version: i64,
}

fn fold<E: StreamEvent, S>(
    events: &[RecordedEvent],
    mut evolve: impl FnMut(Option<S>, &E, DateTime<Utc>) -> Option<S>,
) -> Result<Option<Loaded<S>>, StoreError> {
    let mut state = None;
    for recorded in events {
        state = evolve(state, &recorded.decode::<E>()?, recorded.occurred_at);
    }
    let version = events.last().map_or(0, |e| e.stream_version);
    Ok(state.map(|state| Loaded { state, version }))
}

/// The link if it exists and belongs to `org`; another organization's link is indistinguishable
/// from a missing one.
pub async fn load_link(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: LinkId,
) -> Result<Option<Loaded<Link>>, StoreError> {
    let events = read_stream_after(db, id.as_uuid(), 0).await?;
    if events
        .first()
        .is_none_or(|e| e.organization_id != org.as_uuid() || e.stream_type != LinkEvent::STREAM_TYPE)
    {
        return Ok(None);
    }
    fold(&events, |s, e: &LinkEvent, at| Link::evolve(s, id, org, e, at))
}

pub async fn load_customer(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: CustomerId,
) -> Result<Option<Loaded<Customer>>, StoreError> {
    let events = read_stream_after(db, id.as_uuid(), 0).await?;
    if events
        .first()
        .is_none_or(|e| e.organization_id != org.as_uuid() || e.stream_type != CustomerEvent::STREAM_TYPE)
    {
        return Ok(None);
    }
    fold(&events, |s, e: &CustomerEvent, at| {
        Customer::evolve(s, id, org, e, at)
    })
}

/// The current time at the precision Postgres stores, so what a command returns equals what is
/// read back later.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Takes a transaction-scoped lock on one entity, so commands on it queue instead of conflicting.
pub async fn lock_entity(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Metadata for the events of one command: they share a correlation id.
pub fn metadata(org: OrganizationId, correlation_id: Uuid, now: DateTime<Utc>) -> EventMetadata {
    EventMetadata {
        organization_id: org.as_uuid(),
        causation_id: None,
        correlation_id,
        occurred_at: now,
    }
}

pub fn new_event<E: StreamEvent>(event: &E, meta: &EventMetadata) -> Result<NewEvent, StoreError> {
    Ok(NewEvent::from_domain(event, meta.clone())?)
}
