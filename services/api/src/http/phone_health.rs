//! `GET /v1/phones/{id}/health`: whether a number works, as the health monitor last saw it, or
//! as Meta says right now with `?refresh=true`.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, PathId, Tenant};
use crate::http::phones::DisconnectionResponse;
use crate::http::Data;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gangway_app::health::{last_check, refresh_phone, CheckOutcome};
use gangway_app::load;
use gangway_domain::phone::Phone;
use gangway_domain::phone_health::TokenStatus;
use gangway_domain::PhoneId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/phones/{id}/health", get(health))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// `null` until the number has been checked.
    pub can_send_messages: Option<bool>,
    pub can_receive_messages: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    pub phone_number_id: Uuid,
    /// connected or disconnected.
    pub status: &'static str,
    /// healthy, degraded, down, or unknown before the first check.
    pub token_status: &'static str,
    /// Why the token is degraded or down.
    pub token_problem: Option<String>,
    pub capabilities: Capabilities,
    /// Meta's `health_status` of the number (`can_send_message`, `entities`, errors).
    #[schema(value_type = Option<Object>)]
    pub health_status: Option<serde_json::Value>,
    /// GREEN, YELLOW, RED or UNKNOWN.
    pub quality_rating: Option<String>,
    /// Meta's messaging limit tier, from its last quality update.
    pub messaging_limit: Option<String>,
    pub disconnection: Option<DisconnectionResponse>,
    /// When the health last changed.
    pub changed_at: Option<DateTime<Utc>>,
    /// When the monitor last asked Meta (most checks change nothing).
    pub checked_at: Option<DateTime<Utc>>,
    /// What the last check could not find out (Meta unreachable, throttled).
    pub last_check_error: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// `true`: ask Meta now instead of answering from the last check.
    pub refresh: Option<String>,
}

/// A number's health: token status, capabilities and Meta's health status.
#[utoipa::path(get, path = "/v1/phones/{id}/health", operation_id = "getPhoneHealth", tag = "phones",
    params(("id" = uuid::Uuid, Path), HealthQuery),
    responses((status = 200, body = Data<HealthResponse>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn health(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    PathId(id): PathId,
    ApiQuery(query): ApiQuery<HealthQuery>,
) -> Result<Json<Data<HealthResponse>>, ApiError> {
    let id = PhoneId::from_uuid(id);
    let refresh = match query.refresh.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::validation("refresh", "must be true or false")),
    };
    if refresh {
        let every = std::time::Duration::from_secs(state.config.health_refresh_seconds);
        if let Some(CheckOutcome::Inconclusive(why)) = refresh_phone(&state.app, org, id, every).await? {
            return Err(ApiError::Unavailable(format!("Meta could not be asked: {why}")));
        }
    }
    let phone = load::<Phone>(state.pool(), org, id)
        .await?
        .ok_or(ApiError::NotFound("phone number"))?
        .state;
    let check = last_check(&state.app, id).await?;
    Ok(Json(Data {
        data: response(&phone, check),
    }))
}

pub(crate) fn response(phone: &Phone, check: Option<(DateTime<Utc>, Option<String>)>) -> HealthResponse {
    let health = phone.health.as_ref();
    let connected = phone.is_connected();
    let capability = |known: fn(&gangway_domain::phone_health::PhoneHealth) -> bool| match health {
        _ if !connected => Some(false),
        Some(h) => Some(known(h)),
        None => None,
    };
    let (checked_at, last_check_error) = check.unzip();
    HealthResponse {
        phone_number_id: phone.id.as_uuid(),
        status: if connected { "connected" } else { "disconnected" },
        token_status: match health.map(|h| h.token_status) {
            Some(TokenStatus::Healthy) => "healthy",
            Some(TokenStatus::Degraded) => "degraded",
            Some(TokenStatus::Down) => "down",
            None => "unknown",
        },
        token_problem: health.and_then(|h| h.token_problem.clone()),
        capabilities: Capabilities {
            can_send_messages: capability(|h| h.can_send_messages),
            can_receive_messages: capability(|h| h.can_receive_messages),
        },
        health_status: health.and_then(|h| h.meta_health_status.clone()),
        quality_rating: health.and_then(|h| h.quality_rating.clone()),
        messaging_limit: phone.messaging_limit.clone(),
        disconnection: DisconnectionResponse::of(phone),
        changed_at: phone.health_changed_at,
        checked_at,
        last_check_error: last_check_error.flatten(),
    }
}
