//! A WhatsApp Business phone number onboarded through a link: its stream `phone_number`.

use crate::event::StreamEvent;
use crate::values::ConnectionType;
use crate::{CustomerId, LinkId, OrganizationId, PhoneId, SecretRef, WabaId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneCreated {
    pub customer_id: Option<CustomerId>,
    pub external_id: Option<String>,
    pub onboarding_link_id: LinkId,
    /// Meta's phone number id.
    pub phone_number_id: String,
    /// E.164, e.g. `+15550100001`.
    pub phone_number: String,
    pub verified_name: Option<String>,
    pub waba_id: WabaId,
    pub meta_waba_id: String,
    pub business_id: Option<String>,
    pub connection_type: ConnectionType,
    /// The business token, in the vault.
    pub token_ref: SecretRef,
    /// The two-step verification PIN Gangway registered the number with, in the vault.
    pub pin_ref: Option<SecretRef>,
    pub is_registered: bool,
    /// Meta's request ids of the coexistence data syncs (contacts, history).
    #[serde(default)]
    pub sync_request_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PhoneEvent {
    #[serde(rename = "phone_number.created")]
    Created(Box<PhoneCreated>),
    /// The customer went through a link again and Gangway holds a fresh token.
    #[serde(rename = "phone_number.reconnected", rename_all = "camelCase")]
    Reconnected {
        onboarding_link_id: LinkId,
        token_ref: SecretRef,
    },
}

impl StreamEvent for PhoneEvent {
    const STREAM_TYPE: &'static str = "phone_number";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneStatus {
    Connected,
    Disconnected,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phone {
    pub id: PhoneId,
    pub organization_id: OrganizationId,
    #[serde(flatten)]
    pub details: PhoneCreated,
    pub status: PhoneStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reconnected_at: Option<DateTime<Utc>>,
}

impl Phone {
    pub fn evolve(
        state: Option<Self>,
        id: PhoneId,
        organization_id: OrganizationId,
        event: &PhoneEvent,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        match (state, event) {
            (None, PhoneEvent::Created(details)) => Some(Self {
                id,
                organization_id,
                details: (**details).clone(),
                status: PhoneStatus::Connected,
                created_at: at,
                updated_at: at,
                reconnected_at: None,
            }),
            (
                Some(mut phone),
                PhoneEvent::Reconnected {
                    onboarding_link_id,
                    token_ref,
                },
            ) => {
                phone.details.onboarding_link_id = *onboarding_link_id;
                phone.details.token_ref = *token_ref;
                phone.status = PhoneStatus::Connected;
                phone.reconnected_at = Some(at);
                phone.updated_at = at;
                Some(phone)
            }
            (state, _) => state,
        }
    }
}

/// Meta's display number ("+1 555-010-0001", "15550100001") as E.164 ("+15550100001").
pub fn e164(display_phone_number: &str) -> String {
    let digits: String = display_phone_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("+{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created() -> PhoneCreated {
        let org = OrganizationId::new();
        PhoneCreated {
            customer_id: None,
            external_id: Some("cus_1".into()),
            onboarding_link_id: LinkId::new(),
            phone_number_id: "106540352242922".into(),
            phone_number: "+15550100001".into(),
            verified_name: Some("Sandbox Coffee".into()),
            waba_id: WabaId::for_meta(org, "524126980791429"),
            meta_waba_id: "524126980791429".into(),
            business_id: None,
            connection_type: ConnectionType::Dedicated,
            token_ref: SecretRef::new(),
            pin_ref: Some(SecretRef::new()),
            is_registered: true,
            sync_request_ids: Vec::new(),
        }
    }

    #[test]
    fn display_numbers_become_e164() {
        assert_eq!(e164("+1 555-010-0001"), "+15550100001");
        assert_eq!(e164("15550783881"), "+15550783881");
        assert_eq!(e164("+55 11 5555-0100"), "+551155550100");
    }

    #[test]
    fn a_reconnect_swaps_the_token_and_keeps_the_phone() {
        let (id, org, now) = (PhoneId::new(), OrganizationId::new(), Utc::now());
        let phone = Phone::evolve(None, id, org, &PhoneEvent::Created(Box::new(created())), now).unwrap();
        let (link, token) = (LinkId::new(), SecretRef::new());
        let event = PhoneEvent::Reconnected {
            onboarding_link_id: link,
            token_ref: token,
        };
        let later = now + chrono::Duration::minutes(1);
        let phone = Phone::evolve(Some(phone), id, org, &event, later).unwrap();
        assert_eq!(phone.details.token_ref, token);
        assert_eq!(phone.details.onboarding_link_id, link);
        assert_eq!(phone.details.phone_number_id, "106540352242922");
        assert_eq!(phone.reconnected_at, Some(later));
    }

    #[test]
    fn one_waba_gets_one_id_per_organization() {
        let (a, b) = (OrganizationId::new(), OrganizationId::new());
        assert_eq!(WabaId::for_meta(a, "1"), WabaId::for_meta(a, "1"));
        assert_ne!(WabaId::for_meta(a, "1"), WabaId::for_meta(b, "1"));
        assert_ne!(WabaId::for_meta(a, "1"), WabaId::for_meta(a, "2"));
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let event = PhoneEvent::Created(Box::new(created()));
        let (kind, payload) = event.encode().unwrap();
        assert_eq!(kind, "phone_number.created");
        assert_eq!(PhoneEvent::decode(&kind, &payload).unwrap(), event);
    }
}
