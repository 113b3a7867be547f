//! The console's overview: the signup funnel of the last 7 and 30 days as server-drawn bars,
//! where people stopped, and the organization's numbers at a glance.

use super::page::{internal_error, render};
use super::session::SignedIn;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, Utc};
use gangway_domain::OrganizationId;
use gangway_projections::queries::{link_funnel, phone_counts, Funnel};
use minijinja::context;
use serde::Serialize;

/// One bar of a chart: its label, value and width in percent of the widest.
#[derive(Serialize)]
struct Bar {
    label: String,
    value: i64,
    width: i64,
    y: usize,
}

fn bars(rows: Vec<(String, i64)>) -> Vec<Bar> {
    let widest = rows.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    rows.into_iter()
        .enumerate()
        .map(|(i, (label, value))| Bar {
            label,
            value,
            width: value * 100 / widest,
            y: i * 28,
        })
        .collect()
}

#[derive(Serialize)]
struct Period {
    days: i64,
    funnel: Vec<Bar>,
    by_code: Vec<Bar>,
    by_step: Vec<Bar>,
}

fn period(days: i64, funnel: Funnel) -> Period {
    let steps = vec![
        ("created".to_owned(), funnel.created),
        ("opened".to_owned(), funnel.opened),
        ("callback".to_owned(), funnel.callback),
        ("completed".to_owned(), funnel.completed),
    ];
    Period {
        days,
        funnel: bars(steps),
        by_code: bars(funnel.failures_by_code),
        by_step: bars(funnel.failures_by_step),
    }
}

/// The funnel of the last 7 and 30 days: `org`'s, or every organization's.
pub(super) async fn periods(
    state: &AppState,
    org: Option<OrganizationId>,
) -> Result<Vec<impl Serialize>, gangway_projections::ProjectionError> {
    let mut periods = Vec::new();
    for days in [7, 30] {
        let funnel = link_funnel(state.pool(), org, Utc::now() - Duration::days(days)).await?;
        periods.push(period(days, funnel));
    }
    Ok(periods)
}

pub async fn overview(State(state): State<AppState>, user: SignedIn) -> Response {
    let org = user.0.organization;
    let periods = match periods(&state, Some(org)).await {
        Ok(periods) => periods,
        Err(error) => return internal_error(&error),
    };
    let numbers = match phone_counts(state.pool(), org).await {
        Ok(counts) => counts,
        Err(error) => return internal_error(&error),
    };
    render(
        StatusCode::OK,
        "overview.html",
        context! { title => "Overview", section => "overview", csrf => user.0.csrf_token, periods, numbers },
    )
}
