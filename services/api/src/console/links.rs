//! The console's onboarding links: a filtered, keyset-paged list; one link with its audit trail;
//! creating one with every option the API takes; deleting a pending one. Every change goes
//! through the same application functions as the API.

use super::page::{csrf_refused, internal_error, next_page, not_found, render};
use super::session::{CheckedPost, SignedIn};
use crate::error::ApiError;
use crate::http::links::request::{CreateLinkRequest, PhoneProvisioningRequest, ThemeRequest};
use crate::http::links::response::LinkResponse;
use crate::http::webhooks;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{NaiveDateTime, Utc};
use gangway_app::links::{create_link, delete_link};
use gangway_app::views::audit_trail;
use gangway_app::{load, now};
use gangway_domain::catalog::EventType;
use gangway_domain::link::{Link, LinkStatus};
use gangway_domain::{LinkId, OrganizationId};
use gangway_projections::queries::{list_links_after, Cursor, LinkFilter};
use minijinja::context;
use serde::Deserialize;
use uuid::Uuid;

/// Links per page.
pub const PAGE_SIZE: u32 = 50;

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    external_id: Option<String>,
    /// `<created_at>~<id>` of the last link of the previous page.
    after: Option<String>,
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub async fn list(State(state): State<AppState>, user: SignedIn, Query(query): Query<ListQuery>) -> Response {
    let status = blank_to_none(query.status);
    let external_id = blank_to_none(query.external_id);
    let filter = LinkFilter {
        status: status.as_deref().and_then(|s| LinkStatus::parse(s).ok()),
        customer_id: None,
        external_id: external_id.clone(),
    };
    let after = query.after.as_deref().and_then(Cursor::decode);
    let now = Utc::now();
    let (links, more) =
        match list_links_after(state.pool(), user.0.organization, &filter, after, PAGE_SIZE, now).await {
            Ok(found) => found,
            Err(error) => return internal_error(&error),
        };
    // The next page keeps the filter and starts after this page's last link.
    let filters = [
        ("status", status.as_deref().unwrap_or_default()),
        ("external_id", external_id.as_deref().unwrap_or_default()),
    ];
    let last = links.last().filter(|_| more);
    let next = next_page(
        "/console/links",
        &filters,
        last.map(|l| Cursor::new(l.created_at, l.id.as_uuid())),
    );
    let rows: Vec<LinkResponse> = links
        .iter()
        .map(|l| LinkResponse::new(l, state.hosted_url(l.id), now))
        .collect();
    let statuses: Vec<&str> = LinkStatus::ALL.iter().map(|s| s.as_str()).collect();
    render(
        StatusCode::OK,
        "links.html",
        context! {
            title => "Onboarding links", section => "links", csrf => user.0.csrf_token,
            links => rows, statuses, status, external_id, next,
        },
    )
}

fn parse_id(raw: &str) -> Option<LinkId> {
    raw.parse::<Uuid>().ok().map(LinkId::from_uuid)
}

pub async fn show(State(state): State<AppState>, user: SignedIn, Path(raw): Path<String>) -> Response {
    let org = user.0.organization;
    let Some(id) = parse_id(&raw) else {
        return not_found("onboarding link");
    };
    let link = match load::<Link>(state.pool(), org, id).await {
        Ok(Some(link)) if link.state.status != LinkStatus::Deleted => link.state,
        Ok(_) => return not_found("onboarding link"),
        Err(error) => return internal_error(&error),
    };
    let trail = match audit_trail::<Link>(state.pool(), org, id).await {
        Ok(trail) => trail,
        Err(error) => return internal_error(&error),
    };
    let now = Utc::now();
    let response = LinkResponse::new(&link, state.hosted_url(id), now);
    render(
        StatusCode::OK,
        "link.html",
        context! {
            title => "Onboarding link", section => "links", csrf => user.0.csrf_token,
            link => response, pending => link.status_at(now) == LinkStatus::Pending, trail,
        },
    )
}

pub async fn delete(State(state): State<AppState>, Path(raw): Path<String>, user: CheckedPost) -> Response {
    let Some(id) = parse_id(&raw) else {
        return not_found("onboarding link");
    };
    match delete_link(&state.app, user.0.organization, id)
        .await
        .map_err(ApiError::from)
    {
        Ok(()) => Redirect::to("/console/links").into_response(),
        Err(ApiError::NotFound(_)) => not_found("onboarding link"),
        Err(error) => super::page::message(StatusCode::CONFLICT, "Not deleted", &error.to_string()),
    }
}

fn event_names() -> Vec<&'static str> {
    EventType::ALL.iter().map(|t| t.as_str()).collect()
}

pub async fn new_form(user: SignedIn) -> Response {
    form_page(&user, StatusCode::OK, &[], None)
}

/// The creation form, filled with what was sent and the error it got, if any.
fn form_page(
    user: &SignedIn,
    status: StatusCode,
    sent: &[(String, String)],
    error: Option<String>,
) -> Response {
    let values: std::collections::BTreeMap<&str, &str> =
        sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    render(
        status,
        "link_new.html",
        context! {
            title => "New onboarding link", section => "links", csrf => user.0.csrf_token,
            events => event_names(), values, error,
        },
    )
}

/// The form's fields as the API's request: one field per option, check boxes for lists.
fn request_from(fields: &[(String, String)]) -> Result<CreateLinkRequest, String> {
    let text = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let expires_at = text("expiresAt")
        .map(|raw| {
            NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M")
                .map(|t| t.and_utc())
                .map_err(|_| "expiresAt: must be a date and time".to_owned())
        })
        .transpose()?;
    let metadata = text("metadata")
        .map(|raw| serde_json::from_str(&raw).map_err(|e| format!("metadata: not JSON ({e})")))
        .transpose()?;
    let connection_types = all("allowedConnectionTypes");
    let events = all("webhookEvents");
    let countries: Vec<String> = text("countries")
        .map(|raw| {
            raw.split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let theme = ThemeRequest {
        primary_color: text("primaryColor"),
        background_image: text("backgroundImage"),
        logo_url: text("logoUrl"),
        company_name: text("companyName"),
    };
    Ok(CreateLinkRequest {
        name: text("name"),
        external_id: text("externalId"),
        customer_id: None,
        redirect_url: text("redirectUrl"),
        success_redirect_url: text("successRedirectUrl"),
        failure_redirect_url: text("failureRedirectUrl"),
        expires_at,
        allowed_connection_types: (!connection_types.is_empty()).then_some(connection_types),
        theme: Some(theme),
        language: text("language"),
        phone_provisioning: Some(PhoneProvisioningRequest {
            enabled: text("provisioning").is_some(),
            countries,
        }),
        reconnect_phone_number_id: None,
        metadata,
        webhook_url: text("webhookUrl"),
        webhook_secret: text("webhookSecret"),
        webhook_events: (!events.is_empty()).then_some(events),
    })
}

/// Validates `request` as the API does and creates the link.
pub(super) async fn create_from(
    state: &AppState,
    org: OrganizationId,
    request: CreateLinkRequest,
) -> Result<Link, ApiError> {
    let command = request.validate(now(), webhooks::url_policy(state))?;
    Ok(create_link(&state.app, org, command, None).await?)
}

pub async fn create(
    State(state): State<AppState>,
    user: SignedIn,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if !user.csrf_matches(csrf) {
        return csrf_refused();
    }
    let request = match request_from(&fields) {
        Ok(request) => request,
        Err(error) => return form_page(&user, StatusCode::UNPROCESSABLE_ENTITY, &fields, Some(error)),
    };
    match create_from(&state, user.0.organization, request).await {
        Ok(link) => Redirect::to(&format!("/console/links/{}", link.id)).into_response(),
        Err(error @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => internal_error(&error),
        Err(error) => form_page(
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            &fields,
            Some(error.to_string()),
        ),
    }
}
