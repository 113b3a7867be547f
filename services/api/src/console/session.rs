//! The consoles' cookies and the checks every console request goes through: a page needs a live
//! session (else the sign-in page), and a form post needs the session's CSRF token too.

use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use gangway_app::console_sessions::{
    find_operator_session, find_session, ConsoleSession, OperatorSession, SESSION_LIFETIME,
};
use gangway_app::keys;
use subtle::ConstantTimeEq;

/// A session cookie: its name and the paths it is sent to.
#[derive(Clone, Copy)]
pub struct Cookie {
    pub name: &'static str,
    pub path: &'static str,
}

pub const CONSOLE: Cookie = Cookie {
    name: "gangway_console",
    path: "/console",
};
pub const OPERATOR: Cookie = Cookie {
    name: "gangway_ops",
    path: "/ops",
};

pub use crate::extract::cookie as cookie_value;

/// Sets a cookie for `path` only, never readable by scripts, never sent with another site's
/// requests, `Secure` outside development.
pub fn set(response: &mut Response, name: &str, path: &str, value: &str, max_age: i64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Strict{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub fn start(response: &mut Response, cookie: Cookie, token: &str, secure: bool) {
    set(
        response,
        cookie.name,
        cookie.path,
        token,
        SESSION_LIFETIME.num_seconds(),
        secure,
    );
}

pub fn end(response: &mut Response, cookie: Cookie, secure: bool) {
    set(response, cookie.name, cookie.path, "", 0, secure);
}

fn sign_in_again(cookie: Cookie, ended: bool) -> Response {
    let query = if ended { "?ended=1" } else { "" };
    Redirect::to(&format!("{}/login{query}", cookie.path)).into_response()
}

/// A request from a signed-in console user.
pub struct SignedIn(pub ConsoleSession);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie_value(&parts.headers, CONSOLE.name) else {
            return Err(sign_in_again(CONSOLE, false));
        };
        match find_session(state.pool(), &token).await {
            Ok(Some(session)) => Ok(SignedIn(session)),
            Ok(None) => Err(sign_in_again(CONSOLE, true)),
            Err(error) => Err(super::page::internal_error(&error)),
        }
    }
}

impl SignedIn {
    /// Whether a form's `csrf` field is this session's token.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        tokens_match(&self.0.csrf_token, presented)
    }
}

/// Whether a presented form token is the expected one, compared in constant time.
pub fn tokens_match(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// A request from a signed-in operator, under the admin token the deployment has now.
pub struct Operator(pub OperatorSession);

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie_value(&parts.headers, OPERATOR.name) else {
            return Err(sign_in_again(OPERATOR, false));
        };
        let admin = keys::hash(state.config.admin_token());
        match find_operator_session(state.pool(), &token, &admin).await {
            Ok(Some(session)) => Ok(Operator(session)),
            Ok(None) => Err(sign_in_again(OPERATOR, true)),
            Err(error) => Err(super::page::internal_error(&error)),
        }
    }
}

/// A form post from a signed-in console user that carries the session's CSRF token (a `csrf`
/// field); any other post is refused with 403.
pub struct CheckedPost(pub ConsoleSession);

impl FromRequest<AppState> for CheckedPost {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let SignedIn(session) = SignedIn::from_request_parts(&mut parts, state).await?;
        check_csrf(Request::from_parts(parts, body), state, &session.csrf_token).await?;
        Ok(CheckedPost(session))
    }
}

/// The same for the operator console.
pub struct CheckedOperatorPost;

impl FromRequest<AppState> for CheckedOperatorPost {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Operator(session) = Operator::from_request_parts(&mut parts, state).await?;
        check_csrf(Request::from_parts(parts, body), state, &session.csrf_token).await?;
        Ok(CheckedOperatorPost)
    }
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Refuses (403) a form whose `csrf` field is not `expected`, or a body that is no form.
async fn check_csrf(request: Request, state: &AppState, expected: &str) -> Result<(), Response> {
    let presented = match axum::Form::<CsrfField>::from_request(request, state).await {
        Ok(axum::Form(form)) => form.csrf,
        Err(_) => String::new(),
    };
    if tokens_match(expected, &presented) {
        Ok(())
    } else {
        Err(super::page::csrf_refused())
    }
}
