//! The webhook endpoint a link's `webhookUrl` asks for, scoped to the WABA it connected.
//!
//! One endpoint serves every link of an organization with the same URL for the same WABA
//! (`link_webhook_endpoints`): a second number of that WABA, or a reconnect, reuses it. Another
//! endpoint would deliver every event to the same URL twice. The reused endpoint gains the new
//! link's event types, and the new link's own secret by rotation (both sign during the grace).

use crate::commands::webhooks::{load_endpoint, rotation, SECRET_PURPOSE};
use crate::commands::{lock_entity, new_event};
use crate::error::ApiError;
use crate::state::AppState;
use gangway_domain::link::{Link, LinkWebhook};
use gangway_domain::webhook::{
    Endpoint, EndpointChanges, EndpointCreated, EndpointEvent, EndpointStatus, DEFAULT_ROTATION_GRACE,
};
use gangway_domain::{EndpointId, WabaId};
use gangway_event_store::{EventMetadata, ExpectedVersion, StreamAppend, StreamRef};
use sqlx::PgConnection;
use uuid::Uuid;

/// The events that give `link` its endpoint for `waba`, appended in the completion's own
/// transaction (`conn`) before the completion, so the dispatcher knows the endpoint by the time
/// the completion arrives. `None` when the link asked for no webhook, or the endpoint it shares
/// already has all it asks for.
pub async fn registered_endpoint(
    state: &AppState,
    conn: &mut PgConnection,
    link: &Link,
    waba: WabaId,
    meta: &EventMetadata,
) -> Result<Option<StreamAppend>, ApiError> {
    let Some(webhook) = &link.spec.webhook else {
        return Ok(None);
    };
    let org = link.organization_id;
    // Links completing at once for the same WABA and URL take turns here.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("link-endpoint:{org}:{waba}:{}", webhook.url))
        .execute(&mut *conn)
        .await?;
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "SELECT endpoint_id FROM link_webhook_endpoints \
         WHERE organization_id = $1 AND waba_id = $2 AND url = $3",
    )
    .bind(org.as_uuid())
    .bind(waba.as_uuid())
    .bind(webhook.url.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = claimed.map(EndpointId::from_uuid) {
        lock_entity(conn, id.as_uuid()).await?;
        let live = load_endpoint(&mut *conn, org, id)
            .await?
            .filter(|e| e.state.status != EndpointStatus::Deleted);
        if let Some(loaded) = live {
            let events = joined(state, conn, webhook, &loaded.state, meta).await?;
            if events.is_empty() {
                return Ok(None);
            }
            return Ok(Some(StreamAppend {
                stream: StreamRef::of::<EndpointEvent>(id.as_uuid()),
                expected: ExpectedVersion::Exact(loaded.version),
                events: events
                    .iter()
                    .map(|e| new_event(e, meta))
                    .collect::<Result<_, _>>()?,
            }));
        }
    }
    created(state, conn, link, webhook, waba, meta).await.map(Some)
}

/// What a live endpoint needs to serve one more link: its event types, and its secret.
async fn joined(
    state: &AppState,
    conn: &mut PgConnection,
    webhook: &LinkWebhook,
    endpoint: &Endpoint,
    meta: &EventMetadata,
) -> Result<Vec<EndpointEvent>, ApiError> {
    let mut events = Vec::new();
    let mut types = endpoint.event_types.clone();
    for event in &webhook.events {
        if !types.contains(event) {
            types.push(event.clone());
        }
    }
    if types != endpoint.event_types {
        events.push(EndpointEvent::Updated(Box::new(EndpointChanges {
            event_types: Some(types),
            ..EndpointChanges::default()
        })));
    }
    if let Some(wanted) = webhook.secret_ref {
        let org = endpoint.organization_id;
        let new = state.vault.reveal(&mut *conn, org, wanted).await?;
        let current = state.vault.reveal(&mut *conn, org, endpoint.secret_ref).await?;
        if new != current {
            events.push(rotation(
                endpoint,
                wanted,
                DEFAULT_ROTATION_GRACE,
                meta.occurred_at,
            ));
        }
    }
    Ok(events)
}

async fn created(
    state: &AppState,
    conn: &mut PgConnection,
    link: &Link,
    webhook: &LinkWebhook,
    waba: WabaId,
    meta: &EventMetadata,
) -> Result<StreamAppend, ApiError> {
    let org = link.organization_id;
    let secret_ref = match webhook.secret_ref {
        Some(secret) => secret,
        None => {
            let secret = gangway_webhook_signing::generate_secret();
            state
                .vault
                .store(&mut *conn, org, SECRET_PURPOSE, &secret)
                .await?
        }
    };
    let id = EndpointId::new();
    sqlx::query(
        "INSERT INTO link_webhook_endpoints (organization_id, waba_id, url, endpoint_id) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (organization_id, waba_id, url) DO UPDATE SET endpoint_id = excluded.endpoint_id",
    )
    .bind(org.as_uuid())
    .bind(waba.as_uuid())
    .bind(webhook.url.as_str())
    .bind(id.as_uuid())
    .execute(&mut *conn)
    .await?;
    let created = EndpointEvent::Created(Box::new(EndpointCreated {
        url: webhook.url.clone(),
        event_types: webhook.events.clone(),
        description: Some(format!("Registered by onboarding link {}", link.id)),
        waba_id: Some(waba),
        secret_ref,
        registered_by_link: Some(link.id),
    }));
    Ok(StreamAppend {
        stream: StreamRef::of::<EndpointEvent>(id.as_uuid()),
        expected: ExpectedVersion::NoStream,
        events: vec![new_event(&created, meta)?],
    })
}
