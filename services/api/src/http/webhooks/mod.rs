//! `/v1/webhooks`: where an organization's events are delivered, and `/v1/webhook-event-types`.

pub mod request;
pub mod response;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Idempotent, OptionalJson, PathId, Tenant};
use crate::http::{AuditEvent, Data, ListQuery, Paginated};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gangway_app::now;
use gangway_app::views::audit_trail;
use gangway_app::webhooks::{
    change_endpoint, create_endpoint, live_endpoint, reveal_secrets, EndpointChange,
};
use gangway_domain::catalog::{example_data, webhook_body, EventType};
use gangway_domain::webhook::{Endpoint, EndpointStatus};
use gangway_domain::EndpointId;
use gangway_projections::queries::{list_endpoints, EndpointFilter};
use gangway_webhook_signing::Policy;
use request::{CreateEndpointRequest, DisableEndpointRequest, RotateSecretRequest, UpdateEndpointRequest};
use response::{EndpointResponse, EventTypeResponse, SecretResponse};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", get(show).patch(update).delete(remove))
        .route("/v1/webhooks/{id}/secret", get(secret))
        .route("/v1/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/v1/webhooks/{id}/disable", post(disable))
        .route("/v1/webhooks/{id}/enable", post(enable))
        .route("/v1/webhooks/{id}/events", get(events))
        .route("/v1/webhook-event-types", get(event_types))
}

/// Which webhook URLs this deployment accepts (`GANGWAY_WEBHOOK_ALLOW_HTTP` / `_PRIVATE`).
pub(crate) fn url_policy(state: &AppState) -> Policy {
    Policy {
        allow_http: state.config.webhook_allow_http(),
        allow_private: state.config.webhook_allow_private,
    }
}

fn endpoint(state: &gangway_domain::webhook::Endpoint) -> Json<Data<EndpointResponse>> {
    Json(Data {
        data: EndpointResponse::new(state, now()),
    })
}

/// Register a webhook endpoint. The secret is not in the answer: read it with
/// `GET /v1/webhooks/{id}/secret`.
#[utoipa::path(post, path = "/v1/webhooks", operation_id = "createWebhook", tag = "webhooks",
    request_body = CreateEndpointRequest,
    responses(
        (status = 201, body = Data<EndpointResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    ApiJson(body): ApiJson<CreateEndpointRequest>,
) -> Result<(StatusCode, Json<Data<EndpointResponse>>), ApiError> {
    let command = body.validate(url_policy(&state))?;
    let created = create_endpoint(&state.app, org, command, idempotency.as_ref()).await?;
    Ok((StatusCode::CREATED, endpoint(&created)))
}

/// Get one webhook endpoint (always current: read from its event stream).
#[utoipa::path(get, path = "/v1/webhooks/{id}", operation_id = "getWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<EndpointResponse>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<EndpointResponse>>, ApiError> {
    let loaded = live_endpoint(state.pool(), org, EndpointId::from_uuid(id)).await?;
    Ok(endpoint(&loaded.state))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndpointListFilter {
    /// `enabled` or `disabled`.
    pub status: Option<String>,
}

/// List webhook endpoints, newest first (from the read model: eventually consistent).
#[utoipa::path(get, path = "/v1/webhooks", operation_id = "listWebhooks", tag = "webhooks",
    params(ListQuery, EndpointListFilter),
    responses((status = 200, body = Paginated<EndpointResponse>), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    ApiQuery(paging): ApiQuery<ListQuery>,
    ApiQuery(filter): ApiQuery<EndpointListFilter>,
) -> Result<Json<Paginated<EndpointResponse>>, ApiError> {
    let page = paging.validate()?;
    let status = match filter.status.as_deref().map(EndpointStatus::parse).transpose() {
        Ok(Some(EndpointStatus::Deleted)) | Err(_) => {
            return Err(ApiError::validation("status", "use enabled or disabled"));
        }
        Ok(status) => status,
    };
    let (endpoints, total) = list_endpoints(state.pool(), org, &EndpointFilter { status }, page).await?;
    let now = now();
    let data = endpoints.iter().map(|e| EndpointResponse::new(e, now)).collect();
    Ok(Json(Paginated::new(data, page, total)))
}

/// Change an endpoint's URL, event types or description (`null` clears the description).
#[utoipa::path(patch, path = "/v1/webhooks/{id}", operation_id = "updateWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    request_body = UpdateEndpointRequest,
    responses(
        (status = 200, body = Data<EndpointResponse>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateEndpointRequest>,
) -> Result<Json<Data<EndpointResponse>>, ApiError> {
    let command = body.validate(url_policy(&state))?;
    let changed = change_endpoint(&state.app, org, EndpointId::from_uuid(id), &command, None).await?;
    Ok(endpoint(&changed))
}

/// Delete an endpoint: nothing more is delivered to it.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    change_endpoint(
        &state.app,
        org,
        EndpointId::from_uuid(id),
        &EndpointChange::Delete,
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signing secret, and the previous one while a rotation's grace period lasts.
#[utoipa::path(get, path = "/v1/webhooks/{id}/secret", operation_id = "getWebhookSecret", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<SecretResponse>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn secret(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<SecretResponse>>, ApiError> {
    let loaded = live_endpoint(state.pool(), org, EndpointId::from_uuid(id)).await?;
    let secrets = reveal_secrets(&state.app, &loaded.state, now()).await?;
    Ok(Json(Data { data: secrets.into() }))
}

/// Replace the signing secret (given, or generated). The previous one keeps signing beside it
/// for `gracePeriodSeconds` (default 24 hours).
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    request_body(content = Option<RotateSecretRequest>),
    responses(
        (status = 200, body = Data<SecretResponse>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    PathId(id): PathId,
    OptionalJson(body): OptionalJson<RotateSecretRequest>,
) -> Result<Json<Data<SecretResponse>>, ApiError> {
    let (secret, grace) = body.validate()?;
    let command = EndpointChange::RotateSecret { secret, grace };
    let id = EndpointId::from_uuid(id);
    let rotated = change_endpoint(&state.app, org, id, &command, idempotency.as_ref()).await?;
    let secrets = reveal_secrets(&state.app, &rotated, now()).await?;
    Ok(Json(Data { data: secrets.into() }))
}

/// Stop deliveries to an endpoint until it is enabled again.
#[utoipa::path(post, path = "/v1/webhooks/{id}/disable", operation_id = "disableWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    request_body(content = Option<DisableEndpointRequest>),
    responses(
        (status = 200, body = Data<EndpointResponse>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    PathId(id): PathId,
    OptionalJson(body): OptionalJson<DisableEndpointRequest>,
) -> Result<Json<Data<EndpointResponse>>, ApiError> {
    let command = EndpointChange::Disable {
        reason: body.reason()?,
    };
    let id = EndpointId::from_uuid(id);
    let disabled = change_endpoint(&state.app, org, id, &command, idempotency.as_ref()).await?;
    Ok(endpoint(&disabled))
}

/// Resume deliveries to a disabled endpoint.
#[utoipa::path(post, path = "/v1/webhooks/{id}/enable", operation_id = "enableWebhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<EndpointResponse>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn enable(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    PathId(id): PathId,
) -> Result<Json<Data<EndpointResponse>>, ApiError> {
    let enabled = change_endpoint(
        &state.app,
        org,
        EndpointId::from_uuid(id),
        &EndpointChange::Enable,
        idempotency.as_ref(),
    )
    .await?;
    Ok(endpoint(&enabled))
}

/// An endpoint's audit trail: every event of its stream, oldest first (deleted endpoints too).
#[utoipa::path(get, path = "/v1/webhooks/{id}/events", operation_id = "listWebhookEvents", tag = "webhooks",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<Vec<AuditEvent>>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<Vec<AuditEvent>>>, ApiError> {
    let trail = audit_trail::<Endpoint>(state.pool(), org, EndpointId::from_uuid(id)).await?;
    Ok(Json(Data { data: trail }))
}

/// The event types endpoints can subscribe to, each with an example delivery body.
#[utoipa::path(get, path = "/v1/webhook-event-types", operation_id = "listWebhookEventTypes", tag = "webhooks",
    responses((status = 200, body = Data<Vec<EventTypeResponse>>), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn event_types(Tenant(org): Tenant) -> Json<Data<Vec<EventTypeResponse>>> {
    let timestamp = now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let organization = org.to_string();
    let data = EventType::ALL
        .into_iter()
        .map(|event_type| {
            let example = example_data(event_type);
            let body = webhook_body(event_type.as_str(), &timestamp, &organization, example);
            EventTypeResponse::new(event_type, body)
        })
        .collect();
    Json(Data { data })
}
