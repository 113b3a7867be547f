//! Rendering console pages: server-side templates that work without scripts (the console's one
//! script only adds Copy buttons), with the hosted page's strict headers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use gangway_projections::queries::Cursor;
use minijinja::Environment;
use std::sync::LazyLock;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("../../templates/console/layout.html")),
        ("login.html", include_str!("../../templates/console/login.html")),
        (
            "overview.html",
            include_str!("../../templates/console/overview.html"),
        ),
        ("links.html", include_str!("../../templates/console/links.html")),
        ("link.html", include_str!("../../templates/console/link.html")),
        (
            "link_new.html",
            include_str!("../../templates/console/link_new.html"),
        ),
        (
            "api_keys.html",
            include_str!("../../templates/console/api_keys.html"),
        ),
        (
            "numbers.html",
            include_str!("../../templates/console/numbers.html"),
        ),
        (
            "webhooks.html",
            include_str!("../../templates/console/webhooks.html"),
        ),
        (
            "webhook.html",
            include_str!("../../templates/console/webhook.html"),
        ),
        (
            "webhook_secret.html",
            include_str!("../../templates/console/webhook_secret.html"),
        ),
        ("charts.html", include_str!("../../templates/console/charts.html")),
        ("ops.html", include_str!("../../templates/console/ops.html")),
        (
            "message.html",
            include_str!("../../templates/console/message.html"),
        ),
    ] {
        env.add_template(name, source)
            .expect("console templates are valid");
    }
    env
});

/// The only script is the console's own file (no inline script, nothing from elsewhere); forms
/// post only to the console; nothing frames it.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `name` rendered with `context`, with the console's headers, or a logged 500.
pub fn render(status: StatusCode, name: &str, context: minijinja::Value) -> Response {
    match TEMPLATES.get_template(name).and_then(|t| t.render(context)) {
        Ok(body) => with_headers((status, Html(body)).into_response()),
        Err(error) => internal_error(&error),
    }
}

pub fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A page with a title and one sentence, e.g. for a missing entity or a refused form.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render(status, "message.html", minijinja::context! { title, text })
}

pub fn not_found(what: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("No such {what} in your organization."),
    )
}

/// The answer to a form post without this session's token: another site's form, or a stale page.
pub fn csrf_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form did not come from your console session. Reload the page and try again.",
    )
}

pub fn internal_error(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "a console page failed");
    let body = (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; it has been logged",
    );
    with_headers(body.into_response())
}

/// The console's script: copy buttons (see `assets/console.js`). Pages work without it.
pub async fn script() -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/console.js"),
    )
        .into_response();
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Lists page by keyset: `?after=<cursor>` starts after the row a previous page ended with.
#[derive(serde::Deserialize)]
pub struct After {
    after: Option<String>,
}

impl After {
    pub fn cursor(&self) -> Option<Cursor> {
        self.after.as_deref().and_then(Cursor::decode)
    }
}

/// The URL of the page after one that ended with `last` (when more follow), keeping `filters`.
pub fn next_page(path: &str, filters: &[(&str, &str)], last: Option<Cursor>) -> Option<String> {
    let last = last?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in filters {
        query.append_pair(name, value);
    }
    query.append_pair("after", &last.encode());
    Some(format!("{path}?{}", query.finish()))
}
