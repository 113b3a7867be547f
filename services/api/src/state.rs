use crate::config::{ApiConfig, MetaEndpoints};
use gangway_app::App;
use gangway_bus::Bus;
use gangway_domain::{ApiKeyId, OrganizationId};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Shared by every request handler: cloned for each request (by every extractor and layer that
/// takes the state), so a clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    /// The use cases' dependencies: event store, vault, Graph client.
    pub app: App,
    pub bus: Bus,
    pub config: ApiConfig,
    pub verified_keys: VerifiedKeys,
    pub rate_limits: crate::rate_limit::RateLimits,
    pub meta: MetaEndpoints,
}

impl SharedState {
    pub fn pool(&self) -> &PgPool {
        self.app.pool()
    }

    pub fn hosted_url(&self, link_id: impl std::fmt::Display) -> String {
        format!("{}/signup/{link_id}", self.config.public_url())
    }
}

/// API keys verified recently, by hash, so a busy integrator's key is not looked up on every
/// request. A revoked key is evicted at once here, and on the other api processes when its
/// revocation event reaches them (`workers::key_revocations`); entries also expire after
/// [`VerifiedKeys::TTL`], the bound should such an event be missed.
#[derive(Clone, Default)]
pub struct VerifiedKeys {
    entries: Arc<RwLock<HashMap<KeyHash, Verified>>>,
    /// Counts evictions: a key verified while one happened is not cached, since the eviction may
    /// have been for it and come between its lookup and its caching.
    evictions: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Copy)]
struct Verified {
    org: OrganizationId,
    key_id: ApiKeyId,
    at: Instant,
}

type KeyHash = Vec<u8>;

impl VerifiedKeys {
    pub const TTL: Duration = Duration::from_secs(60);
    const MAX_ENTRIES: usize = 10_000;

    pub fn get(&self, key_hash: &[u8]) -> Option<OrganizationId> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key_hash)
            .filter(|v| v.at.elapsed() < Self::TTL)
            .map(|v| v.org)
    }

    /// Where evictions stand, to pass to [`VerifiedKeys::insert`] for a key about to be looked up.
    pub fn generation(&self) -> u64 {
        self.evictions.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Caches a key looked up since `generation`, unless a key was evicted meanwhile.
    pub fn insert(&self, key_hash: Vec<u8>, org: OrganizationId, key_id: ApiKeyId, generation: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return;
        }
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, v| v.at.elapsed() < Self::TTL);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        let at = Instant::now();
        entries.insert(key_hash, Verified { org, key_id, at });
    }

    /// Forgets a revoked key.
    pub fn evict(&self, key_id: ApiKeyId) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.evictions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.retain(|_, v| v.key_id != key_id);
    }
}
