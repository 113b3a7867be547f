//! `GET /en_US/sdk.js`: a stand-in for Facebook's JS SDK with `FB.init` and `FB.login`, whose
//! login opens the sandbox's dialog (assets/sdk.js).

use crate::Sandbox;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<Sandbox> {
    Router::new().route("/en_US/sdk.js", get(sdk))
}

/// Pages load the SDK with `crossorigin="anonymous"` (as Meta's snippet does), so like
/// connect.facebook.net it must allow any origin, or the browser refuses to run it.
async fn sdk() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        include_str!("assets/sdk.js"),
    )
}
