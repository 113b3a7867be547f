//! Events travel as CloudEvents 1.0 in structured JSON mode. Everything a consumer needs to
//! rebuild the stored record rides in CloudEvents extension attributes.

use chrono::{DateTime, Utc};
use cloudevents::{EventBuilder, EventBuilderV10};
use gangway_domain::OrganizationId;
use gangway_event_store::RecordedEvent;
use serde::Deserialize;
use serde_json::Value;
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

/// An event in structured mode, decoded straight into its types. (The SDK's `Event` first builds
/// a map of every attribute and then needs its data copied out: that was most of a consumer's
/// CPU when catching up.) Attributes the record does not need (`source`, `subject`,
/// `datacontenttype`) are ignored.
#[derive(Deserialize)]
struct Structured {
    specversion: String,
    id: Uuid,
    #[serde(rename = "type")]
    ty: String,
    time: DateTime<Utc>,
    data: Value,
    streamtype: String,
    streamid: Uuid,
    streamversion: i64,
    position: i64,
    transactionid: i64,
    schemaversion: i16,
    organizationid: Uuid,
    correlationid: Uuid,
    causationid: Option<Uuid>,
    recordedat: DateTime<Utc>,
}

pub fn decode_event(body: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let event: Structured = serde_json::from_slice(body)?;
    if event.specversion != "1.0" {
        return Err(DecodeError::Attribute("specversion"));
    }
    Ok(RecordedEvent {
        position: event.position,
        transaction_id: event.transactionid,
        event_id: event.id,
        stream_type: event.streamtype,
        stream_id: event.streamid,
        stream_version: event.streamversion,
        event_type: event.ty,
        schema_version: event.schemaversion,
        payload: event.data,
        organization_id: OrganizationId::from_uuid(event.organizationid),
        causation_id: event.causationid,
        correlation_id: event.correlationid,
        occurred_at: event.time,
        recorded_at: event.recordedat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(causation_id: Option<Uuid>) -> RecordedEvent {
        let now = Utc::now();
        RecordedEvent {
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
            causation_id,
            correlation_id: Uuid::now_v7(),
            occurred_at: now,
            recorded_at: now,
        }
    }

    #[test]
    fn a_recorded_event_survives_the_cloudevent_round_trip() {
        for event in [recorded(Some(Uuid::now_v7())), recorded(None)] {
            let body = encode_event(&event).unwrap();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["specversion"], "1.0");
            assert_eq!(json["type"], "onboarding_link.revoked");
            assert_eq!(decode_event(&body).unwrap(), event);
        }
    }

    #[test]
    fn a_cloudevent_missing_an_attribute_or_of_another_spec_version_is_refused() {
        let body = encode_event(&recorded(None)).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut without_stream = json.clone();
        without_stream.as_object_mut().unwrap().remove("streamid");
        let error = decode_event(&serde_json::to_vec(&without_stream).unwrap()).unwrap_err();
        assert!(error.to_string().contains("streamid"), "{error}");
        let mut other_version = json;
        other_version["specversion"] = "0.3".into();
        let error = decode_event(&serde_json::to_vec(&other_version).unwrap()).unwrap_err();
        assert!(error.to_string().contains("specversion"), "{error}");
    }
}
