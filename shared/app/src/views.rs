//! Views of entities that more than one adapter shows.

use crate::AppError;
use chrono::{DateTime, Utc};
use gangway_domain::{Aggregate, EntityId, OrganizationId, StreamEvent};
use gangway_event_store::{read_stream_after, RecordedEvent};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// One event of an audit trail.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: i64,
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

impl From<&RecordedEvent> for AuditEvent {
    fn from(e: &RecordedEvent) -> Self {
        Self {
            id: e.event_id,
            event_type: e.event_type.clone(),
            version: e.stream_version,
            position: e.position,
            occurred_at: e.occurred_at,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            data: e.payload.clone(),
        }
    }
}

/// The audit trail of one of `org`'s entities: every event of its stream, oldest first. Another
/// organization's entity, or one of another kind, is not found.
pub async fn audit_trail<A: Aggregate>(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: A::Id,
) -> Result<Vec<AuditEvent>, AppError> {
    let events = read_stream_after(db, id.as_uuid(), 0).await?;
    let owned = events
        .first()
        .is_some_and(|e| e.organization_id == org && e.stream_type == A::Event::STREAM_TYPE);
    if !owned {
        return Err(AppError::NotFound(A::NAME));
    }
    Ok(events.iter().map(AuditEvent::from).collect())
}
