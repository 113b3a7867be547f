//! Extractors that carry authentication, tenant scope and JSON parsing with our error shape.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use bytes::Bytes;
use gangway_app::api_keys::verify_api_key;
use gangway_app::keys;
use gangway_domain::{text, OrganizationId};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// A JSON body. Syntax errors answer 400; a value of the wrong type answers 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        parse_json(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// A JSON body that may also be left out (or be empty), meaning `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        // `null` is "no body" too, as the documents' `Option<…>` request bodies say.
        parse_json::<Option<T>>(&bytes).map(|body| OptionalJson(body.unwrap_or_default()))
    }
}

async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(state.config.max_body_bytes)
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                ApiError::validation(&path, strip_position(&inner))
            }
            serde_json::error::Category::Data => ApiError::validation("body", strip_position(&inner)),
            _ => ApiError::MalformedJson(format!("request body is not valid JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Text with U+0000 can never be stored: refused up front, naming the field (a dotted path for a
/// nested one), whatever the field is.
fn refuse_nul(json: &[u8]) -> Result<(), ApiError> {
    if !text::json_may_hold_nul(json) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return Ok(()); // not JSON: the parse says so
    };
    match text::nul_path(&value) {
        Some(field) => Err(ApiError::validation(&field, text::NUL_MESSAGE)),
        None => Ok(()),
    }
}

/// serde_json appends "at line 1 column 42"; the field name already says where.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The organization an API key belongs to. Every tenant query takes this.
#[derive(Clone, Copy, Debug)]
pub struct Tenant(pub OrganizationId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already authenticated for this request (by the Idempotency-Key layer).
        if let Some(tenant) = parts.extensions.get::<Tenant>() {
            return Ok(*tenant);
        }
        let key = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let presented = keys::hash(key);
        // Counted before the key is verified, so a flood of one key costs no database lookups.
        state
            .rate_limits
            .check(&presented)
            .map_err(ApiError::RateLimited)?;
        // The cache is keyed by the full hash, so a hit is an exact match of the presented key.
        if let Some(org) = state.verified_keys.get(&presented) {
            return Ok(Tenant(org));
        }
        let generation = state.verified_keys.generation();
        // Once per verification, so at most once a minute per key and process.
        let (key_id, org) = verify_api_key(state.pool(), key)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        state.verified_keys.insert(presented, org, key_id, generation);
        Ok(Tenant(org))
    }
}

/// The request's `Idempotency-Key`, when it sent one (see [`crate::idempotency`]).
pub struct Idempotent(pub Option<gangway_app::idempotency::IdempotencyKey>);

impl FromRequestParts<AppState> for Idempotent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Idempotent(parts.extensions.get().cloned()))
    }
}

/// The operator, authenticated with `GANGWAY_ADMIN_TOKEN`.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        // Digests have one length, so the comparison takes as long whatever the token's length.
        let (presented, expected) = (keys::hash(token), keys::hash(state.config.admin_token()));
        if bool::from(presented.ct_eq(&expected)) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// A path id. Anything that is not a UUID cannot name an entity, so it answers 404.
pub struct PathId(pub Uuid);

impl FromRequestParts<AppState> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("resource"))?;
        raw.parse()
            .map(PathId)
            .map_err(|_| ApiError::NotFound("resource"))
    }
}

/// Query parameters. A query string that cannot be read answers 422 in our error shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let with_nul =
            url::form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'));
        if let Some((name, _)) = with_nul {
            return Err(ApiError::validation(&name.replace('\0', ""), text::NUL_MESSAGE));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::validation("query", rejection.body_text()))
    }
}

/// The value of the cookie `name` in a request's headers, if it sent one.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.to_owned())
}
