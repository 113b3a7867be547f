use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    postgres: &'static str,
    nats: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "getLiveness", tag = "health", responses((status = 200)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: Postgres answers and NATS is connected.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let postgres_ok = sqlx::query("SELECT 1").execute(state.pool()).await.is_ok();
    let nats_ok = state.bus.client().connection_state() == async_nats::connection::State::Connected;
    let label = |ok: bool| if ok { "ok" } else { "unavailable" };
    let ready = postgres_ok && nats_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: if ready { "ready" } else { "not_ready" },
        postgres: label(postgres_ok),
        nats: label(nats_ok),
    };
    (status, Json(body))
}
