//! Link expiry: records `onboarding_link.expired` for pending links past their expiry.

use crate::{decide, load, metadata, App, AppError};
use chrono::{DateTime, Utc};
use gangway_domain::link::{Link, LinkCommand};
use gangway_domain::{LinkId, OrganizationId};
use gangway_event_store::StoreError;
use uuid::Uuid;

/// Expires up to `limit` links that are due as of `now`; returns how many it expired. Candidates
/// come from the read model; each is decided on its folded stream, so a link completed or revoked
/// meanwhile is left alone, and two api replicas sweeping at once expire a link only once.
#[tracing::instrument(skip(app))]
pub async fn expire_due_links(app: &App, now: DateTime<Utc>, limit: i64) -> Result<usize, AppError> {
    let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, organization_id FROM rm_onboarding_links \
         WHERE status IN ('pending', 'failed') AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(app.pool())
    .await?;
    let mut expired = 0;
    for (id, org) in due {
        let (id, org) = (LinkId::from_uuid(id), OrganizationId::from_uuid(org));
        let Some(link) = load::<Link>(app.pool(), org, id).await? else {
            continue;
        };
        // It happened at the expiry time, whenever the sweep gets to it.
        let meta = metadata(org, Uuid::now_v7(), link.state.spec.expires_at);
        let Ok(decided) = decide(Some(&link), id, &LinkCommand::Expire { now }, &meta) else {
            continue; // deleted meanwhile
        };
        if decided.append.is_none() {
            continue;
        }
        match app.append(decided.append).await {
            Ok(()) => expired += 1,
            Err(StoreError::Conflict { .. }) => {} // changed meanwhile; the next sweep decides again
            Err(other) => return Err(other.into()),
        }
    }
    Ok(expired)
}
