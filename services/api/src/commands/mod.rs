//! Command handling: load state by folding streams, decide with the domain rules, append.

pub mod customers;
pub mod expiry;
pub mod health;
pub mod links;
pub mod messages;
pub mod organizations;
pub mod phones;
pub mod receipts;
pub mod signup;
pub mod webhooks;

use chrono::{DateTime, SubsecRound, Utc};
use gangway_domain::customer::{Customer, CustomerEvent};
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::phone::{Phone, PhoneEvent};
use gangway_domain::{CustomerId, LinkId, OrganizationId, PhoneId, StreamEvent};
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

/// Reads and folds a stream of `org`; `None` if it does not exist, is of another type, or belongs
/// to another organization (which callers must not be able to tell apart).
async fn load<E: StreamEvent, S>(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: Uuid,
    evolve: impl FnMut(Option<S>, &E, DateTime<Utc>) -> Option<S>,
) -> Result<Option<Loaded<S>>, StoreError> {
    let events = read_stream_after(db, id, 0).await?;
    if events
        .first()
        .is_none_or(|e| e.organization_id != org.as_uuid() || e.stream_type != E::STREAM_TYPE)
    {
        return Ok(None);
    }
    fold(&events, evolve)
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

pub async fn load_link(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: LinkId,
) -> Result<Option<Loaded<Link>>, StoreError> {
    load(db, org, id.as_uuid(), |s, e: &LinkEvent, at| {
        Link::evolve(s, id, org, e, at)
    })
    .await
}

/// A link by id alone, whichever organization it belongs to. Only for the hosted page and its
/// callback: everything tenant-facing uses [`load_link`].
pub async fn find_link(db: impl PgExecutor<'_>, id: LinkId) -> Result<Option<Loaded<Link>>, StoreError> {
    let events = read_stream_after(db, id.as_uuid(), 0).await?;
    let Some(first) = events.first().filter(|e| e.stream_type == LinkEvent::STREAM_TYPE) else {
        return Ok(None);
    };
    let org = OrganizationId::from_uuid(first.organization_id);
    fold(&events, |s, e: &LinkEvent, at| Link::evolve(s, id, org, e, at))
}

pub async fn load_phone(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: PhoneId,
) -> Result<Option<Loaded<Phone>>, StoreError> {
    load(db, org, id.as_uuid(), |s, e: &PhoneEvent, at| {
        Phone::evolve(s, id, org, e, at)
    })
    .await
}

pub async fn load_customer(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: CustomerId,
) -> Result<Option<Loaded<Customer>>, StoreError> {
    load(db, org, id.as_uuid(), |s, e: &CustomerEvent, at| {
        Customer::evolve(s, id, org, e, at)
    })
    .await
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
