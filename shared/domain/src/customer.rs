//! Customers: the businesses an organization onboards.

use crate::event::StreamEvent;
use crate::ids::{CustomerId, LinkId, OrganizationId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerCreated {
    pub name: String,
    pub external_id: Option<String>,
    pub metadata: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CustomerEvent {
    #[serde(rename = "customer.created")]
    Created(CustomerCreated),
    /// A link was issued for this customer. Appending it with the customer's expected version is
    /// what serialises concurrent link creation for one customer.
    #[serde(rename = "customer.link_issued", rename_all = "camelCase")]
    LinkIssued { link_id: LinkId },
}

impl StreamEvent for CustomerEvent {
    const STREAM_TYPE: &'static str = "customer";
    const EVENT_TYPES: &'static [&'static str] = &["customer.created", "customer.link_issued"];
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: CustomerId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub external_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub latest_link_id: Option<LinkId>,
    pub created_at: DateTime<Utc>,
}

impl Customer {
    pub fn evolve(
        state: Option<Self>,
        id: CustomerId,
        organization_id: OrganizationId,
        event: &CustomerEvent,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        match (state, event) {
            (None, CustomerEvent::Created(created)) => Some(Self {
                id,
                organization_id,
                name: created.name.clone(),
                external_id: created.external_id.clone(),
                metadata: created.metadata.clone(),
                latest_link_id: None,
                created_at: at,
            }),
            (Some(mut customer), CustomerEvent::LinkIssued { link_id }) => {
                customer.latest_link_id = Some(*link_id);
                Some(customer)
            }
            (state, _) => state,
        }
    }
}
