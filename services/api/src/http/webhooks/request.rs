//! Webhook endpoint request bodies and their validation into commands.

use crate::error::ApiError;
use chrono::Duration;
use gangway_app::webhooks::{EndpointChange, NewEndpoint};
use gangway_domain::catalog::EventType;
use gangway_domain::values::{bounded_text, HttpUrl, WebhookSecret};
use gangway_domain::webhook::{EndpointChanges, EndpointCreated, DEFAULT_ROTATION_GRACE};
use gangway_domain::{FieldError, SecretRef, WabaId};
use gangway_webhook_signing::{check_url, Policy};
use serde::{Deserialize, Deserializer};
use url::Host;
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_DESCRIPTION: usize = 500;
const MAX_REASON: usize = 500;
const MAX_GRACE: Duration = Duration::days(7);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateEndpointRequest {
    /// Where deliveries are POSTed: https (http only where the deployment allows it).
    #[schema(value_type = String, required = true)]
    pub url: Option<String>,
    /// Catalog event types to deliver (`GET /v1/webhook-event-types`); at least one.
    #[schema(value_type = Vec<String>, required = true)]
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// Signing secret, 16-256 characters. Omit it and Gangway generates a `whsec_` secret; read it
    /// with `GET /v1/webhooks/{id}/secret`.
    pub secret: Option<String>,
    /// Deliver only events of this WhatsApp Business Account (Gangway's WABA id).
    pub waba_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateEndpointRequest {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotateSecretRequest {
    /// The new secret, 16-256 characters; generated when omitted.
    pub secret: Option<String>,
    /// How long the previous secret keeps signing beside the new one: 0 to 604800 seconds
    /// (7 days), default 86400.
    pub grace_period_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisableEndpointRequest {
    /// Why, for your records (shown as `disabledReason`).
    pub reason: Option<String>,
}

/// Tells a `null` field (`Some(None)`) from an absent one (`None`, by `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<Option<T>>, D::Error> {
    Option::deserialize(de).map(Some)
}

fn field<T>(name: &str, result: Result<T, String>) -> Result<T, FieldError> {
    result.map_err(|message| FieldError::new(name, message))
}

/// A receiver URL under the deployment's policy, for the request field `name` (an endpoint's
/// `url`, or a link's `webhookUrl`, which becomes an endpoint).
pub(crate) fn receiver_url(name: &str, raw: &str, policy: Policy) -> Result<HttpUrl, FieldError> {
    let url = field(name, HttpUrl::parse(raw))?;
    let parsed = url::Url::parse(url.as_str()).map_err(|e| FieldError::new(name, e.to_string()))?;
    check_url(&parsed, policy).map_err(|e| FieldError::new(name, e.to_string()))?;
    if !policy.allow_private && names_localhost(&parsed) {
        return Err(FieldError::new(name, "must not point at localhost"));
    }
    Ok(url)
}

fn endpoint_url(raw: &str, policy: Policy) -> Result<HttpUrl, FieldError> {
    receiver_url("url", raw, policy)
}

/// Literal addresses are checked by [`check_url`]; names are resolved and checked when
/// delivering. `localhost` is refused now as well, being never anyone's public receiver.
fn names_localhost(url: &url::Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        _ => false,
    }
}

pub(crate) fn event_types(name: &str, raw: Vec<String>) -> Result<Vec<EventType>, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(name, "must list at least one event type"));
    }
    let mut types = Vec::new();
    for (i, raw) in raw.iter().enumerate() {
        let event =
            EventType::parse(raw).map_err(|message| FieldError::new(format!("{name}[{i}]"), message))?;
        if !types.contains(&event) {
            types.push(event);
        }
    }
    Ok(types)
}

fn secret(raw: Option<&str>) -> Result<Option<WebhookSecret>, FieldError> {
    raw.map(|s| field("secret", WebhookSecret::parse(s))).transpose()
}

impl CreateEndpointRequest {
    pub fn validate(self, policy: Policy) -> Result<NewEndpoint, ApiError> {
        let url = self.url.ok_or_else(|| FieldError::new("url", "is required"))?;
        let events = self
            .events
            .ok_or_else(|| FieldError::new("events", "is required"))?;
        let spec = EndpointCreated {
            url: endpoint_url(&url, policy)?,
            event_types: event_types("events", events)?,
            description: self
                .description
                .map(|d| field("description", bounded_text(&d, MAX_DESCRIPTION)))
                .transpose()?,
            waba_id: self
                .waba_id
                .map(|w| {
                    w.parse::<Uuid>()
                        .map(WabaId::from_uuid)
                        .map_err(|_| FieldError::new("wabaId", "must be a UUID (Gangway's WABA id)"))
                })
                .transpose()?,
            // Replaced by the vault's reference when the secret is stored.
            secret_ref: SecretRef::new(),
            registered_by_link: None,
        };
        Ok(NewEndpoint {
            spec,
            secret: secret(self.secret.as_deref())?,
        })
    }
}

impl UpdateEndpointRequest {
    pub fn validate(self, policy: Policy) -> Result<EndpointChange, ApiError> {
        Ok(EndpointChange::Update(EndpointChanges {
            url: self.url.map(|u| endpoint_url(&u, policy)).transpose()?,
            event_types: self.events.map(|e| event_types("events", e)).transpose()?,
            description: self
                .description
                .map(|d| {
                    d.map(|text| field("description", bounded_text(&text, MAX_DESCRIPTION)))
                        .transpose()
                })
                .transpose()?,
        }))
    }
}

impl RotateSecretRequest {
    /// The secret given, or `None` for one to be generated, and the grace period.
    pub fn validate(self) -> Result<(Option<WebhookSecret>, Duration), ApiError> {
        let grace = match self.grace_period_seconds {
            None => DEFAULT_ROTATION_GRACE,
            Some(seconds) if (0..=MAX_GRACE.num_seconds()).contains(&seconds) => Duration::seconds(seconds),
            Some(_) => {
                return Err(ApiError::validation(
                    "gracePeriodSeconds",
                    "must be from 0 to 604800 seconds (7 days)",
                ));
            }
        };
        Ok((secret(self.secret.as_deref())?, grace))
    }
}

impl DisableEndpointRequest {
    pub fn reason(self) -> Result<String, ApiError> {
        match self.reason {
            None => Ok("disabled through the API".into()),
            Some(reason) => Ok(field("reason", bounded_text(&reason, MAX_REASON))?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_http: false,
        allow_private: false,
    };

    #[test]
    fn literal_private_hosts_and_localhost_are_refused() {
        for url in [
            "https://localhost/in",
            "https://api.LOCALHOST./in",
            "https://127.0.0.1/in",
            "https://2130706433/in",
            "https://10.1.2.3/in",
            "https://172.16.0.1/in",
            "https://192.168.1.1/in",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/in",
            "https://0.0.0.0/in",
            "https://[::1]/in",
            "https://[fd00::1]/in",
            "https://[fe80::1]/in",
            "https://[::ffff:10.0.0.1]/in",
        ] {
            let error = endpoint_url(url, STRICT).unwrap_err();
            assert_eq!(error.field, "url", "{url}");
        }
        for url in [
            "https://hooks.example.com/in",
            "https://93.184.216.34/in",
            "https://[2606:4700::1111]/in",
        ] {
            assert!(endpoint_url(url, STRICT).is_ok(), "{url}");
        }
        let open = Policy {
            allow_http: true,
            allow_private: true,
        };
        assert!(endpoint_url("http://127.0.0.1:9000/in", open).is_ok());
        assert!(endpoint_url("http://hooks.example.com/in", STRICT).is_err());
    }

    #[test]
    fn event_types_must_be_listed_and_known_and_are_deduplicated() {
        assert_eq!(event_types("events", vec![]).unwrap_err().field, "events");
        let unknown = vec!["message.sent".into(), "message.exploded".into()];
        assert_eq!(event_types("events", unknown).unwrap_err().field, "events[1]");
        let twice = vec!["message.sent".into(), "message.sent".into()];
        assert_eq!(
            event_types("events", twice).unwrap(),
            vec![EventType::MessageSent]
        );
    }

    #[test]
    fn grace_periods_run_from_zero_to_seven_days() {
        let grace = |s: Option<i64>| {
            RotateSecretRequest {
                secret: None,
                grace_period_seconds: s,
            }
            .validate()
            .map(|(_, g)| g)
        };
        assert_eq!(grace(None).unwrap(), DEFAULT_ROTATION_GRACE);
        assert_eq!(grace(Some(0)).unwrap(), Duration::zero());
        assert_eq!(grace(Some(604_800)).unwrap(), Duration::days(7));
        assert!(grace(Some(604_801)).is_err());
        assert!(grace(Some(-1)).is_err());
        assert!(grace(Some(i64::MAX)).is_err());
    }

    #[test]
    fn a_null_description_clears_and_an_absent_one_keeps() {
        let parse = |body: &str| serde_json::from_str::<UpdateEndpointRequest>(body).unwrap();
        assert_eq!(parse(r#"{"description": null}"#).description, Some(None));
        assert_eq!(parse("{}").description, None);
    }
}
