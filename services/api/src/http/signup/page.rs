//! Rendering the hosted pages.

use super::contrast;
use super::text::{language_tag, text, Text};
use crate::state::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use gangway_domain::link::Link;
use gangway_domain::values::{ConnectionType, Language};
use minijinja::{context, Environment};
use serde_json::json;
use std::sync::LazyLock;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../../templates/base.html")),
        ("message.html", include_str!("../../../templates/message.html")),
        ("signup.html", include_str!("../../../templates/signup.html")),
        ("signup.js", include_str!("../../../templates/signup.js")),
    ] {
        env.add_template(name, source).expect("templates are valid");
    }
    env
});

fn render(name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    TEMPLATES.get_template(name)?.render(ctx)
}

/// A fresh script nonce for one response: 128 random bits, in characters HTML leaves alone.
fn script_nonce() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn origin(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

/// Only our own scripts, marked with this response's nonce, run; scripts they load (Meta's SDK
/// and what it loads) are trusted through `'strict-dynamic'`. `https:` and `'unsafe-inline'` are
/// ignored by browsers that know nonces and keep older ones working. Frames and requests may go
/// to Meta (or the configured sandbox); the page itself is never framed. The callback form may
/// post only to us, and browsers hold the callback's redirect to the same list, so the link's
/// own redirect URLs are on it.
fn content_security_policy(state: &AppState, link: &Link, nonce: &str) -> String {
    let meta: Vec<String> = [&state.meta.sdk_url, &state.meta.dialog_url]
        .into_iter()
        .filter_map(|url| origin(url))
        .chain(["https://*.facebook.com".into(), "https://*.facebook.net".into()])
        .collect();
    let meta = meta.join(" ");
    let form_targets: Vec<String> = [Some(state.config.public_url())]
        .into_iter()
        .chain([link.success_redirect(), link.failure_redirect()].map(|u| u.map(|u| u.as_str())))
        .flatten()
        .filter_map(origin)
        .collect();
    let form_targets = form_targets.join(" ");
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' https: 'unsafe-inline'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; connect-src 'self' {meta}; \
         frame-src {meta}; form-action 'self' {form_targets}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
}

/// A page response: never cached, never framed, never leaking the link's URL as a referrer to
/// another site. (`same-origin` rather than `no-referrer`: under `no-referrer` browsers send
/// `Origin: null` with the page's own callback POST, which the callback refuses.)
fn page(status: StatusCode, body: Result<String, minijinja::Error>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "a hosted page failed to render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Pages without scripts; the signup page replaces this with its own policy.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
             form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

/// The theme colour when a link sets none: Meta's blue, which white text on it reads against.
const DEFAULT_PRIMARY: &str = "#0866ff";

/// The link's branding, shared by every page of it, with text colours that stay readable on it.
fn theme(link: Option<&Link>) -> minijinja::Value {
    let theme = link.map(|l| &l.spec.theme);
    let primary = theme
        .and_then(|t| t.primary_color.as_ref())
        .map_or(DEFAULT_PRIMARY, |c| c.as_str());
    context! {
        primary_color => primary,
        on_primary => contrast::text_on(primary),
        primary_ink => contrast::ink_on_white(primary),
        background_image => theme.and_then(|t| t.background_image.as_ref()).map(|u| u.as_str()),
        logo_url => theme.and_then(|t| t.logo_url.as_ref()).map(|u| u.as_str()),
        company_name => company(link),
    }
}

fn company(link: Option<&Link>) -> Option<&str> {
    link.and_then(|l| l.spec.theme.company_name.as_deref())
}

fn language(link: Option<&Link>) -> Language {
    link.map(|l| l.spec.language).unwrap_or_default()
}

/// A page with one message: a refused link, a result, an error.
pub fn message(
    status: StatusCode,
    link: Option<&Link>,
    heading: &str,
    message: &str,
    code: &str,
) -> Response {
    let lang = language(link);
    let ctx = context! {
        ..theme(link),
        ..context! { lang => language_tag(lang), title => text(lang).title, heading, message, code },
    };
    page(status, render("message.html", ctx))
}

pub fn words(link: Option<&Link>) -> &'static Text {
    text(language(link))
}

/// Inline JSON for a `<script type="application/json">`: nothing in it can close the element.
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The landing page with the "Continue with Facebook" button.
pub fn signup(state: &AppState, link: &Link, signup_state: &str) -> Response {
    let meta = &state.meta;
    let t = words(Some(link));
    let allowed = &link.spec.allowed_connection_types;
    let base = format!("{}/signup/{}", state.config.public_url(), link.id);
    let mut setup = json!({});
    if link.spec.phone_provisioning.enabled {
        setup["phoneProvisioning"] = json!({ "countries": link.spec.phone_provisioning.countries });
    }
    let config = json!({
        "appId": meta.graph.app_id,
        "configId": meta.config_id,
        "version": meta.graph.api_version,
        "messageOrigins": meta.message_origins,
        "state": signup_state,
        "setup": setup,
        "text": { "waiting": t.waiting, "finishing": t.finishing, "popupClosed": t.popup_closed },
    });
    let fallback_url = url::Url::parse_with_params(
        &format!("{}/{}/dialog/oauth", meta.dialog_url, meta.graph.api_version),
        [
            ("client_id", meta.graph.app_id.as_str()),
            ("redirect_uri", &format!("{base}/return")),
            ("config_id", meta.config_id.as_str()),
            ("response_type", "code"),
            ("override_default_response_type", "true"),
            ("state", signup_state),
            (
                "extras",
                &json!({ "setup": setup, "sessionInfoVersion": "3" }).to_string(),
            ),
        ],
    )
    .map(String::from)
    .unwrap_or_default();
    let lang = language(Some(link));
    let nonce = script_nonce();
    let ctx = context! {
        ..theme(Some(link)),
        ..context! {
            nonce,
            lang => language_tag(lang),
            title => t.title,
            heading => t.heading(company(Some(link))),
            intro => t.intro(company(Some(link))),
            t,
            offer_dedicated => allowed.contains(&ConnectionType::Dedicated),
            offer_coexistence => allowed.contains(&ConnectionType::Coexistence),
            callback_url => format!("{base}/callback"),
            fallback_url,
            sdk_url => meta.sdk_url,
            config_json => script_json(&config),
        },
    };
    let mut response = page(StatusCode::OK, render("signup.html", ctx));
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(state, link, &nonce)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}
