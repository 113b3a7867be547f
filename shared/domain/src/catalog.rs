//! The outgoing webhook event catalog integrators may subscribe to.

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
