//! `/meta/webhooks`: the callback URL configured in the Meta app. `GET` answers Meta's
//! verification challenge; `POST` takes notifications signed with the app secret.

use crate::error::ApiError;
use crate::message_outbox::MessageStream;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gangway_app::phones::{apply_meta_change, MetaChange};
use gangway_domain::text;
use gangway_meta_graph::inbound::{verify_signature, Notification};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

/// Meta batches changes; history syncs in particular are large.
const MAX_NOTIFICATION_BYTES: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/meta/webhooks", get(verify).post(receive))
        .layer(DefaultBodyLimit::max(MAX_NOTIFICATION_BYTES))
}

#[derive(Deserialize)]
struct Challenge {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription check: echo `hub.challenge` when the mode and token are right.
async fn verify(State(state): State<AppState>, Query(query): Query<Challenge>) -> Response {
    let Some(expected) = &state.meta.webhook_verify_token else {
        tracing::warn!(
            "Meta tried to verify the webhook URL but GANGWAY_META_WEBHOOK_VERIFY_TOKEN is not set"
        );
        return refused("hub.verify_token", "no webhook verify token is configured");
    };
    if query.mode.as_deref() != Some("subscribe") {
        return refused("hub.mode", "hub.mode must be subscribe");
    }
    let given = query.verify_token.unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes())) {
        return refused("hub.verify_token", "hub.verify_token does not match");
    }
    match query.challenge {
        Some(challenge) => challenge.into_response(),
        None => ApiError::validation("hub.challenge", "hub.challenge is required").into_response(),
    }
}

fn refused(field: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": "forbidden", "message": message, "field": field } });
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// A notification: only with a valid `X-Hub-Signature-256` over the exact bytes. Each change is
/// applied at most once; a failure answers 503 so Meta delivers the notification again.
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if let Err(problem) = verify_signature(&state.meta.graph.app_secret, &body, signature) {
        tracing::warn!(%problem, "Meta webhook refused");
        let body = json!({ "error": {
            "code": "invalid_signature",
            "message": problem.to_string(),
            "field": "X-Hub-Signature-256",
        } });
        return Ok((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    let notification = read_notification(&body)
        .map_err(|e| ApiError::MalformedJson(format!("not a Meta webhook notification: {e}")))?;
    if notification.object != "whatsapp_business_account" {
        tracing::info!(object = %notification.object, "Meta webhook for another product ignored");
        return Ok(Json(json!({ "received": 0, "applied": 0 })).into_response());
    }
    let outbox = MessageStream(&state.bus);
    let (mut received, mut applied) = (0, 0);
    for entry in &notification.entry {
        for change in &entry.changes {
            received += 1;
            let change = MetaChange {
                entry_id: &entry.id,
                entry_time: entry.time,
                field: &change.field,
                value: &change.value,
                update: gangway_meta_graph::inbound::read_change(&entry.id, change),
            };
            applied += apply_meta_change(&state.app, &change, &outbox).await?;
        }
    }
    Ok(Json(json!({ "received": received, "applied": applied })).into_response())
}

/// The notification, with any U+0000 in its texts replaced (Postgres cannot store it): refusing
/// it would only make Meta send it again forever, and hold back the other changes it carries.
fn read_notification(body: &[u8]) -> Result<Notification, serde_json::Error> {
    if !text::json_may_hold_nul(body) {
        return serde_json::from_slice(body);
    }
    let mut value: serde_json::Value = serde_json::from_slice(body)?;
    text::replace_nul(&mut value);
    serde_json::from_value(value)
}
