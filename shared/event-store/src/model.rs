use chrono::{DateTime, Utc};
use gangway_domain::{OrganizationId, StreamEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Which stream an append targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRef {
    pub stream_type: String,
    pub stream_id: Uuid,
}

impl StreamRef {
    pub fn new(stream_type: impl Into<String>, stream_id: Uuid) -> Self {
        Self {
            stream_type: stream_type.into(),
            stream_id,
        }
    }

    pub fn of<E: StreamEvent>(stream_id: Uuid) -> Self {
        Self::new(E::STREAM_TYPE, stream_id)
    }
}

/// Who and what caused an event; carried on every event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMetadata {
    pub organization_id: OrganizationId,
    pub causation_id: Option<Uuid>,
    pub correlation_id: Uuid,
    pub occurred_at: DateTime<Utc>,
}

/// An event about to be appended.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i16,
    pub payload: Value,
    pub metadata: EventMetadata,
}

impl NewEvent {
    pub fn from_domain<E: StreamEvent>(
        event: &E,
        metadata: EventMetadata,
    ) -> Result<Self, gangway_domain::EventCodecError> {
        let (event_type, mut payload) = event.encode()?;
        // Text from outside that no check caught (Meta's error messages, names) must not make
        // the append fail: Postgres cannot store U+0000.
        gangway_domain::text::replace_nul(&mut payload);
        Ok(Self {
            event_id: Uuid::now_v7(),
            schema_version: E::schema_version(&event_type),
            event_type,
            payload,
            metadata,
        })
    }
}

/// A committed event as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    pub position: i64,
    pub transaction_id: i64,
    pub event_id: Uuid,
    pub stream_type: String,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub event_type: String,
    pub schema_version: i16,
    pub payload: Value,
    #[sqlx(try_from = "Uuid")]
    pub organization_id: OrganizationId,
    pub causation_id: Option<Uuid>,
    pub correlation_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// The typed event, upcast from the schema version it was stored at.
    pub fn decode<E: StreamEvent>(&self) -> Result<E, gangway_domain::EventCodecError> {
        E::decode(&self.event_type, self.schema_version, &self.payload)
    }

    pub fn cursor(&self) -> CommitCursor {
        CommitCursor {
            transaction_id: self.transaction_id,
            position: self.position,
        }
    }
}

/// A point in commit order: (appending transaction id, position). Events are read back ordered
/// by this pair, which never places an event before one whose transaction committed before
/// this event's transaction began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitCursor {
    pub transaction_id: i64,
    pub position: i64,
}
