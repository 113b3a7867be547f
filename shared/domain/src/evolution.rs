//! Event evolution: reading data stored by older code.
//!
//! Stored events are never rewritten. When the shape of an event type's data changes
//! incompatibly, its schema version goes up by one and an [`Upcaster`] turns data of the previous
//! version into the new shape; [`StreamEvent::decode`] runs the chain from the stored version up
//! to the current one before deserialising. The rules are in `docs/events.md`.

use crate::event::{EventCodecError, StreamEvent};
use serde_json::Value;

/// One step of an event type's evolution: data stored at `from_version` in, data of
/// `from_version + 1` out. An error says why this stored data cannot be read.
#[derive(Clone, Copy, Debug)]
pub struct Upcaster {
    pub event_type: &'static str,
    pub from_version: i16,
    pub upcast: fn(Value) -> Result<Value, String>,
}

/// The version `event_type` is written at: 1 plus the number of its upcasters.
pub fn current_version(upcasters: &[Upcaster], event_type: &str) -> i16 {
    let steps = upcasters.iter().filter(|u| u.event_type == event_type).count();
    1 + i16::try_from(steps).expect("fewer than i16::MAX upcasters")
}

/// Brings `data`, stored at `stored` for `event_type`, up to the current version.
pub fn upcast(
    upcasters: &[Upcaster],
    event_type: &str,
    stored: i16,
    mut data: Value,
) -> Result<Value, EventCodecError> {
    let current = current_version(upcasters, event_type);
    if !(1..=current).contains(&stored) {
        return Err(EventCodecError::UnknownVersion {
            event_type: event_type.into(),
            stored,
            current,
        });
    }
    for from in stored..current {
        let failed = |reason: String| EventCodecError::Upcast {
            event_type: event_type.into(),
            from,
            reason,
        };
        let step = upcasters
            .iter()
            .find(|u| u.event_type == event_type && u.from_version == from)
            .ok_or_else(|| failed("no upcaster from this version".into()))?;
        data = (step.upcast)(data).map_err(failed)?;
    }
    Ok(data)
}

/// Checks `E::UPCASTERS`: each names one of `E::EVENT_TYPES`, and each event type's upcasters
/// start at version 1 with no gap or duplicate, so every version below the current one can be
/// read.
pub fn check_upcasters<E: StreamEvent>() -> Result<(), String> {
    for u in E::UPCASTERS {
        if !E::EVENT_TYPES.contains(&u.event_type) {
            return Err(format!("upcaster for unknown event type {}", u.event_type));
        }
    }
    for event_type in E::EVENT_TYPES {
        let mut from: Vec<i16> = E::UPCASTERS
            .iter()
            .filter(|u| u.event_type == *event_type)
            .map(|u| u.from_version)
            .collect();
        from.sort_unstable();
        let expected: Vec<i16> = (1..E::schema_version(event_type)).collect();
        if from != expected {
            return Err(format!(
                "{event_type}: upcasters from versions {from:?}, expected {expected:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    /// A made-up stream whose `contact.added` is at version 3:
    /// v1 `{"name", "phone"}`, v2 renamed `name` to `displayName`, v3 made `phone` a list `phones`.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    enum ContactEvent {
        #[serde(rename = "contact.added", rename_all = "camelCase")]
        Added {
            display_name: String,
            phones: Vec<String>,
        },
        #[serde(rename = "contact.removed")]
        Removed {},
    }

    impl StreamEvent for ContactEvent {
        const STREAM_TYPE: &'static str = "contact";
        const EVENT_TYPES: &'static [&'static str] = &["contact.added", "contact.removed"];
        const UPCASTERS: &'static [Upcaster] = &[
            Upcaster {
                event_type: "contact.added",
                from_version: 1,
                upcast: rename_name,
            },
            Upcaster {
                event_type: "contact.added",
                from_version: 2,
                upcast: phone_to_phones,
            },
        ];
    }

    fn rename_name(mut data: Value) -> Result<Value, String> {
        let name = data
            .as_object_mut()
            .and_then(|o| o.remove("name"))
            .ok_or("no name")?;
        data["displayName"] = name;
        Ok(data)
    }

    fn phone_to_phones(mut data: Value) -> Result<Value, String> {
        let phone = data.as_object_mut().and_then(|o| o.remove("phone"));
        data["phones"] = match phone {
            None | Some(Value::Null) => json!([]),
            Some(phone) => json!([phone]),
        };
        Ok(data)
    }

    fn ada() -> ContactEvent {
        ContactEvent::Added {
            display_name: "Ada".into(),
            phones: vec!["+15550100001".into()],
        }
    }

    #[test]
    fn every_stored_version_reads_as_the_current_shape() {
        let v1 = json!({ "name": "Ada", "phone": "+15550100001" });
        let v2 = json!({ "displayName": "Ada", "phone": "+15550100001" });
        let v3 = json!({ "displayName": "Ada", "phones": ["+15550100001"] });
        for (version, data) in [(1, v1), (2, v2), (3, v3)] {
            let event = ContactEvent::decode("contact.added", version, &data);
            assert_eq!(event.unwrap(), ada(), "v{version}");
        }
    }

    #[test]
    fn new_events_are_written_at_the_current_version_of_their_type() {
        assert_eq!(ContactEvent::schema_version("contact.added"), 3);
        assert_eq!(ContactEvent::schema_version("contact.removed"), 1);
        let (event_type, data) = ada().encode().unwrap();
        assert_eq!(data, json!({ "displayName": "Ada", "phones": ["+15550100001"] }));
        assert_eq!(ContactEvent::decode(&event_type, 3, &data).unwrap(), ada());
    }

    #[test]
    fn a_version_newer_than_the_code_knows_is_an_error() {
        let data = json!({ "displayName": "Ada", "phones": [] });
        let err = ContactEvent::decode("contact.added", 4, &data).unwrap_err();
        assert!(
            matches!(
                err,
                EventCodecError::UnknownVersion {
                    stored: 4,
                    current: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("schema version 4"), "{err}");
        let err = ContactEvent::decode("contact.removed", 2, &json!({})).unwrap_err();
        assert!(matches!(err, EventCodecError::UnknownVersion { current: 1, .. }));
        let err = ContactEvent::decode("contact.removed", 0, &json!({})).unwrap_err();
        assert!(matches!(err, EventCodecError::UnknownVersion { stored: 0, .. }));
    }

    #[test]
    fn an_upcaster_refusing_stored_data_says_where() {
        let err = ContactEvent::decode("contact.added", 1, &json!({ "phone": "+1" })).unwrap_err();
        assert!(
            matches!(&err, EventCodecError::Upcast { from: 1, reason, .. } if reason == "no name"),
            "{err}"
        );
    }

    #[test]
    fn upcasters_must_form_a_chain_from_version_1() {
        assert_eq!(check_upcasters::<ContactEvent>(), Ok(()));

        #[derive(Debug, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        enum Gap {
            #[serde(rename = "gap.made")]
            Made {},
        }
        impl StreamEvent for Gap {
            const STREAM_TYPE: &'static str = "gap";
            const EVENT_TYPES: &'static [&'static str] = &["gap.made"];
            const UPCASTERS: &'static [Upcaster] = &[
                Upcaster {
                    event_type: "gap.made",
                    from_version: 2,
                    upcast: Ok,
                },
                Upcaster {
                    event_type: "gap.other",
                    from_version: 1,
                    upcast: Ok,
                },
            ];
        }
        assert!(check_upcasters::<Gap>().unwrap_err().contains("gap.other"));
        let err = Gap::decode("gap.made", 1, &json!({})).unwrap_err();
        assert!(matches!(err, EventCodecError::Upcast { from: 1, .. }), "{err}");
    }
}
