//! Typed identifiers. Every entity id is a UUIDv7, so ids sort by creation time.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// What every typed entity id can do, so code generic over aggregates can use their ids.
pub trait EntityId: Copy + fmt::Debug + fmt::Display + Eq {
    fn from_uuid(id: Uuid) -> Self;
    fn as_uuid(&self) -> Uuid;
}

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl EntityId for $name {
            fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

entity_id!(
    /// An integrator: the tenant every other entity belongs to.
    OrganizationId
);
entity_id!(
    /// One of an organization's customers (the business onboarding its number).
    CustomerId
);
entity_id!(
    /// A one-time onboarding link.
    LinkId
);
entity_id!(
    /// An API key's public identifier (never the key itself).
    ApiKeyId
);
entity_id!(
    /// A secret kept encrypted in the vault; events carry this reference only.
    SecretRef
);
entity_id!(
    /// A WhatsApp Business phone number onboarded through Gangway.
    PhoneId
);
entity_id!(
    /// A WhatsApp Business Account as Gangway knows it, within one organization.
    WabaId
);

impl WabaId {
    /// Gangway's id for Meta's WABA `meta_waba_id` in `org`: derived, not stored, so every phone
    /// of one WABA carries the same id without a WABA stream to coordinate on.
    pub fn for_meta(org: OrganizationId, meta_waba_id: &str) -> Self {
        Self(Uuid::new_v5(
            &org.as_uuid(),
            format!("waba:{meta_waba_id}").as_bytes(),
        ))
    }
}
entity_id!(
    /// An integrator's webhook endpoint.
    EndpointId
);
entity_id!(
    /// One webhook message: an outgoing event for one endpoint. Its `webhook-id` is derived from it.
    MessageId
);
