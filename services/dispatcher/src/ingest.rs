//! From the event stream to webhook messages: keep the dispatcher's view of the endpoints, and
//! record one message per (outgoing event, subscribed endpoint), idempotently, before the event
//! is acknowledged.

use crate::outgoing::outgoing;
use gangway_domain::webhook::{Endpoint, EndpointEvent, EndpointStatus};
use gangway_domain::{EndpointId, OrganizationId, StreamEvent};
use gangway_event_store::{read_stream_after, RecordedEvent};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What one event led to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Messages recorded now (0 when they already were: a redelivery).
    pub messages: u64,
}

/// Handles one event in one transaction. Safe to repeat.
pub async fn ingest(pool: &PgPool, event: &RecordedEvent) -> anyhow::Result<Ingested> {
    let mut tx = pool.begin().await?;
    let ingested = if event.stream_type == EndpointEvent::STREAM_TYPE {
        refresh_endpoint(&mut tx, event).await?;
        Ingested::default()
    } else {
        record_messages(&mut tx, event).await?
    };
    tx.commit().await?;
    Ok(ingested)
}

async fn refresh_endpoint(conn: &mut PgConnection, event: &RecordedEvent) -> anyhow::Result<()> {
    let (id, org) = (
        EndpointId::from_uuid(event.stream_id),
        OrganizationId::from_uuid(event.organization_id),
    );
    // Fold the whole stream from the store: correct whatever order the events arrived in.
    let events = read_stream_after(&mut *conn, event.stream_id, 0).await?;
    let mut endpoint = None;
    for recorded in &events {
        endpoint = Endpoint::evolve(
            endpoint,
            id,
            org,
            &recorded.decode::<EndpointEvent>()?,
            recorded.occurred_at,
        );
    }
    let (Some(endpoint), Some(last)) = (endpoint, events.last()) else {
        return Ok(());
    };
    let document = serde_json::to_value(&endpoint)?;
    sqlx::query(
        "INSERT INTO dispatch_endpoints (id, organization_id, stream_version, document, enabled) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET stream_version = EXCLUDED.stream_version, \
             document = EXCLUDED.document, enabled = EXCLUDED.enabled, \
             -- Re-enabling gives the endpoint a fresh start.
             failing_since = CASE WHEN EXCLUDED.enabled AND NOT dispatch_endpoints.enabled THEN NULL \
                                  ELSE dispatch_endpoints.failing_since END, \
             circuit_open_until = CASE WHEN EXCLUDED.enabled AND NOT dispatch_endpoints.enabled THEN NULL \
                                  ELSE dispatch_endpoints.circuit_open_until END \
         WHERE dispatch_endpoints.stream_version < EXCLUDED.stream_version",
    )
    .bind(endpoint.id.as_uuid())
    .bind(org.as_uuid())
    .bind(last.stream_version)
    .bind(document)
    .bind(endpoint.status == EndpointStatus::Enabled)
    .execute(conn)
    .await?;
    Ok(())
}

/// The message id, and so the `webhook-id`: derived, so recording it again is a no-op.
pub fn message_id(event_id: Uuid, endpoint: EndpointId, event_type: &str) -> Uuid {
    Uuid::new_v5(&event_id, format!("{endpoint}:{event_type}").as_bytes())
}

async fn record_messages(conn: &mut PgConnection, event: &RecordedEvent) -> anyhow::Result<Ingested> {
    let outgoing = outgoing(&mut *conn, event).await?;
    if outgoing.is_empty() {
        return Ok(Ingested::default());
    }
    let org = OrganizationId::from_uuid(event.organization_id);
    let documents: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT document FROM dispatch_endpoints WHERE organization_id = $1 AND enabled")
            .bind(org.as_uuid())
            .fetch_all(&mut *conn)
            .await?;
    let endpoints: Vec<Endpoint> = documents
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect();
    let mut recorded = 0;
    for out in &outgoing {
        let body = out.body(org, event.occurred_at);
        for endpoint in endpoints.iter().filter(|e| e.wants(out.event_type, out.waba)) {
            let inserted = sqlx::query(
                "INSERT INTO webhook_messages (id, organization_id, endpoint_id, event_id, event_type, body, occurred_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(message_id(event.event_id, endpoint.id, out.event_type))
            .bind(org.as_uuid())
            .bind(endpoint.id.as_uuid())
            .bind(event.event_id)
            .bind(out.event_type)
            .bind(&body)
            .bind(event.occurred_at)
            .execute(&mut *conn)
            .await?;
            recorded += inserted.rows_affected();
        }
    }
    Ok(Ingested { messages: recorded })
}
