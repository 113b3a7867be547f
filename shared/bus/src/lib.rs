//! The JetStream transport: stream and consumer definitions (from `nats/`), and the CloudEvents
//! encoding of stored events.

mod cloudevent;
mod received;

pub use cloudevent::{decode_event, encode_event, DecodeError};
pub use received::{ack, decode_received, split_received};

use async_nats::jetstream::{self, consumer, context::PublishAckFuture, stream};
use async_nats::HeaderMap;
use gangway_event_store::RecordedEvent;

const STREAM_DEFINITION: &str = include_str!("../../../nats/streams/events.json");
const PROJECTOR_CONSUMER_DEFINITION: &str = include_str!("../../../nats/consumers/projector.json");
const DISPATCHER_CONSUMER_DEFINITION: &str = include_str!("../../../nats/consumers/dispatcher.json");

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("could not connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("JetStream request failed: {0}")]
    JetStream(String),
    #[error("invalid stream or consumer definition in nats/: {0}")]
    Definition(#[from] serde_json::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// The URL without credentials, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("***");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn js_error(e: impl std::fmt::Display) -> BusError {
    BusError::JetStream(e.to_string())
}

/// Names that place Gangway's events in NATS; configurable so several deployments or tests can
/// share one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusNames {
    pub stream: String,
    pub subject_prefix: String,
}

impl Default for BusNames {
    fn default() -> Self {
        Self {
            stream: "GANGWAY_EVENTS".into(),
            subject_prefix: "gangway.events".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    names: BusNames,
}

impl Bus {
    /// Connects and makes sure the events stream exists with the definition from `nats/`.
    pub async fn connect(url: &str, names: BusNames) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("gangway")
            .retry_on_initial_connect()
            .connection_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|source| BusError::Connect {
                url: redact(url),
                source,
            })?;
        let bus = Self {
            jetstream: jetstream::new(client.clone()),
            client,
            names,
        };
        bus.ensure_stream().await?;
        Ok(bus)
    }

    pub fn names(&self) -> &BusNames {
        &self.names
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The subject an event is published on: `<prefix>.<event type>`.
    pub fn subject_for(&self, event_type: &str) -> String {
        format!("{}.{event_type}", self.names.subject_prefix)
    }

    /// Creates the stream, or updates it to the checked-in definition.
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        let mut config: stream::Config = serde_json::from_str(STREAM_DEFINITION)?;
        config.name = self.names.stream.clone();
        config.subjects = vec![format!("{}.>", self.names.subject_prefix)];
        if self.jetstream.get_stream(&config.name).await.is_ok() {
            if let Err(error) = self.jetstream.update_stream(&config).await {
                // E.g. a storage type change, which JetStream refuses: keep the stream as it is.
                tracing::warn!(stream = %config.name, %error, "could not apply nats/streams/events.json");
            }
            return self.jetstream.get_stream(&config.name).await.map_err(js_error);
        }
        self.jetstream
            .get_or_create_stream(config)
            .await
            .map_err(js_error)
    }

    /// The projector's durable pull consumer, created if missing.
    pub async fn projector_consumer(
        &self,
        durable_name: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
        self.durable_consumer(PROJECTOR_CONSUMER_DEFINITION, durable_name)
            .await
    }

    /// The dispatcher's durable pull consumer, created if missing.
    pub async fn dispatcher_consumer(
        &self,
        durable_name: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
        self.durable_consumer(DISPATCHER_CONSUMER_DEFINITION, durable_name)
            .await
    }

    async fn durable_consumer(
        &self,
        definition: &str,
        durable_name: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
        let mut config: consumer::pull::Config = serde_json::from_str(definition)?;
        config.durable_name = Some(durable_name.to_owned());
        let stream = self.ensure_stream().await?;
        stream
            .get_or_create_consumer(durable_name, config)
            .await
            .map_err(js_error)
    }

    /// Publishes one event. JetStream drops a second publish with the same `Nats-Msg-Id` (the
    /// event id) inside its duplicate window. Await the returned future for the stream's ack.
    pub async fn publish(&self, event: &RecordedEvent) -> Result<PublishAckFuture, BusError> {
        self.publish_with(event, HeaderMap::new()).await
    }

    /// Publishes a stored event again (`gangway republish`), marked so that consumers can tell
    /// it from the relay's first publish (see [`is_republished`]).
    pub async fn republish(&self, event: &RecordedEvent) -> Result<PublishAckFuture, BusError> {
        let mut headers = HeaderMap::new();
        headers.insert(REPUBLISHED_HEADER, "true");
        self.publish_with(event, headers).await
    }

    async fn publish_with(
        &self,
        event: &RecordedEvent,
        mut headers: HeaderMap,
    ) -> Result<PublishAckFuture, BusError> {
        headers.insert("Nats-Msg-Id", event.event_id.to_string().as_str());
        headers.insert("content-type", "application/cloudevents+json");
        let body = encode_event(event)?;
        self.jetstream
            .publish_with_headers(self.subject_for(&event.event_type), headers, body.into())
            .await
            .map_err(js_error)
    }
}

/// Set on messages `gangway republish` sent: a consumer that counts first deliveries (the
/// projector's funnel) must not count these again.
pub const REPUBLISHED_HEADER: &str = "Gangway-Republished";

/// Whether this message was published again by `gangway republish`.
pub fn is_republished(message: &async_nats::Message) -> bool {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(REPUBLISHED_HEADER))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_nats_urls_are_not_repeated_in_errors() {
        assert_eq!(
            redact("nats://user:pw@example.com:4222"),
            "nats://***@example.com:4222"
        );
        assert_eq!(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }

    #[test]
    fn the_checked_in_definitions_parse() {
        let stream: stream::Config = serde_json::from_str(STREAM_DEFINITION).unwrap();
        assert_eq!(stream.name, "GANGWAY_EVENTS");
        assert_eq!(stream.duplicate_window, std::time::Duration::from_secs(600));
        let consumer: consumer::pull::Config = serde_json::from_str(PROJECTOR_CONSUMER_DEFINITION).unwrap();
        assert_eq!(consumer.ack_policy, consumer::AckPolicy::Explicit);
    }
}
