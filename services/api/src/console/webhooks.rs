//! The console's webhooks: endpoints with their state, and an endpoint's deliveries with every
//! attempt (status code, latency, response excerpt), each failed one retried in one click.

use super::page::{csrf_refused, internal_error, next_page, not_found, render, After};
use super::session::{CheckedPost, SignedIn};
use crate::error::ApiError;
use crate::http::webhooks::response::{EndpointResponse, SecretResponse};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, NaiveDateTime, Utc};
use gangway_app::delivery_log::{
    attempts_by_message, list_messages, recover_failed, retry_message, send_test_event, AttemptView,
    MessageView,
};
use gangway_app::load;
use gangway_app::webhooks::{change_endpoint, reveal_secrets, EndpointChange};
use gangway_bus::Wake;
use gangway_domain::webhook::{Endpoint, EndpointStatus, DEFAULT_ROTATION_GRACE};
use gangway_domain::{EndpointId, MessageId};
use gangway_projections::queries::{list_endpoints_after, Cursor, EndpointFilter};
use minijinja::context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Deliveries shown on an endpoint's page, newest first.
const MESSAGES_SHOWN: i64 = 50;

/// Endpoints per page.
const PAGE_SIZE: u32 = 50;

pub async fn list(State(state): State<AppState>, user: SignedIn, Query(page): Query<After>) -> Response {
    let org = user.0.organization;
    let filter = EndpointFilter::default();
    let (endpoints, more) =
        match list_endpoints_after(state.pool(), org, &filter, page.cursor(), PAGE_SIZE).await {
            Ok(found) => found,
            Err(error) => return internal_error(&error),
        };
    let last = endpoints.last().filter(|_| more);
    let next = next_page(
        "/console/webhooks",
        &[],
        last.map(|e| Cursor::new(e.created_at, e.id.as_uuid())),
    );
    let now = Utc::now();
    let endpoints: Vec<EndpointResponse> = endpoints.iter().map(|e| EndpointResponse::new(e, now)).collect();
    render(
        StatusCode::OK,
        "webhooks.html",
        context! {
            title => "Webhooks", section => "webhooks", csrf => user.0.csrf_token, endpoints, next,
        },
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
            recover_since => (Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M").to_string(),
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

/// Disables, enables or rotates the secret of one of the organization's endpoints, or sends it a
/// test event. A rotation shows the new secret.
pub async fn change(
    State(state): State<AppState>,
    Path((raw, action)): Path<(String, String)>,
    user: CheckedPost,
) -> Response {
    let org = user.0.organization;
    let Ok(id) = raw.parse::<Uuid>() else {
        return not_found("webhook endpoint");
    };
    let id = EndpointId::from_uuid(id);
    let back = Redirect::to(&format!("/console/webhooks/{id}")).into_response();
    let change = match action.as_str() {
        "disable" => EndpointChange::Disable {
            reason: "disabled in the console".into(),
        },
        "enable" => EndpointChange::Enable,
        "rotate-secret" => EndpointChange::RotateSecret {
            secret: None,
            grace: DEFAULT_ROTATION_GRACE,
        },
        "test" => {
            return match send_test_event(&state.app, org, id, None).await {
                Ok(_) => {
                    state.bus.wake(Wake::Dispatcher).await;
                    back
                }
                Err(error) => refused(error.into()),
            };
        }
        _ => return not_found("action"),
    };
    let changed = match change_endpoint(&state.app, org, id, &change, None).await {
        Ok(changed) => changed,
        Err(error) => return refused(error.into()),
    };
    if !matches!(change, EndpointChange::RotateSecret { .. }) {
        return back;
    }
    match reveal_secrets(&state.app, &changed, Utc::now()).await {
        Ok(secrets) => render(
            StatusCode::OK,
            "webhook_secret.html",
            context! {
                title => "New signing secret", section => "webhooks",
                endpoint => EndpointResponse::new(&changed, Utc::now()),
                secrets => SecretResponse::from(secrets),
            },
        ),
        Err(error) => internal_error(&error),
    }
}

#[derive(Deserialize)]
pub struct RecoverForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    since: String,
}

/// Queues again every failed delivery of the endpoint since a time given in UTC.
pub async fn recover(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    user: SignedIn,
    Form(form): Form<RecoverForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return csrf_refused();
    }
    let Ok(id) = raw.parse::<Uuid>() else {
        return not_found("webhook endpoint");
    };
    let Some(since) = parse_utc_minute(&form.since) else {
        return super::page::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not recovered",
            "since: give a date and time (UTC), e.g. 2026-12-07T09:30.",
        );
    };
    let id = EndpointId::from_uuid(id);
    match recover_failed(&state.app, user.0.organization, id, since, None).await {
        Ok(recovered) => {
            if recovered > 0 {
                state.bus.wake(Wake::Dispatcher).await;
            }
            let text = format!(
                "{recovered} failed {} since {} UTC queued again.",
                if recovered == 1 { "delivery" } else { "deliveries" },
                since.format("%Y-%m-%d %H:%M")
            );
            render(
                StatusCode::OK,
                "message.html",
                context! {
                    title => "Deliveries recovered", section => "webhooks", text,
                    back => format!("/console/webhooks/{id}"),
                },
            )
        }
        Err(error) => refused(error.into()),
    }
}

/// A `datetime-local` value (`2026-12-07T09:30`, seconds optional) read as UTC.
fn parse_utc_minute(raw: &str) -> Option<DateTime<Utc>> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw.trim(), format).ok())
        .map(|naive| naive.and_utc())
}

/// The page for a refused endpoint action: 404 for another organization's or a deleted endpoint,
/// 409 with the reason when its state does not allow it.
fn refused(error: ApiError) -> Response {
    match error {
        ApiError::NotFound(_) => not_found("webhook endpoint"),
        error @ (ApiError::Internal(_) | ApiError::Unavailable(_)) => internal_error(&error),
        error => super::page::message(StatusCode::CONFLICT, "Not changed", &error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_utc_minute;

    #[test]
    fn a_datetime_local_value_is_read_as_utc() {
        let at = parse_utc_minute("2026-12-07T09:30").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-07T09:30:00+00:00");
        assert_eq!(
            parse_utc_minute("2026-12-07T09:30:15").unwrap().to_rfc3339(),
            "2026-12-07T09:30:15+00:00"
        );
        for bad in ["", "yesterday", "2026-13-07T09:30", "2026-12-07"] {
            assert_eq!(parse_utc_minute(bad), None, "{bad}");
        }
    }
}
