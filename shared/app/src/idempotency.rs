//! `Idempotency-Key`: a request retried with the same key (after a timeout, say) gets the first
//! answer again instead of running twice. A command claims the key in its own transaction (or its
//! one statement, see `one_statement`), so the key is taken exactly when the command's effects
//! are committed; a second request with the key waits on that claim and then answers with what
//! the first stored.

use crate::{App, AppError};
use gangway_domain::OrganizationId;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a key and its answer are kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The vault purpose of stored answers.
const PURPOSE: &str = "idempotent_response";

/// A request's key, with what identifies the request it was first sent with. Clones share
/// whether the request's command claimed the key.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub organization: OrganizationId,
    pub key: String,
    request_hash: Vec<u8>,
    claimed: Arc<AtomicBool>,
}

impl IdempotencyKey {
    pub fn new(organization: OrganizationId, key: String, method: &str, path: &str, body: &[u8]) -> Self {
        let mut hash = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes(), body] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Self {
            organization,
            key,
            request_hash: hash.finalize().to_vec(),
            claimed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether this request's command claimed the key (its answer is the one to store, if the
    /// command committed).
    pub fn claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// Records that a command claimed the key by other means than [`claim`] (one statement).
    pub(crate) fn mark_claimed(&self) {
        self.claimed.store(true, Ordering::Release);
    }

    pub(crate) fn request_hash(&self) -> &[u8] {
        &self.request_hash
    }
}

/// What is on record for a key.
#[derive(Debug, PartialEq)]
pub enum Recorded {
    /// The first request's answer.
    Answer { status: u16, body: String },
    /// Claimed by a request whose answer is not stored (yet).
    Pending,
    /// Claimed by a different request.
    OtherRequest,
}

/// Claims `key` for the command running in `conn`'s transaction; call before the command writes.
/// Waits while another transaction holds the claim; if that one commits, the key is taken and
/// the command must not run: `idempotency_key_in_use` (the api then answers with what is
/// recorded).
pub async fn claim(conn: &mut PgConnection, key: Option<&IdempotencyKey>) -> Result<(), AppError> {
    let Some(key) = key else { return Ok(()) };
    // A key past its retention that the sweep has not reached yet is free again.
    sqlx::query(
        "WITH expired AS ( \
             DELETE FROM idempotency_keys WHERE organization_id = $1 AND key = $2 \
                 AND created_at <= now() - make_interval(secs => $3) \
             RETURNING response_ref) \
         DELETE FROM vault_secrets WHERE id IN (SELECT response_ref FROM expired)",
    )
    .bind(key.organization.as_uuid())
    .bind(&key.key)
    .bind(RETENTION.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (organization_id, key, request_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (organization_id, key) DO NOTHING",
    )
    .bind(key.organization.as_uuid())
    .bind(&key.key)
    .bind(&key.request_hash)
    .execute(conn)
    .await?
    .rows_affected();
    key.claimed.store(claimed == 1, Ordering::Release);
    if claimed == 0 {
        return Err(AppError::Conflict {
            code: "idempotency_key_in_use",
            message: "another request with this Idempotency-Key was accepted first".into(),
        });
    }
    Ok(())
}

/// What is on record for `key` within its retention.
pub async fn recorded(app: &App, key: &IdempotencyKey) -> Result<Option<Recorded>, AppError> {
    let row: Option<(Vec<u8>, Option<i16>, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT request_hash, status, response_ref FROM idempotency_keys \
         WHERE organization_id = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)",
    )
    .bind(key.organization.as_uuid())
    .bind(&key.key)
    .bind(RETENTION.as_secs_f64())
    .fetch_optional(app.pool())
    .await?;
    let Some((hash, status, response)) = row else {
        return Ok(None);
    };
    if hash != key.request_hash {
        return Ok(Some(Recorded::OtherRequest));
    }
    let (Some(status), Some(response)) = (status, response) else {
        return Ok(Some(Recorded::Pending));
    };
    let body = app
        .vault
        .reveal(
            app.pool(),
            key.organization,
            gangway_domain::SecretRef::from_uuid(response),
        )
        .await?;
    Ok(Some(Recorded::Answer {
        status: u16::try_from(status).unwrap_or(500),
        body,
    }))
}

/// Stores the answer of the request that claimed `key` (no-op when it claimed nothing).
pub async fn record(app: &App, key: &IdempotencyKey, status: u16, body: &str) -> Result<(), AppError> {
    let mut tx = app.pool().begin().await?;
    let sealed = app.vault.store(&mut *tx, key.organization, PURPOSE, body).await?;
    let updated = sqlx::query(
        "UPDATE idempotency_keys SET status = $3, response_ref = $4 \
         WHERE organization_id = $1 AND key = $2 AND request_hash = $5 AND status IS NULL",
    )
    .bind(key.organization.as_uuid())
    .bind(&key.key)
    .bind(i16::try_from(status).unwrap_or(500))
    .bind(sealed.as_uuid())
    .bind(&key.request_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        tx.commit().await?;
    }
    Ok(())
}

/// Deletes keys past their retention with their stored answers; returns how many keys.
pub async fn forget_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut forgotten = 0;
    loop {
        let n: i64 = sqlx::query_scalar(
            "WITH gone AS ( \
                 DELETE FROM idempotency_keys WHERE (organization_id, key) IN ( \
                     SELECT organization_id, key FROM idempotency_keys \
                     WHERE created_at < now() - make_interval(secs => $1) \
                     LIMIT 1000 FOR UPDATE SKIP LOCKED) \
                 RETURNING response_ref), \
             sealed AS (DELETE FROM vault_secrets WHERE id IN (SELECT response_ref FROM gone)) \
             SELECT count(*) FROM gone",
        )
        .bind(RETENTION.as_secs_f64())
        .fetch_one(pool)
        .await?;
        forgotten += n as u64;
        if n < 1000 {
            return Ok(forgotten);
        }
    }
}
