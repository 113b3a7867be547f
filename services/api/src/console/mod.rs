//! The organization console at `/console` and the operator console at `/ops`: server-rendered
//! pages over the same application functions as the API, signed in with an API key (or the admin
//! token) exchanged for a session cookie. Every page works without scripts (one small script adds
//! copy buttons); every form carries the session's CSRF token.

mod api_keys;
mod auth;
mod links;
mod numbers;
mod ops;
mod overview;
mod page;
mod session;
mod webhooks;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview::overview))
        .route("/console/assets/console.js", get(page::script))
        .route("/console/login", get(auth::login_form).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/links", get(links::list).post(links::create))
        .route("/console/links/new", get(links::new_form))
        .route("/console/links/{id}", get(links::show))
        .route("/console/links/{id}/delete", post(links::delete))
        .route("/console/numbers", get(numbers::list))
        .route("/console/numbers/{id}/refresh", post(numbers::refresh))
        .route("/console/numbers/{id}/reconnect", post(numbers::reconnect))
        .route("/console/webhooks", get(webhooks::list))
        .route("/console/webhooks/{id}", get(webhooks::show))
        .route("/console/webhooks/{id}/recover", post(webhooks::recover))
        .route("/console/webhooks/{id}/{action}", post(webhooks::change))
        .route("/console/messages/{id}/retry", post(webhooks::retry))
        .route("/console/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/console/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/ops", get(ops::overview))
        .route(
            "/ops/login",
            get(auth::operator_login_form).post(auth::operator_login),
        )
        .route("/ops/logout", post(auth::operator_logout))
}
