//! Organizations (integrators) and their API keys.

use crate::aggregate::{Aggregate, EventHeader};
use crate::error::{DomainError, RuleViolation};
use crate::event::StreamEvent;
use crate::ids::{ApiKeyId, OrganizationId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OrganizationEvent {
    #[serde(rename = "organization.created")]
    Created { name: String },
    /// Only the key's id and its visible prefix: the key and its hash never enter an event.
    #[serde(rename = "organization.api_key_issued", rename_all = "camelCase")]
    ApiKeyIssued { key_id: ApiKeyId, prefix: String },
}

impl StreamEvent for OrganizationEvent {
    const STREAM_TYPE: &'static str = "organization";
    const EVENT_TYPES: &'static [&'static str] = &["organization.created", "organization.api_key_issued"];
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub api_key_prefixes: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// The first (or another) API key of an organization: only its id and visible prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuedKey {
    pub key_id: ApiKeyId,
    pub prefix: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OrganizationCommand {
    Create { name: String, first_key: IssuedKey },
    IssueApiKey(IssuedKey),
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
                created_at: header.occurred_at,
            }),
            (Some(mut org), OrganizationEvent::ApiKeyIssued { prefix, .. }) => {
                org.api_key_prefixes.push(prefix.clone());
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
        }
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
                OrganizationEvent::ApiKeyIssued {
                    key_id: first_key.key_id,
                    prefix: first_key.prefix,
                },
            ]);
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
        let issued = key();
        given
            .when(OrganizationCommand::IssueApiKey(issued.clone()))
            .then([OrganizationEvent::ApiKeyIssued {
                key_id: issued.key_id,
                prefix: issued.prefix,
            }]);
    }
}
