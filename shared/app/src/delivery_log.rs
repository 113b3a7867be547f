//! The delivery log as an organization sees it: its webhook messages, their attempts, and putting
//! them back in the queue. The dispatcher writes the log; every read here is scoped to the
//! organization asking, so another organization's message or endpoint is simply not found.

use crate::idempotency::{claim, IdempotencyKey};
use crate::messages::Requeue;
use crate::{load, App, AppError};
use chrono::{DateTime, SecondsFormat, Utc};
use gangway_domain::catalog::{webhook_body, EventType};
use gangway_domain::webhook::{Endpoint, EndpointStatus, MessageStatus};
use gangway_domain::webhook_data::TestEvent;
use gangway_domain::{EndpointId, MessageId, OrganizationId};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

/// One webhook message: an outgoing event for one endpoint.
#[derive(Debug, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: Uuid,
    /// The `webhook-id` header every attempt carries.
    #[sqlx(skip)]
    pub webhook_id: String,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    #[sqlx(skip)]
    pub payload: serde_json::Value,
    #[sqlx(rename = "body")]
    #[serde(skip)]
    pub body: String,
}

impl MessageView {
    fn finish(mut self) -> Self {
        self.webhook_id = format!("msg_{}", self.id.simple());
        self.payload = serde_json::from_str(&self.body).unwrap_or_default();
        if self.status != MessageStatus::Pending.as_str() {
            self.next_attempt_at = None;
        }
        self
    }
}

/// One attempt at delivering a message.
#[derive(Debug, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

const COLUMNS: &str =
    "id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, delivered_at, created_at, body";

/// The organization's message `id`, or not found.
pub async fn find_message(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: MessageId,
) -> Result<MessageView, AppError> {
    let row: Option<MessageView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_messages WHERE id = $1 AND organization_id = $2"
    ))
    .bind(id.as_uuid())
    .bind(org.as_uuid())
    .fetch_optional(db)
    .await?;
    row.map(MessageView::finish)
        .ok_or(AppError::NotFound("webhook message"))
}

/// Every attempt at the organization's message `id`, oldest first.
pub async fn message_attempts(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    id: MessageId,
) -> Result<Vec<AttemptView>, AppError> {
    Ok(sqlx::query_as(
        "SELECT a.attempted_at, a.status_code, a.latency_ms, a.response_excerpt, a.error \
         FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id \
         WHERE a.message_id = $1 AND m.organization_id = $2 ORDER BY a.id",
    )
    .bind(id.as_uuid())
    .bind(org.as_uuid())
    .fetch_all(db)
    .await?)
}

#[derive(sqlx::FromRow)]
struct MessageAttempt {
    message_id: Uuid,
    #[sqlx(flatten)]
    attempt: AttemptView,
}

/// Every attempt at each of the organization's messages `ids`, oldest first, in one query.
pub async fn attempts_by_message(
    db: impl PgExecutor<'_>,
    org: OrganizationId,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<AttemptView>>, AppError> {
    let rows: Vec<MessageAttempt> = sqlx::query_as(
        "SELECT a.message_id, a.attempted_at, a.status_code, a.latency_ms, a.response_excerpt, a.error \
         FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id \
         WHERE a.message_id = ANY($1) AND m.organization_id = $2 ORDER BY a.id",
    )
    .bind(ids)
    .bind(org.as_uuid())
    .fetch_all(db)
    .await?;
    let mut by_message = std::collections::HashMap::<Uuid, Vec<AttemptView>>::new();
    for row in rows {
        by_message.entry(row.message_id).or_default().push(row.attempt);
    }
    Ok(by_message)
}

/// One page of an endpoint's messages, newest first, and how many there are in all.
pub async fn list_messages(
    app: &App,
    org: OrganizationId,
    endpoint: EndpointId,
    status: Option<MessageStatus>,
    (limit, offset): (i64, i64),
) -> Result<(Vec<MessageView>, i64), AppError> {
    owned_endpoint(app, org, endpoint).await?;
    let condition = "organization_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR status = $3)";
    let status = status.map(MessageStatus::as_str);
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM webhook_messages WHERE {condition}"
    ))
    .bind(org.as_uuid())
    .bind(endpoint.as_uuid())
    .bind(status)
    .fetch_one(app.pool())
    .await?;
    let rows: Vec<MessageView> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_messages WHERE {condition} \
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(org.as_uuid())
    .bind(endpoint.as_uuid())
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(app.pool())
    .await?;
    Ok((rows.into_iter().map(MessageView::finish).collect(), total))
}

/// Sends a message again now, whatever its status (a delivered one is delivered again, under the
/// same `webhook-id`).
#[tracing::instrument(skip(app))]
pub async fn retry_message(
    app: &App,
    org: OrganizationId,
    id: MessageId,
    idempotency: Option<&IdempotencyKey>,
) -> Result<MessageView, AppError> {
    let mut tx = app.pool().begin().await?;
    claim(&mut tx, idempotency).await?;
    let updated = Requeue {
        organization: Some(org),
        message: Some(id),
        ..Requeue::default()
    }
    .run(&mut *tx)
    .await?;
    if updated.matched == 0 {
        return Err(AppError::NotFound("webhook message"));
    }
    tx.commit().await?;
    find_message(app.pool(), org, id).await
}

/// Re-queues every failed message of the endpoint created since `since`; returns how many.
#[tracing::instrument(skip(app))]
pub async fn recover_failed(
    app: &App,
    org: OrganizationId,
    endpoint: EndpointId,
    since: DateTime<Utc>,
    idempotency: Option<&IdempotencyKey>,
) -> Result<u64, AppError> {
    owned_endpoint(app, org, endpoint).await?;
    let mut tx = app.pool().begin().await?;
    claim(&mut tx, idempotency).await?;
    let requeued = Requeue {
        organization: Some(org),
        endpoint: Some(endpoint),
        failed_only: true,
        created_from: Some(since),
        ..Requeue::default()
    }
    .run(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(requeued.matched)
}

/// Queues a `webhook.test` message for one enabled endpoint, whatever it subscribes to: an
/// integrator checks its receiver and signature verification without waiting for a real event.
/// The dispatcher delivers it like any other message; it has no event in the store, so its
/// `eventId` is its own id.
#[tracing::instrument(skip(app))]
pub async fn send_test_event(
    app: &App,
    org: OrganizationId,
    endpoint: EndpointId,
    idempotency: Option<&IdempotencyKey>,
) -> Result<MessageView, AppError> {
    let status = load::<Endpoint>(app.pool(), org, endpoint)
        .await?
        .map(|loaded| loaded.state.status)
        .filter(|status| *status != EndpointStatus::Deleted)
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    if status == EndpointStatus::Disabled {
        return Err(AppError::Conflict {
            code: "endpoint_disabled",
            message: "the endpoint is disabled; enable it to send a test event".into(),
        });
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    let data = serde_json::to_value(TestEvent {
        endpoint_id: endpoint.as_uuid(),
    })
    .map_err(anyhow::Error::from)?;
    let body = webhook_body(
        EventType::WebhookTest.as_str(),
        &now.to_rfc3339_opts(SecondsFormat::Millis, true),
        &org.to_string(),
        data,
    );
    let mut tx = app.pool().begin().await?;
    claim(&mut tx, idempotency).await?;
    sqlx::query(
        "INSERT INTO webhook_messages (id, organization_id, endpoint_id, event_id, event_type, body, occurred_at) \
         VALUES ($1, $2, $3, $1, $4, $5, $6)",
    )
    .bind(id)
    .bind(org.as_uuid())
    .bind(endpoint.as_uuid())
    .bind(EventType::WebhookTest.as_str())
    .bind(body.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    find_message(app.pool(), org, MessageId::from_uuid(id)).await
}

/// Not found unless the endpoint (deleted or not) is the organization's.
async fn owned_endpoint(app: &App, org: OrganizationId, id: EndpointId) -> Result<(), AppError> {
    load::<Endpoint>(app.pool(), org, id)
        .await?
        .map(|_| ())
        .ok_or(AppError::NotFound("webhook endpoint"))
}

/// Undelivered webhook messages of every organization by state, counted over the partial index of
/// pending messages: for the operators' gauges and `gangway status`.
#[derive(Clone, Copy, Debug, Default, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    /// Due now: waiting for a free slot or a parked endpoint.
    pub due: i64,
    /// Waiting out a retry's backoff.
    pub scheduled: i64,
    /// Leased by a dispatcher replica.
    pub in_flight: i64,
}

pub async fn queue_depth(db: impl PgExecutor<'_>) -> Result<QueueDepth, sqlx::Error> {
    sqlx::query_as(
        "SELECT \
             count(*) FILTER (WHERE next_attempt_at <= now() \
                 AND (leased_until IS NULL OR leased_until < now())) AS due, \
             count(*) FILTER (WHERE next_attempt_at > now() \
                 AND (leased_until IS NULL OR leased_until < now())) AS scheduled, \
             count(*) FILTER (WHERE leased_until >= now()) AS in_flight \
         FROM webhook_messages WHERE status = 'pending'",
    )
    .fetch_one(db)
    .await
}
