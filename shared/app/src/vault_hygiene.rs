//! Destroying secrets nothing needs any more, once their retention has passed: the sweep reads,
//! in position order, the events that let go of a secret (see `gangway_domain::vault`), deletes
//! each secret whose retention is over and records `vault_secret.destroyed`, in one transaction
//! per batch with its place in the event store. Replicas take turns; a round stops at the first
//! secret not yet due (a rotated-out secret still in its grace), to go on from there next time.

use crate::{metadata, new_event, App, AppError};
use chrono::{DateTime, Duration, Utc};
use gangway_domain::link::LinkEvent;
use gangway_domain::organization::OrganizationEvent;
use gangway_domain::phone::PhoneEvent;
use gangway_domain::vault::{
    endpoint_releases, link_release, organization_release, phone_release, Release, VaultEvent,
};
use gangway_domain::webhook::EndpointEvent;
use gangway_domain::StreamEvent;
use gangway_event_store::{
    read_stream_after, read_types_after, ExpectedVersion, RecordedEvent, StreamAppend, StreamRef,
};
use sqlx::PgConnection;
use uuid::Uuid;

/// The events that let go of a secret.
const RELEASING: &[&str] = &[
    "onboarding_link.failed",
    "phone_number.disconnected",
    "phone_number.reconnected",
    "webhook_endpoint.secret_rotated",
    "webhook_endpoint.deleted",
    "organization.redirect_secret_rotated",
];

const BATCH: i64 = 200;

/// One round: destroys the secrets let go of more than `retention` before `now`. Returns how many
/// were destroyed (0 as well when another replica is sweeping).
pub async fn destroy_released_secrets(
    app: &App,
    now: DateTime<Utc>,
    retention: Duration,
) -> Result<usize, AppError> {
    let mut destroyed = 0;
    loop {
        let (count, more) = sweep_batch(app, now, retention).await?;
        destroyed += count;
        if !more {
            return Ok(destroyed);
        }
    }
}

/// One batch; `more` when it read a full batch and met nothing not yet due.
async fn sweep_batch(app: &App, now: DateTime<Utc>, retention: Duration) -> Result<(usize, bool), AppError> {
    let mut tx = app.store.begin().await?;
    let cursor: Option<i64> = sqlx::query_scalar(
        "SELECT position FROM vault_hygiene WHERE name = 'released_secrets' FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(&mut *tx.connection())
    .await?;
    let Some(mut cursor) = cursor else {
        return Ok((0, false));
    };
    let events = read_types_after(&mut *tx.connection(), cursor, RELEASING, BATCH).await?;
    let mut appends = Vec::new();
    let mut waiting = false;
    for event in &events {
        let releases = releases(tx.connection(), event).await?;
        if releases.iter().any(|r| r.at + retention > now) {
            waiting = true;
            break;
        }
        for release in releases {
            appends.extend(destroy(tx.connection(), event, release, now).await?);
        }
        cursor = event.position;
    }
    let destroyed = appends.len();
    tx.append_all(appends).await?;
    sqlx::query("UPDATE vault_hygiene SET position = $1 WHERE name = 'released_secrets'")
        .bind(cursor)
        .execute(&mut *tx.connection())
        .await?;
    tx.commit().await?;
    if destroyed > 0 {
        tracing::info!(destroyed, "destroyed secrets past their retention");
    }
    Ok((destroyed, !waiting && events.len() as i64 == BATCH))
}

/// What `event` lets go of, judged on its stream up to it.
async fn releases(conn: &mut PgConnection, event: &RecordedEvent) -> Result<Vec<Release>, AppError> {
    // An organization's release is in the event itself; the others need the stream before it.
    if event.stream_type == OrganizationEvent::STREAM_TYPE {
        let event = event
            .decode::<OrganizationEvent>()
            .map_err(gangway_event_store::StoreError::from)?;
        return Ok(organization_release(&event).into_iter().collect());
    }
    let mut history = read_stream_after(&mut *conn, event.stream_id, 0).await?;
    history.retain(|e| e.stream_version <= event.stream_version);
    Ok(match event.stream_type.as_str() {
        LinkEvent::STREAM_TYPE => link_release(&typed::<LinkEvent>(&history)?).into_iter().collect(),
        PhoneEvent::STREAM_TYPE => phone_release(&typed::<PhoneEvent>(&history)?)
            .into_iter()
            .collect(),
        EndpointEvent::STREAM_TYPE => endpoint_releases(&typed::<EndpointEvent>(&history)?),
        _ => Vec::new(),
    })
}

fn typed<E: StreamEvent>(history: &[RecordedEvent]) -> Result<Vec<(E, DateTime<Utc>)>, AppError> {
    history
        .iter()
        .map(|recorded| {
            let event = recorded
                .decode::<E>()
                .map_err(gangway_event_store::StoreError::from)?;
            Ok((event, recorded.occurred_at))
        })
        .collect()
}

/// Deletes the secret if it is still there, and records that.
async fn destroy(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    release: Release,
    now: DateTime<Utc>,
) -> Result<Option<StreamAppend>, AppError> {
    let purpose: Option<String> = sqlx::query_scalar(
        "DELETE FROM vault_secrets WHERE id = $1 AND organization_id = $2 RETURNING purpose",
    )
    .bind(release.secret.as_uuid())
    .bind(event.organization_id.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(purpose) = purpose else {
        return Ok(None);
    };
    let destroyed = VaultEvent::Destroyed {
        purpose,
        reason: release.reason,
        owner_stream_type: event.stream_type.clone(),
        owner_stream_id: event.stream_id,
    };
    let meta = metadata(event.organization_id, Uuid::now_v7(), now);
    Ok(Some(StreamAppend {
        stream: StreamRef::of::<VaultEvent>(release.secret.as_uuid()),
        expected: ExpectedVersion::NoStream,
        events: vec![new_event(&destroyed, &meta)?],
    }))
}
