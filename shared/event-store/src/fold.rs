//! Rebuilding an entity from its stream: the one fold every reader uses (commands, the CLI, the
//! projector, the dispatcher), and the loaders built on it.

use crate::{read_stream_after, RecordedEvent, StoreError};
use gangway_domain::{Aggregate, EntityId, EventCodecError, EventHeader, OrganizationId, StreamEvent};
use sqlx::PgExecutor;

/// An entity's state and the stream version it was folded from.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded<A> {
    pub state: A,
    pub version: i64,
}

impl RecordedEvent {
    /// Whose entity the event is about, and when it happened.
    pub fn header<Id: EntityId>(&self) -> EventHeader<Id> {
        EventHeader {
            id: Id::from_uuid(self.stream_id),
            organization_id: self.organization_id,
            occurred_at: self.occurred_at,
        }
    }
}

/// The state after one more recorded event.
pub fn evolve_recorded<A: Aggregate>(
    state: Option<A>,
    recorded: &RecordedEvent,
) -> Result<Option<A>, EventCodecError> {
    Ok(A::evolve(
        state,
        &recorded.decode::<A::Event>()?,
        &recorded.header(),
    ))
}

/// Folds a stream's events (oldest first) into the entity; `None` if they do not start one.
pub fn fold_recorded<A: Aggregate>(events: &[RecordedEvent]) -> Result<Option<Loaded<A>>, EventCodecError> {
    let decoded = events
        .iter()
        .map(|recorded| Ok((recorded.header(), recorded.decode::<A::Event>()?)))
        .collect::<Result<Vec<_>, EventCodecError>>()?;
    let version = events.last().map_or(0, |e| e.stream_version);
    Ok(gangway_domain::fold::<A>(decoded).map(|state| Loaded { state, version }))
}

/// The entity with this id, whichever organization it belongs to; `None` when there is no such
/// stream or it is of another type. Only for callers that have no tenant yet (the hosted page,
/// support tools): everything tenant-facing uses [`load`].
pub async fn load_any<A: Aggregate>(
    db: impl PgExecutor<'_>,
    id: A::Id,
) -> Result<Option<Loaded<A>>, StoreError> {
    let events = read_stream_after(db, id.as_uuid(), 0).await?;
    if events
        .first()
        .is_none_or(|e| e.stream_type != A::Event::STREAM_TYPE)
    {
        return Ok(None);
    }
    Ok(fold_recorded(&events)?)
}

/// The entity with this id if it belongs to `org`. Unknown ids, other types and other
/// organizations' entities are all `None`, which callers must not be able to tell apart.
pub async fn load<A: Aggregate>(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: A::Id,
) -> Result<Option<Loaded<A>>, StoreError> {
    let events = read_stream_after(db, id.as_uuid(), 0).await?;
    Ok(fold_owned(&events, org)?)
}

/// Folds a stream's events (oldest first) into the entity if they start one of `org`'s, as
/// [`load`] does.
pub fn fold_owned<A: Aggregate>(
    events: &[RecordedEvent],
    org: OrganizationId,
) -> Result<Option<Loaded<A>>, EventCodecError> {
    if events
        .first()
        .is_none_or(|e| e.organization_id != org || e.stream_type != A::Event::STREAM_TYPE)
    {
        return Ok(None);
    }
    fold_recorded(events)
}
