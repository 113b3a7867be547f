//! A WhatsApp Business phone number onboarded through a link: its stream `phone_number`.

use crate::aggregate::{Aggregate, EventHeader};
use crate::error::{DomainError, RuleViolation};
use crate::event::StreamEvent;
use crate::phone_health::{PhoneHealth, TokenStatus};
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
    /// Gangway can no longer act for the number until it is reconnected.
    #[serde(rename = "phone_number.disconnected")]
    Disconnected(Disconnection),
    /// The health monitor saw the token or Meta's health status change.
    #[serde(rename = "phone_number.health_changed")]
    HealthChanged(PhoneHealth),
    /// Meta changed the number's quality or messaging limit (`phone_number_quality_update`).
    #[serde(rename = "phone_number.quality_updated", rename_all = "camelCase")]
    QualityUpdated {
        /// FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE, ...
        event: String,
        current_limit: Option<String>,
    },
    /// Meta decided on a display name request (`phone_number_name_update`).
    #[serde(rename = "phone_number.name_reviewed", rename_all = "camelCase")]
    NameReviewed {
        /// APPROVED, REJECTED or DEFERRED.
        decision: String,
        requested_name: Option<String>,
        rejection_reason: Option<String>,
    },
    /// An `account_update` about the WABA that does not disconnect it (a violation, a
    /// restriction, a ban decision), kept in the number's history for support.
    #[serde(rename = "phone_number.account_updated")]
    AccountUpdated { event: String, info: serde_json::Value },
}

/// Why a number was disconnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    /// The customer unshared the WABA with us (`PARTNER_REMOVED`).
    PartnerRemoved,
    /// The customer removed our app's permissions (`PARTNER_APP_UNINSTALLED`).
    AppUninstalled,
    /// The WhatsApp account was deleted (`ACCOUNT_DELETED`).
    AccountDeleted,
    /// Meta disabled the WABA (`DISABLED_UPDATE`).
    AccountDisabled,
    /// Meta no longer accepts the token (revoked, expired or stripped of its scopes).
    TokenInvalid,
    /// The number completed onboarding in another organization of this deployment: a number
    /// belongs to one organization at a time, and the later connection wins.
    ConnectedElsewhere,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerRemoved => "partner_removed",
            Self::AppUninstalled => "app_uninstalled",
            Self::AccountDeleted => "account_deleted",
            Self::AccountDisabled => "account_disabled",
            Self::TokenInvalid => "token_invalid",
            Self::ConnectedElsewhere => "connected_elsewhere",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disconnection {
    pub reason: DisconnectReason,
    /// Meta's own words, e.g. `disconnection_info.reason` (`ACCOUNT_DISCONNECTED`).
    #[serde(default)]
    pub detail: Option<String>,
    /// USER or SYSTEM, when Meta says.
    #[serde(default)]
    pub initiated_by: Option<String>,
}

impl StreamEvent for PhoneEvent {
    const STREAM_TYPE: &'static str = "phone_number";
    const EVENT_TYPES: &'static [&'static str] = &[
        "phone_number.created",
        "phone_number.reconnected",
        "phone_number.disconnected",
        "phone_number.health_changed",
        "phone_number.quality_updated",
        "phone_number.name_reviewed",
        "phone_number.account_updated",
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneStatus {
    Connected,
    Disconnected,
}

crate::status::named_status!(PhoneStatus, "a phone status", {
    Connected => "connected",
    Disconnected => "disconnected",
});

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
    /// Why and when the number was disconnected; cleared by a reconnect.
    #[serde(default)]
    pub disconnection: Option<Disconnection>,
    #[serde(default)]
    pub disconnected_at: Option<DateTime<Utc>>,
    /// The last health the monitor recorded; unknown again after a reconnect.
    #[serde(default)]
    pub health: Option<PhoneHealth>,
    #[serde(default)]
    pub health_changed_at: Option<DateTime<Utc>>,
    /// Meta's last quality event and messaging limit.
    #[serde(default)]
    pub quality_event: Option<String>,
    #[serde(default)]
    pub messaging_limit: Option<String>,
}

/// What can happen to a number.
#[derive(Clone, Debug, PartialEq)]
pub enum PhoneCommand {
    Create(Box<PhoneCreated>),
    /// A link was completed again for the number with a fresh token.
    Reconnect {
        onboarding_link_id: LinkId,
        token_ref: SecretRef,
    },
    /// Meta says Gangway can no longer act for the number.
    Disconnect(Disconnection),
    /// What the health monitor found.
    RecordHealth(PhoneHealth),
    /// Meta's quality or messaging-limit change.
    UpdateQuality {
        event: String,
        current_limit: Option<String>,
    },
    /// Meta's decision on a display name.
    ReviewName {
        decision: String,
        requested_name: Option<String>,
        rejection_reason: Option<String>,
    },
    /// An account update worth keeping in the number's history.
    NoteAccountUpdate {
        event: String,
        info: serde_json::Value,
    },
}

impl Aggregate for Phone {
    type Id = PhoneId;
    type Event = PhoneEvent;
    type Command = PhoneCommand;
    const NAME: &'static str = "phone number";

    /// A number is disconnected once (a second notice changes nothing); health is recorded only
    /// when it changes, and a token Meta refuses also disconnects a connected number.
    fn decide(state: Option<&Self>, command: &PhoneCommand) -> Result<Vec<PhoneEvent>, DomainError> {
        let phone = match (state, command) {
            (None, PhoneCommand::Create(created)) => return Ok(vec![PhoneEvent::Created(created.clone())]),
            (Some(_), PhoneCommand::Create(_)) => return Err(RuleViolation::AlreadyExists(Self::NAME).into()),
            (None, _) => return Err(DomainError::NotFound(Self::NAME)),
            (Some(phone), _) => phone,
        };
        let events = match command {
            PhoneCommand::Create(_) => vec![],
            PhoneCommand::Reconnect {
                onboarding_link_id,
                token_ref,
            } => vec![PhoneEvent::Reconnected {
                onboarding_link_id: *onboarding_link_id,
                token_ref: *token_ref,
            }],
            PhoneCommand::Disconnect(disconnection) if phone.is_connected() => {
                vec![PhoneEvent::Disconnected(disconnection.clone())]
            }
            PhoneCommand::Disconnect(_) => vec![],
            PhoneCommand::RecordHealth(health) => {
                let mut events = Vec::new();
                if phone.health.as_ref() != Some(health) {
                    events.push(PhoneEvent::HealthChanged(health.clone()));
                }
                if health.token_status == TokenStatus::Down && phone.is_connected() {
                    events.push(PhoneEvent::Disconnected(Disconnection {
                        reason: DisconnectReason::TokenInvalid,
                        detail: health.token_problem.clone(),
                        initiated_by: None,
                    }));
                }
                events
            }
            PhoneCommand::UpdateQuality { event, current_limit } => vec![PhoneEvent::QualityUpdated {
                event: event.clone(),
                current_limit: current_limit.clone(),
            }],
            PhoneCommand::ReviewName {
                decision,
                requested_name,
                rejection_reason,
            } => vec![PhoneEvent::NameReviewed {
                decision: decision.clone(),
                requested_name: requested_name.clone(),
                rejection_reason: rejection_reason.clone(),
            }],
            PhoneCommand::NoteAccountUpdate { event, info } => vec![PhoneEvent::AccountUpdated {
                event: event.clone(),
                info: info.clone(),
            }],
        };
        Ok(events)
    }

    fn evolve(state: Option<Self>, event: &PhoneEvent, header: &EventHeader<PhoneId>) -> Option<Self> {
        let at = header.occurred_at;
        match (state, event) {
            (None, PhoneEvent::Created(details)) => Some(Self {
                id: header.id,
                organization_id: header.organization_id,
                details: (**details).clone(),
                status: PhoneStatus::Connected,
                created_at: at,
                updated_at: at,
                reconnected_at: None,
                disconnection: None,
                disconnected_at: None,
                health: None,
                health_changed_at: None,
                quality_event: None,
                messaging_limit: None,
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
                phone.disconnection = None;
                phone.disconnected_at = None;
                phone.health = None;
                phone.health_changed_at = None;
                phone.updated_at = at;
                Some(phone)
            }
            (Some(mut phone), event) => {
                phone.apply_change(event, at);
                phone.updated_at = at;
                Some(phone)
            }
            (None, _) => None,
        }
    }
}

impl Phone {
    fn apply_change(&mut self, event: &PhoneEvent, at: DateTime<Utc>) {
        match event {
            PhoneEvent::Disconnected(disconnection) => {
                self.status = PhoneStatus::Disconnected;
                self.disconnection = Some(disconnection.clone());
                self.disconnected_at = Some(at);
            }
            PhoneEvent::HealthChanged(health) => {
                self.health = Some(health.clone());
                self.health_changed_at = Some(at);
            }
            PhoneEvent::QualityUpdated { event, current_limit } => {
                self.quality_event = Some(event.clone());
                if current_limit.is_some() {
                    self.messaging_limit = current_limit.clone();
                }
            }
            PhoneEvent::NameReviewed {
                decision,
                requested_name: Some(name),
                ..
            } if decision == "APPROVED" => self.details.verified_name = Some(name.clone()),
            _ => {}
        }
    }

    pub fn is_connected(&self) -> bool {
        self.status == PhoneStatus::Connected
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
    use crate::aggregate::testing::{given, nothing};

    fn connected() -> crate::aggregate::testing::Given<Phone> {
        given([PhoneEvent::Created(Box::new(created()))])
    }

    fn removed() -> Disconnection {
        Disconnection {
            reason: DisconnectReason::PartnerRemoved,
            detail: Some("PARTNER_REMOVED".into()),
            initiated_by: Some("USER".into()),
        }
    }

    fn health(token_status: TokenStatus) -> PhoneHealth {
        PhoneHealth {
            token_status,
            token_problem: None,
            can_send_messages: token_status != TokenStatus::Down,
            can_receive_messages: token_status != TokenStatus::Down,
            meta_health_status: None,
            quality_rating: Some("GREEN".into()),
        }
    }

    #[test]
    fn a_number_is_disconnected_once() {
        connected()
            .when(PhoneCommand::Disconnect(removed()))
            .then([PhoneEvent::Disconnected(removed())]);
        given::<Phone>([
            PhoneEvent::Created(Box::new(created())),
            PhoneEvent::Disconnected(removed()),
        ])
        .when(PhoneCommand::Disconnect(removed()))
        .then_nothing();
        nothing::<Phone>()
            .when(PhoneCommand::Disconnect(removed()))
            .then_error(DomainError::NotFound("phone number"));
    }

    #[test]
    fn health_is_recorded_only_when_it_changes() {
        let healthy = health(TokenStatus::Healthy);
        connected()
            .when(PhoneCommand::RecordHealth(healthy.clone()))
            .then([PhoneEvent::HealthChanged(healthy.clone())]);
        given::<Phone>([
            PhoneEvent::Created(Box::new(created())),
            PhoneEvent::HealthChanged(healthy.clone()),
        ])
        .when(PhoneCommand::RecordHealth(healthy))
        .then_nothing();
    }

    #[test]
    fn a_refused_token_disconnects_a_connected_number() {
        let down = PhoneHealth {
            token_problem: Some("Error validating access token".into()),
            ..health(TokenStatus::Down)
        };
        let token_invalid = PhoneEvent::Disconnected(Disconnection {
            reason: DisconnectReason::TokenInvalid,
            detail: Some("Error validating access token".into()),
            initiated_by: None,
        });
        connected()
            .when(PhoneCommand::RecordHealth(down.clone()))
            .then([PhoneEvent::HealthChanged(down.clone()), token_invalid]);
        given::<Phone>([
            PhoneEvent::Created(Box::new(created())),
            PhoneEvent::Disconnected(removed()),
        ])
        .when(PhoneCommand::RecordHealth(down.clone()))
        .then([PhoneEvent::HealthChanged(down)]);
    }

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
        let at = |occurred_at| EventHeader {
            id,
            organization_id: org,
            occurred_at,
        };
        let phone = Phone::evolve(None, &PhoneEvent::Created(Box::new(created())), &at(now)).unwrap();
        let (link, token) = (LinkId::new(), SecretRef::new());
        let event = PhoneEvent::Reconnected {
            onboarding_link_id: link,
            token_ref: token,
        };
        let later = now + chrono::Duration::minutes(1);
        let phone = Phone::evolve(Some(phone), &event, &at(later)).unwrap();
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
        assert_eq!(PhoneEvent::decode(&kind, 1, &payload).unwrap(), event);
    }
}
