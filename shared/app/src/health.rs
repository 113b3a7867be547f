//! The phone health monitor: asks Meta about each connected number's token and health, records
//! `phone_number.health_changed` only when that changes, and disconnects numbers whose token
//! Meta no longer accepts.

use crate::{decide, load, lock_entity, metadata, now, App, AppError, MAX_ATTEMPTS};
use chrono::{DateTime, TimeZone, Utc};
use gangway_domain::phone::{Phone, PhoneCommand};
use gangway_domain::phone_health::{MetaPhoneStatus, PhoneHealth, TokenCheck};
use gangway_domain::{OrganizationId, PhoneId};
use gangway_event_store::StoreError;
use gangway_meta_graph::{GraphError, Token};
use std::time::Duration;
use uuid::Uuid;

/// Meta's code for a token it does not accept.
const INVALID_TOKEN: i64 = 190;

/// What one check found.
#[derive(Debug)]
pub enum CheckOutcome {
    /// The number's health as recorded after the check (changed or not).
    Checked(PhoneHealth),
    /// Meta could not be asked (unreachable, throttled); nothing was recorded.
    Inconclusive(String),
    /// Disconnected numbers are not checked: they need a reconnect, not a token check.
    NotConnected,
}

/// Checks one number now, whatever its schedule.
#[tracing::instrument(skip(app), fields(org = %org, phone = %id))]
pub async fn check_phone(app: &App, org: OrganizationId, id: PhoneId) -> Result<CheckOutcome, AppError> {
    let Some(phone) = load::<Phone>(app.pool(), org, id).await?.map(|l| l.state) else {
        return Err(AppError::NotFound("phone number"));
    };
    if !phone.is_connected() {
        return Ok(CheckOutcome::NotConnected);
    }
    let token = Token(
        app.vault
            .reveal(app.store.pool(), org, phone.details.token_ref)
            .await?,
    );
    let outcome = match ask_meta(app, &token, &phone).await {
        Ok(health) => {
            record(app, org, id, &health).await?;
            CheckOutcome::Checked(health)
        }
        Err(why) => CheckOutcome::Inconclusive(why),
    };
    let error = match &outcome {
        CheckOutcome::Inconclusive(why) => Some(why.as_str()),
        _ => None,
    };
    sqlx::query(
        "INSERT INTO phone_health_checks (phone_id, organization_id, checked_at, error) \
         VALUES ($1, $2, now(), $3) \
         ON CONFLICT (phone_id) DO UPDATE SET checked_at = now(), error = EXCLUDED.error",
    )
    .bind(id.as_uuid())
    .bind(org.as_uuid())
    .bind(error)
    .execute(app.store.pool())
    .await?;
    Ok(outcome)
}

/// The number's health as Meta sees it now, or why Meta could not say.
async fn ask_meta(app: &App, token: &Token, phone: &Phone) -> Result<PhoneHealth, String> {
    let token_check = match app.graph.debug_token(token).await {
        Ok(debug)
            if debug.data.is_valid
                && debug.data.app_id.as_deref() == Some(app.graph.config().app_id.as_str()) =>
        {
            TokenCheck::Valid {
                scopes: debug.data.scopes.clone(),
                expires_at: (debug.data.expires_at > 0)
                    .then(|| Utc.timestamp_opt(debug.data.expires_at, 0).single())
                    .flatten(),
            }
        }
        Ok(_) => TokenCheck::Invalid("Meta reports the token invalid or issued to another app".into()),
        Err(error) if is_invalid_token(&error) => TokenCheck::Invalid(error.to_string()),
        Err(error) => return Err(format!("debug_token: {error}")),
    };
    let meta = match &token_check {
        TokenCheck::Invalid(_) => MetaPhoneStatus::default(),
        TokenCheck::Valid { .. } => match app
            .graph
            .phone_number(token, &phone.details.phone_number_id)
            .await
        {
            Ok(number) => MetaPhoneStatus {
                health_status: number.health_status,
                quality_rating: number.quality_rating,
            },
            Err(error) => return Err(format!("phone number: {error}")),
        },
    };
    Ok(PhoneHealth::assess(&token_check, &meta, now()))
}

fn is_invalid_token(error: &GraphError) -> bool {
    error.code() == Some(INVALID_TOKEN)
}

/// Appends the health if it changed, and the disconnection a dead token means, under the
/// number's lock (a webhook may be changing it at the same moment).
async fn record(app: &App, org: OrganizationId, id: PhoneId, health: &PhoneHealth) -> Result<(), AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut tx = app.store.begin().await?;
        lock_entity(tx.connection(), id.as_uuid()).await?;
        let loaded = load::<Phone>(&mut *tx.connection(), org, id).await?;
        let meta = metadata(org, Uuid::now_v7(), now());
        let command = PhoneCommand::RecordHealth(health.clone());
        let Some(append) = decide(loaded.as_ref(), id, &command, &meta)?.append else {
            return Ok(());
        };
        match tx.append_all(vec![append]).await {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        tx.commit().await?;
        return Ok(());
    }
    Err(AppError::Unavailable(
        "the number kept changing concurrently".into(),
    ))
}

/// Connected numbers not checked within `every`, oldest check first. Each is claimed by moving
/// its check time, so several api replicas share the work instead of repeating it.
pub async fn claim_due(
    app: &App,
    every: Duration,
    limit: i64,
) -> Result<Vec<(OrganizationId, PhoneId)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "WITH due AS ( \
             SELECT p.id, p.organization_id FROM rm_phones p \
             LEFT JOIN phone_health_checks c ON c.phone_id = p.id \
             WHERE p.status = 'connected' \
               AND (c.checked_at IS NULL OR c.checked_at < now() - make_interval(secs => $1)) \
             ORDER BY c.checked_at NULLS FIRST LIMIT $2) \
         INSERT INTO phone_health_checks (phone_id, organization_id, checked_at) \
         SELECT id, organization_id, now() FROM due \
         ON CONFLICT (phone_id) DO UPDATE SET checked_at = now() \
         WHERE phone_health_checks.checked_at < now() - make_interval(secs => $1) \
         RETURNING organization_id, phone_id",
    )
    .bind(every.as_secs_f64())
    .bind(limit)
    .fetch_all(app.store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(org, id)| (OrganizationId::from_uuid(org), PhoneId::from_uuid(id)))
        .collect())
}

/// Checks one number on demand, but asks Meta about it at most once per `every`: one tenant
/// cannot spend the shared Meta app's call budget. `None` when it was checked within `every`
/// (the last check stands).
#[tracing::instrument(skip(app), fields(org = %org, phone = %id))]
pub async fn refresh_phone(
    app: &App,
    org: OrganizationId,
    id: PhoneId,
    every: std::time::Duration,
) -> Result<Option<CheckOutcome>, AppError> {
    if load::<Phone>(app.pool(), org, id).await?.is_none() {
        return Err(AppError::NotFound("phone number"));
    }
    // Claiming the check moves its time, so of concurrent refreshes one asks Meta.
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO phone_health_checks (phone_id, organization_id, checked_at) VALUES ($1, $2, now()) \
         ON CONFLICT (phone_id) DO UPDATE SET checked_at = now() \
         WHERE phone_health_checks.checked_at < now() - make_interval(secs => $3) \
         RETURNING phone_id",
    )
    .bind(id.as_uuid())
    .bind(org.as_uuid())
    .bind(every.as_secs_f64())
    .fetch_optional(app.pool())
    .await?;
    match claimed {
        Some(_) => check_phone(app, org, id).await.map(Some),
        None => Ok(None),
    }
}

/// When the number was last checked, and what the check could not find out.
pub async fn last_check(
    app: &App,
    id: PhoneId,
) -> Result<Option<(DateTime<Utc>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT checked_at, error FROM phone_health_checks WHERE phone_id = $1")
        .bind(id.as_uuid())
        .fetch_optional(app.store.pool())
        .await
}

/// [`last_check`] for each of `ids`, in one query; phones never checked are left out.
pub async fn last_checks(
    app: &App,
    ids: &[PhoneId],
) -> Result<std::collections::HashMap<Uuid, (DateTime<Utc>, Option<String>)>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let rows: Vec<(Uuid, DateTime<Utc>, Option<String>)> = sqlx::query_as(
        "SELECT phone_id, checked_at, error FROM phone_health_checks WHERE phone_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(app.store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at, error)| (id, (at, error)))
        .collect())
}
