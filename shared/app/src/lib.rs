//! Gangway's use cases, shared by the api and the CLI: each loads what it needs by folding
//! streams, decides with the domain rules and appends the events, over the event store, the
//! vault and Meta's Graph API. Nothing here knows about HTTP; errors are [`AppError`].

pub mod api_keys;
pub mod console_sessions;
pub mod customers;
pub mod delivery_log;
pub mod error;
pub mod expiry;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod known_customers;
pub mod links;
pub mod messages;
mod one_statement;
pub mod organizations;
pub mod phones;
pub mod redirects;
pub mod signup;
pub mod system_status;
pub mod vault_hygiene;
pub mod views;
pub mod webhooks;
pub mod whatsapp_relay;

pub use error::AppError;

use chrono::{DateTime, SubsecRound, Utc};
use gangway_domain::{Aggregate, EntityId, EventHeader, OrganizationId, StreamEvent};
pub use gangway_event_store::{load, load_any, Loaded};
use gangway_event_store::{
    EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError, StreamAppend, StreamRef,
};
use gangway_meta_graph::GraphClient;
use gangway_vault::Vault;
use sqlx::PgPool;
use uuid::Uuid;

/// What every use case works over.
#[derive(Clone)]
pub struct App {
    pub store: EventStore,
    pub vault: Vault,
    pub graph: GraphClient,
    /// Which customers' links go the existing customer's way first.
    pub known_customers: known_customers::KnownCustomers,
}

impl App {
    pub fn pool(&self) -> &PgPool {
        self.store.pool()
    }

    /// Appends a decided command's events in a transaction of their own (nothing when the
    /// command came to none).
    pub async fn append(&self, append: Option<StreamAppend>) -> Result<(), StoreError> {
        if let Some(append) = append {
            self.store
                .append(&append.stream, append.expected, append.events)
                .await?;
        }
        Ok(())
    }
}

/// How often a command is retried when a concurrent writer got to its stream first.
const MAX_ATTEMPTS: usize = 5;

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

/// Takes a transaction-scoped lock on something that is not an entity (e.g. a Meta number).
pub async fn lock_name(conn: &mut sqlx::PgConnection, name: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Metadata for the events of one command: they share a correlation id.
pub fn metadata(org: OrganizationId, correlation_id: Uuid, now: DateTime<Utc>) -> EventMetadata {
    EventMetadata {
        organization_id: org,
        causation_id: None,
        correlation_id,
        occurred_at: now,
    }
}

/// The events a command comes to on an entity (none when it is already as asked), ready to be
/// appended at the version the entity was loaded at.
pub struct Decided<A: Aggregate> {
    pub events: Vec<A::Event>,
    pub append: Option<StreamAppend>,
}

impl<A: Aggregate> Decided<A> {
    /// The entity after the events, from the state they were decided on.
    pub fn state_after(&self, before: Option<A>, id: A::Id, meta: &EventMetadata) -> Option<A> {
        let header = EventHeader {
            id,
            organization_id: meta.organization_id,
            occurred_at: meta.occurred_at,
        };
        A::evolve_all(before, &self.events, &header)
    }

    /// The loaded entity after the events, at the version they were appended at.
    pub fn loaded_after(
        &self,
        loaded: Loaded<A>,
        id: A::Id,
        meta: &EventMetadata,
    ) -> Result<Loaded<A>, AppError> {
        let version = loaded.version + self.events.len() as i64;
        let state = self
            .state_after(Some(loaded.state), id, meta)
            .ok_or_else(|| anyhow::anyhow!("an event ended the {}", A::NAME))?;
        Ok(Loaded { state, version })
    }
}

/// Decides `command` on the entity `id` as loaded (`None`: it does not exist yet).
pub fn decide<A: Aggregate>(
    loaded: Option<&Loaded<A>>,
    id: A::Id,
    command: &A::Command,
    meta: &EventMetadata,
) -> Result<Decided<A>, AppError> {
    let events = A::decide(loaded.map(|l| &l.state), command)?;
    let append = if events.is_empty() {
        None
    } else {
        Some(StreamAppend {
            stream: StreamRef::of::<A::Event>(id.as_uuid()),
            expected: loaded.map_or(ExpectedVersion::NoStream, |l| ExpectedVersion::Exact(l.version)),
            events: events
                .iter()
                .map(|e| new_event(e, meta))
                .collect::<Result<_, _>>()?,
        })
    };
    Ok(Decided { events, append })
}

/// Runs a command on one entity of `org`: load, decide, append at the version loaded. When a
/// concurrent writer got there first, the command is decided again on the new state. Returns the
/// entity as it is afterwards.
pub async fn execute<A: Aggregate + Clone>(
    app: &App,
    org: OrganizationId,
    id: A::Id,
    command: impl Fn(DateTime<Utc>) -> A::Command,
) -> Result<A, AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let loaded = load::<A>(app.pool(), org, id).await?;
        let now = now();
        let meta = metadata(org, Uuid::now_v7(), now);
        let decided = decide(loaded.as_ref(), id, &command(now), &meta)?;
        match app.append(decided.append.clone()).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        return decided
            .state_after(loaded.map(|l| l.state), id, &meta)
            .ok_or(AppError::NotFound(A::NAME));
    }
    Err(AppError::concurrent_modification(A::NAME))
}

pub fn new_event<E: StreamEvent>(event: &E, meta: &EventMetadata) -> Result<NewEvent, StoreError> {
    Ok(NewEvent::from_domain(event, meta.clone())?)
}
