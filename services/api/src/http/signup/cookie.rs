//! The signup cookie: the session nonce, for the link's pages only, never readable by scripts.
//! `SameSite=Lax` so that it also comes back with Meta's full-page redirect (a top-level GET from
//! another site), which `Strict` would drop.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use gangway_app::signup::{SignupSession, SESSION_LIFETIME};
use gangway_domain::LinkId;

const NAME: &str = "gangway_signup";

/// The nonce the browser sent, if any.
pub fn nonce(headers: &HeaderMap) -> Option<String> {
    crate::extract::cookie(headers, NAME)
}

/// Sets the session's cookie on the landing page; `Secure` when the public URL is https.
pub fn set(response: &mut Response, link: LinkId, session: &SignupSession, secure: bool) {
    let max_age = SESSION_LIFETIME.num_seconds();
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{NAME}={}; Path=/signup/{link}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        session.nonce
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; gangway_signup=abc_-123; other=1"),
        );
        assert_eq!(nonce(&headers).as_deref(), Some("abc_-123"));
        assert_eq!(nonce(&HeaderMap::new()), None);
    }
}
