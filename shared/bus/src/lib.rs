//! The JetStream transport: stream and consumer definitions (from `nats/`), and the CloudEvents
//! encoding of events. Two streams: every stored event (published by the relay), and relayed
//! WhatsApp messages, which are published here directly and never stored.

mod cloudevent;
mod received;
mod wake;

pub use cloudevent::{decode_event, encode_event, DecodeError};
pub use received::{ack, decode_received, split_received};
pub use wake::{announce_commits, LocalRelay, Wake};

use async_nats::jetstream::{self, consumer, context::PublishAckFuture, stream};
use async_nats::HeaderMap;
use gangway_event_store::RecordedEvent;

const STREAM_DEFINITION: &str = include_str!("../../../nats/streams/events.json");
const MESSAGE_STREAM_DEFINITION: &str = include_str!("../../../nats/streams/messages.json");
const PROJECTOR_CONSUMER_DEFINITION: &str = include_str!("../../../nats/consumers/projector.json");
const DISPATCHER_CONSUMER_DEFINITION: &str = include_str!("../../../nats/consumers/dispatcher.json");
const DISPATCHER_MESSAGE_CONSUMER_DEFINITION: &str =
    include_str!("../../../nats/consumers/dispatcher-messages.json");

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

/// How often a stream creation the server failed to store is tried before giving up.
const STREAM_CREATE_ATTEMPTS: u32 = 5;

/// Creates the stream, retrying the server's generic store failure: a standalone server answers
/// "error creating store for stream" (10049) for transient filesystem trouble, e.g. while it
/// still tears down other streams, and writes the cause only to its own log.
async fn create_with_retry(
    jetstream: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, BusError> {
    let mut delay = std::time::Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match jetstream.get_or_create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(error) if attempt < STREAM_CREATE_ATTEMPTS && is_store_failure(&error) => {
                tracing::warn!(stream = %config.name, attempt, %error, "NATS could not create the stream's store; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(error) => return Err(js_error(error)),
        }
    }
}

fn is_store_failure(error: &jetstream::context::CreateStreamError) -> bool {
    matches!(
        error.kind(),
        jetstream::context::CreateStreamErrorKind::JetStream(source)
            if source.error_code() == jetstream::ErrorCode::STREAM_CREATE
    )
}

/// Names that place Gangway's events in NATS; configurable so several deployments or tests can
/// share one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusNames {
    pub stream: String,
    pub subject_prefix: String,
    pub message_stream: String,
    pub message_subject_prefix: String,
}

impl Default for BusNames {
    fn default() -> Self {
        Self {
            stream: "GANGWAY_EVENTS".into(),
            subject_prefix: "gangway.events".into(),
            message_stream: "GANGWAY_MESSAGES".into(),
            message_subject_prefix: "gangway.messages".into(),
        }
    }
}

impl From<&gangway_config::InfraConfig> for BusNames {
    fn from(infra: &gangway_config::InfraConfig) -> Self {
        Self {
            stream: infra.nats_stream.clone(),
            subject_prefix: infra.nats_subject_prefix.clone(),
            message_stream: infra.nats_message_stream.clone(),
            message_subject_prefix: infra.nats_message_subject_prefix.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    names: BusNames,
    /// Tells this process's wake-ups from other processes' (see [`Wake`]).
    instance: uuid::Uuid,
}

impl Bus {
    /// Connects and makes sure both streams exist with the definitions from `nats/`.
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
            instance: uuid::Uuid::new_v4(),
        };
        bus.ensure_stream().await?;
        bus.ensure_message_stream().await?;
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

    /// The event type a subject of the events stream names (the inverse of [`Bus::subject_for`]).
    pub fn event_type_of<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.names.subject_prefix.as_str())?
            .strip_prefix('.')
    }

    /// Creates the events stream, or updates it to the checked-in definition.
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        self.ensure(STREAM_DEFINITION, &self.names.stream, &self.names.subject_prefix)
            .await
    }

    /// Creates the stream of relayed messages, or updates it to the checked-in definition.
    pub async fn ensure_message_stream(&self) -> Result<stream::Stream, BusError> {
        let names = &self.names;
        self.ensure(
            MESSAGE_STREAM_DEFINITION,
            &names.message_stream,
            &names.message_subject_prefix,
        )
        .await
    }

    async fn ensure(&self, definition: &str, name: &str, prefix: &str) -> Result<stream::Stream, BusError> {
        let mut config: stream::Config = serde_json::from_str(definition)?;
        config.name = name.to_owned();
        config.subjects = vec![format!("{prefix}.>")];
        if self.jetstream.get_stream(&config.name).await.is_ok() {
            if let Err(error) = self.jetstream.update_stream(&config).await {
                // E.g. a storage type change, which JetStream refuses: keep the stream as it is.
                tracing::warn!(stream = %config.name, %error, "could not apply the stream definition in nats/streams");
            }
            return self.jetstream.get_stream(&config.name).await.map_err(js_error);
        }
        create_with_retry(&self.jetstream, config).await
    }

    /// The projector's durable pull consumer, created if missing.
    pub async fn projector_consumer(
        &self,
        durable_name: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
        let stream = self.ensure_stream().await?;
        durable_consumer(&stream, PROJECTOR_CONSUMER_DEFINITION, durable_name).await
    }

    /// The dispatcher's durable pull consumer, created if missing.
    pub async fn dispatcher_consumer(
        &self,
        durable_name: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
        let stream = self.ensure_stream().await?;
        durable_consumer(&stream, DISPATCHER_CONSUMER_DEFINITION, durable_name).await
    }

    /// The dispatcher's durable pull consumer of relayed messages, created if missing.
    pub async fn dispatcher_message_consumer(
        &self,
        durable_name: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
        let stream = self.ensure_message_stream().await?;
        durable_consumer(&stream, DISPATCHER_MESSAGE_CONSUMER_DEFINITION, durable_name).await
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

    /// Publishes a relayed WhatsApp message or status on the messages stream; its event id is
    /// derived from Meta's ids, so Meta delivering it again inside the duplicate window is
    /// dropped here. Await the returned future for the stream's ack.
    pub async fn publish_message(&self, event: &RecordedEvent) -> Result<PublishAckFuture, BusError> {
        let subject = format!("{}.{}", self.names.message_subject_prefix, event.event_type);
        self.publish_on(subject, event, HeaderMap::new()).await
    }

    async fn publish_with(
        &self,
        event: &RecordedEvent,
        headers: HeaderMap,
    ) -> Result<PublishAckFuture, BusError> {
        self.publish_on(self.subject_for(&event.event_type), event, headers)
            .await
    }

    async fn publish_on(
        &self,
        subject: String,
        event: &RecordedEvent,
        mut headers: HeaderMap,
    ) -> Result<PublishAckFuture, BusError> {
        headers.insert("Nats-Msg-Id", event.event_id.to_string().as_str());
        headers.insert("content-type", "application/cloudevents+json");
        let body = encode_event(event)?;
        self.jetstream
            .publish_with_headers(subject, headers, body.into())
            .await
            .map_err(js_error)
    }
}

async fn durable_consumer(
    stream: &stream::Stream,
    definition: &str,
    durable_name: &str,
) -> Result<consumer::Consumer<consumer::pull::Config>, BusError> {
    let mut config: consumer::pull::Config = serde_json::from_str(definition)?;
    config.durable_name = Some(durable_name.to_owned());
    stream
        .get_or_create_consumer(durable_name, config)
        .await
        .map_err(js_error)
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
        let messages: stream::Config = serde_json::from_str(MESSAGE_STREAM_DEFINITION).unwrap();
        assert_eq!(messages.retention, stream::RetentionPolicy::Limits);
        assert_eq!(messages.max_age, std::time::Duration::from_secs(7 * 86_400));
        let consumer: consumer::pull::Config =
            serde_json::from_str(DISPATCHER_MESSAGE_CONSUMER_DEFINITION).unwrap();
        assert_eq!(consumer.ack_policy, consumer::AckPolicy::Explicit);
    }
}
