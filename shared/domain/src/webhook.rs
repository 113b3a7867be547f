//! Webhook endpoints: where an organization wants its events delivered. Stream `webhook_endpoint`.

use crate::aggregate::{Aggregate, EventHeader};
use crate::catalog::EventType;
use crate::error::{DomainError, RuleViolation};
use crate::event::StreamEvent;
use crate::values::HttpUrl;
use crate::{EndpointId, LinkId, OrganizationId, SecretRef, WabaId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long a rotated-out secret keeps signing deliveries beside the new one.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::hours(24);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCreated {
    pub url: HttpUrl,
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    /// Only events of this WABA, when set.
    pub waba_id: Option<WabaId>,
    pub secret_ref: SecretRef,
    /// The link whose `webhookUrl` registered this endpoint when its phone connected.
    pub registered_by_link: Option<LinkId>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointChanges {
    pub url: Option<HttpUrl>,
    pub event_types: Option<Vec<EventType>>,
    /// `Some(None)` clears the description. Stored as absent (no change) or `null` (clear).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub description: Option<Option<String>>,
}

/// Reads a field that is present, `null` included, as `Some`; `#[serde(default)]` makes an absent
/// one `None`. Plain `Option<Option<_>>` would read `null` as `None` and lose the clearing.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EndpointEvent {
    #[serde(rename = "webhook_endpoint.created")]
    Created(Box<EndpointCreated>),
    #[serde(rename = "webhook_endpoint.updated")]
    Updated(Box<EndpointChanges>),
    /// A new secret signs from now on; the previous one also signs until `previous_expires_at`.
    #[serde(rename = "webhook_endpoint.secret_rotated", rename_all = "camelCase")]
    SecretRotated {
        secret_ref: SecretRef,
        previous_secret_ref: SecretRef,
        previous_expires_at: DateTime<Utc>,
    },
    /// By the integrator, or by the dispatcher (410 Gone, failing for too long).
    #[serde(rename = "webhook_endpoint.disabled")]
    Disabled { reason: String },
    #[serde(rename = "webhook_endpoint.enabled")]
    Enabled {},
    #[serde(rename = "webhook_endpoint.deleted")]
    Deleted {},
}

impl StreamEvent for EndpointEvent {
    const STREAM_TYPE: &'static str = "webhook_endpoint";
    const EVENT_TYPES: &'static [&'static str] = &[
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.disabled",
        "webhook_endpoint.enabled",
        "webhook_endpoint.deleted",
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
    Deleted,
}

crate::status::named_status!(EndpointStatus, "an endpoint status", {
    Enabled => "enabled",
    Disabled => "disabled",
    Deleted => "deleted",
});

/// Where a webhook message is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Its retries ran out.
    Failed,
}

crate::status::named_status!(MessageStatus, "a message status", {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub id: EndpointId,
    pub organization_id: OrganizationId,
    pub url: HttpUrl,
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    pub waba_id: Option<WabaId>,
    pub secret_ref: SecretRef,
    pub previous_secret_ref: Option<SecretRef>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub registered_by_link: Option<LinkId>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to an endpoint, by the integrator or by the dispatcher.
#[derive(Clone, Debug, PartialEq)]
pub enum EndpointCommand {
    Create(Box<EndpointCreated>),
    Update(EndpointChanges),
    /// The new secret (already in the vault) signs from now on; the current one beside it until
    /// `previous_expires_at`.
    RotateSecret {
        secret_ref: SecretRef,
        previous_expires_at: DateTime<Utc>,
    },
    Disable {
        reason: String,
    },
    Enable,
    Delete,
}

impl Aggregate for Endpoint {
    type Id = EndpointId;
    type Event = EndpointEvent;
    type Command = EndpointCommand;
    const NAME: &'static str = "webhook endpoint";

    /// Records only what changes: an update to the same values, disabling a disabled endpoint or
    /// enabling an enabled one comes to nothing. A deleted endpoint is gone for every command.
    fn decide(state: Option<&Self>, command: &EndpointCommand) -> Result<Vec<EndpointEvent>, DomainError> {
        let endpoint = match (state, command) {
            (None, EndpointCommand::Create(created)) => {
                return Ok(vec![EndpointEvent::Created(created.clone())])
            }
            (Some(e), _) if e.status == EndpointStatus::Deleted => {
                return Err(DomainError::NotFound(Self::NAME))
            }
            (Some(_), EndpointCommand::Create(_)) => {
                return Err(RuleViolation::AlreadyExists(Self::NAME).into())
            }
            (Some(endpoint), _) => endpoint,
            (None, _) => return Err(DomainError::NotFound(Self::NAME)),
        };
        let event = match command {
            EndpointCommand::Create(_) => None,
            EndpointCommand::Update(changes) => {
                let changes = EndpointChanges {
                    url: changes.url.clone().filter(|u| *u != endpoint.url),
                    event_types: changes.event_types.clone().filter(|t| *t != endpoint.event_types),
                    description: changes.description.clone().filter(|d| *d != endpoint.description),
                };
                (changes != EndpointChanges::default()).then(|| EndpointEvent::Updated(Box::new(changes)))
            }
            EndpointCommand::RotateSecret {
                secret_ref,
                previous_expires_at,
            } => Some(EndpointEvent::SecretRotated {
                secret_ref: *secret_ref,
                previous_secret_ref: endpoint.secret_ref,
                previous_expires_at: *previous_expires_at,
            }),
            EndpointCommand::Disable { reason } => {
                (endpoint.status == EndpointStatus::Enabled).then(|| EndpointEvent::Disabled {
                    reason: reason.clone(),
                })
            }
            EndpointCommand::Enable => {
                (endpoint.status == EndpointStatus::Disabled).then_some(EndpointEvent::Enabled {})
            }
            EndpointCommand::Delete => Some(EndpointEvent::Deleted {}),
        };
        Ok(event.into_iter().collect())
    }

    fn evolve(state: Option<Self>, event: &EndpointEvent, header: &EventHeader<EndpointId>) -> Option<Self> {
        let at = header.occurred_at;
        let mut endpoint = match (state, event) {
            (None, EndpointEvent::Created(created)) => {
                let created = (**created).clone();
                return Some(Self {
                    id: header.id,
                    organization_id: header.organization_id,
                    url: created.url,
                    event_types: created.event_types,
                    description: created.description,
                    waba_id: created.waba_id,
                    secret_ref: created.secret_ref,
                    previous_secret_ref: None,
                    previous_secret_expires_at: None,
                    registered_by_link: created.registered_by_link,
                    status: EndpointStatus::Enabled,
                    disabled_reason: None,
                    created_at: at,
                    updated_at: at,
                });
            }
            (Some(endpoint), _) => endpoint,
            (None, _) => return None,
        };
        match event {
            EndpointEvent::Created(_) => return Some(endpoint),
            EndpointEvent::Updated(changes) => {
                if let Some(url) = &changes.url {
                    endpoint.url = url.clone();
                }
                if let Some(types) = &changes.event_types {
                    endpoint.event_types = types.clone();
                }
                if let Some(description) = &changes.description {
                    endpoint.description = description.clone();
                }
            }
            EndpointEvent::SecretRotated {
                secret_ref,
                previous_secret_ref,
                previous_expires_at,
            } => {
                endpoint.secret_ref = *secret_ref;
                endpoint.previous_secret_ref = Some(*previous_secret_ref);
                endpoint.previous_secret_expires_at = Some(*previous_expires_at);
            }
            EndpointEvent::Disabled { reason } => {
                endpoint.status = EndpointStatus::Disabled;
                endpoint.disabled_reason = Some(reason.clone());
            }
            EndpointEvent::Enabled {} => {
                endpoint.status = EndpointStatus::Enabled;
                endpoint.disabled_reason = None;
            }
            EndpointEvent::Deleted {} => endpoint.status = EndpointStatus::Deleted,
        }
        endpoint.updated_at = at;
        Some(endpoint)
    }
}

impl Endpoint {
    /// Whether an event of `event_type` for `waba` (if the event concerns one) goes here.
    pub fn wants(&self, event_type: EventType, waba: Option<WabaId>) -> bool {
        self.status == EndpointStatus::Enabled
            && self.event_types.contains(&event_type)
            && match self.waba_id {
                None => true,
                Some(scope) => waba == Some(scope),
            }
    }

    /// The secrets deliveries are signed with at `now`: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<SecretRef> {
        let mut secrets = vec![self.secret_ref];
        if let (Some(previous), Some(until)) = (self.previous_secret_ref, self.previous_secret_expires_at) {
            if now < until {
                secrets.push(previous);
            }
        }
        secrets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_at, nothing};

    fn created(waba: Option<WabaId>) -> EndpointEvent {
        EndpointEvent::Created(Box::new(EndpointCreated {
            url: HttpUrl::parse("https://hooks.example.com/in").unwrap(),
            event_types: vec![EventType::PhoneNumberConnected],
            description: None,
            waba_id: waba,
            secret_ref: SecretRef::new(),
            registered_by_link: None,
        }))
    }

    fn fold(events: &[EndpointEvent], at: DateTime<Utc>) -> Endpoint {
        given_at::<Endpoint>(events.to_vec(), at).state().clone()
    }

    #[test]
    fn an_update_records_only_what_changes() {
        let endpoint = given::<Endpoint>([created(None)]);
        let (url, types) = (endpoint.state().url.clone(), endpoint.state().event_types.clone());
        let same = EndpointChanges {
            url: Some(url.clone()),
            event_types: Some(types),
            description: Some(None),
        };
        endpoint.when(EndpointCommand::Update(same)).then_nothing();
        let changed = EndpointChanges {
            url: Some(url),
            description: Some(Some("main".into())),
            ..Default::default()
        };
        given::<Endpoint>([created(None)])
            .when(EndpointCommand::Update(changed))
            .then([EndpointEvent::Updated(Box::new(EndpointChanges {
                description: Some(Some("main".into())),
                ..Default::default()
            }))]);
    }

    #[test]
    fn disabling_only_an_enabled_endpoint_and_enabling_only_a_disabled_one() {
        let disable = || EndpointCommand::Disable {
            reason: "410 Gone".into(),
        };
        given::<Endpoint>([created(None)])
            .when(disable())
            .then([EndpointEvent::Disabled {
                reason: "410 Gone".into(),
            }]);
        given::<Endpoint>([created(None)])
            .when(EndpointCommand::Enable)
            .then_nothing();
        let disabled = || {
            given::<Endpoint>([
                created(None),
                EndpointEvent::Disabled {
                    reason: "maintenance".into(),
                },
            ])
        };
        disabled().when(disable()).then_nothing();
        disabled()
            .when(EndpointCommand::Enable)
            .then([EndpointEvent::Enabled {}]);
    }

    #[test]
    fn a_rotation_keeps_the_current_secret_as_the_previous_one() {
        let endpoint = given::<Endpoint>([created(None)]);
        let (current, new, until) = (endpoint.state().secret_ref, SecretRef::new(), Utc::now());
        endpoint
            .when(EndpointCommand::RotateSecret {
                secret_ref: new,
                previous_expires_at: until,
            })
            .then([EndpointEvent::SecretRotated {
                secret_ref: new,
                previous_secret_ref: current,
                previous_expires_at: until,
            }]);
    }

    #[test]
    fn a_deleted_endpoint_is_gone_for_every_command() {
        for command in [
            EndpointCommand::Enable,
            EndpointCommand::Delete,
            EndpointCommand::Update(Default::default()),
        ] {
            given::<Endpoint>([created(None), EndpointEvent::Deleted {}])
                .when(command)
                .then_error(DomainError::NotFound("webhook endpoint"));
        }
        nothing::<Endpoint>()
            .when(EndpointCommand::Enable)
            .then_error(DomainError::NotFound("webhook endpoint"));
    }

    #[test]
    fn an_endpoint_wants_its_types_and_its_waba_only_while_enabled() {
        let now = Utc::now();
        let waba = WabaId::new();
        let scoped = fold(&[created(Some(waba))], now);
        assert!(scoped.wants(EventType::PhoneNumberConnected, Some(waba)));
        assert!(!scoped.wants(EventType::PhoneNumberConnected, Some(WabaId::new())));
        assert!(!scoped.wants(EventType::PhoneNumberConnected, None));
        assert!(!scoped.wants(EventType::MessageReceived, Some(waba)));
        let everywhere = fold(&[created(None)], now);
        assert!(everywhere.wants(EventType::PhoneNumberConnected, None));
        let disabled = fold(
            &[
                created(None),
                EndpointEvent::Disabled {
                    reason: "410 Gone".into(),
                },
            ],
            now,
        );
        assert!(!disabled.wants(EventType::PhoneNumberConnected, None));
        let enabled = fold(
            &[
                created(None),
                EndpointEvent::Disabled { reason: "x".into() },
                EndpointEvent::Enabled {},
            ],
            now,
        );
        assert!(enabled.wants(EventType::PhoneNumberConnected, None));
    }

    #[test]
    fn a_cleared_description_survives_storage_and_an_unchanged_one_stays_absent() {
        let clear = EndpointEvent::Updated(Box::new(EndpointChanges {
            description: Some(None),
            ..Default::default()
        }));
        let (event_type, data) = clear.encode().unwrap();
        assert_eq!(data["description"], serde_json::Value::Null);
        assert_eq!(EndpointEvent::decode(&event_type, 1, &data).unwrap(), clear);

        let keep = EndpointEvent::Updated(Box::new(EndpointChanges {
            event_types: Some(vec![EventType::MessageSent]),
            ..Default::default()
        }));
        let (event_type, data) = keep.encode().unwrap();
        assert!(data.get("description").is_none());
        assert_eq!(EndpointEvent::decode(&event_type, 1, &data).unwrap(), keep);
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends() {
        let now = Utc::now();
        let (new, old) = (SecretRef::new(), SecretRef::new());
        let endpoint = fold(
            &[
                created(None),
                EndpointEvent::SecretRotated {
                    secret_ref: new,
                    previous_secret_ref: old,
                    previous_expires_at: now + Duration::hours(1),
                },
            ],
            now,
        );
        assert_eq!(endpoint.signing_secrets(now), vec![new, old]);
        assert_eq!(endpoint.signing_secrets(now + Duration::hours(2)), vec![new]);
    }
}
