use chrono::{DateTime, Utc};
use gangway_domain::link::Link;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkResponse {
    pub id: Uuid,
    /// pending, completed, failed, expired, revoked or deleted.
    pub status: &'static str,
    /// The page to send your customer to.
    pub hosted_url: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub customer_id: Option<Uuid>,
    pub redirect_url: Option<String>,
    pub success_redirect_url: Option<String>,
    pub failure_redirect_url: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// When the customer first opened the hosted page.
    pub used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The newer link that revoked this one.
    pub superseded_by: Option<Uuid>,
    /// Once completed: the connected phone (`GET /v1/phones/{id}`).
    pub phone_number_id: Option<Uuid>,
    /// Once completed: the number in E.164.
    pub phone_number: Option<String>,
    /// Once completed: Gangway's id of the WhatsApp Business Account.
    pub waba_id: Option<Uuid>,
    /// Once completed: Meta's id of the WhatsApp Business Account.
    pub resulting_waba_id: Option<String>,
    /// Once completed: Meta's id of the phone number.
    pub meta_phone_number_id: Option<String>,
    /// Once completed: `dedicated` or `coexistence`.
    pub connection_type: Option<String>,
    pub is_phone_registered: Option<bool>,
    /// The last failed attempt, while the link can still be used again.
    pub last_error: Option<LinkErrorResponse>,
    pub allowed_connection_types: Vec<String>,
    pub theme: ThemeResponse,
    pub language: String,
    pub phone_provisioning: PhoneProvisioningResponse,
    pub reconnect_phone_number_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub webhook_url: Option<String>,
    pub webhook_events: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkErrorResponse {
    /// e.g. `facebook_auth_failed`, `phone_verification_failed`.
    pub error_code: &'static str,
    pub error: String,
    /// Where in Embedded Signup the person stopped, when Meta said.
    pub step: Option<String>,
    pub failed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThemeResponse {
    pub primary_color: Option<String>,
    pub background_image: Option<String>,
    pub logo_url: Option<String>,
    pub company_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneProvisioningResponse {
    pub enabled: bool,
    pub countries: Vec<String>,
}

/// Serialises a serde enum or newtype to its string form.
fn as_string<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl LinkResponse {
    pub fn new(link: &Link, hosted_url: String, now: DateTime<Utc>) -> Self {
        let spec = &link.spec;
        let completion = link.completion.as_ref();
        Self {
            id: link.id.as_uuid(),
            status: link.status_at(now).as_str(),
            hosted_url,
            name: spec.name.clone(),
            external_id: spec.external_id.clone(),
            customer_id: spec.customer_id.map(|c| c.as_uuid()),
            redirect_url: spec.redirect_url.as_ref().map(ToString::to_string),
            success_redirect_url: spec.success_redirect_url.as_ref().map(ToString::to_string),
            failure_redirect_url: spec.failure_redirect_url.as_ref().map(ToString::to_string),
            expires_at: spec.expires_at,
            used_at: link.used_at,
            created_at: link.created_at,
            completed_at: link.completed_at,
            revoked_at: link.revoked_at,
            superseded_by: link.superseded_by.map(|l| l.as_uuid()),
            phone_number_id: completion.map(|c| c.phone_id.as_uuid()),
            phone_number: completion.map(|c| c.phone_number.clone()),
            waba_id: completion.map(|c| c.waba_id.as_uuid()),
            resulting_waba_id: completion.map(|c| c.meta_waba_id.clone()),
            meta_phone_number_id: completion.map(|c| c.phone_number_id.clone()),
            connection_type: completion.map(|c| as_string(&c.connection_type)),
            is_phone_registered: completion.map(|c| c.is_phone_registered),
            last_error: link.last_failure.as_ref().map(|f| LinkErrorResponse {
                error_code: f.error_code.as_str(),
                error: f.error.clone(),
                step: f.step.clone(),
                failed_at: f.failed_at,
            }),
            allowed_connection_types: spec.allowed_connection_types.iter().map(as_string).collect(),
            theme: ThemeResponse {
                primary_color: spec.theme.primary_color.as_ref().map(as_string),
                background_image: spec.theme.background_image.as_ref().map(ToString::to_string),
                logo_url: spec.theme.logo_url.as_ref().map(ToString::to_string),
                company_name: spec.theme.company_name.clone(),
            },
            language: as_string(&spec.language),
            phone_provisioning: PhoneProvisioningResponse {
                enabled: spec.phone_provisioning.enabled,
                countries: spec
                    .phone_provisioning
                    .countries
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
            },
            reconnect_phone_number_id: spec.reconnect_phone_number_id,
            metadata: spec.metadata.clone(),
            webhook_url: spec.webhook.as_ref().map(|w| w.url.to_string()),
            webhook_events: spec
                .webhook
                .as_ref()
                .map(|w| crate::http::webhooks::response::names(&w.events)),
        }
    }
}
