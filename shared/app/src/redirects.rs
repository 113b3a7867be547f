//! The secret that signs an organization's redirects back to its own pages (see
//! `gangway_webhook_signing::sign_redirect`). An organization gets its first secret when it first
//! needs one: when it asks for it, or at its first redirect.

use crate::idempotency::{claim, IdempotencyKey};
use crate::webhooks::{reveal_pair, RevealedSecrets};
use crate::{decide, load, lock_entity, metadata, now, App, AppError, MAX_ATTEMPTS};
use chrono::{DateTime, Duration, Utc};
use gangway_domain::organization::{Organization, OrganizationCommand};
use gangway_domain::values::WebhookSecret;
use gangway_domain::OrganizationId;
use gangway_event_store::StoreError;
use gangway_webhook_signing::{generate_redirect_secret, sign_redirect};
use uuid::Uuid;

/// The vault purpose of redirect secrets.
pub const SECRET_PURPOSE: &str = "redirect_secret";

/// The organization's redirect secrets at `now`, issuing the first one if it has none yet.
pub async fn redirect_secrets(app: &App, org: OrganizationId) -> Result<RevealedSecrets, AppError> {
    let organization = with_redirect_secret(app, org).await?;
    reveal(app, &organization, now()).await
}

/// Replaces the redirect secret (with `secret`, or a generated one); the one it replaces keeps
/// signing beside it for `grace`.
#[tracing::instrument(skip(app, secret), fields(org = %org))]
pub async fn rotate_redirect_secret(
    app: &App,
    org: OrganizationId,
    secret: Option<WebhookSecret>,
    grace: Duration,
    idempotency: Option<&IdempotencyKey>,
) -> Result<RevealedSecrets, AppError> {
    let secret = secret.map_or_else(generate_redirect_secret, |s| s.expose().to_owned());
    let organization = rotate(app, org, &secret, grace, false, idempotency).await?;
    reveal(app, &organization, now()).await
}

/// `url` (a redirect to one of `org`'s pages, with its parameters) signed with the organization's
/// redirect secrets as they are now.
pub async fn signed_redirect(app: &App, org: OrganizationId, url: &url::Url) -> Result<String, AppError> {
    let organization = with_redirect_secret(app, org).await?;
    let now = now();
    let secrets = reveal(app, &organization, now).await?;
    let mut keys = vec![secrets.secret.as_str()];
    keys.extend(secrets.previous.as_ref().map(|(s, _)| s.as_str()));
    Ok(sign_redirect(url, &keys, now.timestamp()).into())
}

async fn with_redirect_secret(app: &App, org: OrganizationId) -> Result<Organization, AppError> {
    let organization = load::<Organization>(app.pool(), org, org)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    if organization.state.redirect_secret.is_some() {
        return Ok(organization.state);
    }
    rotate(
        app,
        org,
        &generate_redirect_secret(),
        Duration::zero(),
        true,
        None,
    )
    .await
}

/// Stores `secret` and makes it the redirect secret, unless `only_if_none` and the organization
/// has one by the time its lock is held (two first redirects at once issue one secret).
async fn rotate(
    app: &App,
    org: OrganizationId,
    secret: &str,
    grace: Duration,
    only_if_none: bool,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Organization, AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let now = now();
        let mut tx = app.store.begin().await?;
        claim(tx.connection(), idempotency).await?;
        lock_entity(tx.connection(), org.as_uuid()).await?;
        let loaded = load::<Organization>(tx.connection(), org, org)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        if only_if_none && loaded.state.redirect_secret.is_some() {
            return Ok(loaded.state);
        }
        let secret_ref = app
            .vault
            .store(tx.connection(), org, SECRET_PURPOSE, secret)
            .await?;
        let command = OrganizationCommand::RotateRedirectSecret {
            secret_ref,
            previous_expires_at: now + grace,
        };
        let meta = metadata(org, Uuid::now_v7(), now);
        let decided = decide(Some(&loaded), org, &command, &meta)?;
        match tx.append_all(decided.append.clone().into_iter().collect()).await {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        tx.commit().await?;
        return decided
            .state_after(Some(loaded.state), org, &meta)
            .ok_or_else(|| anyhow::anyhow!("a redirect secret ended the organization").into());
    }
    Err(AppError::concurrent_modification("organization"))
}

async fn reveal(app: &App, org: &Organization, now: DateTime<Utc>) -> Result<RevealedSecrets, AppError> {
    let Some(redirect) = &org.redirect_secret else {
        return Err(anyhow::anyhow!("the organization has no redirect secret").into());
    };
    let previous = redirect.previous_secret_ref.zip(redirect.previous_expires_at);
    reveal_pair(app, org.id, redirect.secret_ref, previous, now).await
}
