//! The outgoing webhook event catalog integrators may subscribe to.

use crate::phone_health::{HealthView, MetaPhoneStatus, PhoneHealth, TokenCheck};
use crate::webhook_data::{
    CustomerOf, IdOf, LinkExpired, LinkFailed, MessageReceived, MessageStatus, NumberConnected,
    NumberDisconnected, NumberHealthChanged, NumberIds, PhoneNumberCreated, RelayedFor, TestEvent,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use uuid::Uuid;

/// An outgoing webhook event type: what endpoints subscribe to and what a delivery's `event`
/// says. Stored and sent as its name (e.g. `phone_number.connected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "phone_number.connected")]
    PhoneNumberConnected,
    #[serde(rename = "whatsapp.phone_number.created")]
    WhatsappPhoneNumberCreated,
    #[serde(rename = "phone_number.disconnected")]
    PhoneNumberDisconnected,
    #[serde(rename = "phone_number.reconnected")]
    PhoneNumberReconnected,
    #[serde(rename = "phone_number.health_changed")]
    PhoneNumberHealthChanged,
    #[serde(rename = "onboarding_link.completed")]
    OnboardingLinkCompleted,
    #[serde(rename = "onboarding_link.failed")]
    OnboardingLinkFailed,
    #[serde(rename = "onboarding_link.expired")]
    OnboardingLinkExpired,
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.sent")]
    MessageSent,
    /// Sent on request to one endpoint, whatever it subscribes to; nothing subscribes to it.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// Every event type, in documentation order.
    pub const ALL: [EventType; 10] = [
        Self::PhoneNumberConnected,
        Self::WhatsappPhoneNumberCreated,
        Self::PhoneNumberDisconnected,
        Self::PhoneNumberReconnected,
        Self::PhoneNumberHealthChanged,
        Self::OnboardingLinkCompleted,
        Self::OnboardingLinkFailed,
        Self::OnboardingLinkExpired,
        Self::MessageReceived,
        Self::MessageSent,
    ];

    /// Every event type a delivery may carry: the subscribable ones and the test event.
    pub const SENT: [EventType; 11] = {
        let mut sent = [Self::WebhookTest; 11];
        let mut i = 0;
        while i < Self::ALL.len() {
            sent[i] = Self::ALL[i];
            i += 1;
        }
        sent
    };

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PhoneNumberConnected => "phone_number.connected",
            Self::WhatsappPhoneNumberCreated => "whatsapp.phone_number.created",
            Self::PhoneNumberDisconnected => "phone_number.disconnected",
            Self::PhoneNumberReconnected => "phone_number.reconnected",
            Self::PhoneNumberHealthChanged => "phone_number.health_changed",
            Self::OnboardingLinkCompleted => "onboarding_link.completed",
            Self::OnboardingLinkFailed => "onboarding_link.failed",
            Self::OnboardingLinkExpired => "onboarding_link.expired",
            Self::MessageReceived => "message.received",
            Self::MessageSent => "message.sent",
            Self::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
            format!("unknown event type '{raw}'; use one of {}", known.join(", "))
        })
    }

    /// The event type a stored message carries, the test event included.
    pub fn parse_sent(raw: &str) -> Option<Self> {
        Self::SENT.into_iter().find(|t| t.as_str() == raw)
    }

    /// What the event means, for the API's catalog.
    pub const fn description(self) -> &'static str {
        match self {
            Self::PhoneNumberConnected => {
                "A customer completed an onboarding link and their number is connected (or reconnected \
                      through an ordinary link). `phoneNumberId` and `wabaId` are Gangway's ids; \
                      `metaWabaId` is Meta's."
            }
            Self::WhatsappPhoneNumberCreated => {
                "A new phone number was created for a customer. `phone_number_id` is Meta's phone \
                      number id, `project.id` your organization and `customer.id` the Gangway customer."
            }
            Self::PhoneNumberDisconnected => {
                "A connected number stopped working for Gangway (token revoked, number deregistered, \
                      ...); `reason` says why. A reconnect link brings it back."
            }
            Self::PhoneNumberReconnected => {
                "A disconnected or connected number went through a link again and Gangway holds a \
                      fresh token for it. The phone keeps its id."
            }
            Self::PhoneNumberHealthChanged => {
                "A connected number's health changed: its token's status, Meta's verdict on sending \
                      (`metaHealthStatus`), its quality rating or its messaging limit. `changed` \
                      names the fields, `previous` and `current` hold them before and after, so a \
                      degraded number is noticed before it disconnects."
            }
            Self::OnboardingLinkCompleted => {
                "An onboarding link was used successfully; `phoneNumberId` is the connected phone."
            }
            Self::OnboardingLinkFailed => {
                "An attempt to complete an onboarding link failed with `errorCode` (e.g. \
                      `facebook_auth_failed`, `phone_verification_failed`). The link stays usable \
                      until it expires."
            }
            Self::OnboardingLinkExpired => {
                "A pending onboarding link passed its `expiresAt` without being completed."
            }
            Self::MessageReceived => {
                "Meta delivered an inbound message for a connected number. `message` is Meta's \
                      message object as sent to Gangway."
            }
            Self::MessageSent => {
                "Meta reported a status update (sent, delivered, read, failed) for an outbound \
                      message of a connected number. `status` is Meta's status object."
            }
            Self::WebhookTest => {
                "A test event, sent when asked for (`POST /v1/webhooks/{id}/test` or the console) to \
                      that endpoint only, whatever it subscribes to. Nothing else happened: check \
                      your signature verification and answer 2xx."
            }
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

/// An example `data` object for each event type, built from the types the dispatcher sends.
pub fn example_data(event_type: EventType) -> Value {
    let link: Uuid = "0193c8a2-5b1e-7c3d-9a4f-2e6b8d1c0f01".parse().expect("a uuid");
    let phone: Uuid = "0193c8a2-7d40-7e21-8b5a-4c2f9e3a1d02".parse().expect("a uuid");
    let waba: Uuid = "6f1e2c9a-3b4d-5e6f-8a9b-0c1d2e3f4a05".parse().expect("a uuid");
    let customer: Uuid = "0193c8a2-4a10-7b2c-8d3e-5f6a7b8c9d03".parse().expect("a uuid");
    let organization: Uuid = "0193c8a1-0e00-7a1b-9c2d-3e4f5a6b7c04".parse().expect("a uuid");
    const META_PHONE: &str = "106540352242922";
    const META_WABA: &str = "102290129340398";
    let external_id = Some("acme-123".to_owned());
    let number = NumberIds {
        phone_number_id: phone,
        phone_number: "+15550100001".into(),
        meta_phone_number_id: META_PHONE.into(),
        waba_id: waba,
        meta_waba_id: META_WABA.into(),
        external_id: external_id.clone(),
    };
    let relayed = RelayedFor {
        phone_number_id: phone,
        meta_phone_number_id: META_PHONE.into(),
        waba_id: waba,
        meta_waba_id: META_WABA.into(),
    };
    match event_type {
        EventType::PhoneNumberConnected
        | EventType::PhoneNumberReconnected
        | EventType::OnboardingLinkCompleted => json!(NumberConnected {
            onboarding_link_id: link,
            external_id,
            phone_number_id: phone,
            phone_number: "+15550100001".into(),
            waba_id: waba,
            meta_waba_id: META_WABA.into(),
            is_phone_registered: true,
        }),
        EventType::WhatsappPhoneNumberCreated => json!(PhoneNumberCreated {
            phone_number_id: META_PHONE.into(),
            project: IdOf { id: organization },
            customer: CustomerOf { id: Some(customer) },
        }),
        EventType::PhoneNumberDisconnected => json!(NumberDisconnected {
            number,
            reason: "token_revoked".into(),
            detail: Some("ACCOUNT_DISCONNECTED".into()),
            initiated_by: Some("USER".into()),
        }),
        EventType::PhoneNumberHealthChanged => {
            let token = TokenCheck::Valid {
                scopes: vec![
                    "whatsapp_business_management".into(),
                    "whatsapp_business_messaging".into(),
                ],
                expires_at: None,
            };
            let status = |can_send: &str, quality: &str| MetaPhoneStatus {
                health_status: Some(json!({ "can_send_message": can_send, "entities": [] })),
                quality_rating: Some(quality.into()),
            };
            let at = chrono::DateTime::UNIX_EPOCH;
            let before = PhoneHealth::assess(&token, &status("AVAILABLE", "GREEN"), at);
            let after = PhoneHealth::assess(&token, &status("LIMITED", "YELLOW"), at);
            json!(NumberHealthChanged::between(
                number,
                HealthView::of(Some(&before), Some("TIER_1K")),
                HealthView::of(Some(&after), Some("TIER_1K")),
            ))
        }
        EventType::OnboardingLinkFailed => json!(LinkFailed {
            onboarding_link_id: link,
            external_id,
            error_code: "facebook_auth_failed".into(),
            error: "The person cancelled Embedded Signup".into(),
            step: Some("PHONE_NUMBER_SETUP".into()),
        }),
        EventType::OnboardingLinkExpired => json!(LinkExpired {
            onboarding_link_id: link,
            external_id,
        }),
        EventType::MessageReceived => json!(MessageReceived {
            number: relayed,
            message: json!({
                "from": "16315551181",
                "id": "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1733400000",
                "type": "text",
                "text": { "body": "Hi, is my order on its way?" },
            }),
            contact: Some(json!({ "profile": { "name": "Kerry Fisher" }, "wa_id": "16315551181" })),
        }),
        EventType::MessageSent => json!(MessageStatus {
            number: relayed,
            status: json!({
                "id": "wamid.HBgLMTYzMTU1NTExODEVAgARGBI0RjQ1MkI5QjE2RjY5QTc4NTQA",
                "status": "delivered",
                "timestamp": "1733400060",
                "recipient_id": "16315551181",
            }),
        }),
        EventType::WebhookTest => json!(TestEvent {
            endpoint_id: "0193c8a2-9e61-7f32-9c6b-5d3a0f4b2e06".parse().expect("a uuid"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_parses_from_its_name_and_has_a_description_and_an_example() {
        for event_type in EventType::SENT {
            assert_eq!(EventType::parse_sent(event_type.as_str()), Some(event_type));
            assert_eq!(serde_json::to_value(event_type).unwrap(), event_type.as_str());
            assert!(!event_type.description().is_empty());
            assert!(
                example_data(event_type)
                    .as_object()
                    .is_some_and(|o| !o.is_empty()),
                "{event_type}"
            );
        }
        let unknown = EventType::parse("phone_number.exploded").unwrap_err();
        assert!(unknown.contains("phone_number.connected"), "{unknown}");
    }

    #[test]
    fn examples_follow_the_documented_fields() {
        let connected = example_data(EventType::PhoneNumberConnected);
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
        let created = example_data(EventType::WhatsappPhoneNumberCreated);
        assert!(created["phone_number_id"].is_string());
        assert!(created["project"]["id"].is_string() && created["customer"]["id"].is_string());
        let body = webhook_body("message.sent", "2026-01-01T00:00:00Z", "org", json!({}));
        assert_eq!(body["event"], "message.sent");
        assert_eq!(body["organizationId"], "org");
    }
}
