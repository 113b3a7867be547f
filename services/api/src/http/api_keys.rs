//! `/v1/api-keys`: an organization's keys (the key itself shown once, at its issue), and
//! `/admin/organizations/{id}/api-keys` for an organization that lost its keys.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson, Idempotent, PathId, Tenant};
use crate::http::Data;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use gangway_app::api_keys::{issue_api_key, list_api_keys, revoke_api_key, ApiKeyView};
use gangway_app::idempotency::IdempotencyKey;
use gangway_domain::values::bounded_text;
use gangway_domain::{ApiKeyId, OrganizationId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", post(create).get(list))
        .route("/v1/api-keys/{id}", delete(revoke))
        .route("/admin/organizations/{id}/api-keys", post(admin_create))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. `production`; 1-100 characters.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKeyResponse {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Shown once: only its hash is stored.
    pub api_key: String,
}

async fn issue(
    state: &AppState,
    org: OrganizationId,
    body: CreateApiKeyRequest,
    idempotency: Option<&IdempotencyKey>,
) -> Result<CreatedApiKeyResponse, ApiError> {
    let name = body
        .name
        .ok_or_else(|| ApiError::validation("name", "is required"))?;
    let name = bounded_text(&name, 100).map_err(|m| ApiError::validation("name", m))?;
    let issued = issue_api_key(&state.app.store, org, name, idempotency).await?;
    Ok(CreatedApiKeyResponse {
        key: issued.view,
        api_key: issued.key,
    })
}

/// Issue another API key for your organization.
#[utoipa::path(post, path = "/v1/api-keys", operation_id = "createApiKey", tag = "api keys", request_body = CreateApiKeyRequest,
    responses((status = 201, body = Data<CreatedApiKeyResponse>), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<Data<CreatedApiKeyResponse>>), ApiError> {
    let data = issue(&state, org, body, idempotency.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(Data { data })))
}

/// Your organization's working API keys (never the keys themselves).
#[utoipa::path(get, path = "/v1/api-keys", operation_id = "listApiKeys", tag = "api keys",
    responses((status = 200, body = Data<Vec<ApiKeyView>>), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Tenant(org): Tenant,
) -> Result<Json<Data<Vec<ApiKeyView>>>, ApiError> {
    let data = list_api_keys(state.pool(), org).await?;
    Ok(Json(Data { data }))
}

/// Revoke one of your API keys: every api process refuses it within a second.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", operation_id = "revokeApiKey", tag = "api keys", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    let key_id = ApiKeyId::from_uuid(id);
    revoke_api_key(&state.app.store, org, key_id).await?;
    state.verified_keys.evict(key_id);
    Ok(StatusCode::NO_CONTENT)
}

/// Issue an API key for an organization (for one that lost its keys).
#[utoipa::path(post, path = "/admin/organizations/{id}/api-keys", operation_id = "createOrganizationApiKey", tag = "admin",
    params(("id" = uuid::Uuid, Path)), request_body = CreateApiKeyRequest,
    responses((status = 201, body = Data<CreatedApiKeyResponse>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn admin_create(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<Data<CreatedApiKeyResponse>>), ApiError> {
    let data = issue(&state, OrganizationId::from_uuid(id), body, None).await?;
    Ok((StatusCode::CREATED, Json(Data { data })))
}
