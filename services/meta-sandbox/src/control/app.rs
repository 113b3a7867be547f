//! `/sandbox/app/*`: change our app the way its owner could in the App Dashboard, to see what
//! `gangway doctor` says: reset the secret, or set or remove a webhook subscription as it is
//! (no verification, so it can be broken on purpose).

use super::MetaJson;
use crate::world::AppSubscription;
use crate::Sandbox;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<Sandbox> {
    Router::new()
        .route("/sandbox/app/secret", post(reset_secret))
        .route(
            "/sandbox/app/subscriptions/{object}",
            put(set_subscription).delete(remove_subscription),
        )
}

#[derive(Deserialize)]
struct NewSecret {
    secret: String,
}

/// The old secret and every app token issued with it stop working.
async fn reset_secret(State(sandbox): State<Sandbox>, MetaJson(body): MetaJson<NewSecret>) -> StatusCode {
    sandbox.world().app.reset_secret(body.secret);
    StatusCode::NO_CONTENT
}

async fn set_subscription(
    State(sandbox): State<Sandbox>,
    Path(object): Path<String>,
    MetaJson(subscription): MetaJson<AppSubscription>,
) -> StatusCode {
    sandbox.world().app.subscriptions.insert(object, subscription);
    StatusCode::NO_CONTENT
}

async fn remove_subscription(State(sandbox): State<Sandbox>, Path(object): Path<String>) -> StatusCode {
    match sandbox.world().app.subscriptions.remove(&object) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}
