//! Whether the configured keys are the ones the stored secrets need, without revealing any:
//! `gangway doctor` seals and opens a test value, then opens one stored secret per key id.

use crate::rotation::StoredRow;
use crate::{Vault, VaultError};
use gangway_domain::{OrganizationId, SecretRef};
use sqlx::PgPool;

/// What became of opening one stored secret sealed under `key_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCheck {
    pub key_id: String,
    /// Secrets sealed under it.
    pub secrets: i64,
    /// `None`: the sample opened. Otherwise why not (never the secret).
    pub problem: Option<String>,
}

impl Vault {
    /// Seals a test value under the active key and opens it again.
    pub fn round_trip(&self) -> Result<(), VaultError> {
        let (id, organization) = (SecretRef::new(), OrganizationId::new());
        let probe = "gangway doctor";
        let sealed = self.seal(self.active_key_id(), id, organization, "doctor", probe);
        let opened = self.open(
            id,
            organization,
            "doctor",
            self.active_key_id(),
            &sealed.nonce,
            &sealed.ciphertext,
        )?;
        if opened != probe {
            return Err(VaultError::Decrypt(id));
        }
        Ok(())
    }

    /// Opens one stored secret of every key id in use.
    pub async fn check_stored_keys(&self, pool: &PgPool) -> Result<Vec<KeyCheck>, VaultError> {
        let mut checks = Vec::new();
        for usage in Self::key_usage(pool).await? {
            let sample: Option<StoredRow> = sqlx::query_as(
                "SELECT id, organization_id, purpose, key_id, nonce, ciphertext FROM vault_secrets \
                 WHERE key_id = $1 LIMIT 1",
            )
            .bind(&usage.key_id)
            .fetch_optional(pool)
            .await?;
            let problem = sample.and_then(|row| {
                let (id, organization) = (
                    SecretRef::from_uuid(row.id),
                    OrganizationId::from_uuid(row.organization_id),
                );
                self.open(
                    id,
                    organization,
                    &row.purpose,
                    &row.key_id,
                    &row.nonce,
                    &row.ciphertext,
                )
                .err()
                .map(|e| e.to_string())
            });
            checks.push(KeyCheck {
                key_id: usage.key_id,
                secrets: usage.secrets,
                problem,
            });
        }
        Ok(checks)
    }
}
