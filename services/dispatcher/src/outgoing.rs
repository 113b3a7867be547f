//! Which outgoing webhook events a domain event becomes, and their bodies (the contract in
//! DESIGN.md: `{event, timestamp, organizationId, data}`).

use chrono::{DateTime, SecondsFormat, Utc};
use gangway_domain::catalog::{health_changed_data, EventType};
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::message::MessageEvent;
use gangway_domain::phone::{Phone, PhoneEvent};
use gangway_domain::phone_health::HealthView;
use gangway_domain::{Aggregate, OrganizationId, StreamEvent, WabaId};
use gangway_event_store::{fold_recorded, read_stream_after, RecordedEvent, StoreError};
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

/// The outgoing events of one domain event (none for most).
pub async fn outgoing(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Vec<Outgoing>, StoreError> {
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
    let (event_type, phone, mut data) = match event.decode::<MessageEvent>()? {
        MessageEvent::Received {
            phone,
            message,
            contact,
        } => (
            EventType::MessageReceived,
            phone,
            json!({ "message": message, "contact": contact }),
        ),
        MessageEvent::StatusUpdated { phone, status } => {
            (EventType::MessageSent, phone, json!({ "status": status }))
        }
    };
    data["phoneNumberId"] = json!(phone.phone_id);
    data["metaPhoneNumberId"] = json!(phone.meta_phone_number_id);
    data["wabaId"] = json!(phone.waba_id);
    data["metaWabaId"] = json!(phone.meta_waba_id);
    Ok(Outgoing {
        event_type,
        waba: Some(phone.waba_id),
        data,
    })
}

async fn from_phone_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Option<Outgoing>, StoreError> {
    if let PhoneEvent::Disconnected(disconnection) = event.decode::<PhoneEvent>()? {
        let phone = state_as_of::<Phone>(conn, event).await?;
        return Ok(phone.map(|phone| Outgoing {
            event_type: EventType::PhoneNumberDisconnected,
            waba: Some(phone.details.waba_id),
            data: json!({
                "phoneNumberId": phone.id,
                "phoneNumber": phone.details.phone_number,
                "metaPhoneNumberId": phone.details.phone_number_id,
                "wabaId": phone.details.waba_id,
                "metaWabaId": phone.details.meta_waba_id,
                "externalId": phone.details.external_id,
                "reason": disconnection.reason.as_str(),
                "detail": disconnection.detail,
                "initiatedBy": disconnection.initiated_by,
            }),
        }));
    }
    Ok(match event.decode::<PhoneEvent>()? {
        PhoneEvent::HealthChanged(_) | PhoneEvent::QualityUpdated { .. } => {
            health_changed(conn, event).await?
        }
        PhoneEvent::Created(created) => Some(Outgoing {
            event_type: EventType::WhatsappPhoneNumberCreated,
            waba: Some(created.waba_id),
            data: json!({
                "phone_number_id": created.phone_number_id,
                "project": { "id": event.organization_id },
                "customer": { "id": created.customer_id },
            }),
        }),
        _ => None,
    })
}

/// `phone_number.health_changed` for an event that may have changed what integrators see of the
/// number's health: the monitor's verdict or Meta's messaging limit.
async fn health_changed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Option<Outgoing>, StoreError> {
    let mut events = read_stream_after(conn, event.stream_id, 0).await?;
    events.retain(|e| e.stream_version <= event.stream_version);
    let Some(current) = fold_recorded::<Phone>(&events)?.map(|loaded| loaded.state) else {
        return Ok(None);
    };
    events.pop();
    let previous = fold_recorded::<Phone>(&events)?.map(|loaded| loaded.state);
    let view = |phone: &Phone| HealthView::of(phone.health.as_ref(), phone.messaging_limit.as_deref());
    let number = json!({
        "phoneNumberId": current.id,
        "phoneNumber": current.details.phone_number,
        "metaPhoneNumberId": current.details.phone_number_id,
        "wabaId": current.details.waba_id,
        "metaWabaId": current.details.meta_waba_id,
        "externalId": current.details.external_id,
    });
    let previous = previous.as_ref().map(view).unwrap_or_default();
    Ok(
        health_changed_data(number, &previous, &view(&current)).map(|data| Outgoing {
            event_type: EventType::PhoneNumberHealthChanged,
            waba: Some(current.details.waba_id),
            data,
        }),
    )
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
            let phone = json!({
                "onboardingLinkId": link_id,
                "externalId": external_id,
                "phoneNumberId": c.phone_id,
                "phoneNumber": c.phone_number,
                "wabaId": c.waba_id,
                "metaWabaId": c.meta_waba_id,
                "isPhoneRegistered": c.is_phone_registered,
            });
            let connection = if c.reconnected {
                Outgoing {
                    event_type: EventType::PhoneNumberReconnected,
                    waba: Some(c.waba_id),
                    data: phone.clone(),
                }
            } else {
                Outgoing {
                    event_type: EventType::PhoneNumberConnected,
                    waba: Some(c.waba_id),
                    data: phone.clone(),
                }
            };
            vec![
                connection,
                Outgoing {
                    event_type: EventType::OnboardingLinkCompleted,
                    waba: Some(c.waba_id),
                    data: phone,
                },
            ]
        }
        LinkEvent::Failed {
            error_code,
            error,
            step,
            ..
        } => vec![Outgoing {
            event_type: EventType::OnboardingLinkFailed,
            waba: None,
            data: json!({
                "onboardingLinkId": link_id,
                "externalId": external_id,
                "errorCode": error_code,
                "error": error,
                "step": step,
            }),
        }],
        _ => vec![Outgoing {
            event_type: EventType::OnboardingLinkExpired,
            waba: None,
            data: json!({ "onboardingLinkId": link_id, "externalId": external_id }),
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
