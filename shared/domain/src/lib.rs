//! Gangway's domain: identifiers, validated values, events and the rules that turn commands into
//! events. Nothing here does I/O, so every rule is tested without a database.

pub mod aggregate;
pub mod catalog;
pub mod countries;
pub mod customer;
pub mod delivery_health;
pub mod error;
pub mod event;
pub mod evolution;
pub mod failure;
pub mod ids;
pub mod link;
pub mod message;
pub mod organization;
pub mod phone;
pub mod phone_health;
pub mod signup;
pub mod status;
pub mod text;
pub mod values;
pub mod vault;
pub mod webhook;
pub mod webhook_data;

pub use aggregate::{fold, Aggregate, EventHeader};
pub use error::{DomainError, FieldError, RuleViolation};
pub use event::{EventCodecError, StreamEvent};
pub use evolution::Upcaster;
pub use failure::FailureCode;
pub use ids::{
    ApiKeyId, CustomerId, EndpointId, EntityId, LinkId, MessageId, OrganizationId, PhoneId, SecretRef, WabaId,
};
