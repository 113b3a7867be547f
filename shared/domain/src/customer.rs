//! Customers: the businesses an organization onboards.

use crate::aggregate::{Aggregate, EventHeader};
use crate::error::{DomainError, RuleViolation};
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

#[derive(Clone, Debug, PartialEq)]
pub enum CustomerCommand {
    Create(CustomerCreated),
    /// Records that `link_id` is now the customer's link (the application revokes the previous
    /// one, which it finds as [`Customer::latest_link_id`]).
    IssueLink {
        link_id: LinkId,
    },
}

impl Aggregate for Customer {
    type Id = CustomerId;
    type Event = CustomerEvent;
    type Command = CustomerCommand;
    const NAME: &'static str = "customer";

    fn decide(state: Option<&Self>, command: &CustomerCommand) -> Result<Vec<CustomerEvent>, DomainError> {
        match (state, command) {
            (None, CustomerCommand::Create(created)) => Ok(vec![CustomerEvent::Created(created.clone())]),
            (Some(_), CustomerCommand::Create(_)) => Err(RuleViolation::AlreadyExists(Self::NAME).into()),
            (Some(_), CustomerCommand::IssueLink { link_id }) => {
                Ok(vec![CustomerEvent::LinkIssued { link_id: *link_id }])
            }
            (None, CustomerCommand::IssueLink { .. }) => Err(DomainError::NotFound(Self::NAME)),
        }
    }

    fn evolve(state: Option<Self>, event: &CustomerEvent, header: &EventHeader<CustomerId>) -> Option<Self> {
        match (state, event) {
            (None, CustomerEvent::Created(created)) => Some(Self {
                id: header.id,
                organization_id: header.organization_id,
                name: created.name.clone(),
                external_id: created.external_id.clone(),
                metadata: created.metadata.clone(),
                latest_link_id: None,
                created_at: header.occurred_at,
            }),
            (Some(mut customer), CustomerEvent::LinkIssued { link_id }) => {
                customer.latest_link_id = Some(*link_id);
                Some(customer)
            }
            (state, _) => state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, nothing};

    fn created() -> CustomerCreated {
        CustomerCreated {
            name: "Acme".into(),
            external_id: Some("acme-1".into()),
            metadata: Map::new(),
        }
    }

    #[test]
    fn a_customer_is_created_once() {
        nothing::<Customer>()
            .when(CustomerCommand::Create(created()))
            .then([CustomerEvent::Created(created())]);
        given::<Customer>([CustomerEvent::Created(created())])
            .when(CustomerCommand::Create(created()))
            .then_error(RuleViolation::AlreadyExists("customer").into());
    }

    #[test]
    fn the_latest_issued_link_is_the_customers_link() {
        let (first, second) = (LinkId::new(), LinkId::new());
        let customer = given::<Customer>([
            CustomerEvent::Created(created()),
            CustomerEvent::LinkIssued { link_id: first },
            CustomerEvent::LinkIssued { link_id: second },
        ]);
        assert_eq!(customer.state().latest_link_id, Some(second));
        customer
            .when(CustomerCommand::IssueLink { link_id: first })
            .then([CustomerEvent::LinkIssued { link_id: first }]);
        nothing::<Customer>()
            .when(CustomerCommand::IssueLink { link_id: first })
            .then_error(DomainError::NotFound("customer"));
    }
}
