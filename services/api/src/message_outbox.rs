//! The api's [`MessageOutbox`]: relayed WhatsApp messages go to JetStream's message stream, and
//! count as sent once the stream has acknowledged every one.

use futures::future::try_join_all;
use gangway_app::whatsapp_relay::MessageOutbox;
use gangway_app::AppError;
use gangway_bus::Bus;
use gangway_event_store::RecordedEvent;
use std::future::IntoFuture;

pub struct MessageStream<'a>(pub &'a Bus);

impl MessageOutbox for MessageStream<'_> {
    async fn send(&self, relays: &[RecordedEvent]) -> Result<(), AppError> {
        let mut acks = Vec::with_capacity(relays.len());
        for relay in relays {
            acks.push(self.0.publish_message(relay).await.map_err(unavailable)?);
        }
        try_join_all(acks.into_iter().map(IntoFuture::into_future))
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn unavailable(error: impl std::fmt::Display) -> AppError {
    tracing::warn!(%error, "relaying WhatsApp messages to JetStream failed");
    AppError::Unavailable("the message stream is not reachable".into())
}
