//! The console's webhooks: endpoints with their state, and an endpoint's deliveries with every
//! attempt (status code, latency, response excerpt), each failed one retried in one click.

use super::page::{internal_error, not_found, render};
use super::session::{CheckedPost, SignedIn};
use crate::error::ApiError;
use crate::http::webhooks::response::EndpointResponse;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gangway_app::delivery_log::{
    attempts_by_message, list_messages, retry_message, AttemptView, MessageView,
};
use gangway_app::load;
use gangway_app::webhooks::{change_endpoint, EndpointChange};
use gangway_bus::Wake;
use gangway_domain::webhook::{Endpoint, EndpointStatus, DEFAULT_ROTATION_GRACE};
use gangway_domain::{EndpointId, MessageId};
use gangway_projections::queries::{list_endpoints, EndpointFilter, Page};
use minijinja::context;
use serde::Serialize;
use uuid::Uuid;

/// Deliveries shown on an endpoint's page, newest first.
const MESSAGES_SHOWN: i64 = 50;

pub async fn list(State(state): State<AppState>, user: SignedIn) -> Response {
    let page = Page { page: 1, limit: 100 };
    let endpoints = match list_endpoints(
        state.pool(),
        user.0.organization,
        &EndpointFilter::default(),
        page,
    )
    .await
    {
        Ok((endpoints, _)) => endpoints,
        Err(error) => return internal_error(&error),
    };
    let now = Utc::now();
    let endpoints: Vec<EndpointResponse> = endpoints.iter().map(|e| EndpointResponse::new(e, now)).collect();
    render(
        StatusCode::OK,
        "webhooks.html",
        context! { title => "Webhooks", section => "webhooks", csrf => user.0.csrf_token, endpoints },
    )
}

#[derive(Serialize)]
struct Delivery {
    message: MessageView,
    attempts: Vec<AttemptView>,
}

pub async fn show(State(state): State<AppState>, user: SignedIn, Path(raw): Path<String>) -> Response {
    let org = user.0.organization;
    let Some(id) = raw.parse::<Uuid>().ok().map(EndpointId::from_uuid) else {
        return not_found("webhook endpoint");
    };
    let endpoint = match load::<Endpoint>(state.pool(), org, id).await {
        Ok(Some(e)) if e.state.status != EndpointStatus::Deleted => e.state,
        Ok(_) => return not_found("webhook endpoint"),
        Err(error) => return internal_error(&error),
    };
    let messages = match list_messages(&state.app, org, id, None, (MESSAGES_SHOWN, 0)).await {
        Ok((messages, _)) => messages,
        Err(error) => return internal_error(&error),
    };
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let mut attempts = match attempts_by_message(state.pool(), org, &ids).await {
        Ok(attempts) => attempts,
        Err(error) => return internal_error(&error),
    };
    let deliveries: Vec<Delivery> = messages
        .into_iter()
        .map(|message| Delivery {
            attempts: attempts.remove(&message.id).unwrap_or_default(),
            message,
        })
        .collect();
    render(
        StatusCode::OK,
        "webhook.html",
        context! {
            title => "Webhook endpoint", section => "webhooks", csrf => user.0.csrf_token,
            endpoint => EndpointResponse::new(&endpoint, Utc::now()), deliveries,
        },
    )
}

pub async fn retry(State(state): State<AppState>, Path(raw): Path<String>, user: CheckedPost) -> Response {
    let Ok(id) = raw.parse::<Uuid>() else {
        return not_found("webhook message");
    };
    match retry_message(&state.app, user.0.organization, MessageId::from_uuid(id), None)
        .await
        .map_err(ApiError::from)
    {
        Ok(message) => {
            state.bus.wake(Wake::Dispatcher).await;
            Redirect::to(&format!("/console/webhooks/{}", message.endpoint_id)).into_response()
        }
        Err(ApiError::NotFound(_)) => not_found("webhook message"),
        Err(error) => internal_error(&error),
    }
}

/// Disables, enables or rotates the secret of one of the organization's endpoints.
pub async fn change(
    State(state): State<AppState>,
    Path((raw, action)): Path<(String, String)>,
    user: CheckedPost,
) -> Response {
    let change = match action.as_str() {
        "disable" => EndpointChange::Disable {
            reason: "disabled in the console".into(),
        },
        "enable" => EndpointChange::Enable,
        "rotate-secret" => EndpointChange::RotateSecret {
            secret: None,
            grace: DEFAULT_ROTATION_GRACE,
        },
        _ => return not_found("action"),
    };
    let Ok(id) = raw.parse::<Uuid>() else {
        return not_found("webhook endpoint");
    };
    let id = EndpointId::from_uuid(id);
    match change_endpoint(&state.app, user.0.organization, id, &change, None)
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Redirect::to(&format!("/console/webhooks/{id}")).into_response(),
        Err(ApiError::NotFound(_)) => not_found("webhook endpoint"),
        Err(error @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => internal_error(&error),
        Err(error) => super::page::message(StatusCode::CONFLICT, "Not changed", &error.to_string()),
    }
}
