//! `/v1/customers`.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Idempotent, PathId, Tenant};
use crate::http::Data;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gangway_app::customers::{create_customer, find_by_external_id};
use gangway_app::load;
use gangway_domain::customer::{Customer, CustomerCreated};
use gangway_domain::values::{bounded_text, metadata};
use gangway_domain::CustomerId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/customers", get(find).post(create))
        .route("/v1/customers/{id}", get(show))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomerRequest {
    pub name: Option<String>,
    /// Your id for this customer; unique within your organization.
    pub external_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerResponse {
    pub id: Uuid,
    pub name: String,
    pub external_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<Customer> for CustomerResponse {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id.as_uuid(),
            name: c.name,
            external_id: c.external_id,
            metadata: c.metadata,
            created_at: c.created_at,
        }
    }
}

/// Create a customer.
#[utoipa::path(post, path = "/v1/customers", operation_id = "createCustomer", tag = "customers", request_body = CreateCustomerRequest,
    responses((status = 201, body = Data<CustomerResponse>), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    ApiJson(body): ApiJson<CreateCustomerRequest>,
) -> Result<(StatusCode, Json<Data<CustomerResponse>>), ApiError> {
    let name = body
        .name
        .ok_or_else(|| ApiError::validation("name", "is required"))?;
    let created = CustomerCreated {
        name: bounded_text(&name, 200).map_err(|m| ApiError::validation("name", m))?,
        external_id: body
            .external_id
            .map(|e| bounded_text(&e, 255).map_err(|m| ApiError::validation("externalId", m)))
            .transpose()?,
        metadata: body
            .metadata
            .map(|m| metadata(m).map_err(|e| ApiError::validation("metadata", e)))
            .transpose()?
            .unwrap_or_default(),
    };
    let customer = create_customer(&state.app.store, org, created, idempotency.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(Data {
            data: customer.into(),
        }),
    ))
}

/// Get one customer.
#[utoipa::path(get, path = "/v1/customers/{id}", operation_id = "getCustomer", tag = "customers", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<CustomerResponse>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<CustomerResponse>>, ApiError> {
    let customer = load::<Customer>(state.pool(), org, CustomerId::from_uuid(id))
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    Ok(Json(Data {
        data: customer.state.into(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Required: the external id to look up.
    pub external_id: Option<String>,
}

/// Find customers by external id (zero or one result).
#[utoipa::path(get, path = "/v1/customers", operation_id = "listCustomers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = Data<Vec<CustomerResponse>>), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn find(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    ApiQuery(query): ApiQuery<CustomerQuery>,
) -> Result<Json<Data<Vec<CustomerResponse>>>, ApiError> {
    let external_id = query
        .external_id
        .ok_or_else(|| ApiError::validation("externalId", "is required"))?;
    // Stored external ids are trimmed; look up the same way.
    let mut conn = state.pool().acquire().await?;
    let found = find_by_external_id(&mut conn, org, external_id.trim()).await?;
    Ok(Json(Data {
        data: found.into_iter().map(|c| c.state.into()).collect(),
    }))
}
