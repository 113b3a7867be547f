use crate::{decide, keys, metadata, now, AppError};
use chrono::{DateTime, Utc};
use gangway_domain::organization::{IssuedKey, Organization, OrganizationCommand};
use gangway_domain::{ApiKeyId, OrganizationId};
use gangway_event_store::EventStore;
use uuid::Uuid;

pub struct CreatedOrganization {
    pub id: OrganizationId,
    pub name: String,
    pub api_key: String,
    pub created_at: DateTime<Utc>,
}

/// Creates an organization and its first API key. The key is returned once and stored hashed.
#[tracing::instrument(skip(store))]
pub async fn create_organization(store: &EventStore, name: String) -> Result<CreatedOrganization, AppError> {
    let id = OrganizationId::new();
    let key = keys::generate();
    let key_id = ApiKeyId::new();
    let now = now();
    let meta = metadata(id, Uuid::now_v7(), now);
    let command = OrganizationCommand::Create {
        name: name.clone(),
        first_key: IssuedKey {
            key_id,
            prefix: key.prefix.clone(),
        },
    };
    let decided = decide::<Organization>(None, id, &command, &meta)?;
    let mut tx = store.begin().await?;
    tx.append_all(decided.append.into_iter().collect()).await?;
    sqlx::query("INSERT INTO api_keys (id, organization_id, prefix, key_hash) VALUES ($1, $2, $3, $4)")
        .bind(key_id.as_uuid())
        .bind(id.as_uuid())
        .bind(&key.prefix)
        .bind(&key.hash)
        .execute(tx.connection())
        .await?;
    tx.commit().await?;
    Ok(CreatedOrganization {
        id,
        name,
        api_key: key.key,
        created_at: now,
    })
}
