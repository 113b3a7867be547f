//! The `data` of each outgoing webhook, one type per event type: what the dispatcher sends, what
//! the catalog's examples show and what the OpenAPI document's `webhooks` describe.

use crate::catalog::EventType;
use crate::phone_health::HealthView;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// `phone_number.connected`, `phone_number.reconnected` and `onboarding_link.completed`: a link
/// completed and the number it connected. Ids are Gangway's unless named `meta…`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NumberConnected {
    pub onboarding_link_id: Uuid,
    pub external_id: Option<String>,
    pub phone_number_id: Uuid,
    /// E.164.
    pub phone_number: String,
    pub waba_id: Uuid,
    pub meta_waba_id: String,
    pub is_phone_registered: bool,
}

/// `whatsapp.phone_number.created`: a new number, in the shape integrators of the products this
/// one replaces already parse (snake case).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberCreated {
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// The organization.
    pub project: IdOf,
    /// The Gangway customer (`id` null when the link named none).
    pub customer: CustomerOf,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IdOf {
    pub id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomerOf {
    pub id: Option<Uuid>,
}

/// A connected number, as the number events name it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NumberIds {
    pub phone_number_id: Uuid,
    pub phone_number: String,
    pub meta_phone_number_id: String,
    pub waba_id: Uuid,
    pub meta_waba_id: String,
    pub external_id: Option<String>,
}

/// `phone_number.disconnected`: Gangway can no longer act for the number until it is reconnected.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NumberDisconnected {
    #[serde(flatten)]
    pub number: NumberIds,
    /// `token_revoked`, `token_invalid`, `partner_removed`, `deregistered`, ...
    pub reason: String,
    /// Meta's own words, when it gave any.
    pub detail: Option<String>,
    /// USER or SYSTEM, when Meta says.
    pub initiated_by: Option<String>,
}

/// `phone_number.health_changed`: what changed, from what to what.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NumberHealthChanged {
    #[serde(flatten)]
    pub number: NumberIds,
    /// The fields of `current` that differ from `previous`.
    pub changed: Vec<String>,
    pub previous: HealthView,
    pub current: HealthView,
}

impl NumberHealthChanged {
    /// The change from `previous` to `current`; `None` when integrators would see no difference.
    pub fn between(number: NumberIds, previous: HealthView, current: HealthView) -> Option<Self> {
        let changed: Vec<String> = current
            .changes_from(&previous)
            .into_iter()
            .map(str::to_owned)
            .collect();
        (!changed.is_empty()).then_some(Self {
            number,
            changed,
            previous,
            current,
        })
    }
}

/// `onboarding_link.failed`: an attempt failed; the link stays usable until it expires.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkFailed {
    pub onboarding_link_id: Uuid,
    pub external_id: Option<String>,
    /// The code of the failure redirect, e.g. `facebook_auth_failed`.
    pub error_code: String,
    pub error: String,
    /// Where in Embedded Signup the person stopped, for a cancel.
    pub step: Option<String>,
}

/// `onboarding_link.expired`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkExpired {
    pub onboarding_link_id: Uuid,
    pub external_id: Option<String>,
}

/// The number a relayed WhatsApp message or status belongs to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RelayedFor {
    pub phone_number_id: Uuid,
    pub meta_phone_number_id: String,
    pub waba_id: Uuid,
    pub meta_waba_id: String,
}

/// `message.received`: Meta's message object as Meta sent it, and the sender's contact entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MessageReceived {
    #[serde(flatten)]
    pub number: RelayedFor,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub message: Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub contact: Option<Value>,
}

/// `message.sent`: Meta's status object (sent, delivered, read, failed) as Meta sent it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MessageStatus {
    #[serde(flatten)]
    pub number: RelayedFor,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub status: Value,
}

/// `webhook.test`: the endpoint it was sent to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TestEvent {
    pub endpoint_id: Uuid,
}

/// The name of the schema of `event_type`'s `data` (a type above).
pub const fn schema_name(event_type: EventType) -> &'static str {
    match event_type {
        EventType::PhoneNumberConnected
        | EventType::PhoneNumberReconnected
        | EventType::OnboardingLinkCompleted => "NumberConnected",
        EventType::WhatsappPhoneNumberCreated => "PhoneNumberCreated",
        EventType::PhoneNumberDisconnected => "NumberDisconnected",
        EventType::PhoneNumberHealthChanged => "NumberHealthChanged",
        EventType::OnboardingLinkFailed => "LinkFailed",
        EventType::OnboardingLinkExpired => "LinkExpired",
        EventType::MessageReceived => "MessageReceived",
        EventType::MessageSent => "MessageStatus",
        EventType::WebhookTest => "TestEvent",
    }
}
