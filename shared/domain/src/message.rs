//! WhatsApp message traffic Meta sent us for a connected number, kept so it can be relayed to the
//! owning organization's webhooks (`message.received`, `message.sent`). Each message, and each
//! status of an outbound message, is its own one-event stream whose id is derived from Meta's
//! ids: Meta redelivering the same webhook appends nothing.

use crate::event::StreamEvent;
use crate::{OrganizationId, PhoneId, WabaId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The number a relayed message belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePhone {
    pub phone_id: PhoneId,
    pub meta_phone_number_id: String,
    pub waba_id: WabaId,
    pub meta_waba_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum MessageEvent {
    /// An inbound message (`messages[]`), with the sender's contact entry when Meta sent one.
    #[serde(rename = "whatsapp_message.received", rename_all = "camelCase")]
    Received {
        #[serde(flatten)]
        phone: MessagePhone,
        message: Value,
        contact: Option<Value>,
    },
    /// A status of a message the business sent (`statuses[]`: sent, delivered, read, failed).
    #[serde(rename = "whatsapp_message.status_updated", rename_all = "camelCase")]
    StatusUpdated {
        #[serde(flatten)]
        phone: MessagePhone,
        status: Value,
    },
}

impl StreamEvent for MessageEvent {
    const STREAM_TYPE: &'static str = "whatsapp_message";
    const EVENT_TYPES: &'static [&'static str] =
        &["whatsapp_message.received", "whatsapp_message.status_updated"];
}

impl MessageEvent {
    /// The stream this event lives in: one per inbound message id, and one per (outbound message
    /// id, status), within the organization.
    pub fn stream_id(&self, org: OrganizationId) -> Uuid {
        let key = match self {
            Self::Received { message, .. } => format!("received:{}", text(message, "id")),
            Self::StatusUpdated { status, .. } => {
                format!("status:{}:{}", text(status, "id"), text(status, "status"))
            }
        };
        Uuid::new_v5(&org.as_uuid(), key.as_bytes())
    }
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn phone() -> MessagePhone {
        let org = OrganizationId::new();
        MessagePhone {
            phone_id: PhoneId::new(),
            meta_phone_number_id: "106540352242922".into(),
            waba_id: WabaId::for_meta(org, "1"),
            meta_waba_id: "1".into(),
        }
    }

    #[test]
    fn the_same_message_or_status_maps_to_the_same_stream() {
        let org = OrganizationId::new();
        let received = |id: &str| MessageEvent::Received {
            phone: phone(),
            message: json!({ "id": id, "type": "text" }),
            contact: None,
        };
        assert_eq!(
            received("wamid.A").stream_id(org),
            received("wamid.A").stream_id(org)
        );
        assert_ne!(
            received("wamid.A").stream_id(org),
            received("wamid.B").stream_id(org)
        );
        assert_ne!(
            received("wamid.A").stream_id(org),
            received("wamid.A").stream_id(OrganizationId::new())
        );
        let status = |s: &str| MessageEvent::StatusUpdated {
            phone: phone(),
            status: json!({ "id": "wamid.A", "status": s }),
        };
        assert_ne!(status("sent").stream_id(org), status("delivered").stream_id(org));
        assert_ne!(status("sent").stream_id(org), received("wamid.A").stream_id(org));
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let event = MessageEvent::Received {
            phone: phone(),
            message: json!({ "id": "wamid.A", "type": "text", "text": { "body": "hi" } }),
            contact: Some(json!({ "wa_id": "16315551181" })),
        };
        let (kind, payload) = event.encode().unwrap();
        assert_eq!(kind, "whatsapp_message.received");
        assert_eq!(payload["metaPhoneNumberId"], "106540352242922");
        assert_eq!(MessageEvent::decode(&kind, 1, &payload).unwrap(), event);
    }
}
