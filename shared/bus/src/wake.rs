//! Wake-ups over core NATS (never stored): a process that committed events tells the leading
//! relay, wherever it runs, to publish now instead of at its next poll; a command that makes
//! webhook messages due again tells the dispatchers to claim now. Best effort: a lost wake-up
//! costs one poll interval, and polling stays as the fallback.

use crate::Bus;
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Who is woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The leading relay: events were committed.
    Relay,
    /// The dispatchers: webhook messages became due.
    Dispatcher,
}

impl Wake {
    fn name(self) -> &'static str {
        match self {
            Self::Relay => "relay",
            Self::Dispatcher => "dispatcher",
        }
    }
}

impl Bus {
    /// `<subject prefix>_wake.<who>`: next to the events' subjects, so a deployment's NATS
    /// permissions can grant both, but outside the events stream's `<subject prefix>.>`, so
    /// wake-ups are never stored.
    pub fn wake_subject(&self, wake: Wake) -> String {
        format!("{}_wake.{}", self.names.subject_prefix, wake.name())
    }

    /// Sends a wake-up. It carries this connection's instance id, so that the sending process
    /// can ignore its own (it has woken itself already); a failure is only logged, since polling
    /// covers for it.
    pub async fn wake(&self, wake: Wake) {
        let payload = self.instance.as_bytes().to_vec();
        if let Err(error) = self.client.publish(self.wake_subject(wake), payload.into()).await {
            tracing::debug!(%error, ?wake, "could not send a wake-up; the poll will find the work");
        }
    }

    /// Signals `notify` for every wake-up of this kind sent by another process, until cancelled.
    /// Subscribing again after a lost connection is left to the NATS client.
    pub async fn forward_wakeups(
        &self,
        wake: Wake,
        notify: Arc<Notify>,
        cancel: CancellationToken,
    ) -> Result<JoinHandle<()>, async_nats::SubscribeError> {
        let mut wakeups = self.client.subscribe(self.wake_subject(wake)).await?;
        let me = self.instance;
        Ok(tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => return,
                    next = wakeups.next() => next,
                };
                let Some(message) = next else { return };
                if message.payload.as_ref() != me.as_bytes() {
                    notify.notify_one();
                }
            }
        }))
    }
}

/// The relay in this process, if it has one: what wakes it, and whether it holds the publishing
/// lock now (see `Relay::leading`).
pub struct LocalRelay {
    pub wake: Arc<Notify>,
    pub leading: Arc<AtomicBool>,
}

/// Wakes the leading relay after every commit signalled on `committed` (see
/// `EventStore::appended_signal`): `local`, the relay in this process if it has one, at once, and
/// while that one does not lead, any other process's relay over NATS (only the leading relay
/// publishes, so a leading local relay leaves no one else to wake). Commits that land while a
/// wake-up is being sent are covered by the next one.
pub fn announce_commits(
    bus: Bus,
    committed: Arc<Notify>,
    local: Option<LocalRelay>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = committed.notified() => {}
            }
            if let Some(local) = &local {
                local.wake.notify_one();
                if local.leading.load(Ordering::Relaxed) {
                    continue;
                }
            }
            bus.wake(Wake::Relay).await;
        }
    })
}
