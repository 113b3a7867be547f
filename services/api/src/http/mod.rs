//! HTTP resources, one module each, merged in [`crate::app`].

pub mod admin;
pub mod customers;
pub mod health;
pub mod links;
pub mod messages;
pub mod meta_webhooks;
pub mod phone_health;
pub mod phones;
pub mod signup;
pub mod webhooks;

use crate::error::ApiError;

use gangway_app::views::AuditEvent;
use gangway_event_store::RecordedEvent;
use gangway_projections::queries::Page;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The `{"data": ...}` envelope every success response has.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: u32,
    pub limit: u32,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

impl<T> Paginated<T> {
    pub fn new(data: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            data,
            pagination: Pagination {
                page: page.page,
                limit: page.limit,
                total,
            },
        }
    }
}

/// `?page=&limit=`, kept as text so a bad value gets our 422 naming the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page number (default 1).
    pub page: Option<String>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<String>,
}

impl ListQuery {
    pub fn validate(&self) -> Result<Page, ApiError> {
        let number = |name: &str, raw: &Option<String>, default: u32, max: u32| -> Result<u32, ApiError> {
            match raw {
                None => Ok(default),
                Some(text) => match text.parse::<u32>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(ApiError::validation(
                        name,
                        format!("must be a whole number from 1 to {max}"),
                    )),
                },
            }
        };
        Ok(Page {
            page: number("page", &self.page, 1, 1_000_000)?,
            limit: number("limit", &self.limit, 20, 100)?,
        })
    }
}

/// The events of one of `org`'s streams of `stream_type`, oldest first. Any other stream
/// (another organization's, another type, none) is `not_found`.
pub async fn owned_stream(
    state: &crate::state::AppState,
    org: gangway_domain::OrganizationId,
    id: Uuid,
    stream_type: &str,
    not_found: &'static str,
) -> Result<Vec<RecordedEvent>, ApiError> {
    let events = state.app.store.read_stream(id).await?;
    let owned = events
        .first()
        .is_some_and(|e| e.organization_id == org && e.stream_type == stream_type);
    if owned {
        Ok(events)
    } else {
        Err(ApiError::NotFound(not_found))
    }
}

/// The audit trail of one of `org`'s streams: every event, oldest first.
pub async fn audit_trail(
    state: &crate::state::AppState,
    org: gangway_domain::OrganizationId,
    id: Uuid,
    stream_type: &str,
    not_found: &'static str,
) -> Result<axum::Json<Data<Vec<AuditEvent>>>, ApiError> {
    let events = owned_stream(state, org, id, stream_type, not_found).await?;
    Ok(axum::Json(Data {
        data: events.iter().map(AuditEvent::from).collect(),
    }))
}
