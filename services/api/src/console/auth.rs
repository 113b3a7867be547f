//! Signing in with an API key and signing out. The sign-in form carries a token that must match
//! a cookie set with the form (double submit), so another site cannot sign a browser in to an
//! account of its choosing.

use super::page::{csrf_refused, internal_error, render};
use super::session::{clear_cookie, set_cookie, token, SignedIn};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use gangway_app::console_sessions::{sign_in, sign_out};
use minijinja::context;
use serde::Deserialize;
use subtle::ConstantTimeEq;

const LOGIN_COOKIE: &str = "gangway_console_login";

#[derive(Deserialize)]
pub struct LoginQuery {
    ended: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    api_key: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

fn secure(state: &AppState) -> bool {
    !state.config.environment.is_development()
}

/// The sign-in form, with a fresh form token in the page and in its cookie.
fn login_page(state: &AppState, status: StatusCode, ended: bool, error: Option<&str>) -> Response {
    let login_csrf = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let mut response = render(
        status,
        "login.html",
        context! { title => "Sign in", login_csrf, ended, error },
    );
    let secure = if secure(state) { "; Secure" } else { "" };
    let cookie = format!(
        "{LOGIN_COOKIE}={login_csrf}; Path=/console/login; Max-Age=3600; HttpOnly; SameSite=Strict{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn login_form(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    login_page(&state, StatusCode::OK, query.ended.is_some(), None)
}

fn login_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LOGIN_COOKIE)
        .map(|(_, value)| value.to_owned())
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = login_cookie(&headers).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return csrf_refused();
    }
    match sign_in(state.pool(), form.api_key.trim()).await {
        Ok(Some((token, _))) => {
            let mut response = Redirect::to("/console").into_response();
            set_cookie(&mut response, &token, secure(&state));
            super::page::with_headers(response)
        }
        Ok(None) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            false,
            Some("That API key does not work: it is unknown or revoked."),
        ),
        Err(error) => internal_error(&error),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return csrf_refused();
    }
    if let Some(token) = token(&headers) {
        if let Err(error) = sign_out(state.pool(), &token).await {
            return internal_error(&error);
        }
    }
    let mut response = Redirect::to("/console/login").into_response();
    clear_cookie(&mut response, secure(&state));
    response
}
