//! `/sandbox/phones`: numbers a person adds in the signup dialog, and the state the dialog leaves
//! a number in (verified or not, registered elsewhere or not).

use super::MetaJson;
use crate::graph::graph_error;
use crate::world::{NewPhoneError, PhoneStateChange};
use crate::Sandbox;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<Sandbox> {
    Router::new()
        .route("/sandbox/phones", post(add_phone))
        .route("/sandbox/phones/{id}/state", post(set_state))
}

#[derive(Deserialize)]
struct NewPhone {
    waba_id: String,
    country: String,
}

async fn add_phone(State(sandbox): State<Sandbox>, MetaJson(body): MetaJson<NewPhone>) -> Response {
    let country = body.country.trim().to_ascii_uppercase();
    match sandbox.world().add_new_phone(&body.waba_id, &country) {
        Ok(phone) => (StatusCode::CREATED, Json(phone)).into_response(),
        Err(NewPhoneError::UnknownWaba) => graph_error(400, 100, Some(33), "Unknown waba_id"),
        Err(NewPhoneError::UnknownCountry) => graph_error(
            400,
            100,
            None,
            "(#100) Param country must be an ISO 3166-1 alpha-2 country code",
        ),
    }
}

async fn set_state(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    MetaJson(change): MetaJson<PhoneStateChange>,
) -> Response {
    match sandbox.world().set_phone_state(&id, change) {
        Some(phone) => Json(phone).into_response(),
        None => graph_error(400, 100, Some(33), "Unknown phone number id"),
    }
}
