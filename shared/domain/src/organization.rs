//! Organizations (integrators) and their API keys.

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

impl Organization {
    /// Folds one event into the state; `None` before the stream exists.
    pub fn evolve(
        state: Option<Self>,
        id: OrganizationId,
        event: &OrganizationEvent,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        match (state, event) {
            (None, OrganizationEvent::Created { name }) => Some(Self {
                id,
                name: name.clone(),
                api_key_prefixes: Vec::new(),
                created_at: at,
            }),
            (Some(mut org), OrganizationEvent::ApiKeyIssued { prefix, .. }) => {
                org.api_key_prefixes.push(prefix.clone());
                Some(org)
            }
            (state, _) => state,
        }
    }
}
