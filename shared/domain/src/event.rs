//! How typed domain events become stored records and back.
//!
//! Each stream type has one event enum, serialised as `{"type": ..., "data": ...}`. The store keeps
//! the type and the data in separate columns; the type names are the stable contract, so renaming a
//! Rust variant never changes what is stored. Each stored event also records the schema version
//! its data was written at, so that data written by older code can be upcast to the current
//! shape before it is deserialised (see [`crate::evolution`] and `docs/events.md`).

use crate::evolution::{self, Upcaster};
use serde::de::value::MapDeserializer;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum EventCodecError {
    #[error("event {event_type} could not be (de)serialised: {source}")]
    Json {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
    /// Written by newer code (or corrupt): reading it as the current shape could misread it.
    #[error(
        "event {event_type} is stored at schema version {stored}; this code reads versions 1 to {current}"
    )]
    UnknownVersion {
        event_type: String,
        stored: i16,
        current: i16,
    },
    #[error("event {event_type} could not be upcast from schema version {from}: {reason}")]
    Upcast {
        event_type: String,
        from: i16,
        reason: String,
    },
}

pub trait StreamEvent: Serialize + DeserializeOwned {
    /// The stream category, e.g. `onboarding_link`.
    const STREAM_TYPE: &'static str;
    /// The stored name of every variant, e.g. `onboarding_link.created`. The golden-file test
    /// checks it against the enum and requires a golden file for each.
    const EVENT_TYPES: &'static [&'static str];
    /// The steps that turn data stored at an older schema version into the next one. An event
    /// type's current version is 1 plus the number of its upcasters.
    const UPCASTERS: &'static [Upcaster] = &[];

    /// The schema version new events of `event_type` are written at.
    fn schema_version(event_type: &str) -> i16 {
        evolution::current_version(Self::UPCASTERS, event_type)
    }

    /// Splits the event into its type name and its data (at the current schema version).
    fn encode(&self) -> Result<(String, Value), EventCodecError> {
        let tagged = serde_json::to_value(self).map_err(|source| EventCodecError::Json {
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

    /// Reads data stored at `schema_version`: upcasts it to the current version, then
    /// deserialises it. A version above the current one is an error, never a guess.
    fn decode(event_type: &str, schema_version: i16, data: &Value) -> Result<Self, EventCodecError> {
        // Data at the current version is read where it lies; only older data is copied to be
        // upcast. Replays decode every event, so this copy was a good part of their time.
        let upcast;
        let data = if schema_version == evolution::current_version(Self::UPCASTERS, event_type) {
            data
        } else {
            upcast = evolution::upcast(Self::UPCASTERS, event_type, schema_version, data.clone())?;
            &upcast
        };
        let tag = Value::String(event_type.to_owned());
        let tagged = MapDeserializer::new([("type", &tag), ("data", data)].into_iter());
        Self::deserialize(tagged).map_err(|source: serde_json::Error| EventCodecError::Json {
            event_type: event_type.into(),
            source,
        })
    }
}
