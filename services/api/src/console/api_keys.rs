//! The console's API keys: list, issue (the key shown once), revoke.

use super::page::{csrf_refused, internal_error, not_found, render};
use super::session::{CheckedPost, SignedIn};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use gangway_app::api_keys::{issue_api_key, list_api_keys, revoke_api_key};
use gangway_domain::values::bounded_text;
use gangway_domain::ApiKeyId;
use minijinja::context;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize)]
pub struct NewKeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// The keys page, with a key just issued or the error of a refused form, if any.
async fn with_keys(
    state: &AppState,
    user: &SignedIn,
    issued: Option<String>,
    error: Option<String>,
) -> Response {
    let keys = match list_api_keys(state.pool(), user.0.organization).await {
        Ok(keys) => keys,
        Err(error) => return internal_error(&error),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        "api_keys.html",
        context! {
            title => "API keys", section => "api-keys", csrf => user.0.csrf_token,
            keys, current => user.0.api_key.as_uuid(), issued, error,
        },
    )
}

pub async fn list(State(state): State<AppState>, user: SignedIn) -> Response {
    with_keys(&state, &user, None, None).await
}

pub async fn create(State(state): State<AppState>, user: SignedIn, Form(form): Form<NewKeyForm>) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return csrf_refused();
    }
    let name = match bounded_text(&form.name, 100) {
        Ok(name) => name,
        Err(message) => return with_keys(&state, &user, None, Some(format!("name: {message}"))).await,
    };
    match issue_api_key(&state.app.store, user.0.organization, name, None).await {
        Ok(issued) => with_keys(&state, &user, Some(issued.key), None).await,
        Err(error) => internal_error(&error),
    }
}

pub async fn revoke(State(state): State<AppState>, Path(raw): Path<String>, user: CheckedPost) -> Response {
    let Ok(id) = raw.parse::<Uuid>() else {
        return not_found("API key");
    };
    match revoke_api_key(&state.app.store, user.0.organization, ApiKeyId::from_uuid(id))
        .await
        .map_err(ApiError::from)
    {
        Ok(()) => Redirect::to("/console/api-keys").into_response(),
        Err(ApiError::NotFound(_)) => not_found("API key"),
        Err(error) => internal_error(&error),
    }
}
