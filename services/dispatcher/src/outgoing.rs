//! Which outgoing webhook events a domain event becomes, and their bodies (the contract in
//! DESIGN.md: `{event, timestamp, organizationId, data}`).

use chrono::{DateTime, SecondsFormat, Utc};
use gangway_domain::catalog::EventType;
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::message::{MessageEvent, MessagePhone};
use gangway_domain::phone::{Phone, PhoneEvent};
use gangway_domain::phone_health::HealthView;
use gangway_domain::webhook::EndpointEvent;
use gangway_domain::webhook_data::{
    CustomerOf, IdOf, LinkExpired, LinkFailed, MessageReceived, MessageStatus, NumberConnected,
    NumberDisconnected, NumberHealthChanged, NumberIds, PhoneNumberCreated, RelayedFor,
};
use gangway_domain::{Aggregate, OrganizationId, StreamEvent, WabaId};
use gangway_event_store::{evolve_recorded, fold_recorded, read_stream_after, RecordedEvent, StoreError};
use serde_json::{json, Value};
use sqlx::PgConnection;

/// One outgoing event: its catalog type, the WABA it concerns (for WABA-scoped endpoints), and
/// its `data`.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub event_type: EventType,
    pub waba: Option<WabaId>,
    pub data: Value,
}

impl Outgoing {
    /// The body every attempt of this message sends, byte for byte.
    pub fn body(&self, organization: OrganizationId, occurred_at: DateTime<Utc>) -> String {
        json!({
            "event": self.event_type.as_str(),
            "timestamp": occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "organizationId": organization,
            "data": self.data,
        })
        .to_string()
    }
}

/// The event types that can become webhooks: `outgoing` answers none for any other.
const WEBHOOK_SOURCES: &[&str] = &[
    "onboarding_link.completed",
    "onboarding_link.failed",
    "onboarding_link.expired",
    "phone_number.created",
    "phone_number.disconnected",
    "phone_number.health_changed",
    "phone_number.quality_updated",
];

/// Whether the dispatcher has anything to do with events of this type: they can become webhooks,
/// or they change an endpoint. Any other event is acknowledged unread.
pub fn concerns(event_type: &str) -> bool {
    WEBHOOK_SOURCES.contains(&event_type)
        || MessageEvent::EVENT_TYPES.contains(&event_type)
        || EndpointEvent::EVENT_TYPES.contains(&event_type)
}

/// The outgoing events of one domain event (none for most).
pub async fn outgoing(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Vec<Outgoing>, StoreError> {
    if !concerns(&event.event_type) {
        return Ok(Vec::new());
    }
    match event.stream_type.as_str() {
        LinkEvent::STREAM_TYPE => from_link_event(conn, event).await,
        PhoneEvent::STREAM_TYPE => Ok(from_phone_event(conn, event).await?.into_iter().collect()),
        MessageEvent::STREAM_TYPE => Ok(vec![from_message_event(event)?]),
        _ => Ok(Vec::new()),
    }
}

/// Relayed WhatsApp traffic: Meta's own message and status objects, with the number they belong
/// to.
fn from_message_event(event: &RecordedEvent) -> Result<Outgoing, StoreError> {
    let number = |phone: &MessagePhone| RelayedFor {
        phone_number_id: phone.phone_id.as_uuid(),
        meta_phone_number_id: phone.meta_phone_number_id.clone(),
        waba_id: phone.waba_id.as_uuid(),
        meta_waba_id: phone.meta_waba_id.clone(),
    };
    let (event_type, waba, data) = match event.decode::<MessageEvent>()? {
        MessageEvent::Received {
            phone,
            message,
            contact,
        } => (
            EventType::MessageReceived,
            phone.waba_id,
            json!(MessageReceived {
                number: number(&phone),
                message,
                contact,
            }),
        ),
        MessageEvent::StatusUpdated { phone, status } => (
            EventType::MessageSent,
            phone.waba_id,
            json!(MessageStatus {
                number: number(&phone),
                status,
            }),
        ),
    };
    Ok(Outgoing {
        event_type,
        waba: Some(waba),
        data,
    })
}

async fn from_phone_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Option<Outgoing>, StoreError> {
    Ok(match event.decode::<PhoneEvent>()? {
        PhoneEvent::Disconnected(disconnection) => {
            state_as_of::<Phone>(conn, event).await?.map(|phone| Outgoing {
                event_type: EventType::PhoneNumberDisconnected,
                waba: Some(phone.details.waba_id),
                data: json!(NumberDisconnected {
                    number: number_ids(&phone),
                    reason: disconnection.reason.as_str().to_owned(),
                    detail: disconnection.detail,
                    initiated_by: disconnection.initiated_by,
                }),
            })
        }
        PhoneEvent::HealthChanged(_) | PhoneEvent::QualityUpdated { .. } => {
            health_changed(conn, event).await?
        }
        PhoneEvent::Created(created) => Some(Outgoing {
            event_type: EventType::WhatsappPhoneNumberCreated,
            waba: Some(created.waba_id),
            data: json!(PhoneNumberCreated {
                phone_number_id: created.phone_number_id,
                project: IdOf {
                    id: event.organization_id.as_uuid(),
                },
                customer: CustomerOf {
                    id: created.customer_id.map(|c| c.as_uuid()),
                },
            }),
        }),
        _ => None,
    })
}

fn number_ids(phone: &Phone) -> NumberIds {
    NumberIds {
        phone_number_id: phone.id.as_uuid(),
        phone_number: phone.details.phone_number.clone(),
        meta_phone_number_id: phone.details.phone_number_id.clone(),
        waba_id: phone.details.waba_id.as_uuid(),
        meta_waba_id: phone.details.meta_waba_id.clone(),
        external_id: phone.details.external_id.clone(),
    }
}

/// `phone_number.health_changed` for an event that may have changed what integrators see of the
/// number's health: the monitor's verdict or Meta's messaging limit.
async fn health_changed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Option<Outgoing>, StoreError> {
    let mut events = read_stream_after(conn, event.stream_id, 0).await?;
    events.retain(|e| e.stream_version < event.stream_version);
    let previous = fold_recorded::<Phone>(&events)?.map(|loaded| loaded.state);
    let Some(current) = evolve_recorded(previous.clone(), event)? else {
        return Ok(None);
    };
    let view = |phone: &Phone| HealthView::of(phone.health.as_ref(), phone.messaging_limit.as_deref());
    let previous = previous.as_ref().map(view).unwrap_or_default();
    let change = NumberHealthChanged::between(number_ids(&current), previous, view(&current));
    Ok(change.map(|change| Outgoing {
        event_type: EventType::PhoneNumberHealthChanged,
        waba: Some(current.details.waba_id),
        data: json!(change),
    }))
}

async fn from_link_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Vec<Outgoing>, StoreError> {
    let decoded = event.decode::<LinkEvent>()?;
    let customer = match &decoded {
        LinkEvent::Completed(completion) => completion.customer.clone(),
        LinkEvent::Failed { customer, .. } | LinkEvent::Expired { customer } => customer.clone(),
        _ => return Ok(Vec::new()),
    };
    let external_id = match customer {
        Some(customer) => customer.external_id,
        // Recorded before these events named their customer: the link's creation does.
        None => state_as_of::<Link>(conn, event)
            .await?
            .and_then(|link| link.spec.external_id),
    };
    let link_id = event.stream_id;
    Ok(match decoded {
        LinkEvent::Completed(c) => {
            let data = json!(NumberConnected {
                onboarding_link_id: link_id,
                external_id,
                phone_number_id: c.phone_id.as_uuid(),
                phone_number: c.phone_number,
                waba_id: c.waba_id.as_uuid(),
                meta_waba_id: c.meta_waba_id,
                is_phone_registered: c.is_phone_registered,
            });
            let connection = match c.reconnected {
                true => EventType::PhoneNumberReconnected,
                false => EventType::PhoneNumberConnected,
            };
            [connection, EventType::OnboardingLinkCompleted]
                .into_iter()
                .map(|event_type| Outgoing {
                    event_type,
                    waba: Some(c.waba_id),
                    data: data.clone(),
                })
                .collect()
        }
        LinkEvent::Failed {
            error_code,
            error,
            step,
            ..
        } => vec![Outgoing {
            event_type: EventType::OnboardingLinkFailed,
            waba: None,
            data: json!(LinkFailed {
                onboarding_link_id: link_id,
                external_id,
                error_code: error_code.as_str().to_owned(),
                error,
                step,
            }),
        }],
        _ => vec![Outgoing {
            event_type: EventType::OnboardingLinkExpired,
            waba: None,
            data: json!(LinkExpired {
                onboarding_link_id: link_id,
                external_id,
            }),
        }],
    })
}

/// The entity as of this event, folded from the event store (the source of truth).
async fn state_as_of<A: Aggregate>(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Option<A>, StoreError> {
    let mut events = read_stream_after(conn, event.stream_id, 0).await?;
    events.retain(|e| e.stream_version <= event.stream_version);
    Ok(fold_recorded::<A>(&events)?.map(|loaded| loaded.state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gangway_domain::customer::CustomerEvent;

    #[test]
    fn every_webhook_source_is_an_event_type_the_domain_records() {
        for event_type in WEBHOOK_SOURCES {
            assert!(
                LinkEvent::EVENT_TYPES.contains(event_type) || PhoneEvent::EVENT_TYPES.contains(event_type),
                "{event_type} is no link or phone event type"
            );
        }
    }

    #[test]
    fn customer_events_and_link_creations_do_not_concern_the_dispatcher_but_endpoint_changes_do() {
        for event_type in CustomerEvent::EVENT_TYPES {
            assert!(!concerns(event_type), "{event_type}");
        }
        assert!(!concerns("onboarding_link.created"));
        assert!(!concerns("onboarding_link.opened"));
        for event_type in EndpointEvent::EVENT_TYPES {
            assert!(concerns(event_type), "{event_type}");
        }
        assert!(concerns("onboarding_link.completed"));
    }
}
