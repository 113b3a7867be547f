//! Events travel as CloudEvents 1.0 in structured JSON mode. Everything a consumer needs to
//! rebuild the stored record rides in CloudEvents extension attributes.

use chrono::{DateTime, Utc};
use gangway_domain::OrganizationId;
use gangway_event_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a CloudEvent: {0}")]
    Json(#[from] serde_json::Error),
    #[error("CloudEvent lacks or mangles the '{0}' attribute")]
    Attribute(&'static str),
}

/// An event in structured mode as it is written: borrowed from the record, serialized in one
/// pass. (Built through the SDK's `Event`, every attribute and the data were copied into a map
/// first: most of the relay's CPU.) The attributes come in the SDK's order.
#[derive(Serialize)]
struct Written<'a> {
    specversion: &'static str,
    id: Uuid,
    #[serde(rename = "type")]
    ty: &'a str,
    source: String,
    datacontenttype: &'static str,
    subject: Uuid,
    time: DateTime<Utc>,
    data: &'a Value,
    streamtype: &'a str,
    streamid: Uuid,
    streamversion: i64,
    position: i64,
    transactionid: i64,
    schemaversion: i64,
    organizationid: Uuid,
    correlationid: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    causationid: Option<Uuid>,
    recordedat: String,
}

pub fn encode_event(event: &RecordedEvent) -> Result<Vec<u8>, DecodeError> {
    Ok(serde_json::to_vec(&Written {
        specversion: "1.0",
        id: event.event_id,
        ty: &event.event_type,
        source: format!("/gangway/{}", event.stream_type),
        datacontenttype: "application/json",
        subject: event.stream_id,
        time: event.occurred_at,
        data: &event.payload,
        streamtype: &event.stream_type,
        streamid: event.stream_id,
        streamversion: event.stream_version,
        position: event.position,
        transactionid: event.transaction_id,
        schemaversion: i64::from(event.schema_version),
        organizationid: event.organization_id.as_uuid(),
        correlationid: event.correlation_id,
        causationid: event.causation_id,
        recordedat: event.recorded_at.to_rfc3339(),
    })?)
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
    fn the_cloudevents_sdk_reads_what_is_written() {
        use cloudevents::event::ExtensionValue;
        use cloudevents::{AttributesReader, Data};
        let event = recorded(Some(Uuid::now_v7()));
        let read: cloudevents::Event = serde_json::from_slice(&encode_event(&event).unwrap()).unwrap();
        assert_eq!(read.id(), event.event_id.to_string());
        assert_eq!(read.ty(), "onboarding_link.revoked");
        assert_eq!(read.source().as_str(), "/gangway/onboarding_link");
        assert_eq!(read.subject(), Some(event.stream_id.to_string().as_str()));
        assert_eq!(read.time(), Some(&event.occurred_at));
        assert_eq!(read.datacontenttype(), Some("application/json"));
        assert_eq!(read.data(), Some(&Data::Json(event.payload.clone())));
        let extension = |name| read.extension(name).cloned();
        assert_eq!(extension("streamversion"), Some(ExtensionValue::Integer(3)));
        assert_eq!(extension("transactionid"), Some(ExtensionValue::Integer(9001)));
        assert_eq!(
            extension("causationid"),
            Some(ExtensionValue::String(event.causation_id.unwrap().to_string()))
        );
        assert_eq!(
            extension("organizationid"),
            Some(ExtensionValue::String(event.organization_id.to_string()))
        );
        assert_eq!(
            extension("recordedat"),
            Some(ExtensionValue::String(event.recorded_at.to_rfc3339()))
        );
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
