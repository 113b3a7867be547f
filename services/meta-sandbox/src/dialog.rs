//! `GET /{version}/dialog/oauth`: the Embedded Signup dialog, as a popup opened by the sandbox SDK
//! (`display=popup`) or as a full page that ends by navigating to `redirect_uri`. The page itself
//! (assets/dialog.html, assets/dialog.js) drives the sandbox through `/sandbox/*`.

use crate::graph::is_version;
use crate::Sandbox;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::sync::OnceLock;

pub fn router() -> Router<Sandbox> {
    Router::new().route("/{version}/dialog/oauth", get(dialog))
}

#[derive(Deserialize)]
struct DialogParams {
    client_id: Option<String>,
    display: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

async fn dialog(
    State(sandbox): State<Sandbox>,
    Path(version): Path<String>,
    Query(params): Query<DialogParams>,
) -> Response {
    if !is_version(&version) {
        return error_page("Unknown API version.");
    }
    if params.client_id.as_deref() != Some(sandbox.config.app_id.as_str()) {
        return error_page("Invalid App ID: the client_id is not the sandbox's app.");
    }
    if params.display.as_deref() != Some("popup") {
        let redirect_ok = params
            .redirect_uri
            .as_deref()
            .and_then(|uri| url::Url::parse(uri).ok())
            .is_some_and(|uri| matches!(uri.scheme(), "http" | "https"));
        if !redirect_ok {
            return error_page("URL blocked: redirect_uri must be an absolute http(s) URL.");
        }
        if params.state.is_none() {
            return error_page("The full-page dialog needs a state parameter.");
        }
    }
    Html(page()).into_response()
}

fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        include_str!("assets/dialog.html").replace("/* dialog.js */", include_str!("assets/dialog.js"))
    })
}

/// Meta shows a plain error page, not the dialog, when the request itself is wrong. The messages
/// are fixed text: nothing from the request is echoed into the page.
fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>\
         <body><h1>Sorry, something went wrong.</h1><p id=\"error\">{message}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}
