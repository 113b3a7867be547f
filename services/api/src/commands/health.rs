//! The phone health monitor: asks Meta about each connected number's token and health, records
//! `phone_number.health_changed` only when that changes, and disconnects numbers whose token
//! Meta no longer accepts.

use super::{load_phone, lock_entity, metadata, new_event, now, MAX_ATTEMPTS};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use gangway_domain::phone::{DisconnectReason, Disconnection, Phone, PhoneEvent};
use gangway_domain::phone_health::{MetaPhoneStatus, PhoneHealth, TokenCheck, TokenStatus};
use gangway_domain::{OrganizationId, PhoneId};
use gangway_event_store::{ExpectedVersion, StoreError, StreamRef};
use gangway_meta_graph::{GraphError, Token};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Numbers checked at once: Meta's rate limits are per app, so stay gentle.
const CONCURRENT_CHECKS: usize = 4;
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
#[tracing::instrument(skip(state), fields(org = %org, phone = %id))]
pub async fn check_phone(
    state: &AppState,
    org: OrganizationId,
    id: PhoneId,
) -> Result<CheckOutcome, ApiError> {
    let Some(phone) = load_phone(state.store.pool(), org, id).await?.map(|l| l.state) else {
        return Err(ApiError::NotFound("phone number"));
    };
    if !phone.is_connected() {
        return Ok(CheckOutcome::NotConnected);
    }
    let token = Token(
        state
            .vault
            .reveal(state.store.pool(), org, phone.details.token_ref)
            .await?,
    );
    let outcome = match ask_meta(state, &token, &phone).await {
        Ok(health) => {
            record(state, org, id, &health).await?;
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
    .execute(state.store.pool())
    .await?;
    Ok(outcome)
}

/// The number's health as Meta sees it now, or why Meta could not say.
async fn ask_meta(state: &AppState, token: &Token, phone: &Phone) -> Result<PhoneHealth, String> {
    let token_check = match state.graph.debug_token(token).await {
        Ok(debug)
            if debug.data.is_valid
                && debug.data.app_id.as_deref() == Some(state.graph.config().app_id.as_str()) =>
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
        TokenCheck::Valid { .. } => match state
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
async fn record(
    state: &AppState,
    org: OrganizationId,
    id: PhoneId,
    health: &PhoneHealth,
) -> Result<(), ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut tx = state.store.begin().await?;
        lock_entity(tx.connection(), id.as_uuid()).await?;
        let Some(loaded) = load_phone(&mut *tx.connection(), org, id).await? else {
            return Err(ApiError::NotFound("phone number"));
        };
        let mut events = Vec::new();
        if loaded.state.health.as_ref() != Some(health) {
            events.push(PhoneEvent::HealthChanged(health.clone()));
        }
        if health.token_status == TokenStatus::Down && loaded.state.is_connected() {
            events.push(PhoneEvent::Disconnected(Disconnection {
                reason: DisconnectReason::TokenInvalid,
                detail: health.token_problem.clone(),
                initiated_by: None,
            }));
        }
        if events.is_empty() {
            return Ok(());
        }
        let meta = metadata(org, Uuid::now_v7(), now());
        let events = events
            .iter()
            .map(|e| new_event(e, &meta))
            .collect::<Result<Vec<_>, _>>()?;
        let stream = StreamRef::of::<PhoneEvent>(id.as_uuid());
        match tx
            .append(&stream, ExpectedVersion::Exact(loaded.version), events)
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
        tx.commit().await?;
        return Ok(());
    }
    Err(ApiError::Unavailable(
        "the number kept changing concurrently".into(),
    ))
}

/// Connected numbers not checked within `every`, oldest check first. Each is claimed by moving
/// its check time, so several api replicas share the work instead of repeating it.
async fn claim_due(
    state: &AppState,
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
    .fetch_all(state.store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(org, id)| (OrganizationId::from_uuid(org), PhoneId::from_uuid(id)))
        .collect())
}

/// Checks every connected number about once per `every`, until `cancel`.
pub async fn run_health_monitor(state: AppState, every: Duration, cancel: CancellationToken) {
    const BATCH: i64 = 200;
    let tick = every.min(Duration::from_secs(30));
    loop {
        match claim_due(&state, every, BATCH).await {
            Ok(due) => {
                futures::stream::iter(due)
                    .for_each_concurrent(CONCURRENT_CHECKS, |(org, id)| {
                        let state = &state;
                        async move {
                            match check_phone(state, org, id).await {
                                Ok(CheckOutcome::Inconclusive(why)) => {
                                    tracing::warn!(phone = %id, %why, "health check inconclusive")
                                }
                                Ok(_) => {}
                                Err(error) => tracing::warn!(phone = %id, %error, "health check failed"),
                            }
                        }
                    })
                    .await
            }
            Err(error) => tracing::warn!(%error, "health monitor could not list numbers; will retry"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// When the number was last checked, and what the check could not find out.
pub async fn last_check(
    state: &AppState,
    id: PhoneId,
) -> Result<Option<(DateTime<Utc>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT checked_at, error FROM phone_health_checks WHERE phone_id = $1")
        .bind(id.as_uuid())
        .fetch_optional(state.store.pool())
        .await
}
