//! Signing in to either console and signing out: the organization console with an API key, the
//! operator console with the admin token. The sign-in form carries a token that must match a
//! cookie set with the form (double submit), so another site cannot sign a browser in to an
//! account of its choosing.

use super::page::{csrf_refused, internal_error, render, with_headers};
use super::session::{
    cookie_value, end, set, start, tokens_match, CheckedOperatorPost, CheckedPost, Cookie, CONSOLE, OPERATOR,
};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use gangway_app::console_sessions::{sign_in, sign_in_operator, sign_out, sign_out_operator};
use gangway_app::keys;
use minijinja::context;
use serde::Deserialize;
use subtle::ConstantTimeEq;

const LOGIN_COOKIE: &str = "gangway_login";

#[derive(Deserialize)]
pub struct LoginQuery {
    ended: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    credential: String,
}

pub fn secure(state: &AppState) -> bool {
    !state.config.environment.is_development()
}

/// Which console a sign-in is for, and how its form reads.
struct Door {
    cookie: Cookie,
    heading: &'static str,
    field: &'static str,
    field_label: &'static str,
    refused: &'static str,
}

const CONSOLE_DOOR: Door = Door {
    cookie: CONSOLE,
    heading: "Sign in to the Gangway console",
    field: "api_key",
    field_label: "API key",
    refused: "That API key does not work: it is unknown or revoked.",
};

const OPERATOR_DOOR: Door = Door {
    cookie: OPERATOR,
    heading: "Sign in to the Gangway operator console",
    field: "admin_token",
    field_label: "Admin token (GANGWAY_ADMIN_TOKEN)",
    refused: "That is not this deployment's admin token.",
};

/// The sign-in form, with a fresh form token in the page and in its cookie.
fn login_page(
    state: &AppState,
    door: &Door,
    status: StatusCode,
    ended: bool,
    error: Option<&str>,
) -> Response {
    let login_csrf = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let action = format!("{}/login", door.cookie.path);
    let mut response = render(
        status,
        "login.html",
        context! {
            title => "Sign in", heading => door.heading, field => door.field,
            field_label => door.field_label, action, login_csrf, ended, error,
        },
    );
    set(
        &mut response,
        LOGIN_COOKIE,
        &format!("{}/login", door.cookie.path),
        &login_csrf,
        3600,
        secure(state),
    );
    response
}

fn login_token_matches(headers: &HeaderMap, presented: &str) -> bool {
    tokens_match(
        &cookie_value(headers, LOGIN_COOKIE).unwrap_or_default(),
        presented,
    )
}

fn signed_in(state: &AppState, door: &Door, token: &str) -> Response {
    let mut response = Redirect::to(door.cookie.path).into_response();
    start(&mut response, door.cookie, token, secure(state));
    with_headers(response)
}

pub async fn login_form(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    login_page(&state, &CONSOLE_DOOR, StatusCode::OK, query.ended.is_some(), None)
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !login_token_matches(&headers, &form.csrf) {
        return csrf_refused();
    }
    match sign_in(state.pool(), form.credential.trim()).await {
        Ok(Some((token, _))) => signed_in(&state, &CONSOLE_DOOR, &token),
        Ok(None) => login_page(
            &state,
            &CONSOLE_DOOR,
            StatusCode::UNAUTHORIZED,
            false,
            Some(CONSOLE_DOOR.refused),
        ),
        Err(error) => internal_error(&error),
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, _: CheckedPost) -> Response {
    if let Some(token) = cookie_value(&headers, CONSOLE.name) {
        if let Err(error) = sign_out(state.pool(), &token).await {
            return internal_error(&error);
        }
    }
    let mut response = Redirect::to("/console/login").into_response();
    end(&mut response, CONSOLE, secure(&state));
    response
}

pub async fn operator_login_form(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    login_page(
        &state,
        &OPERATOR_DOOR,
        StatusCode::OK,
        query.ended.is_some(),
        None,
    )
}

pub async fn operator_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !login_token_matches(&headers, &form.csrf) {
        return csrf_refused();
    }
    // Digests have one length, so the comparison takes as long whatever the token's length.
    let expected = keys::hash(state.config.admin_token());
    if !bool::from(keys::hash(form.credential.trim()).ct_eq(&expected)) {
        return login_page(
            &state,
            &OPERATOR_DOOR,
            StatusCode::UNAUTHORIZED,
            false,
            Some(OPERATOR_DOOR.refused),
        );
    }
    match sign_in_operator(state.pool(), &expected).await {
        Ok((token, _)) => signed_in(&state, &OPERATOR_DOOR, &token),
        Err(error) => internal_error(&error),
    }
}

pub async fn operator_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: CheckedOperatorPost,
) -> Response {
    if let Some(token) = cookie_value(&headers, OPERATOR.name) {
        if let Err(error) = sign_out_operator(state.pool(), &token).await {
            return internal_error(&error);
        }
    }
    let mut response = Redirect::to("/ops/login").into_response();
    end(&mut response, OPERATOR, secure(&state));
    response
}
