//! Webhook endpoints: create, change, rotate the secret, disable, enable, delete.
//!
//! Secrets go to the vault in the same transaction as the event that references them, so a failed
//! append leaves no orphaned secret behind.

use crate::idempotency::{claim, IdempotencyKey};
use crate::{decide, load, lock_entity, metadata, now, App, AppError, Loaded, MAX_ATTEMPTS};
use chrono::{DateTime, Duration, Utc};
use gangway_domain::values::WebhookSecret;
use gangway_domain::webhook::{Endpoint, EndpointChanges, EndpointCommand, EndpointCreated, EndpointStatus};
use gangway_domain::{EndpointId, OrganizationId, SecretRef};
use gangway_event_store::StoreError;
use sqlx::PgExecutor;
use uuid::Uuid;

/// The vault purpose of endpoint signing secrets.
pub const SECRET_PURPOSE: &str = "webhook_endpoint_secret";

/// An endpoint of `org` that has not been deleted, or 404.
pub async fn live_endpoint(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: EndpointId,
) -> Result<Loaded<Endpoint>, AppError> {
    load::<Endpoint>(db, org, id)
        .await?
        .filter(|e| e.state.status != EndpointStatus::Deleted)
        .ok_or(AppError::NotFound("webhook endpoint"))
}

/// What a new endpoint is created with; `secret_ref` is filled in here.
pub struct NewEndpoint {
    pub spec: EndpointCreated,
    /// The integrator's secret; Gangway generates one when absent.
    pub secret: Option<WebhookSecret>,
}

#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create_endpoint(
    app: &App,
    org: OrganizationId,
    request: NewEndpoint,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Endpoint, AppError> {
    let now = now();
    let id = EndpointId::new();
    let secret = match request.secret {
        Some(secret) => secret.expose().to_owned(),
        None => gangway_webhook_signing::generate_secret(),
    };
    let mut tx = app.store.begin().await?;
    claim(tx.connection(), idempotency).await?;
    let mut spec = request.spec;
    spec.secret_ref = app
        .vault
        .store(tx.connection(), org, SECRET_PURPOSE, &secret)
        .await?;
    let meta = metadata(org, Uuid::now_v7(), now);
    let decided = decide::<Endpoint>(None, id, &EndpointCommand::Create(Box::new(spec)), &meta)?;
    tx.append_all(decided.append.clone().into_iter().collect())
        .await?;
    tx.commit().await?;
    decided
        .state_after(None, id, &meta)
        .ok_or_else(|| anyhow::anyhow!("endpoint.created did not start an endpoint").into())
}

/// A change to an existing endpoint, as the integrator asks for it.
pub enum EndpointChange {
    Update(EndpointChanges),
    /// A new secret (generated when `None`); the current one signs beside it for `grace`.
    RotateSecret {
        secret: Option<WebhookSecret>,
        grace: Duration,
    },
    Disable {
        reason: String,
    },
    Enable,
    Delete,
}

/// Applies a change to a live endpoint and returns its new state. Changes to one endpoint queue
/// on a lock; a conflicting writer that does not take it (the dispatcher disabling a failing
/// endpoint) makes the change run again on the new state.
#[tracing::instrument(skip(app, change), fields(org = %org))]
pub async fn change_endpoint(
    app: &App,
    org: OrganizationId,
    id: EndpointId,
    change: &EndpointChange,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Endpoint, AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let now = now();
        let mut tx = app.store.begin().await?;
        claim(tx.connection(), idempotency).await?;
        lock_entity(tx.connection(), id.as_uuid()).await?;
        let loaded = live_endpoint(tx.connection(), org, id).await?;
        let command = match change {
            EndpointChange::RotateSecret { secret, grace } => {
                let secret = match secret {
                    Some(secret) => secret.expose().to_owned(),
                    None => gangway_webhook_signing::generate_secret(),
                };
                let secret_ref = app
                    .vault
                    .store(tx.connection(), org, SECRET_PURPOSE, &secret)
                    .await?;
                EndpointCommand::RotateSecret {
                    secret_ref,
                    previous_expires_at: now + *grace,
                }
            }
            EndpointChange::Update(changes) => EndpointCommand::Update(changes.clone()),
            EndpointChange::Disable { reason } => EndpointCommand::Disable {
                reason: reason.clone(),
            },
            EndpointChange::Enable => EndpointCommand::Enable,
            EndpointChange::Delete => EndpointCommand::Delete,
        };
        let meta = metadata(org, Uuid::now_v7(), now);
        let decided = decide(Some(&loaded), id, &command, &meta)?;
        let Some(append) = decided.append.clone() else {
            return Ok(loaded.state);
        };
        match tx.append_all(vec![append]).await {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        tx.commit().await?;
        return decided
            .state_after(Some(loaded.state), id, &meta)
            .ok_or_else(|| anyhow::anyhow!("an endpoint event ended the endpoint").into());
    }
    Err(AppError::concurrent_modification("webhook endpoint"))
}

/// The secrets an endpoint signs with at `now`: the current one, and the previous one with its
/// expiry while its grace period lasts.
pub struct RevealedSecrets {
    pub secret: String,
    pub previous: Option<(String, DateTime<Utc>)>,
}

pub async fn reveal_secrets(
    app: &App,
    endpoint: &Endpoint,
    now: DateTime<Utc>,
) -> Result<RevealedSecrets, AppError> {
    let previous = endpoint
        .previous_secret_ref
        .zip(endpoint.previous_secret_expires_at);
    reveal_pair(app, endpoint.organization_id, endpoint.secret_ref, previous, now).await
}

/// A secret and, while its grace lasts (`now` before its expiry), the one it replaced.
pub(crate) async fn reveal_pair(
    app: &App,
    org: OrganizationId,
    current: SecretRef,
    previous: Option<(SecretRef, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<RevealedSecrets, AppError> {
    let secret = app.vault.reveal(app.pool(), org, current).await?;
    let previous = match previous {
        Some((previous, until)) if now < until => {
            Some((app.vault.reveal(app.pool(), org, previous).await?, until))
        }
        _ => None,
    };
    Ok(RevealedSecrets { secret, previous })
}
