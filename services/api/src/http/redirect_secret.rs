//! `/v1/redirect-secret`: the secret that signs redirects back to the organization's pages, so its
//! frontend can trust `?status=success&…` (see the README's "Signed redirects").

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Idempotent, OptionalJson, Tenant};
use crate::http::webhooks::request::RotateSecretRequest;
use crate::http::webhooks::response::SecretResponse;
use crate::http::Data;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use gangway_app::redirects::{redirect_secrets, rotate_redirect_secret};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/redirect-secret", get(show))
        .route("/v1/redirect-secret/rotate", post(rotate))
}

/// The secret that signs redirects back to your pages (the `signature` parameter), and during a
/// rotation's grace period the one it replaces. Issued on first use.
#[utoipa::path(get, path = "/v1/redirect-secret", operation_id = "getRedirectSecret", tag = "redirects",
    responses((status = 200, body = Data<SecretResponse>), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Tenant(org): Tenant,
) -> Result<Json<Data<SecretResponse>>, ApiError> {
    let secrets = redirect_secrets(&state.app, org).await?;
    Ok(Json(Data { data: secrets.into() }))
}

/// Replace the redirect secret (given, or generated). The previous one keeps signing beside it
/// for `gracePeriodSeconds` (default 24 hours).
#[utoipa::path(post, path = "/v1/redirect-secret/rotate", operation_id = "rotateRedirectSecret", tag = "redirects",
    request_body(content = Option<RotateSecretRequest>),
    responses(
        (status = 200, body = Data<SecretResponse>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    Tenant(org): Tenant,
    Idempotent(idempotency): Idempotent,
    OptionalJson(body): OptionalJson<RotateSecretRequest>,
) -> Result<Json<Data<SecretResponse>>, ApiError> {
    let (secret, grace) = body.validate()?;
    let secrets = rotate_redirect_secret(&state.app, org, secret, grace, idempotency.as_ref()).await?;
    Ok(Json(Data { data: secrets.into() }))
}
