//! The operator console at `/ops`: the deployment's state as `gangway status` reports it (relay,
//! projections, webhook queue, parked endpoints, dead letters, a running replay), every
//! organization, and the signup funnel across all of them.

use super::overview::periods;
use super::page::{internal_error, render};
use super::session::Operator;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gangway_app::system_status::system_status;
use gangway_projections::queries::list_organizations;
use minijinja::context;

pub async fn overview(State(state): State<AppState>, operator: Operator) -> Response {
    let status = match system_status(state.pool()).await {
        Ok(status) => status,
        Err(error) => return internal_error(&error),
    };
    let organizations = match list_organizations(state.pool()).await {
        Ok(organizations) => organizations,
        Err(error) => return internal_error(&error),
    };
    let periods = match periods(&state, None).await {
        Ok(periods) => periods,
        Err(error) => return internal_error(&error),
    };
    render(
        StatusCode::OK,
        "ops.html",
        context! {
            title => "Operations", ops => true, csrf => operator.0.csrf_token,
            status, organizations, periods,
        },
    )
}
