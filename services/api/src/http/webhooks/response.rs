use chrono::{DateTime, Utc};
use gangway_app::webhooks::RevealedSecrets;
use gangway_domain::catalog::EventType;
use gangway_domain::webhook::Endpoint;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A webhook endpoint. Its secret is never part of it: see `GET /v1/webhooks/{id}/secret`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointResponse {
    pub id: Uuid,
    pub url: String,
    /// The event types delivered here.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Only events of this WhatsApp Business Account (Gangway's id), when set.
    pub waba_id: Option<Uuid>,
    /// `enabled` or `disabled`.
    pub status: &'static str,
    /// Why it is disabled (yours, or Gangway's after failing deliveries).
    pub disabled_reason: Option<String>,
    /// The onboarding link whose `webhookUrl` registered this endpoint, if one did.
    pub onboarding_link_id: Option<Uuid>,
    /// Until when the previous secret still signs deliveries, after a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EndpointResponse {
    pub fn new(endpoint: &Endpoint, now: DateTime<Utc>) -> Self {
        Self {
            id: endpoint.id.as_uuid(),
            url: endpoint.url.to_string(),
            events: names(&endpoint.event_types),
            description: endpoint.description.clone(),
            waba_id: endpoint.waba_id.map(|w| w.as_uuid()),
            status: endpoint.status.as_str(),
            disabled_reason: endpoint.disabled_reason.clone(),
            onboarding_link_id: endpoint.registered_by_link.map(|l| l.as_uuid()),
            previous_secret_expires_at: endpoint.previous_secret_expires_at.filter(|until| now < *until),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

/// The signing secret, and during a rotation's grace period the previous one (deliveries carry a
/// signature for each).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretResponse {
    pub secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

impl From<RevealedSecrets> for SecretResponse {
    fn from(secrets: RevealedSecrets) -> Self {
        let (previous_secret, previous_secret_expires_at) = secrets.previous.unzip();
        Self {
            secret: secrets.secret,
            previous_secret,
            previous_secret_expires_at,
        }
    }
}

/// One event type endpoints can subscribe to, with an example delivery body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeResponse {
    /// e.g. `phone_number.connected`.
    pub event: &'static str,
    pub description: &'static str,
    /// A delivery body: `{event, timestamp, organizationId, data}`.
    #[schema(value_type = Object)]
    pub example: serde_json::Value,
}

impl EventTypeResponse {
    pub fn new(event_type: EventType, example: serde_json::Value) -> Self {
        Self {
            event: event_type.as_str(),
            description: event_type.description(),
            example,
        }
    }
}

/// Event types as the API shows them: their names.
pub fn names(types: &[EventType]) -> Vec<String> {
    types.iter().map(|t| t.as_str().to_owned()).collect()
}
