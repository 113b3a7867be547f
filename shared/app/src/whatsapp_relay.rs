//! WhatsApp traffic relayed to the organization that owns a number: each message Meta sends us
//! for a connected number, and each status of a message it sent, becomes a
//! `whatsapp_message.*` event for the dispatcher. These are not stored in the event store (a
//! busy number sends millions a day): the caller's [`MessageOutbox`] carries them, and only once
//! it has accepted them is Meta's notification marked as received.

use crate::phones::phones_where;
use crate::{load, metadata, new_event, now, App, AppError};
use chrono::{DateTime, Utc};
use gangway_domain::message::{MessageEvent, MessagePhone};
use gangway_domain::phone::Phone;
use gangway_domain::{OrganizationId, StreamEvent};
use gangway_event_store::RecordedEvent;
use serde_json::Value;
use std::future::Future;
use uuid::Uuid;

/// Where relayed messages go: durably, before `send` returns.
pub trait MessageOutbox {
    fn send(&self, relays: &[RecordedEvent]) -> impl Future<Output = Result<(), AppError>> + Send;
}

/// The relays of one `messages` change: every message and status, for every connected number
/// with this Meta id.
pub async fn relays(
    app: &App,
    meta_phone_number_id: &str,
    messages: &[(Value, Option<Value>)],
    statuses: &[Value],
) -> Result<Vec<RecordedEvent>, AppError> {
    let at = now();
    let mut conn = app.pool().acquire().await?;
    let mut relays: Vec<RecordedEvent> = Vec::new();
    for (org, id) in phones_where(&mut conn, "meta_phone_number_id", meta_phone_number_id).await? {
        let Some(phone) = load::<Phone>(&mut *conn, org, id).await?.map(|l| l.state) else {
            continue;
        };
        if !phone.is_connected() {
            continue;
        }
        let relayed = MessagePhone {
            phone_id: id,
            meta_phone_number_id: meta_phone_number_id.to_owned(),
            waba_id: phone.details.waba_id,
            meta_waba_id: phone.details.meta_waba_id.clone(),
        };
        let received = messages.iter().map(|(message, contact)| MessageEvent::Received {
            phone: relayed.clone(),
            message: message.clone(),
            contact: contact.clone(),
        });
        let updated = statuses.iter().map(|status| MessageEvent::StatusUpdated {
            phone: relayed.clone(),
            status: status.clone(),
        });
        for event in received.chain(updated) {
            let relay = relay(org, &event, at)?;
            // The same message twice in one notification is relayed once.
            if relays.iter().all(|r| r.event_id != relay.event_id) {
                relays.push(relay);
            }
        }
    }
    Ok(relays)
}

/// A relayed message in the shape consumers of events read, as the first and only event of its
/// stream. Its ids come from Meta's, so Meta delivering it again gives the same event (and the
/// same webhook message). Position and transaction are 0: it never was in the event store.
fn relay(org: OrganizationId, event: &MessageEvent, at: DateTime<Utc>) -> Result<RecordedEvent, AppError> {
    let stream_id = event.stream_id(org);
    let new = new_event(event, &metadata(org, Uuid::now_v7(), at))?;
    Ok(RecordedEvent {
        position: 0,
        transaction_id: 0,
        event_id: Uuid::new_v5(&stream_id, b"relayed"),
        stream_type: MessageEvent::STREAM_TYPE.to_owned(),
        stream_id,
        stream_version: 1,
        event_type: new.event_type,
        schema_version: new.schema_version,
        payload: new.payload,
        organization_id: org,
        causation_id: None,
        correlation_id: new.metadata.correlation_id,
        occurred_at: at,
        recorded_at: at,
    })
}
