//! `/v1/onboarding-links`.

pub mod request;
pub mod response;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Idempotent, PathId, Tenant};
use crate::http::{webhooks, AuditEvent, Data, ListQuery, Paginated};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use gangway_app::links::{create_link, delete_link};
use gangway_app::views::audit_trail;
use gangway_app::{load, now};
use gangway_domain::link::Link;
use gangway_domain::link::LinkStatus;
use gangway_domain::{CustomerId, LinkId};
use gangway_projections::queries::{list_links, LinkFilter};
use request::CreateLinkRequest;
use response::LinkResponse;
use serde::Deserialize;
use utoipa::IntoParams;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/onboarding-links", get(list).post(create))
        .route("/v1/onboarding-links/{id}", get(show).delete(remove))
        .route("/v1/onboarding-links/{id}/events", get(events))
}

/// Create an onboarding link.
#[utoipa::path(post, path = "/v1/onboarding-links", operation_id = "createOnboardingLink", tag = "onboarding links",
    request_body = CreateLinkRequest,
    responses(
        (status = 201, body = Data<LinkResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    ApiJson(body): ApiJson<CreateLinkRequest>,
) -> Result<(StatusCode, Json<Data<LinkResponse>>), ApiError> {
    let now = now();
    let command = body.validate(now, webhooks::url_policy(&state))?;
    let link = create_link(&state.app, org, command, idempotency.as_ref()).await?;
    let response = LinkResponse::new(&link, state.hosted_url(link.id), now);
    Ok((StatusCode::CREATED, Json(Data { data: response })))
}

/// Get one onboarding link (always current: read from its event stream).
#[utoipa::path(get, path = "/v1/onboarding-links/{id}", operation_id = "getOnboardingLink", tag = "onboarding links",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<LinkResponse>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<LinkResponse>>, ApiError> {
    let link = load::<Link>(state.pool(), org, LinkId::from_uuid(id))
        .await?
        .filter(|l| l.state.status != LinkStatus::Deleted)
        .ok_or(ApiError::NotFound("onboarding link"))?;
    let response = LinkResponse::new(&link.state, state.hosted_url(id), Utc::now());
    Ok(Json(Data { data: response }))
}

/// Delete a pending onboarding link.
#[utoipa::path(delete, path = "/v1/onboarding-links/{id}", operation_id = "deleteOnboardingLink", tag = "onboarding links",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    delete_link(&state.app, org, LinkId::from_uuid(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct LinkListFilter {
    /// pending, completed, failed, expired, revoked or deleted.
    pub status: Option<String>,
    pub customer_id: Option<String>,
    pub external_id: Option<String>,
}

/// List onboarding links, newest first (from the read model: eventually consistent).
#[utoipa::path(get, path = "/v1/onboarding-links", operation_id = "listOnboardingLinks", tag = "onboarding links",
    params(ListQuery, LinkListFilter),
    responses((status = 200, body = Paginated<LinkResponse>), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    ApiQuery(paging): ApiQuery<ListQuery>,
    ApiQuery(filter): ApiQuery<LinkListFilter>,
) -> Result<Json<Paginated<LinkResponse>>, ApiError> {
    let page = paging.validate()?;
    let filter = LinkFilter {
        status: filter
            .status
            .map(|s| LinkStatus::parse(&s).map_err(|m| ApiError::validation("status", m)))
            .transpose()?,
        customer_id: filter
            .customer_id
            .map(|c| {
                c.parse()
                    .map(CustomerId::from_uuid)
                    .map_err(|_| ApiError::validation("customerId", "must be a UUID"))
            })
            .transpose()?,
        external_id: filter.external_id,
    };
    let now = Utc::now();
    let (links, total) = list_links(state.pool(), org, &filter, page, now).await?;
    let data = links
        .iter()
        .map(|l| LinkResponse::new(l, state.hosted_url(l.id), now))
        .collect();
    Ok(Json(Paginated::new(data, page, total)))
}

/// A link's audit trail: every event of its stream, oldest first.
#[utoipa::path(get, path = "/v1/onboarding-links/{id}/events", operation_id = "listOnboardingLinkEvents", tag = "onboarding links",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<Vec<AuditEvent>>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<Vec<AuditEvent>>>, ApiError> {
    let trail = audit_trail::<Link>(state.pool(), org, LinkId::from_uuid(id)).await?;
    Ok(Json(Data { data: trail }))
}
