//! An organization's API keys: issued (the key shown once, stored hashed), listed, revoked. Issuing
//! and revoking are events on the organization's stream, so its audit trail has them; the
//! `api_keys` table is what requests are authenticated against.

use crate::idempotency::{claim, IdempotencyKey};
use crate::{decide, keys, load, metadata, now, AppError};
use chrono::{DateTime, Utc};
use gangway_domain::organization::{IssuedKey, Organization, OrganizationCommand, OrganizationEvent};
use gangway_domain::{ApiKeyId, OrganizationId};
use gangway_event_store::{AppendTransaction, EventStore};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// An API key as its organization sees it: never the key itself.
#[derive(Debug, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// To the minute: a key's use is recorded when a process first verifies it.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key just issued: shown once, then only its view.
pub struct IssuedApiKey {
    pub view: ApiKeyView,
    pub key: String,
}

/// Issues a key for `org` (named `name`), recorded on the organization's stream.
#[tracing::instrument(skip(store))]
pub async fn issue_api_key(
    store: &EventStore,
    org: OrganizationId,
    name: String,
    idempotency: Option<&IdempotencyKey>,
) -> Result<IssuedApiKey, AppError> {
    let loaded = load::<Organization>(store.pool(), org, org).await?;
    let key = keys::generate();
    let issued = IssuedKey {
        key_id: ApiKeyId::new(),
        prefix: key.prefix.clone(),
        name,
    };
    let meta = metadata(org, Uuid::now_v7(), now());
    let decided = decide(
        loaded.as_ref(),
        org,
        &OrganizationCommand::IssueApiKey(issued.clone()),
        &meta,
    )?;
    let mut tx = store.begin().await?;
    claim(tx.connection(), idempotency).await?;
    tx.append_all(decided.append.into_iter().collect()).await?;
    let view = store_key(&mut tx, org, &issued, &key.hash, meta.occurred_at).await?;
    tx.commit().await?;
    Ok(IssuedApiKey { view, key: key.key })
}

/// Keeps the hash of an issued key, in the transaction that records its issue.
pub(crate) async fn store_key(
    tx: &mut AppendTransaction,
    org: OrganizationId,
    issued: &IssuedKey,
    hash: &[u8],
    at: DateTime<Utc>,
) -> Result<ApiKeyView, AppError> {
    Ok(sqlx::query_as(
        "INSERT INTO api_keys (id, organization_id, prefix, key_hash, name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, name, prefix, created_at, last_used_at",
    )
    .bind(issued.key_id.as_uuid())
    .bind(org.as_uuid())
    .bind(&issued.prefix)
    .bind(hash)
    .bind(&issued.name)
    .bind(at)
    .fetch_one(tx.connection())
    .await?)
}

/// The organization's working keys, oldest first.
pub async fn list_api_keys(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
) -> Result<Vec<ApiKeyView>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_keys \
         WHERE organization_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
    )
    .bind(org.as_uuid())
    .fetch_all(db)
    .await?)
}

/// Revokes one of `org`'s keys: it stops working at once here, and on every other api process
/// when the revocation reaches it (see the api's key revocation worker).
#[tracing::instrument(skip(store))]
pub async fn revoke_api_key(
    store: &EventStore,
    org: OrganizationId,
    key_id: ApiKeyId,
) -> Result<(), AppError> {
    let loaded = load::<Organization>(store.pool(), org, org).await?;
    let meta = metadata(org, Uuid::now_v7(), now());
    let command = OrganizationCommand::RevokeApiKey { key_id };
    let decided = decide(loaded.as_ref(), org, &command, &meta)?;
    let mut tx = store.begin().await?;
    tx.append_all(decided.append.into_iter().collect()).await?;
    sqlx::query("UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND organization_id = $2")
        .bind(key_id.as_uuid())
        .bind(org.as_uuid())
        .bind(meta.occurred_at)
        .execute(tx.connection())
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The key a revocation event is about, if it is one.
pub fn revoked_key(event: &OrganizationEvent) -> Option<ApiKeyId> {
    match event {
        OrganizationEvent::ApiKeyRevoked { key_id } => Some(*key_id),
        _ => None,
    }
}

/// The working key `presented` is, with its organization, recording its use; `None` for a
/// malformed, unknown or revoked key. Hashes are compared in constant time.
pub async fn verify_api_key(
    pool: &sqlx::PgPool,
    presented: &str,
) -> Result<Option<(ApiKeyId, OrganizationId)>, AppError> {
    use subtle::ConstantTimeEq;
    let Some(prefix) = keys::prefix_of(presented) else {
        return Ok(None);
    };
    let hash = keys::hash(presented);
    let candidates: Vec<(Uuid, Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT id, organization_id, key_hash FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await?;
    let Some((key_id, org)) = candidates
        .into_iter()
        .find(|(_, _, stored)| bool::from(stored.as_slice().ct_eq(hash.as_slice())))
        .map(|(id, org, _)| (ApiKeyId::from_uuid(id), OrganizationId::from_uuid(org)))
    else {
        return Ok(None);
    };
    // A key revoked since the lookup is refused here.
    let still_live =
        sqlx::query("UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id.as_uuid())
            .execute(pool)
            .await?
            .rows_affected();
    Ok((still_live > 0).then_some((key_id, org)))
}
