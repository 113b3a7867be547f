use crate::config::ApiConfig;
use gangway_bus::Bus;
use gangway_event_store::EventStore;
use gangway_vault::Vault;
use sqlx::PgPool;
use std::sync::Arc;

/// Shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    pub store: EventStore,
    pub vault: Vault,
    pub bus: Bus,
    pub config: Arc<ApiConfig>,
}

impl AppState {
    pub fn pool(&self) -> &PgPool {
        self.store.pool()
    }

    pub fn hosted_url(&self, link_id: impl std::fmt::Display) -> String {
        format!("{}/signup/{link_id}", self.config.public_url())
    }
}
