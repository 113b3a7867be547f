//! Views of entities that more than one adapter shows.

use chrono::{DateTime, Utc};
use gangway_event_store::RecordedEvent;
use serde::Serialize;
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
