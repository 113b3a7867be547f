//! The console's session cookie and the checks every console request goes through: a page needs
//! a live session (else the sign-in page), and a form post needs the session's CSRF token too.

use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use gangway_app::console_sessions::{find_session, ConsoleSession, SESSION_LIFETIME};
use subtle::ConstantTimeEq;

const COOKIE: &str = "gangway_console";

/// The session token the browser sent, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The cookie that carries `token`: for the console's paths only, never readable by scripts,
/// never sent with another site's requests, `Secure` outside development.
pub fn set_cookie(response: &mut Response, token: &str, secure: bool) {
    let max_age = SESSION_LIFETIME.num_seconds();
    append_cookie(response, &format!("{COOKIE}={token}; Max-Age={max_age}"), secure);
}

pub fn clear_cookie(response: &mut Response, secure: bool) {
    append_cookie(response, &format!("{COOKIE}=; Max-Age=0"), secure);
}

fn append_cookie(response: &mut Response, value: &str, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{value}; Path=/console; HttpOnly; SameSite=Strict{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A request from a signed-in console user. Without a live session, the page answers with the
/// sign-in page instead.
pub struct SignedIn(pub ConsoleSession);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = token(&parts.headers) else {
            return Err(Redirect::to("/console/login").into_response());
        };
        match find_session(state.pool(), &token).await {
            Ok(Some(session)) => Ok(SignedIn(session)),
            Ok(None) => Err(Redirect::to("/console/login?ended=1").into_response()),
            Err(error) => Err(super::page::internal_error(&error)),
        }
    }
}

impl SignedIn {
    /// Whether a form's `csrf` field is this session's token.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.0.csrf_token.as_bytes().ct_eq(presented.as_bytes()))
    }
}
