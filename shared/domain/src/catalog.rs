//! The outgoing webhook event catalog integrators may subscribe to.

use serde_json::{json, Value};

/// Every event type an endpoint can subscribe to, in documentation order.
pub const WEBHOOK_EVENT_TYPES: [&str; 9] = [
    "phone_number.connected",
    "whatsapp.phone_number.created",
    "phone_number.disconnected",
    "phone_number.reconnected",
    "onboarding_link.completed",
    "onboarding_link.failed",
    "onboarding_link.expired",
    "message.received",
    "message.sent",
];

pub fn is_webhook_event_type(name: &str) -> bool {
    WEBHOOK_EVENT_TYPES.contains(&name)
}

/// One catalog entry: what the event means, for the API listing and the dispatcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookEventType {
    pub name: &'static str,
    pub description: &'static str,
}

/// The catalog with descriptions, in the order of [`WEBHOOK_EVENT_TYPES`].
pub const WEBHOOK_EVENT_CATALOG: [WebhookEventType; 9] = [
    WebhookEventType {
        name: "phone_number.connected",
        description: "A customer completed an onboarding link and their number is connected (or reconnected \
                      through an ordinary link). `phoneNumberId` and `wabaId` are Gangway's ids; \
                      `metaWabaId` is Meta's.",
    },
    WebhookEventType {
        name: "whatsapp.phone_number.created",
        description: "A new phone number was created for a customer. `phone_number_id` is Meta's phone \
                      number id, `project.id` your organization and `customer.id` the Gangway customer.",
    },
    WebhookEventType {
        name: "phone_number.disconnected",
        description: "A connected number stopped working for Gangway (token revoked, number deregistered, \
                      ...); `reason` says why. A reconnect link brings it back.",
    },
    WebhookEventType {
        name: "phone_number.reconnected",
        description: "A disconnected or connected number went through a link again and Gangway holds a \
                      fresh token for it. The phone keeps its id.",
    },
    WebhookEventType {
        name: "onboarding_link.completed",
        description: "An onboarding link was used successfully; `phoneNumberId` is the connected phone.",
    },
    WebhookEventType {
        name: "onboarding_link.failed",
        description: "An attempt to complete an onboarding link failed with `errorCode` (e.g. \
                      `facebook_auth_failed`, `phone_verification_failed`). The link stays usable \
                      until it expires.",
    },
    WebhookEventType {
        name: "onboarding_link.expired",
        description: "A pending onboarding link passed its `expiresAt` without being completed.",
    },
    WebhookEventType {
        name: "message.received",
        description: "Meta delivered an inbound message for a connected number. `message` is Meta's \
                      message object as sent to Gangway.",
    },
    WebhookEventType {
        name: "message.sent",
        description: "Meta reported a status update (sent, delivered, read, failed) for an outbound \
                      message of a connected number. `status` is Meta's status object.",
    },
];

pub fn describe(name: &str) -> Option<&'static WebhookEventType> {
    WEBHOOK_EVENT_CATALOG.iter().find(|t| t.name == name)
}

/// A delivery body as integrators receive it: `{event, timestamp, organizationId, data}`.
pub fn webhook_body(event: &str, timestamp: &str, organization_id: &str, data: Value) -> Value {
    json!({
        "event": event,
        "timestamp": timestamp,
        "organizationId": organization_id,
        "data": data,
    })
}

/// An example `data` object for each catalog type, in the shape the dispatcher delivers.
pub fn example_data(name: &str) -> Option<Value> {
    const LINK: &str = "0193c8a2-5b1e-7c3d-9a4f-2e6b8d1c0f01";
    const PHONE: &str = "0193c8a2-7d40-7e21-8b5a-4c2f9e3a1d02";
    const WABA: &str = "6f1e2c9a-3b4d-5e6f-8a9b-0c1d2e3f4a05";
    const CUSTOMER: &str = "0193c8a2-4a10-7b2c-8d3e-5f6a7b8c9d03";
    const ORGANIZATION: &str = "0193c8a1-0e00-7a1b-9c2d-3e4f5a6b7c04";
    const META_PHONE: &str = "106540352242922";
    let data = match name {
        "phone_number.connected" => json!({
            "onboardingLinkId": LINK,
            "externalId": "acme-123",
            "phoneNumberId": PHONE,
            "phoneNumber": "+15550100001",
            "wabaId": WABA,
            "metaWabaId": "102290129340398",
            "isPhoneRegistered": true,
        }),
        "whatsapp.phone_number.created" => json!({
            "phone_number_id": META_PHONE,
            "project": { "id": ORGANIZATION },
            "customer": { "id": CUSTOMER },
        }),
        "phone_number.disconnected" => json!({
            "phoneNumberId": PHONE,
            "reason": "token_revoked",
        }),
        "phone_number.reconnected" => json!({
            "phoneNumberId": PHONE,
            "onboardingLinkId": LINK,
        }),
        "onboarding_link.completed" => json!({
            "onboardingLinkId": LINK,
            "externalId": "acme-123",
            "phoneNumberId": PHONE,
        }),
        "onboarding_link.failed" => json!({
            "onboardingLinkId": LINK,
            "externalId": "acme-123",
            "errorCode": "facebook_auth_failed",
            "error": "The person cancelled Embedded Signup",
        }),
        "onboarding_link.expired" => json!({
            "onboardingLinkId": LINK,
            "externalId": "acme-123",
        }),
        "message.received" => json!({
            "phoneNumberId": PHONE,
            "metaPhoneNumberId": META_PHONE,
            "message": {
                "from": "16315551181",
                "id": "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1733400000",
                "type": "text",
                "text": { "body": "Hi, is my order on its way?" },
            },
        }),
        "message.sent" => json!({
            "phoneNumberId": PHONE,
            "metaPhoneNumberId": META_PHONE,
            "status": {
                "id": "wamid.HBgLMTYzMTU1NTExODEVAgARGBI0RjQ1MkI5QjE2RjY5QTc4NTQA",
                "status": "delivered",
                "timestamp": "1733400060",
                "recipient_id": "16315551181",
            },
        }),
        _ => return None,
    };
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_type_is_described_in_order_with_an_example() {
        let names: Vec<_> = WEBHOOK_EVENT_CATALOG.iter().map(|t| t.name).collect();
        assert_eq!(names, WEBHOOK_EVENT_TYPES);
        for name in WEBHOOK_EVENT_TYPES {
            assert!(!describe(name).unwrap().description.is_empty());
            assert!(example_data(name).unwrap().is_object(), "{name}");
        }
        assert_eq!(describe("phone_number.exploded"), None);
        assert_eq!(example_data("phone_number.exploded"), None);
    }

    #[test]
    fn examples_follow_the_documented_fields() {
        let connected = example_data("phone_number.connected").unwrap();
        for field in [
            "onboardingLinkId",
            "externalId",
            "phoneNumberId",
            "phoneNumber",
            "wabaId",
            "metaWabaId",
            "isPhoneRegistered",
        ] {
            assert!(connected.get(field).is_some(), "{field}");
        }
        let created = example_data("whatsapp.phone_number.created").unwrap();
        assert!(created["phone_number_id"].is_string());
        assert!(created["project"]["id"].is_string() && created["customer"]["id"].is_string());
        let body = webhook_body("message.sent", "2026-01-01T00:00:00Z", "org", json!({}));
        assert_eq!(body["event"], "message.sent");
        assert_eq!(body["organizationId"], "org");
    }
}
