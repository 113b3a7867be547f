//! `/v1/phones`: the numbers an organization has connected.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, PathId, Tenant};
use crate::http::{AuditEvent, Data, ListQuery, Paginated};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gangway_app::load;
use gangway_app::views::audit_trail;
use gangway_domain::phone::{Phone, PhoneStatus};
use gangway_domain::{CustomerId, PhoneId, WabaId};
use gangway_projections::queries::{list_phones, PhoneFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/phones", get(list))
        .route("/v1/phones/{id}", get(show))
        .route("/v1/phones/{id}/events", get(events))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneResponse {
    pub id: Uuid,
    /// connected or disconnected.
    pub status: &'static str,
    /// E.164.
    pub phone_number: String,
    /// Meta's phone number id.
    pub meta_phone_number_id: String,
    pub verified_name: Option<String>,
    /// Gangway's id of the WhatsApp Business Account.
    pub waba_id: Uuid,
    /// Meta's id of the WhatsApp Business Account.
    pub meta_waba_id: String,
    pub business_id: Option<String>,
    /// dedicated or coexistence.
    pub connection_type: &'static str,
    pub is_registered: bool,
    /// Coexistence: Meta's request ids of the Business-app data syncs (contacts, history).
    pub sync_request_ids: Vec<String>,
    pub customer_id: Option<Uuid>,
    pub external_id: Option<String>,
    /// The link that connected (or last reconnected) the number.
    pub onboarding_link_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reconnected_at: Option<DateTime<Utc>>,
    /// Why the number is disconnected, while it is.
    pub disconnection: Option<DisconnectionResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectionResponse {
    /// partner_removed, app_uninstalled, account_deleted, account_disabled, token_invalid or
    /// connected_elsewhere.
    pub reason: &'static str,
    /// Meta's words, e.g. ACCOUNT_DISCONNECTED, or what the health check found.
    pub detail: Option<String>,
    /// USER or SYSTEM, when Meta says.
    pub initiated_by: Option<String>,
    pub disconnected_at: Option<DateTime<Utc>>,
}

impl DisconnectionResponse {
    pub fn of(phone: &Phone) -> Option<Self> {
        phone.disconnection.as_ref().map(|d| Self {
            reason: d.reason.as_str(),
            detail: d.detail.clone(),
            initiated_by: d.initiated_by.clone(),
            disconnected_at: phone.disconnected_at,
        })
    }
}

impl From<&Phone> for PhoneResponse {
    fn from(phone: &Phone) -> Self {
        let d = &phone.details;
        Self {
            id: phone.id.as_uuid(),
            status: phone.status.as_str(),
            phone_number: d.phone_number.clone(),
            meta_phone_number_id: d.phone_number_id.clone(),
            verified_name: d.verified_name.clone(),
            waba_id: d.waba_id.as_uuid(),
            meta_waba_id: d.meta_waba_id.clone(),
            business_id: d.business_id.clone(),
            connection_type: match d.connection_type {
                gangway_domain::values::ConnectionType::Dedicated => "dedicated",
                gangway_domain::values::ConnectionType::Coexistence => "coexistence",
            },
            is_registered: d.is_registered,
            sync_request_ids: d.sync_request_ids.clone(),
            customer_id: d.customer_id.map(|c| c.as_uuid()),
            external_id: d.external_id.clone(),
            onboarding_link_id: d.onboarding_link_id.as_uuid(),
            created_at: phone.created_at,
            updated_at: phone.updated_at,
            reconnected_at: phone.reconnected_at,
            disconnection: DisconnectionResponse::of(phone),
        }
    }
}

/// Get one phone number (always current: read from its event stream).
#[utoipa::path(get, path = "/v1/phones/{id}", operation_id = "getPhone", tag = "phones",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<PhoneResponse>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<PhoneResponse>>, ApiError> {
    let phone = load::<Phone>(state.pool(), org, PhoneId::from_uuid(id))
        .await?
        .ok_or(ApiError::NotFound("phone number"))?;
    Ok(Json(Data {
        data: PhoneResponse::from(&phone.state),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PhoneListFilter {
    /// connected or disconnected.
    pub status: Option<String>,
    pub customer_id: Option<String>,
    /// Gangway's WABA id.
    pub waba_id: Option<String>,
}

fn uuid_field(name: &str, raw: Option<String>) -> Result<Option<Uuid>, ApiError> {
    raw.map(|r| {
        r.trim()
            .parse()
            .map_err(|_| ApiError::validation(name, "must be a UUID"))
    })
    .transpose()
}

/// List phone numbers, newest first (from the read model: eventually consistent).
#[utoipa::path(get, path = "/v1/phones", operation_id = "listPhones", tag = "phones",
    params(ListQuery, PhoneListFilter),
    responses((status = 200, body = Paginated<PhoneResponse>), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    ApiQuery(paging): ApiQuery<ListQuery>,
    ApiQuery(filter): ApiQuery<PhoneListFilter>,
) -> Result<Json<Paginated<PhoneResponse>>, ApiError> {
    let page = paging.validate()?;
    let status = filter
        .status
        .as_deref()
        .map(PhoneStatus::parse)
        .transpose()
        .map_err(|message| ApiError::validation("status", message))?;
    let filter = PhoneFilter {
        status,
        customer_id: uuid_field("customerId", filter.customer_id)?.map(CustomerId::from_uuid),
        waba_id: uuid_field("wabaId", filter.waba_id)?.map(WabaId::from_uuid),
    };
    let (phones, total) = list_phones(state.pool(), org, &filter, page).await?;
    let data = phones.iter().map(PhoneResponse::from).collect();
    Ok(Json(Paginated::new(data, page, total)))
}

/// A phone number's audit trail: every event of its stream, oldest first.
#[utoipa::path(get, path = "/v1/phones/{id}/events", operation_id = "listPhoneEvents", tag = "phones",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Data<Vec<AuditEvent>>), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
) -> Result<Json<Data<Vec<AuditEvent>>>, ApiError> {
    let trail = audit_trail::<Phone>(state.pool(), org, PhoneId::from_uuid(id)).await?;
    Ok(Json(Data { data: trail }))
}
