//! The expiry sweep: records `onboarding_link.expired` for pending links past their expiry.

use super::{load_link, metadata, new_event};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use gangway_domain::link::LinkEvent;
use gangway_domain::{LinkId, OrganizationId};
use gangway_event_store::{ExpectedVersion, StoreError, StreamRef};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Expires up to `limit` links that are due as of `now`; returns how many it expired. Candidates
/// come from the read model; each is decided on its folded stream, so a link completed or revoked
/// meanwhile is left alone, and two api replicas sweeping at once expire a link only once.
#[tracing::instrument(skip(state))]
pub async fn expire_due_links(state: &AppState, now: DateTime<Utc>, limit: i64) -> Result<usize, ApiError> {
    let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, organization_id FROM rm_onboarding_links \
         WHERE status IN ('pending', 'failed') AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(state.pool())
    .await?;
    let mut expired = 0;
    for (id, org) in due {
        let (id, org) = (LinkId::from_uuid(id), OrganizationId::from_uuid(org));
        let Some(link) = load_link(state.pool(), org, id).await? else {
            continue;
        };
        let Some(event) = link.state.expire(now) else {
            continue;
        };
        // It happened at the expiry time, whenever the sweep gets to it.
        let meta = metadata(org, Uuid::now_v7(), link.state.spec.expires_at);
        let appended = state
            .store
            .append(
                &StreamRef::of::<LinkEvent>(id.as_uuid()),
                ExpectedVersion::Exact(link.version),
                vec![new_event(&event, &meta)?],
            )
            .await;
        match appended {
            Ok(_) => expired += 1,
            Err(StoreError::Conflict { .. }) => {} // changed meanwhile; the next sweep decides again
            Err(other) => return Err(other.into()),
        }
    }
    Ok(expired)
}

/// Sweeps every `interval` until cancelled.
pub async fn run_expiry_sweeper(state: AppState, interval: Duration, cancel: CancellationToken) {
    const BATCH: i64 = 500;
    loop {
        loop {
            match expire_due_links(&state, Utc::now(), BATCH).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "expiry sweep failed; will retry");
                    break;
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
