//! Revoked API keys stop working on every api process within moments: each process listens for
//! `organization.api_key_revoked` as the relay publishes it and forgets the key at once. (A
//! process that misses one, say while NATS reconnects, forgets the key when its cache entry
//! expires.)

use crate::state::VerifiedKeys;
use futures::StreamExt;
use gangway_app::api_keys::revoked_key;
use gangway_bus::{decode_event, Bus};
use gangway_domain::organization::OrganizationEvent;
use tokio_util::sync::CancellationToken;

pub const REVOKED: &str = "organization.api_key_revoked";

/// Listens until `cancel`; resubscribes if the subscription ends.
pub async fn run(bus: Bus, keys: VerifiedKeys, cancel: CancellationToken) {
    let subject = bus.subject_for(REVOKED);
    while !cancel.is_cancelled() {
        let mut revocations = match bus.client().subscribe(subject.clone()).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for API key revocations; will retry");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let message = tokio::select! {
                _ = cancel.cancelled() => return,
                message = revocations.next() => message,
            };
            let Some(message) = message else { break };
            match decode_event(&message.payload).map(|e| e.decode::<OrganizationEvent>()) {
                Ok(Ok(event)) => {
                    if let Some(key_id) = revoked_key(&event) {
                        keys.evict(key_id);
                    }
                }
                _ => tracing::warn!("an API key revocation could not be read"),
            }
        }
    }
}
