//! The delivery log: webhook messages, their attempts, manual retry and recovery. The dispatcher
//! owns this state; the api reads it and puts messages back in the queue.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId, Tenant};
use crate::http::{owned_stream, Data, ListQuery, Paginated};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gangway_app::messages::Requeue;
use gangway_domain::webhook::EndpointEvent;
use gangway_domain::{OrganizationId, StreamEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/{id}/messages", get(list))
        .route("/v1/webhooks/{id}/recover", post(recover))
        .route("/v1/messages/{id}", get(show))
        .route("/v1/messages/{id}/retry", post(retry))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct MessageResponse {
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
    #[schema(value_type = Object)]
    #[sqlx(skip)]
    pub payload: serde_json::Value,
    #[sqlx(rename = "body")]
    #[serde(skip)]
    pub body: String,
}

impl MessageResponse {
    fn finish(mut self) -> Self {
        self.webhook_id = format!("msg_{}", self.id.simple());
        self.payload = serde_json::from_str(&self.body).unwrap_or_default();
        if self.status != "pending" {
            self.next_attempt_at = None;
        }
        self
    }
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AttemptResponse {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageWithAttempts {
    #[serde(flatten)]
    pub message: MessageResponse,
    pub attempts_log: Vec<AttemptResponse>,
}

const COLUMNS: &str =
    "id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, delivered_at, created_at, body";

/// 404 unless the endpoint is the caller's.
async fn owned_endpoint(state: &AppState, org: OrganizationId, id: Uuid) -> Result<(), ApiError> {
    owned_stream(state, org, id, EndpointEvent::STREAM_TYPE, "webhook endpoint").await?;
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// pending, delivered or failed.
    pub status: Option<String>,
}

/// An endpoint's messages, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/messages", tag = "webhooks",
    params(("id" = uuid::Uuid, Path), ListQuery, MessageFilter),
    responses((status = 200, body = Paginated<MessageResponse>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
    ApiQuery(paging): ApiQuery<ListQuery>,
    ApiQuery(filter): ApiQuery<MessageFilter>,
) -> Result<Json<Paginated<MessageResponse>>, ApiError> {
    let page = paging.validate()?;
    if let Some(status) = filter.status.as_deref() {
        if !["pending", "delivered", "failed"].contains(&status) {
            return Err(ApiError::validation("status", "use pending, delivered or failed"));
        }
    }
    owned_endpoint(&state, org, id).await?;
    let condition = "organization_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR status = $3)";
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM webhook_messages WHERE {condition}"
    ))
    .bind(org.as_uuid())
    .bind(id)
    .bind(&filter.status)
    .fetch_one(state.pool())
    .await?;
    let rows: Vec<MessageResponse> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_messages WHERE {condition} \
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(org.as_uuid())
    .bind(id)
    .bind(&filter.status)
    .bind(i64::from(page.limit))
    .bind(i64::from(page.page.saturating_sub(1)) * i64::from(page.limit))
    .fetch_all(state.pool())
    .await?;
    let data = rows.into_iter().map(MessageResponse::finish).collect();
    Ok(Json(Paginated::new(data, page, total)))
}

async fn find(state: &AppState, org: OrganizationId, id: Uuid) -> Result<MessageResponse, ApiError> {
    let row: Option<MessageResponse> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_messages WHERE id = $1 AND organization_id = $2"
    ))
    .bind(id)
    .bind(org.as_uuid())
    .fetch_optional(state.pool())
    .await?;
    row.map(MessageResponse::finish)
        .ok_or(ApiError::NotFound("webhook message"))
}

/// One message with every attempt (time, status code, latency, response excerpt, error).
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<MessageWithAttempts>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<MessageWithAttempts>>, ApiError> {
    let message = find(&state, org, id).await?;
    let attempts_log: Vec<AttemptResponse> = sqlx::query_as(
        "SELECT attempted_at, status_code, latency_ms, response_excerpt, error FROM webhook_attempts \
         WHERE message_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(state.pool())
    .await?;
    Ok(Json(Data {
        data: MessageWithAttempts {
            message,
            attempts_log,
        },
    }))
}

/// Sends a message again now, whatever its status (a delivered one is delivered again, under
/// the same `webhook-id`).
#[utoipa::path(post, path = "/v1/messages/{id}/retry", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = Data<MessageResponse>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<Data<MessageResponse>>), ApiError> {
    let updated = Requeue {
        organization: Some(org),
        message: Some(id),
        ..Requeue::default()
    }
    .run(state.pool())
    .await?;
    if updated.matched == 0 {
        return Err(ApiError::NotFound("webhook message"));
    }
    let message = find(&state, org, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Data { data: message })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverRequest {
    /// Re-queue every failed message created at or after this time.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverResponse {
    pub recovered: u64,
}

/// Re-queues every failed message of the endpoint since a time.
#[utoipa::path(post, path = "/v1/webhooks/{id}/recover", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)), request_body = RecoverRequest,
    responses((status = 202, body = Data<RecoverResponse>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn recover(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
    ApiJson(body): ApiJson<RecoverRequest>,
) -> Result<(StatusCode, Json<Data<RecoverResponse>>), ApiError> {
    owned_endpoint(&state, org, id).await?;
    let recovered = Requeue {
        organization: Some(org),
        endpoint: Some(id),
        failed_only: true,
        created_from: Some(body.since),
        ..Requeue::default()
    }
    .run(state.pool())
    .await?
    .matched;
    Ok((
        StatusCode::ACCEPTED,
        Json(Data {
            data: RecoverResponse { recovered },
        }),
    ))
}
