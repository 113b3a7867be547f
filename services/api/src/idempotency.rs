//! The `Idempotency-Key` header on `/v1` POSTs. A request carrying one is authenticated here,
//! hashed (method, path, body) and handed to its command, which claims the key in its own
//! transaction. Its answer is stored (sealed) after the commit; the same key with the same request
//! within 24 hours gets that answer again with `Idempotent-Replayed: true` and runs nothing, the
//! same key with another request gets 422 `idempotency_key_reused`.

use crate::error::ApiError;
use crate::extract::Tenant;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gangway_app::idempotency::{record, recorded, IdempotencyKey, Recorded};
use gangway_domain::FieldError;
use std::time::{Duration, Instant};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

/// How long a request waits for the answer of an earlier one with its key that has committed
/// but not yet stored its answer.
const PENDING_WAIT: Duration = Duration::from_secs(5);

/// Keys are what clients generate: a UUID or similar, printable ASCII.
pub const MAX_KEY_LEN: usize = 255;

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let applies = request.method() == Method::POST && request.uri().path().starts_with("/v1/");
    let Some(raw) = request.headers().get(HEADER).filter(|_| applies).cloned() else {
        return next.run(request).await;
    };
    match prepare(&state, request, &raw).await {
        Ok((request, key)) => answer(&state, request, key, next).await,
        Err(error) => error.into_response(),
    }
}

/// Checks the key, authenticates once for the handler, and reads the body to hash it.
async fn prepare(
    state: &AppState,
    request: Request,
    raw: &HeaderValue,
) -> Result<(Request, IdempotencyKey), ApiError> {
    let key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::Validation(FieldError::new(
                "Idempotency-Key",
                format!("must be 1-{MAX_KEY_LEN} printable ASCII characters without spaces"),
            ))
        })?
        .to_owned();
    let (mut parts, body) = request.into_parts();
    let Tenant(org) = Tenant::from_request_parts(&mut parts, state).await?;
    parts.extensions.insert(Tenant(org));
    let bytes = axum::body::to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(state.config.max_body_bytes))?;
    let path = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let key = IdempotencyKey::new(org, key, parts.method.as_str(), path, &bytes);
    parts.extensions.insert(key.clone());
    Ok((Request::from_parts(parts, Body::from(bytes)), key))
}

async fn answer(state: &AppState, request: Request, key: IdempotencyKey, next: Next) -> Response {
    match recorded(&state.app, &key).await {
        Ok(None) => {}
        Ok(Some(earlier)) => return replay(state, &key, earlier).await,
        Err(error) => return ApiError::from(error).into_response(),
    }
    // In a task of its own, so that a client hanging up (the reason to retry with a key) cannot
    // stop the request between its command's commit and the answer being stored.
    let running = tokio::spawn({
        let (state, key) = (state.clone(), key.clone());
        async move {
            let response = next.run(request).await;
            if !key.claimed() {
                return response;
            }
            let (parts, body) = response.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            // The answer of the request whose command took the key, whatever it is; nothing
            // is stored if that command did not commit.
            let text = String::from_utf8_lossy(&bytes);
            if let Err(error) = record(&state.app, &key, parts.status.as_u16(), &text).await {
                tracing::warn!(%error, "storing an idempotent answer failed");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    });
    let response = match running.await {
        Ok(response) => response,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if response.status().is_success() || key.claimed() {
        return response;
    }
    // The command did not run: perhaps because an earlier request holds the key.
    match recorded(&state.app, &key).await {
        Ok(Some(earlier)) => replay(state, &key, earlier).await,
        _ => response,
    }
}

/// The answer for a key already on record: the stored one, once stored.
async fn replay(state: &AppState, key: &IdempotencyKey, mut earlier: Recorded) -> Response {
    let deadline = Instant::now() + PENDING_WAIT;
    let mut pause = Duration::from_millis(5);
    while earlier == Recorded::Pending && Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
        earlier = match recorded(&state.app, key).await {
            Ok(Some(now)) => now,
            Ok(None) => Recorded::Pending,
            Err(error) => return ApiError::from(error).into_response(),
        };
    }
    match earlier {
        Recorded::Answer { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(REPLAYED, HeaderValue::from_static("true"));
            response
        }
        Recorded::OtherRequest => ApiError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used with another request; use a new key".into(),
        }
        .into_response(),
        Recorded::Pending => ApiError::Conflict {
            code: "idempotency_key_in_use",
            message: "a request with this Idempotency-Key is still in progress; retry shortly".into(),
        }
        .into_response(),
    }
}
