//! `/admin/*`: operator endpoints, authenticated with the admin token.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson};
use crate::http::Data;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gangway_app::organizations::create_organization;
use gangway_domain::values::bounded_text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/organizations", post(create))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrganizationRequest {
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationCreatedResponse {
    pub id: Uuid,
    pub name: String,
    /// Shown once; only its hash is stored.
    pub api_key: String,
    pub created_at: DateTime<Utc>,
}

/// Create an organization and its first API key.
#[utoipa::path(post, path = "/admin/organizations", operation_id = "createOrganization", tag = "admin",
    request_body = CreateOrganizationRequest,
    responses((status = 201, body = Data<OrganizationCreatedResponse>),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<CreateOrganizationRequest>,
) -> Result<(StatusCode, Json<Data<OrganizationCreatedResponse>>), ApiError> {
    let name = body
        .name
        .ok_or_else(|| ApiError::validation("name", "is required"))?;
    let name = bounded_text(&name, 200).map_err(|m| ApiError::validation("name", m))?;
    let org = create_organization(&state.app.store, name).await?;
    let data = OrganizationCreatedResponse {
        id: org.id.as_uuid(),
        name: org.name,
        api_key: org.api_key,
        created_at: org.created_at,
    };
    Ok((StatusCode::CREATED, Json(Data { data })))
}
