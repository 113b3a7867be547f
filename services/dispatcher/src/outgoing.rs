//! Which outgoing webhook events a domain event becomes, and their bodies (the contract in
//! DESIGN.md: `{event, timestamp, organizationId, data}`).

use chrono::{DateTime, SecondsFormat, Utc};
use gangway_domain::link::{Link, LinkEvent};
use gangway_domain::phone::PhoneEvent;
use gangway_domain::{LinkId, OrganizationId, StreamEvent, WabaId};
use gangway_event_store::{read_stream_after, RecordedEvent, StoreError};
use serde_json::{json, Value};
use sqlx::PgConnection;

/// One outgoing event: its catalog type, the WABA it concerns (for WABA-scoped endpoints), and
/// its `data`.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub event_type: &'static str,
    pub waba: Option<WabaId>,
    pub data: Value,
}

impl Outgoing {
    /// The body every attempt of this message sends, byte for byte.
    pub fn body(&self, organization: OrganizationId, occurred_at: DateTime<Utc>) -> String {
        json!({
            "event": self.event_type,
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
        PhoneEvent::STREAM_TYPE => Ok(from_phone_event(event)?.into_iter().collect()),
        _ => Ok(Vec::new()),
    }
}

fn from_phone_event(event: &RecordedEvent) -> Result<Option<Outgoing>, StoreError> {
    Ok(match event.decode::<PhoneEvent>()? {
        PhoneEvent::Created(created) => Some(Outgoing {
            event_type: "whatsapp.phone_number.created",
            waba: Some(created.waba_id),
            data: json!({
                "phone_number_id": created.phone_number_id,
                "project": { "id": event.organization_id },
                "customer": { "id": created.customer_id },
            }),
        }),
        PhoneEvent::Reconnected { .. } => None,
    })
}

async fn from_link_event(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<Vec<Outgoing>, StoreError> {
    let decoded = event.decode::<LinkEvent>()?;
    if !matches!(
        decoded,
        LinkEvent::Completed(_) | LinkEvent::Failed { .. } | LinkEvent::Expired {}
    ) {
        return Ok(Vec::new());
    }
    let link = link_as_of(conn, event).await?;
    let link_id = event.stream_id;
    let external_id = link.as_ref().and_then(|l| l.spec.external_id.clone());
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
                    event_type: "phone_number.reconnected",
                    waba: Some(c.waba_id),
                    data: phone.clone(),
                }
            } else {
                Outgoing {
                    event_type: "phone_number.connected",
                    waba: Some(c.waba_id),
                    data: phone.clone(),
                }
            };
            vec![
                connection,
                Outgoing {
                    event_type: "onboarding_link.completed",
                    waba: Some(c.waba_id),
                    data: phone,
                },
            ]
        }
        LinkEvent::Failed {
            error_code,
            error,
            step,
        } => vec![Outgoing {
            event_type: "onboarding_link.failed",
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
            event_type: "onboarding_link.expired",
            waba: None,
            data: json!({ "onboardingLinkId": link_id, "externalId": external_id }),
        }],
    })
}

/// The link as of this event, folded from the event store (the source of truth).
async fn link_as_of(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Option<Link>, StoreError> {
    let (id, org) = (
        LinkId::from_uuid(event.stream_id),
        OrganizationId::from_uuid(event.organization_id),
    );
    let mut link = None;
    for recorded in read_stream_after(conn, event.stream_id, 0).await? {
        if recorded.stream_version > event.stream_version {
            break;
        }
        link = Link::evolve(
            link,
            id,
            org,
            &recorded.decode::<LinkEvent>()?,
            recorded.occurred_at,
        );
    }
    Ok(link)
}
