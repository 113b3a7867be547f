//! Events travel as CloudEvents 1.0 in structured JSON mode. Everything a consumer needs to
//! rebuild the stored record rides in CloudEvents extension attributes.

use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use gangway_domain::OrganizationId;
use gangway_event_store::RecordedEvent;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a CloudEvent: {0}")]
    Json(#[from] serde_json::Error),
    #[error("CloudEvent could not be built: {0}")]
    Build(String),
    #[error("CloudEvent lacks or mangles the '{0}' attribute")]
    Attribute(&'static str),
}

pub fn encode_event(event: &RecordedEvent) -> Result<Vec<u8>, DecodeError> {
    let mut builder = EventBuilderV10::new()
        .id(event.event_id.to_string())
        .ty(event.event_type.clone())
        .source(format!("/gangway/{}", event.stream_type))
        .subject(event.stream_id.to_string())
        .time(event.occurred_at)
        .data("application/json", event.payload.clone())
        .extension("streamtype", event.stream_type.clone())
        .extension("streamid", event.stream_id.to_string())
        .extension("streamversion", event.stream_version)
        .extension("position", event.position)
        .extension("transactionid", event.transaction_id)
        .extension("schemaversion", i64::from(event.schema_version))
        .extension("organizationid", event.organization_id.to_string())
        .extension("correlationid", event.correlation_id.to_string())
        .extension("recordedat", event.recorded_at.to_rfc3339());
    if let Some(causation) = event.causation_id {
        builder = builder.extension("causationid", causation.to_string());
    }
    let cloud_event = builder.build().map_err(|e| DecodeError::Build(e.to_string()))?;
    Ok(serde_json::to_vec(&cloud_event)?)
}

pub fn decode_event(body: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let event: Event = serde_json::from_slice(body)?;
    let text = |name: &'static str| -> Result<String, DecodeError> {
        event
            .extension(name)
            .map(|v| v.to_string())
            .ok_or(DecodeError::Attribute(name))
    };
    let uuid = |name: &'static str| -> Result<Uuid, DecodeError> {
        text(name)?.parse().map_err(|_| DecodeError::Attribute(name))
    };
    let int = |name: &'static str| -> Result<i64, DecodeError> {
        text(name)?.parse().map_err(|_| DecodeError::Attribute(name))
    };
    let payload = match event.data() {
        Some(Data::Json(value)) => value.clone(),
        Some(Data::String(s)) => serde_json::from_str(s)?,
        Some(Data::Binary(b)) => serde_json::from_slice(b)?,
        None => return Err(DecodeError::Attribute("data")),
    };
    let recorded_at: DateTime<Utc> = text("recordedat")?
        .parse()
        .map_err(|_| DecodeError::Attribute("recordedat"))?;
    Ok(RecordedEvent {
        position: int("position")?,
        transaction_id: int("transactionid")?,
        event_id: event.id().parse().map_err(|_| DecodeError::Attribute("id"))?,
        stream_type: text("streamtype")?,
        stream_id: uuid("streamid")?,
        stream_version: int("streamversion")?,
        event_type: event.ty().to_owned(),
        schema_version: i16::try_from(int("schemaversion")?)
            .map_err(|_| DecodeError::Attribute("schemaversion"))?,
        payload,
        organization_id: OrganizationId::from_uuid(uuid("organizationid")?),
        causation_id: event
            .extension("causationid")
            .map(|v| v.to_string().parse())
            .transpose()
            .map_err(|_| DecodeError::Attribute("causationid"))?,
        correlation_id: uuid("correlationid")?,
        occurred_at: *event.time().ok_or(DecodeError::Attribute("time"))?,
        recorded_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_event_survives_the_cloudevent_round_trip() {
        let now = Utc::now();
        let event = RecordedEvent {
            position: 42,
            transaction_id: 9001,
            event_id: Uuid::now_v7(),
            stream_type: "onboarding_link".into(),
            stream_id: Uuid::now_v7(),
            stream_version: 3,
            event_type: "onboarding_link.revoked".into(),
            schema_version: 1,
            payload: serde_json::json!({"supersededBy": "x"}),
            organization_id: OrganizationId::new(),
            causation_id: Some(Uuid::now_v7()),
            correlation_id: Uuid::now_v7(),
            occurred_at: now,
            recorded_at: now,
        };
        let body = encode_event(&event).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "onboarding_link.revoked");
        assert_eq!(decode_event(&body).unwrap(), event);
    }
}
