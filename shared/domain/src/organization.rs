//! Organizations (integrators) and their API keys.

use crate::aggregate::{Aggregate, EventHeader};
use crate::error::{DomainError, RuleViolation};
use crate::event::StreamEvent;
use crate::ids::{ApiKeyId, OrganizationId};
use crate::SecretRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OrganizationEvent {
    #[serde(rename = "organization.created")]
    Created { name: String },
    /// Only the key's id, its visible prefix and its name: the key and its hash never enter an
    /// event.
    #[serde(rename = "organization.api_key_issued", rename_all = "camelCase")]
    ApiKeyIssued {
        key_id: ApiKeyId,
        prefix: String,
        #[serde(default)]
        name: Option<String>,
    },
    /// The key stops working everywhere.
    #[serde(rename = "organization.api_key_revoked", rename_all = "camelCase")]
    ApiKeyRevoked { key_id: ApiKeyId },
    /// A new secret signs redirects back to the integrator from now on; the one it replaces (if
    /// any) also signs until `previous_expires_at`.
    #[serde(rename = "organization.redirect_secret_rotated", rename_all = "camelCase")]
    RedirectSecretRotated {
        secret_ref: SecretRef,
        #[serde(default)]
        previous_secret_ref: Option<SecretRef>,
        previous_expires_at: DateTime<Utc>,
    },
}

impl StreamEvent for OrganizationEvent {
    const STREAM_TYPE: &'static str = "organization";
    const EVENT_TYPES: &'static [&'static str] = &[
        "organization.created",
        "organization.api_key_issued",
        "organization.api_key_revoked",
        "organization.redirect_secret_rotated",
    ];
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub api_key_prefixes: Vec<String>,
    /// The keys that work.
    #[serde(default)]
    pub live_api_keys: Vec<ApiKeyId>,
    /// What signs redirects back to the integrator; none until the first is issued.
    #[serde(default)]
    pub redirect_secret: Option<RedirectSecret>,
    pub created_at: DateTime<Utc>,
}

/// The vault references of an organization's redirect secret and of the one it replaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectSecret {
    pub secret_ref: SecretRef,
    pub previous_secret_ref: Option<SecretRef>,
    pub previous_expires_at: Option<DateTime<Utc>>,
}

/// The first (or another) API key of an organization: only its id and visible prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuedKey {
    pub key_id: ApiKeyId,
    pub prefix: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OrganizationCommand {
    Create {
        name: String,
        first_key: IssuedKey,
    },
    IssueApiKey(IssuedKey),
    RevokeApiKey {
        key_id: ApiKeyId,
    },
    RotateRedirectSecret {
        secret_ref: SecretRef,
        previous_expires_at: DateTime<Utc>,
    },
}

impl Aggregate for Organization {
    type Id = OrganizationId;
    type Event = OrganizationEvent;
    type Command = OrganizationCommand;
    const NAME: &'static str = "organization";

    fn decide(
        state: Option<&Self>,
        command: &OrganizationCommand,
    ) -> Result<Vec<OrganizationEvent>, DomainError> {
        let issued = |key: &IssuedKey| OrganizationEvent::ApiKeyIssued {
            key_id: key.key_id,
            prefix: key.prefix.clone(),
            name: Some(key.name.clone()),
        };
        match (state, command) {
            (None, OrganizationCommand::Create { name, first_key }) => Ok(vec![
                OrganizationEvent::Created { name: name.clone() },
                issued(first_key),
            ]),
            (Some(_), OrganizationCommand::Create { .. }) => {
                Err(RuleViolation::AlreadyExists(Self::NAME).into())
            }
            (Some(_), OrganizationCommand::IssueApiKey(key)) => Ok(vec![issued(key)]),
            // A key that is not the organization's, or no longer works, is not found.
            (Some(org), OrganizationCommand::RevokeApiKey { key_id })
                if org.live_api_keys.contains(key_id) =>
            {
                Ok(vec![OrganizationEvent::ApiKeyRevoked { key_id: *key_id }])
            }
            (Some(_), OrganizationCommand::RevokeApiKey { .. }) => Err(DomainError::NotFound("API key")),
            (
                Some(org),
                OrganizationCommand::RotateRedirectSecret {
                    secret_ref,
                    previous_expires_at,
                },
            ) => Ok(vec![OrganizationEvent::RedirectSecretRotated {
                secret_ref: *secret_ref,
                previous_secret_ref: org.redirect_secret.as_ref().map(|s| s.secret_ref),
                previous_expires_at: *previous_expires_at,
            }]),
            (None, _) => Err(DomainError::NotFound(Self::NAME)),
        }
    }

    fn evolve(
        state: Option<Self>,
        event: &OrganizationEvent,
        header: &EventHeader<OrganizationId>,
    ) -> Option<Self> {
        match (state, event) {
            (None, OrganizationEvent::Created { name }) => Some(Self {
                id: header.id,
                name: name.clone(),
                api_key_prefixes: Vec::new(),
                live_api_keys: Vec::new(),
                redirect_secret: None,
                created_at: header.occurred_at,
            }),
            (Some(mut org), OrganizationEvent::ApiKeyIssued { key_id, prefix, .. }) => {
                org.api_key_prefixes.push(prefix.clone());
                org.live_api_keys.push(*key_id);
                Some(org)
            }
            (Some(mut org), OrganizationEvent::ApiKeyRevoked { key_id }) => {
                org.live_api_keys.retain(|k| k != key_id);
                Some(org)
            }
            (
                Some(mut org),
                OrganizationEvent::RedirectSecretRotated {
                    secret_ref,
                    previous_secret_ref,
                    previous_expires_at,
                },
            ) => {
                org.redirect_secret = Some(RedirectSecret {
                    secret_ref: *secret_ref,
                    previous_secret_ref: *previous_secret_ref,
                    previous_expires_at: previous_secret_ref.map(|_| *previous_expires_at),
                });
                Some(org)
            }
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, nothing};

    fn key() -> IssuedKey {
        IssuedKey {
            key_id: ApiKeyId::new(),
            prefix: "sk_0123abcd".into(),
            name: "production".into(),
        }
    }

    fn issued(key: &IssuedKey) -> OrganizationEvent {
        OrganizationEvent::ApiKeyIssued {
            key_id: key.key_id,
            prefix: key.prefix.clone(),
            name: Some(key.name.clone()),
        }
    }

    #[test]
    fn only_a_working_key_of_the_organization_is_revoked() {
        let (first, second) = (key(), key());
        let created = OrganizationEvent::Created { name: "Acme".into() };
        let org = || given::<Organization>([created.clone(), issued(&first), issued(&second)]);
        org()
            .when(OrganizationCommand::RevokeApiKey { key_id: first.key_id })
            .then([OrganizationEvent::ApiKeyRevoked { key_id: first.key_id }]);
        let revoked = OrganizationEvent::ApiKeyRevoked { key_id: first.key_id };
        let after = given::<Organization>([created.clone(), issued(&first), issued(&second), revoked]);
        assert_eq!(after.state().live_api_keys, vec![second.key_id]);
        after
            .when(OrganizationCommand::RevokeApiKey { key_id: first.key_id })
            .then_error(DomainError::NotFound("API key"));
        org()
            .when(OrganizationCommand::RevokeApiKey {
                key_id: ApiKeyId::new(),
            })
            .then_error(DomainError::NotFound("API key"));
    }

    #[test]
    fn an_organization_is_created_with_its_first_key() {
        let first_key = key();
        nothing::<Organization>()
            .when(OrganizationCommand::Create {
                name: "Acme".into(),
                first_key: first_key.clone(),
            })
            .then([
                OrganizationEvent::Created { name: "Acme".into() },
                issued(&first_key),
            ]);
    }

    #[test]
    fn a_rotated_redirect_secret_is_kept_beside_the_new_one_with_its_grace() {
        let at = |hour| {
            DateTime::parse_from_rfc3339(&format!("2026-12-07T{hour:02}:00:00Z"))
                .unwrap()
                .to_utc()
        };
        let (first, second) = (SecretRef::new(), SecretRef::new());
        let rotated = |secret_ref, previous_secret_ref, hour| OrganizationEvent::RedirectSecretRotated {
            secret_ref,
            previous_secret_ref,
            previous_expires_at: at(hour),
        };
        let created = OrganizationEvent::Created { name: "Acme".into() };
        let issue = OrganizationCommand::RotateRedirectSecret {
            secret_ref: first,
            previous_expires_at: at(1),
        };
        given::<Organization>([created.clone()])
            .when(issue)
            .then([rotated(first, None, 1)]);
        let issued = given::<Organization>([created.clone(), rotated(first, None, 1)]);
        let secret = issued.state().redirect_secret.clone().expect("issued");
        assert_eq!((secret.secret_ref, secret.previous_secret_ref), (first, None));
        assert_eq!(secret.previous_expires_at, None, "nothing was replaced");
        issued
            .when(OrganizationCommand::RotateRedirectSecret {
                secret_ref: second,
                previous_expires_at: at(5),
            })
            .then([rotated(second, Some(first), 5)]);
        let replaced =
            given::<Organization>([created, rotated(first, None, 1), rotated(second, Some(first), 5)]);
        let secret = replaced.state().redirect_secret.clone().expect("rotated");
        assert_eq!(
            (secret.secret_ref, secret.previous_secret_ref),
            (second, Some(first))
        );
        assert_eq!(secret.previous_expires_at, Some(at(5)));
    }

    #[test]
    fn an_organization_is_created_once() {
        given::<Organization>([OrganizationEvent::Created { name: "Acme".into() }])
            .when(OrganizationCommand::Create {
                name: "Acme".into(),
                first_key: key(),
            })
            .then_error(RuleViolation::AlreadyExists("organization").into());
    }

    #[test]
    fn a_key_is_issued_only_to_an_existing_organization() {
        nothing::<Organization>()
            .when(OrganizationCommand::IssueApiKey(key()))
            .then_error(DomainError::NotFound("organization"));
        let given = given::<Organization>([OrganizationEvent::Created { name: "Acme".into() }]);
        assert!(given.state().api_key_prefixes.is_empty());
        let new_key = key();
        given
            .when(OrganizationCommand::IssueApiKey(new_key.clone()))
            .then([issued(&new_key)]);
    }
}
