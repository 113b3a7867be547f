//! What a durable consumer's batch brought, as the projector and the dispatcher both take it.

use crate::decode_event;
use async_nats::jetstream::{self, AckKind};
use gangway_event_store::RecordedEvent;

/// Splits a batch from `ready_chunks` into its messages and the last receive error (after which
/// the subscription is renewed).
pub fn split_received<E>(batch: Vec<Result<jetstream::Message, E>>) -> (Vec<jetstream::Message>, Option<E>) {
    let mut received = Vec::with_capacity(batch.len());
    let mut failure = None;
    for message in batch {
        match message {
            Ok(message) => received.push(message),
            Err(error) => failure = Some(error),
        }
    }
    (received, failure)
}

/// Each message with its event. A message that is not one of our events (or is corrupt) is
/// terminated: redelivering cannot fix it.
pub async fn decode_received(received: Vec<jetstream::Message>) -> Vec<(jetstream::Message, RecordedEvent)> {
    let mut decoded = Vec::with_capacity(received.len());
    for message in received {
        match decode_event(&message.payload) {
            Ok(event) => decoded.push((message, event)),
            Err(error) => {
                tracing::error!(%error, "dropping undecodable message");
                let _ = message.ack_with(AckKind::Term).await;
            }
        }
    }
    decoded
}

/// Answers JetStream for one message; a lost ack only means a redelivery the consumer skips.
pub async fn ack(message: &jetstream::Message, kind: AckKind) {
    if let Err(error) = message.ack_with(kind).await {
        tracing::warn!(%error, "ack failed; the event will be redelivered and skipped");
    }
}
