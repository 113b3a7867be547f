//! `gangway tail`: events from JetStream as JSON lines, filtered.

use anyhow::Context;
use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use futures::StreamExt;
use gangway_bus::{decode_event, Bus};
use gangway_event_store::RecordedEvent;
use uuid::Uuid;

/// Which events to print; every condition that is set must hold.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// A prefix of the event type, e.g. `onboarding_link.`.
    pub event_type: Option<String>,
    pub organization: Option<Uuid>,
    pub stream: Option<Uuid>,
}

impl Filter {
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        self.event_type
            .as_deref()
            .is_none_or(|t| event.event_type.starts_with(t))
            && self
                .organization
                .is_none_or(|o| event.organization_id.as_uuid() == o)
            && self.stream.is_none_or(|s| event.stream_id == s)
    }
}

pub async fn run(bus: &Bus, all: bool, filter: &Filter, limit: Option<u64>) -> anyhow::Result<()> {
    let stream = bus.ensure_stream().await?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: if all {
                DeliverPolicy::All
            } else {
                DeliverPolicy::New
            },
            ..Default::default()
        })
        .await
        .context("creating an ordered consumer")?;
    let mut messages = consumer.messages().await.context("subscribing")?;
    let mut printed = 0;
    while limit.is_none_or(|l| printed < l) {
        let Some(message) = messages.next().await else {
            break;
        };
        let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
        let event = decode_event(&message.payload)?;
        if !filter.matches(&event) {
            continue;
        }
        println!("{}", serde_json::to_string(&event)?);
        printed += 1;
    }
    Ok(())
}
