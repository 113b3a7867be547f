//! Endpoint secrets, read from the vault and kept in memory briefly, as signing keys.

use gangway_domain::webhook::Endpoint;
use gangway_domain::{OrganizationId, SecretRef};
use gangway_vault::Vault;
use gangway_webhook_signing::SigningKey;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a revealed secret is reused before the vault is asked again.
const TTL: Duration = Duration::from_secs(300);

pub struct Keys {
    pool: PgPool,
    vault: Vault,
    cache: Mutex<HashMap<SecretRef, (SigningKey, Instant)>>,
}

impl Keys {
    pub fn new(pool: PgPool, vault: Vault) -> Self {
        Self {
            pool,
            vault,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The keys a delivery to `endpoint` is signed with now: the current secret, and the
    /// previous one during a rotation's grace period.
    pub async fn signing_keys(&self, endpoint: &Endpoint) -> anyhow::Result<Vec<SigningKey>> {
        let mut keys = Vec::new();
        for secret in endpoint.signing_secrets(chrono::Utc::now()) {
            keys.push(self.key(endpoint.organization_id, secret).await?);
        }
        Ok(keys)
    }

    async fn key(&self, org: OrganizationId, secret: SecretRef) -> anyhow::Result<SigningKey> {
        if let Some((key, at)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&secret) {
            if at.elapsed() < TTL {
                return Ok(key.clone());
            }
        }
        let plaintext = self.vault.reveal(&self.pool, org, secret).await?;
        let key = SigningKey::from_secret(&plaintext)?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(secret, (key.clone(), Instant::now()));
        Ok(key)
    }
}
