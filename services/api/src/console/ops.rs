//! The operator console at `/ops`: the deployment's state as `gangway status` reports it (relay,
//! projections, webhook queue, parked endpoints, dead letters, a running replay), every
//! organization, and the signup funnel across all of them.

use super::overview::periods;
use super::page::{internal_error, next_page, render, After};
use super::session::Operator;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gangway_app::system_status::system_status;
use gangway_projections::queries::{list_organizations_after, Cursor};
use minijinja::context;

/// Organizations per page.
const PAGE_SIZE: u32 = 100;

pub async fn overview(
    State(state): State<AppState>,
    operator: Operator,
    Query(page): Query<After>,
) -> Response {
    let status = match system_status(state.pool()).await {
        Ok(status) => status,
        Err(error) => return internal_error(&error),
    };
    let (organizations, more) = match list_organizations_after(state.pool(), page.cursor(), PAGE_SIZE).await {
        Ok(found) => found,
        Err(error) => return internal_error(&error),
    };
    let last = organizations.last().filter(|_| more);
    let next = next_page("/ops", &[], last.map(|o| Cursor::new(o.created_at, o.id)));
    let periods = match periods(&state, None).await {
        Ok(periods) => periods,
        Err(error) => return internal_error(&error),
    };
    render(
        StatusCode::OK,
        "ops.html",
        context! {
            title => "Operations", ops => true, csrf => operator.0.csrf_token,
            status, organizations, periods, next,
        },
    )
}
