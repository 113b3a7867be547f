//! Key rotation: re-encrypting stored secrets under the active key while the system runs.
//!
//! Each secret is opened with the key it names and sealed again under the active key with a fresh
//! nonce. The write is a compare-and-set on the row's key id and nonce, so a row someone else
//! re-sealed in the meantime (another rotation) is never overwritten with an older reading; it is
//! counted as a conflict and left as it is.

use crate::{Vault, VaultError};
use gangway_domain::{OrganizationId, SecretRef};
use sqlx::types::Uuid;
use sqlx::{PgExecutor, PgPool};

/// How many secrets one key id seals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsage {
    pub key_id: String,
    pub secrets: i64,
}

/// A secret a rotation could not re-seal, and why (never its content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub secret: SecretRef,
    pub key_id: String,
    pub reason: String,
}

/// What one [`Vault::reseal_batch`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResealBatch {
    /// Secrets under another key id that were looked at.
    pub examined: usize,
    /// Re-sealed under the active key.
    pub resealed: usize,
    /// Changed by another writer between the read and the write; left as they are.
    pub conflicts: usize,
    /// Sealed under a key this keyring does not hold, or not decryptable: left as they are.
    pub unreadable: Vec<Unreadable>,
    /// The last secret looked at: pass it as `after` to get the next batch. `None` when there
    /// was nothing left.
    pub last: Option<SecretRef>,
}

/// A stored secret as its table holds it.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub purpose: String,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl Vault {
    /// The id of the key new secrets are sealed with.
    pub fn active_key_id(&self) -> &str {
        self.keyring.active_key_id()
    }

    /// How many stored secrets each key id seals, by key id.
    pub async fn key_usage(db: impl PgExecutor<'_>) -> Result<Vec<KeyUsage>, VaultError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key_id, count(*) FROM vault_secrets GROUP BY key_id ORDER BY key_id")
                .fetch_all(db)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(key_id, secrets)| KeyUsage { key_id, secrets })
            .collect())
    }

    /// Re-seals under the active key up to `limit` secrets that are under another key id, in id
    /// order after `after`. Idempotent: secrets already under the active key are not touched.
    pub async fn reseal_batch(
        &self,
        pool: &PgPool,
        after: Option<SecretRef>,
        limit: i64,
    ) -> Result<ResealBatch, VaultError> {
        let active = self.keyring.active.as_str();
        let rows: Vec<StoredRow> = sqlx::query_as(
            "SELECT id, organization_id, purpose, key_id, nonce, ciphertext FROM vault_secrets \
             WHERE key_id <> $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(active)
        .bind(after.map_or(Uuid::nil(), |a| a.as_uuid()))
        .bind(limit)
        .fetch_all(pool)
        .await?;
        let mut batch = ResealBatch {
            examined: rows.len(),
            last: rows.last().map(|r| SecretRef::from_uuid(r.id)),
            ..ResealBatch::default()
        };
        let n = rows.len();
        let (mut ids, mut old_keys, mut old_nonces) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut nonces, mut ciphertexts) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for row in rows {
            let (id, org) = (
                SecretRef::from_uuid(row.id),
                OrganizationId::from_uuid(row.organization_id),
            );
            let plaintext = match self.open(id, org, &row.purpose, &row.key_id, &row.nonce, &row.ciphertext) {
                Ok(plaintext) => plaintext,
                Err(error) => {
                    batch.unreadable.push(Unreadable {
                        secret: id,
                        key_id: row.key_id,
                        reason: error.to_string(),
                    });
                    continue;
                }
            };
            let sealed = self.seal(active, id, org, &row.purpose, &plaintext);
            ids.push(row.id);
            old_keys.push(row.key_id);
            old_nonces.push(row.nonce);
            nonces.push(sealed.nonce);
            ciphertexts.push(sealed.ciphertext);
        }
        if ids.is_empty() {
            return Ok(batch);
        }
        // Compare-and-set: only rows still holding the ciphertext that was read are replaced.
        let updated = sqlx::query(
            "UPDATE vault_secrets v SET key_id = $1, nonce = u.nonce, ciphertext = u.ciphertext, \
                 rotated_at = now() \
             FROM unnest($2::uuid[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[]) \
                 AS u(id, old_key_id, old_nonce, nonce, ciphertext) \
             WHERE v.id = u.id AND v.key_id = u.old_key_id AND v.nonce = u.old_nonce",
        )
        .bind(active)
        .bind(&ids)
        .bind(&old_keys)
        .bind(&old_nonces)
        .bind(&nonces)
        .bind(&ciphertexts)
        .execute(pool)
        .await?
        .rows_affected() as usize;
        batch.resealed = updated;
        batch.conflicts = ids.len() - updated;
        Ok(batch)
    }
}
