use crate::api_keys::store_key;
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
            name: "default".into(),
        },
    };
    let decided = decide::<Organization>(None, id, &command, &meta)?;
    let mut tx = store.begin().await?;
    tx.append_all(decided.append.into_iter().collect()).await?;
    if let OrganizationCommand::Create { first_key, .. } = &command {
        store_key(&mut tx, id, first_key, &key.hash, now).await?;
    }
    tx.commit().await?;
    Ok(CreatedOrganization {
        id,
        name,
        api_key: key.key,
        created_at: now,
    })
}
