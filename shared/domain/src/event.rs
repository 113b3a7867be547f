//! How typed domain events become stored records and back.
//!
//! Each stream type has one event enum, serialised as `{"type": ..., "data": ...}`. The store keeps
//! the type and the data in separate columns; the type names are the stable contract, so renaming a
//! Rust variant never changes what is stored.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("event {event_type} could not be (de)serialised: {source}")]
pub struct EventCodecError {
    pub event_type: String,
    #[source]
    pub source: serde_json::Error,
}

pub trait StreamEvent: Serialize + DeserializeOwned {
    /// The stream category, e.g. `onboarding_link`.
    const STREAM_TYPE: &'static str;
    /// Payload schema version written for new events of this stream type.
    const SCHEMA_VERSION: i16 = 1;

    /// Splits the event into its type name and its data.
    fn encode(&self) -> Result<(String, Value), EventCodecError> {
        let tagged = serde_json::to_value(self).map_err(|source| EventCodecError {
            event_type: Self::STREAM_TYPE.into(),
            source,
        })?;
        let Value::Object(mut map) = tagged else {
            unreachable!("stream events are adjacently tagged enums");
        };
        let event_type = match map.remove("type") {
            Some(Value::String(t)) => t,
            _ => unreachable!("stream events are adjacently tagged enums"),
        };
        let data = map.remove("data").unwrap_or(Value::Object(Default::default()));
        Ok((event_type, data))
    }

    fn decode(event_type: &str, data: &Value) -> Result<Self, EventCodecError> {
        let tagged = serde_json::json!({ "type": event_type, "data": data });
        serde_json::from_value(tagged).map_err(|source| EventCodecError {
            event_type: event_type.into(),
            source,
        })
    }
}
