//! `/healthz` (the process runs) and `/readyz` (it projects every stream: no dead letter waits).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use gangway_dead_letters::DeadLetters;
use serde_json::{json, Value};

pub fn routes(dead_letters: DeadLetters) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .with_state(dead_letters)
}

/// 503 `degraded` while a dead letter (or an event held behind one) is unresolved: some stream's
/// read models are stale until `gangway dead-letters retry`.
async fn readyz(State(dead_letters): State<DeadLetters>) -> (StatusCode, Json<Value>) {
    match dead_letters.unresolved().await {
        Ok(0) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(count) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "degraded", "deadLetters": count })),
        ),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": format!("database: {error}") })),
        ),
    }
}
