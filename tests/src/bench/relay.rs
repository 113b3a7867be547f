//! A relay run inside the bench process, publishing a test environment's store to its bus.

use gangway_bus::Bus;
use gangway_event_store::EventStore;
use gangway_relay::{Relay, RelayConfig};
use gangway_testkit::TestEnv;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running relay, woken by `store`'s appends; [`InProcessRelay::stop`] ends it.
pub struct InProcessRelay {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl InProcessRelay {
    pub fn start(env: &TestEnv, bus: Bus, store: &EventStore, config: RelayConfig) -> Self {
        let relay = Relay::new(
            (*env.pool.connect_options()).clone(),
            bus,
            store.appended_signal(),
            config,
        );
        let cancel = CancellationToken::new();
        let task = tokio::spawn({
            let cancel = cancel.clone();
            async move { relay.run(cancel).await }
        });
        Self { cancel, task }
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.task.await?;
        Ok(())
    }
}
