//! The console's numbers: status and health at a glance, a health refresh, and for a
//! disconnected number a reconnect link in one click.

use super::page::{internal_error, message, next_page, not_found, render, After};
use super::session::{CheckedPost, SignedIn};
use crate::error::ApiError;
use crate::http::links::request::CreateLinkRequest;
use crate::http::phone_health::{response as health_of, HealthResponse};
use crate::http::phones::PhoneResponse;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gangway_app::health::{last_checks, refresh_phone, CheckOutcome};
use gangway_app::load;
use gangway_domain::phone::Phone;
use gangway_domain::PhoneId;
use gangway_projections::queries::{list_phones_after, projected_phone_version, Cursor, PhoneFilter};
use minijinja::context;
use serde::Serialize;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Serialize)]
struct Row {
    phone: PhoneResponse,
    health: HealthResponse,
}

/// Numbers per page.
const PAGE_SIZE: u32 = 50;

pub async fn list(State(state): State<AppState>, user: SignedIn, Query(page): Query<After>) -> Response {
    let org = user.0.organization;
    let filter = PhoneFilter::default();
    let (phones, more) = match list_phones_after(state.pool(), org, &filter, page.cursor(), PAGE_SIZE).await {
        Ok(found) => found,
        Err(error) => return internal_error(&error),
    };
    let last = phones.last().filter(|_| more);
    let next = next_page(
        "/console/numbers",
        &[],
        last.map(|p| Cursor::new(p.created_at, p.id.as_uuid())),
    );
    let ids: Vec<PhoneId> = phones.iter().map(|p| p.id).collect();
    let mut checks = match last_checks(&state.app, &ids).await {
        Ok(checks) => checks,
        Err(error) => return internal_error(&error),
    };
    let rows: Vec<Row> = phones
        .iter()
        .map(|phone| Row {
            phone: phone.into(),
            health: health_of(phone, checks.remove(&phone.id.as_uuid())),
        })
        .collect();
    render(
        StatusCode::OK,
        "numbers.html",
        context! { title => "Numbers", section => "numbers", csrf => user.0.csrf_token, rows, next },
    )
}

fn parse_id(raw: &str) -> Option<PhoneId> {
    raw.parse::<Uuid>().ok().map(PhoneId::from_uuid)
}

/// How long a refresh waits for the numbers list to show what it recorded.
const SHOWN_WITHIN: Duration = Duration::from_secs(2);

/// Checks the number with Meta now, then shows the list once the read model holds the result
/// (typically milliseconds), so the person sees what the check found.
pub async fn refresh(State(state): State<AppState>, Path(raw): Path<String>, user: CheckedPost) -> Response {
    let org = user.0.organization;
    let Some(id) = parse_id(&raw) else {
        return not_found("phone number");
    };
    let every = Duration::from_secs(state.config.health_refresh_seconds);
    match refresh_phone(&state.app, org, id, every)
        .await
        .map_err(ApiError::from)
    {
        Ok(Some(CheckOutcome::Inconclusive(why))) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not checked",
                &format!("Meta could not be asked: {why}. Try again in a minute."),
            )
        }
        Ok(_) => {}
        Err(ApiError::NotFound(_)) => return not_found("phone number"),
        Err(error) => return internal_error(&error),
    }
    let recorded = match load::<Phone>(state.pool(), org, id).await {
        Ok(loaded) => loaded.map(|l| l.version),
        Err(error) => return internal_error(&error),
    };
    let deadline = Instant::now() + SHOWN_WITHIN;
    while let Some(version) = recorded {
        match projected_phone_version(state.pool(), id).await {
            Ok(Some(projected)) if projected >= version => break,
            Ok(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(_) => break,
            Err(error) => return internal_error(&error),
        }
    }
    Redirect::to("/console/numbers").into_response()
}

/// A link that refreshes this number's token, opened on its page to copy or send.
pub async fn reconnect(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    user: CheckedPost,
) -> Response {
    let Ok(id) = raw.parse::<Uuid>() else {
        return not_found("phone number");
    };
    let request = CreateLinkRequest {
        reconnect_phone_number_id: Some(id),
        ..CreateLinkRequest::default()
    };
    match super::links::create_from(&state, user.0.organization, request).await {
        Ok(link) => Redirect::to(&format!("/console/links/{}", link.id)).into_response(),
        Err(ApiError::NotFound(_)) => not_found("phone number"),
        Err(error @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => internal_error(&error),
        Err(error) => super::page::message(StatusCode::CONFLICT, "No reconnect link", &error.to_string()),
    }
}
