use super::now;
use super::{metadata, new_event};
use crate::error::ApiError;
use crate::keys;
use chrono::{DateTime, Utc};
use gangway_domain::organization::OrganizationEvent;
use gangway_domain::{ApiKeyId, OrganizationId};
use gangway_event_store::{EventStore, ExpectedVersion, StreamRef};
use uuid::Uuid;

pub struct CreatedOrganization {
    pub id: OrganizationId,
    pub name: String,
    pub api_key: String,
    pub created_at: DateTime<Utc>,
}

/// Creates an organization and its first API key. The key is returned once and stored hashed.
#[tracing::instrument(skip(store))]
pub async fn create_organization(store: &EventStore, name: String) -> Result<CreatedOrganization, ApiError> {
    let id = OrganizationId::new();
    let key = keys::generate();
    let key_id = ApiKeyId::new();
    let now = now();
    let meta = metadata(id, Uuid::now_v7(), now);
    let events = vec![
        new_event(&OrganizationEvent::Created { name: name.clone() }, &meta)?,
        new_event(
            &OrganizationEvent::ApiKeyIssued {
                key_id,
                prefix: key.prefix.clone(),
            },
            &meta,
        )?,
    ];
    let mut tx = store.begin().await?;
    tx.append(
        &StreamRef::of::<OrganizationEvent>(id.as_uuid()),
        ExpectedVersion::NoStream,
        events,
    )
    .await?;
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
