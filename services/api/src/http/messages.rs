//! The delivery log: webhook messages, their attempts, manual retry and recovery. The dispatcher
//! owns this state; the api reads it and puts messages back in the queue.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Idempotent, PathId, Tenant};
use crate::http::{Data, ListQuery, Paginated};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gangway_app::delivery_log::{
    find_message, list_messages, message_attempts, recover_failed, retry_message, send_test_event,
    AttemptView, MessageView,
};
use gangway_bus::Wake;
use gangway_domain::webhook::MessageStatus;
use gangway_domain::{EndpointId, MessageId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/{id}/messages", get(list))
        .route("/v1/webhooks/{id}/recover", post(recover))
        .route("/v1/webhooks/{id}/test", post(send_test))
        .route("/v1/messages/{id}", get(show))
        .route("/v1/messages/{id}/retry", post(retry))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageWithAttempts {
    #[serde(flatten)]
    pub message: MessageView,
    pub attempts_log: Vec<AttemptView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// pending, delivered or failed.
    pub status: Option<String>,
}

/// An endpoint's messages, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{id}/messages", operation_id = "listWebhookMessages", tag = "webhooks",
    params(("id" = uuid::Uuid, Path), ListQuery, MessageFilter),
    responses((status = 200, body = Paginated<MessageView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
    ApiQuery(paging): ApiQuery<ListQuery>,
    ApiQuery(filter): ApiQuery<MessageFilter>,
) -> Result<Json<Paginated<MessageView>>, ApiError> {
    let page = paging.validate()?;
    let status = filter
        .status
        .as_deref()
        .map(MessageStatus::parse)
        .transpose()
        .map_err(|message| ApiError::validation("status", message))?;
    let window = (
        i64::from(page.limit),
        i64::from(page.page.saturating_sub(1)) * i64::from(page.limit),
    );
    let (data, total) = list_messages(&state.app, org, EndpointId::from_uuid(id), status, window).await?;
    Ok(Json(Paginated::new(data, page, total)))
}

/// One message with every attempt (time, status code, latency, response excerpt, error).
#[utoipa::path(get, path = "/v1/messages/{id}", operation_id = "getMessage", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<MessageWithAttempts>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<MessageWithAttempts>>, ApiError> {
    let id = MessageId::from_uuid(id);
    let message = find_message(state.pool(), org, id).await?;
    let attempts_log = message_attempts(state.pool(), org, id).await?;
    Ok(Json(Data {
        data: MessageWithAttempts {
            message,
            attempts_log,
        },
    }))
}

/// Sends a message again now, whatever its status (a delivered one is delivered again, under
/// the same `webhook-id`).
#[utoipa::path(post, path = "/v1/messages/{id}/retry", operation_id = "retryMessage", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = Data<MessageView>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<Data<MessageView>>), ApiError> {
    let message = retry_message(&state.app, org, MessageId::from_uuid(id), idempotency.as_ref()).await?;
    state.bus.wake(Wake::Dispatcher).await;
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
#[utoipa::path(post, path = "/v1/webhooks/{id}/recover", operation_id = "recoverWebhookMessages", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)), request_body = RecoverRequest,
    responses((status = 202, body = Data<RecoverResponse>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn recover(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    PathId(id): PathId,
    ApiJson(body): ApiJson<RecoverRequest>,
) -> Result<(StatusCode, Json<Data<RecoverResponse>>), ApiError> {
    let recovered = recover_failed(
        &state.app,
        org,
        EndpointId::from_uuid(id),
        body.since,
        idempotency.as_ref(),
    )
    .await?;
    if recovered > 0 {
        state.bus.wake(Wake::Dispatcher).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Data {
            data: RecoverResponse { recovered },
        }),
    ))
}

/// Send a `webhook.test` event to the endpoint now, whatever it subscribes to: a message like any
/// other (signed, retried, in the delivery log), to check a receiver end to end.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", operation_id = "sendWebhookTest", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = Data<MessageView>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`endpoint_disabled`: enable the endpoint first.")),
    security(("api_key" = [])))]
pub async fn send_test(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<Data<MessageView>>), ApiError> {
    let message = send_test_event(&state.app, org, EndpointId::from_uuid(id), idempotency.as_ref()).await?;
    state.bus.wake(Wake::Dispatcher).await;
    Ok((StatusCode::ACCEPTED, Json(Data { data: message })))
}
