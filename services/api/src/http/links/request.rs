//! `POST /v1/onboarding-links` body and its validation into a domain command.

use crate::error::ApiError;
use crate::http::webhooks::request::{event_types, receiver_url};
use chrono::{DateTime, Utc};
use gangway_app::links::{CustomerChoice, NewLink};
use gangway_domain::link::{LinkRequest, PhoneProvisioning, Theme};
use gangway_domain::values::{self, ConnectionType, CountryCode, HexColor, HttpUrl, Language, WebhookSecret};
use gangway_domain::{CustomerId, FieldError};
use gangway_webhook_signing::Policy;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateLinkRequest {
    /// Shown to the customer on the hosted page.
    pub name: Option<String>,
    /// Your id for the customer; a customer is created for it if none exists yet.
    pub external_id: Option<String>,
    /// An existing customer. Takes precedence over `externalId` for choosing the customer.
    pub customer_id: Option<Uuid>,
    /// Where the browser goes after the flow, success or failure.
    pub redirect_url: Option<String>,
    /// Overrides `redirectUrl` on success.
    pub success_redirect_url: Option<String>,
    /// Overrides `redirectUrl` on failure.
    pub failure_redirect_url: Option<String>,
    /// Default 7 days from now; at most 30 days.
    pub expires_at: Option<DateTime<Utc>>,
    /// `dedicated`, `coexistence`; default both.
    pub allowed_connection_types: Option<Vec<String>>,
    pub theme: Option<ThemeRequest>,
    /// `en` (default), `es` or `pt`.
    pub language: Option<String>,
    pub phone_provisioning: Option<PhoneProvisioningRequest>,
    /// Refresh this connected phone's token instead of onboarding a new number.
    pub reconnect_phone_number_id: Option<Uuid>,
    /// Your own data, a JSON object (up to 16 KiB, objects and arrays nested at most 32 levels).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Registered as a webhook endpoint for the new phone once it connects.
    pub webhook_url: Option<String>,
    /// Signing secret for `webhookUrl`, 16-256 characters. Stored encrypted, never returned.
    pub webhook_secret: Option<String>,
    /// Event types for `webhookUrl`; required with it.
    pub webhook_events: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThemeRequest {
    /// Hex colour, e.g. `#1a73e8`.
    pub primary_color: Option<String>,
    pub background_image: Option<String>,
    pub logo_url: Option<String>,
    pub company_name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneProvisioningRequest {
    #[serde(default)]
    pub enabled: bool,
    /// ISO 3166-1 alpha-2 codes a new number may be provisioned in.
    #[serde(default)]
    pub countries: Vec<String>,
}

fn field<T>(name: &str, result: Result<T, String>) -> Result<T, FieldError> {
    result.map_err(|message| FieldError::new(name, message))
}

fn url(name: &str, raw: Option<&String>) -> Result<Option<HttpUrl>, FieldError> {
    raw.map(|r| field(name, HttpUrl::parse(r))).transpose()
}

fn text(name: &str, raw: Option<&String>, max: usize) -> Result<Option<String>, FieldError> {
    raw.map(|r| field(name, values::bounded_text(r, max))).transpose()
}

impl CreateLinkRequest {
    /// Validates every field; the first problem found is reported with its field name.
    pub fn validate(self, now: DateTime<Utc>, webhook_policy: Policy) -> Result<NewLink, ApiError> {
        Ok(self.into_command(now, webhook_policy)?)
    }

    fn into_command(self, now: DateTime<Utc>, webhook_policy: Policy) -> Result<NewLink, FieldError> {
        let name = text("name", self.name.as_ref(), 200)?;
        let external_id = text("externalId", self.external_id.as_ref(), 255)?;
        let customer = match (self.customer_id, &external_id) {
            (Some(id), _) => CustomerChoice::Existing(CustomerId::from_uuid(id)),
            (None, Some(ext)) => CustomerChoice::ByExternalId {
                external_id: ext.clone(),
                name: name.clone().unwrap_or_else(|| ext.clone()),
            },
            (None, None) => CustomerChoice::None,
        };
        let allowed_connection_types = self
            .allowed_connection_types
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, raw)| {
                        field(
                            &format!("allowedConnectionTypes[{i}]"),
                            ConnectionType::parse(raw),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let theme = match self.theme {
            None => Theme::default(),
            Some(t) => Theme {
                primary_color: t
                    .primary_color
                    .map(|c| field("theme.primaryColor", HexColor::parse(&c)))
                    .transpose()?,
                background_image: url("theme.backgroundImage", t.background_image.as_ref())?,
                logo_url: url("theme.logoUrl", t.logo_url.as_ref())?,
                company_name: text("theme.companyName", t.company_name.as_ref(), 100)?,
            },
        };
        let phone_provisioning = match self.phone_provisioning {
            None => PhoneProvisioning::default(),
            Some(p) => {
                let countries = p
                    .countries
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        field(
                            &format!("phoneProvisioning.countries[{i}]"),
                            CountryCode::parse(c),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                PhoneProvisioning {
                    enabled: p.enabled,
                    countries,
                }
            }
        };
        let webhook_url = self
            .webhook_url
            .map(|raw| receiver_url("webhookUrl", &raw, webhook_policy))
            .transpose()?;
        let webhook_events = self
            .webhook_events
            .map(|events| event_types("webhookEvents", events))
            .transpose()?;
        let webhook_secret = self
            .webhook_secret
            .map(|s| field("webhookSecret", WebhookSecret::parse(&s)))
            .transpose()?;
        let request = LinkRequest {
            customer_id: None,
            name,
            external_id,
            redirect_url: url("redirectUrl", self.redirect_url.as_ref())?,
            success_redirect_url: url("successRedirectUrl", self.success_redirect_url.as_ref())?,
            failure_redirect_url: url("failureRedirectUrl", self.failure_redirect_url.as_ref())?,
            expires_at: self.expires_at,
            allowed_connection_types,
            theme,
            language: self
                .language
                .map(|l| field("language", Language::parse(&l)))
                .transpose()?
                .unwrap_or_default(),
            phone_provisioning,
            reconnect_phone_number_id: self.reconnect_phone_number_id,
            metadata: self
                .metadata
                .map(|m| field("metadata", values::metadata(m)))
                .transpose()?
                .unwrap_or_default(),
            webhook_url,
            webhook_events,
            webhook_secret_ref: None,
            now,
        };
        Ok(NewLink {
            request,
            customer,
            webhook_secret,
        })
    }
}
