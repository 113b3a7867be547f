//! The webhook endpoint a link's `webhookUrl` asks for, scoped to the WABA it connected.
//!
//! One endpoint serves every link of an organization with the same URL for the same WABA
//! (`link_webhook_endpoints`): a second number of that WABA, or a reconnect, reuses it. Another
//! endpoint would deliver every event to the same URL twice. It is shared while it is enabled,
//! still has that URL and signs with the link's secret (or the link brings none), and gains the
//! new link's event types. The endpoint's secret is never changed for a link: that could undo a
//! rotation the integrator made since. A link that cannot share gets an endpoint of its own,
//! which later links then share.

use crate::webhooks::SECRET_PURPOSE;
use crate::{decide, load, lock_entity, App, AppError};
use gangway_domain::link::{Link, LinkWebhook};
use gangway_domain::webhook::{Endpoint, EndpointChanges, EndpointCommand, EndpointCreated, EndpointStatus};
use gangway_domain::{EndpointId, WabaId};
use gangway_event_store::{EventMetadata, StreamAppend};
use sqlx::PgConnection;
use uuid::Uuid;

/// The events that give `link` its endpoint for `waba`, appended in the completion's own
/// transaction (`conn`) before the completion, so the dispatcher knows the endpoint by the time
/// the completion arrives. `None` when the link asked for no webhook, or the endpoint it shares
/// already has all it asks for.
pub async fn registered_endpoint(
    app: &App,
    conn: &mut PgConnection,
    link: &Link,
    waba: WabaId,
    meta: &EventMetadata,
) -> Result<Option<StreamAppend>, AppError> {
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
        if let Some(loaded) = load::<Endpoint>(&mut *conn, org, id).await? {
            if shareable(app, conn, webhook, &loaded.state).await? {
                let joined = EndpointCommand::Update(joined(webhook, &loaded.state));
                return Ok(decide(Some(&loaded), id, &joined, meta)?.append);
            }
        }
    }
    created(app, conn, link, webhook, waba, meta).await.map(Some)
}

/// Whether the link's deliveries can go through `endpoint` as they would through its own.
async fn shareable(
    app: &App,
    conn: &mut PgConnection,
    webhook: &LinkWebhook,
    endpoint: &Endpoint,
) -> Result<bool, AppError> {
    if endpoint.status != EndpointStatus::Enabled || endpoint.url != webhook.url {
        return Ok(false);
    }
    let Some(wanted) = webhook.secret_ref else {
        return Ok(true);
    };
    let org = endpoint.organization_id;
    let wanted = app.vault.reveal(&mut *conn, org, wanted).await?;
    let current = app.vault.reveal(&mut *conn, org, endpoint.secret_ref).await?;
    Ok(wanted == current)
}

/// The change that lets a shared endpoint serve one more link: the link's event types (the
/// endpoint's decide records it only if that adds any).
fn joined(webhook: &LinkWebhook, endpoint: &Endpoint) -> EndpointChanges {
    let mut types = endpoint.event_types.clone();
    for event in &webhook.events {
        if !types.contains(event) {
            types.push(*event);
        }
    }
    EndpointChanges {
        event_types: Some(types),
        ..EndpointChanges::default()
    }
}

async fn created(
    app: &App,
    conn: &mut PgConnection,
    link: &Link,
    webhook: &LinkWebhook,
    waba: WabaId,
    meta: &EventMetadata,
) -> Result<StreamAppend, AppError> {
    let org = link.organization_id;
    let secret_ref = match webhook.secret_ref {
        Some(secret) => secret,
        None => {
            let secret = gangway_webhook_signing::generate_secret();
            app.vault.store(&mut *conn, org, SECRET_PURPOSE, &secret).await?
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
    let created = EndpointCommand::Create(Box::new(EndpointCreated {
        url: webhook.url.clone(),
        event_types: webhook.events.clone(),
        description: Some(format!("Registered by onboarding link {}", link.id)),
        waba_id: Some(waba),
        secret_ref,
        registered_by_link: Some(link.id),
    }));
    decide::<Endpoint>(None, id, &created, meta)?
        .append
        .ok_or_else(|| anyhow::anyhow!("endpoint creation came to no event").into())
}
